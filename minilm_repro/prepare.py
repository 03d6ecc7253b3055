"""Data-side stage CLIs: generate the embedded benchmark, train a tokenizer, prepare a corpus."""

from __future__ import annotations

import argparse
import json

from minilm_repro.config import parse_stage_config
from minilm_repro.atomic import write_json
from minilm_repro.stage import set_threads


def _generate(args) -> int:
    from minilm_repro.data.synthetic import SyntheticConfig, generate_benchmark

    cfg = SyntheticConfig.from_dict(json.loads(args.config))
    manifest = generate_benchmark(args.out, cfg)
    print(json.dumps({"out": args.out, "tasks": sorted(manifest.get("counts", manifest).keys())
                      if isinstance(manifest, dict) else None}, default=str)[:2000])
    return 0


def _tokenizer(args) -> int:
    from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer

    cfg = parse_stage_config(TokenizerConfig, args.config, "tokenizer config")
    tok = train_tokenizer(args.text, cfg, args.out)
    print(f"tokenizer: {cfg.kind}, {len(tok)} tokens -> {args.out}")
    return 0


def _corpus(args) -> int:
    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus
    from minilm_repro.model_io import load_tokenizer

    set_threads(args.threads)
    cfg = parse_stage_config(CorpusConfig, args.config, "corpus config")
    stats = prepare_corpus(args.text, load_tokenizer(args.tokenizer), cfg, args.out)
    print(json.dumps(stats, sort_keys=True))
    return 0


def _corpus_stats(args) -> int:
    from minilm_repro.data.corpus import corpus_stats

    print(json.dumps(corpus_stats(args.dir), indent=2, sort_keys=True))
    return 0


def _track_init(args) -> int:
    from minilm_repro import tracking

    exp_id = tracking.init_experiment(args.profile)
    write_json(args.out, {"experiment": tracking.experiment_name(args.profile), "experiment_id": exp_id,
                          "tracking_uri": tracking.tracking_uri()})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate the embedded synthetic multilingual benchmark")
    p.add_argument("--out", required=True)
    p.add_argument("--config", required=True, help="SyntheticConfig as JSON")
    p.set_defaults(func=_generate)

    p = sub.add_parser("train-tokenizer", help="train a WordPiece or sentencepiece tokenizer on text files")
    p.add_argument("--text", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--config", required=True)
    p.set_defaults(func=_tokenizer)

    p = sub.add_parser("prepare-corpus", help="tokenise and pack text files into blocks")
    p.add_argument("--text", nargs="+", required=True, help="text files; the stem is the language code")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--threads", type=int, default=0)
    p.set_defaults(func=_corpus)

    p = sub.add_parser("corpus", help="inspect a prepared corpus")
    csub = p.add_subparsers(dest="corpus_command", required=True)
    s = csub.add_parser("stats", help="blocks, tokens, per-language token shares")
    s.add_argument("dir")
    s.set_defaults(func=_corpus_stats)

    p = sub.add_parser("track", help="MLflow tracking set-up")
    tsub = p.add_subparsers(dest="track_command", required=True)
    s = tsub.add_parser("init", help="create the profile's experiment before jobs start")
    s.add_argument("--profile", required=True)
    s.add_argument("--out", required=True, help="JSON receipt (a Snakemake output)")
    s.set_defaults(func=_track_init)
