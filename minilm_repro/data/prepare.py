"""Data-side stages: generate the embedded benchmark, train a tokenizer, clean raw text, prepare a
corpus; corpus stats and the MLflow set-up (``track init``)."""

from __future__ import annotations

import argparse
import json

from minilm_repro.config import parse_stage_config
from minilm_repro.jobs.atomic import write_json


def run_generate(spec) -> int:
    """The ``generate`` stage: the embedded synthetic benchmark into ``paths.out``."""
    from minilm_repro.data.synthetic import SyntheticConfig, generate_benchmark

    cfg = SyntheticConfig.from_dict(spec.settings)
    manifest = generate_benchmark(spec.paths["out"], cfg)
    print(json.dumps({"out": spec.paths["out"], "tasks": sorted(manifest.get("counts", manifest).keys())
                      if isinstance(manifest, dict) else None}, default=str)[:2000])
    return 0


def run_clean_text(spec) -> int:
    """The ``clean-text`` stage: a corpus source's raw files (Gutenberg, WikiText, plain) cleaned into ``paths.out``."""
    from minilm_repro.data.textclean import CleanConfig, clean_text

    cfg = parse_stage_config(CleanConfig, spec.settings, "corpus source clean")
    rec = clean_text(spec.paths["files"], cfg, spec.paths["out"], spec.paths.get("tasks_root"), spec.paths["source"])
    print(json.dumps({k: rec[k] for k in ("source", "kind", "documents", "words", "words_in", "removed",
                                          "evaluation_text")}, sort_keys=True))
    return 0


def run_tokenizer(spec) -> int:
    """The ``train-tokenizer`` stage: a WordPiece or sentencepiece tokenizer on ``paths.text``."""
    from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer

    cfg = parse_stage_config(TokenizerConfig, spec.settings, "tokenizer config")
    tok = train_tokenizer(spec.paths["text"], cfg, spec.paths["out"])
    print(f"tokenizer: {cfg.kind}, {len(tok)} tokens -> {spec.paths['out']}")
    return 0


def run_corpus(spec) -> int:
    """The ``prepare-corpus`` stage: tokenise and pack ``paths.text`` into blocks."""
    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus
    from minilm_repro.jobs.model_io import load_tokenizer

    cfg = parse_stage_config(CorpusConfig, spec.settings, "corpus config")
    stats = prepare_corpus(spec.paths["text"], load_tokenizer(spec.paths["tokenizer"]), cfg, spec.paths["out"],
                           sources=spec.paths.get("sources"))
    print(json.dumps(stats, sort_keys=True))
    return 0


def _corpus_stats(args) -> int:
    from minilm_repro.data.corpus import corpus_stats

    print(json.dumps(corpus_stats(args.dir), indent=2, sort_keys=True))
    return 0


def _track_init(args) -> int:
    from minilm_repro.jobs import tracking

    exp_id = tracking.init_experiment(args.profile)
    write_json(args.out, {"experiment": tracking.experiment_name(args.profile), "experiment_id": exp_id,
                          "tracking_uri": tracking.tracking_uri()})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
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
