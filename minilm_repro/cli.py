"""``minilm-repro <command> ...``: the command ``foo-bar`` is ``minilm_repro.commands.foo_bar.main``.

A run imports only its command's module (every pipeline job starts a process, and importing
every stage costs seconds), and by default runs in a process forked from a warm one that has the
libraries imported already (:mod:`minilm_repro.jobs.warm`); ``minilm-repro --help`` lists the
modules of :mod:`minilm_repro.commands`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from minilm_repro import commands

# commands that run in the calling process even with warm start (minilm_repro.jobs.warm): launch
# holds its GPU claim for the job's lifetime and runs the stage through this same entry
IN_CLIENT = ("launch",)


def command_names() -> list[str]:
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(commands.__path__))


def _usage() -> str:
    lines = ["usage: minilm-repro <command> [arguments]   (minilm-repro <command> --help for its own)", "",
             "commands:"]
    for name in command_names():
        doc = (importlib.import_module(f"minilm_repro.commands.{name.replace('-', '_')}").__doc__ or "").strip()
        lines.append(f"  {name:<18}{doc.splitlines()[0] if doc else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, warm_start: bool | None = None) -> int:
    """Run ``minilm-repro argv`` (default: this process's arguments). ``warm_start`` (default: only
    for a process's own arguments, not for a call from Python code, whose monkeypatches and state a
    forked warm process would not see): run the command in a warm process (minilm_repro.jobs.warm)."""
    warm_start = argv is None if warm_start is None else warm_start
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name = argv[0]
    if name not in command_names():
        print(f"minilm-repro: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if warm_start and name not in IN_CLIENT:
        from minilm_repro.jobs import warm

        if warm.enabled():
            status = warm.run(argv)
            if status is not None:
                return status
    module = importlib.import_module(f"minilm_repro.commands.{name.replace('-', '_')}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
