"""``minilm-repro <stage>``: one sub-command per pipeline stage.

Each stage module exposes ``register(subparsers)``, which adds its sub-command(s) and sets
``func`` on the parsed namespace. Imports are lazy per module so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# modules that contribute sub-commands, in --help order
STAGE_MODULES = (
    "minilm_repro.prepare",
    "minilm_repro.data.cli",
    "minilm_repro.metrics.cli",
    "minilm_repro.hub",
    "minilm_repro.pretrain",
    "minilm_repro.distill.train",
    "minilm_repro.finetune.features",
    "minilm_repro.finetune.run",
    "minilm_repro.report.tables",
    "minilm_repro.report.speed",
    "minilm_repro.report.plots",
    "minilm_repro.launch",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minilm-repro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for name in STAGE_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
