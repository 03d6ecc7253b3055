"""``minilm-repro evaluate {squad_v2,squad,mlqa} DATA.json PREDS.json ...``: the official scripts' CLIs.

Output is what the official scripts print: SQuAD 2.0 ``json.dumps(result, indent=2)`` (or
``json.dump`` into ``--out-file`` with nothing printed); SQuAD 1.1 and MLQA ``json.dumps(result)``.
A dataset version other than the one a script expects is reported on stderr, as they do.
"""

from __future__ import annotations

import argparse
import json
import sys


def _version_note(path: str, expected: str) -> None:
    from minilm_repro.metrics.qa_data import read_json

    version = str(read_json(path, "dataset file").get("version"))
    if version != expected:
        print(f"Evaluation expects v-{expected}, but got dataset with v-{version}", file=sys.stderr)


def _squad_v2(args) -> int:
    from minilm_repro.metrics import load_official, load_predictions, squad_v2_scores
    from minilm_repro.metrics.qa_data import read_json

    na_probs = None
    if args.na_prob_file:
        na_probs = read_json(args.na_prob_file, "na-prob file")
        if not isinstance(na_probs, dict):
            raise ValueError(f"na-prob file {args.na_prob_file} must hold a JSON object {{question id: probability}}")
    result = squad_v2_scores(load_official(args.data_file), load_predictions(args.pred_file), na_probs,
                             args.na_prob_thresh)
    if args.out_file:
        with open(args.out_file, "w") as f:
            json.dump(result, f)
    else:
        print(json.dumps(result, indent=2))
    return 0


def _squad(args) -> int:
    from minilm_repro.metrics import load_official, load_predictions, squad_v1_scores

    _version_note(args.data_file, "1.1")
    print(json.dumps(squad_v1_scores(load_official(args.data_file), load_predictions(args.pred_file))))
    return 0


def _mlqa(args) -> int:
    from minilm_repro.metrics import load_official, load_predictions, mlqa_scores

    _version_note(args.data_file, "1.0")
    print(json.dumps(mlqa_scores(load_official(args.data_file), load_predictions(args.pred_file), args.lang)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score QA predictions with the official SQuAD/MLQA definitions")
    kinds = p.add_subparsers(dest="benchmark", required=True, metavar="<benchmark>")

    def common(name: str, help_: str) -> argparse.ArgumentParser:
        q = kinds.add_parser(name, help=help_)
        q.add_argument("data_file", metavar="DATA.json", help="official dataset file")
        q.add_argument("pred_file", metavar="PREDS.json", help="predictions {question id: answer text}")
        return q

    q = common("squad_v2", "SQuAD 2.0 (as evaluate-v2.0.py)")
    q.add_argument("--na-prob-file", "-n", help="JSON {question id: probability of no answer}")
    q.add_argument("--na-prob-thresh", "-t", type=float, default=1.0,
                   help='predict "" where the no-answer probability exceeds this (default 1.0)')
    q.add_argument("--out-file", "-o", help="write the metrics JSON here instead of stdout")
    q.set_defaults(func=_squad_v2)
    common("squad", "SQuAD 1.1 (as evaluate-v1.1.py)").set_defaults(func=_squad)
    q = common("mlqa", "MLQA (as mlqa_evaluation_v1.py)")
    q.add_argument("--lang", required=True, help="answer (context) language: en es de ar hi vi zh")
    q.set_defaults(func=_mlqa)
