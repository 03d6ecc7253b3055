"""One module per ``minilm-repro`` command, named after it (``finetune`` -> ``commands/finetune.py``,
``train-tokenizer`` -> ``commands/train_tokenizer.py``); each has a docstring (its help line) and
``main(argv) -> int``. A run imports only its command's module: every pipeline job starts a process.
"""

from __future__ import annotations

import argparse


def from_register(register, command: str):
    """``main(argv)`` of a command whose parser a module's ``register(subparsers)`` builds."""

    def main(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(prog="minilm-repro")
        register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args([command, *argv])
        return int(args.func(args) or 0)

    return main
