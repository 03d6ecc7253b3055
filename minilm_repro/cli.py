"""``minilm-repro <stage>``: one sub-command per pipeline stage.

Each stage module exposes ``register(subparsers)``, which adds its sub-command(s) and sets
``func`` on the parsed namespace; a run imports only the module of its sub-command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module -> the sub-commands its register() adds, in --help order. A run imports only the module
# of its sub-command: every pipeline job starts a process, and importing all stages costs ~1 s.
STAGE_COMMANDS: dict[str, tuple[str, ...]] = {
    "minilm_repro.prepare": ("generate", "train-tokenizer", "prepare-corpus", "corpus", "track"),
    "minilm_repro.data.cli": ("tasks",),
    "minilm_repro.metrics.cli": ("evaluate",),
    "minilm_repro.hub": ("fetch-model", "fetch-corpus", "describe-model", "export-tokenizer"),
    "minilm_repro.pretrain": ("pretrain",),
    "minilm_repro.distill.train": ("distill",),
    "minilm_repro.finetune.features": ("tokenize-task",),
    "minilm_repro.finetune.run": ("finetune",),
    "minilm_repro.report.tables": ("report",),
    "minilm_repro.report.speed": ("speed",),
    "minilm_repro.report.plots": ("figures",),
    "minilm_repro.launch": ("launch",),
    "minilm_repro.gpu_slots": ("gpu-probe",),
}
STAGE_MODULES = tuple(STAGE_COMMANDS)


def _modules_for(argv: list[str]) -> tuple[str, ...]:
    command = next((a for a in argv if not a.startswith("-")), None)
    owner = [m for m, cmds in STAGE_COMMANDS.items() if command in cmds]
    return tuple(owner) or STAGE_MODULES  # --help, or an unknown command: argparse lists them all


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minilm-repro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for name in STAGE_MODULES if argv is None else _modules_for(argv):
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
