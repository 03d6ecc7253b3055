"""``minilm-repro report`` (the results tables and ``checks.json``) and ``minilm-repro results-page``
(a Markdown page of a results directory, :mod:`minilm_repro.report.page`).

The tables are built by :mod:`minilm_repro.report.build` (layouts in :mod:`layouts`, selection of
the reported runs in :mod:`selection`, paper rows in :mod:`reference` / :mod:`comparable`,
bootstrap intervals in :mod:`intervals`, writers in :mod:`writers`); this module is the command line.
"""

from __future__ import annotations

import argparse
import json

from minilm_repro.report.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED


def _run(args) -> int:
    from minilm_repro.report.build import write_report
    from minilm_repro.report.collect import records_from_files, records_from_mlflow

    if args.mlflow == bool(args.finetune):
        raise SystemExit("report: give either --finetune FILES (with --models/--speed) or --mlflow, not both/neither")
    if args.resamples < 0:
        raise SystemExit("report: --resamples must be >= 0 (0: no bootstrap intervals)")
    try:
        references = json.loads(args.references)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"report: --references is not JSON ({exc}); pass {{track: {{model: \"table|model\"}}}}")
    records = records_from_mlflow(args.profile) if args.mlflow else \
        records_from_files(args.finetune, args.models, args.speed)
    checks = write_report(records, args.out, args.profile, references, args.resamples, args.bootstrap_seed)
    print(json.dumps({k: v for k, v in checks.items() if not k.startswith("beats_majority")}, indent=2, default=str))
    for kind in ("beats_majority_task", "beats_majority"):
        failed = [k for k, ok in checks[kind].items() if not ok]
        if failed:
            print(f"{kind}: not above the majority-class baseline: {failed}")
    return 0


def _page(args) -> int:
    import shlex

    from minilm_repro.report.page import write_page

    command = ["minilm-repro", "results-page", "--results", args.results, "--out", args.out]
    command += ["--tables", args.tables] if args.tables else []
    command += ["--tasks-root", args.tasks_root] if args.tasks_root else []
    command += ["--budget", *args.budget] if args.budget else []
    print(write_page(args.results, args.out, args.tables, command=shlex.join(command), tasks_root=args.tasks_root,
                     budget=args.budget))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="build the results tables from metrics files (or from MLflow alone)")
    p.add_argument("--finetune", nargs="*", default=[],
                   help="fine-tuning metrics JSON files (their seed<N>.predictions.json beside them, if any)")
    p.add_argument("--models", nargs="*", default=[], help="pretrain/distill/describe metrics JSON files")
    p.add_argument("--speed", nargs="*", default=[], help="inference timing JSON files (minilm-repro speed)")
    p.add_argument("--mlflow", action="store_true",
                   help="read every record from the profile's MLflow experiment (MLFLOW_TRACKING_URI) instead")
    p.add_argument("--out", required=True, help="tables directory")
    p.add_argument("--profile", required=True)
    p.add_argument("--references", default="{}",
                   help='JSON {track: {our model: "table|paper model" or a list}} (config tracks.<t>.reference)')
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                   help=f"bootstrap resamples of the Δ intervals between our models (default {DEFAULT_RESAMPLES}; 0: none)")
    p.add_argument("--bootstrap-seed", type=int, default=DEFAULT_SEED,
                   help=f"seed of the bootstrap resamples (default {DEFAULT_SEED})")
    p.set_defaults(func=_run)
    q = sub.add_parser("results-page", help="a Markdown page of a results directory: tables, checks, hardware, commits")
    q.add_argument("--results", default="results", help="the results directory (default: results)")
    q.add_argument("--tables", default=None, help="its tables directory (default: RESULTS/tables)")
    q.add_argument("--out", required=True, help="the page to write, e.g. docs/results/<profile>.md")
    q.add_argument("--tasks-root", default=None,
                   help="the tasks root: say where each imported task's data came from (its SOURCE.json)")
    q.add_argument("--budget", nargs="*", default=[], metavar="RESULTS",
                   help="results directories of runs at other pretraining budgets (or seeds): a section on the "
                        "distilled-vs-scratch margin against the budget, over them and --results")
    q.set_defaults(func=_page)
