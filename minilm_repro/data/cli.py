"""``minilm-repro tasks show|download``: inspect a task from any source, or fetch a hub task into the layout.

    minilm-repro tasks show glue/qnli --source path/to/QNLI/dev.tsv --json
    minilm-repro tasks show xnli --source resources/tasks --config de
    minilm-repro tasks download glue/rte --hub-id nyu-mll/glue --revision main --out resources/tasks

Bad input (unreadable file, unknown task/config/split, unreachable hub) prints ``error: ...`` on
stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

TASK_HELP = "glue/<cola|sst2|mrpc|stsb|qqp|mnli|qnli|rte>, squad_v2, squad, xnli or mlqa"


def _user_errors() -> tuple[type[Exception], ...]:
    from minilm_repro.data.readers import TaskFormatError
    from minilm_repro.data.tasks import HubUnavailableError, TaskSourceError

    return TaskFormatError, TaskSourceError, HubUnavailableError, FileNotFoundError


def _describe(spec: dict) -> str:
    """One feature of ``Features.to_dict()`` in a few words: ``string``, ``ClassLabel(a, b)``, ``{text, answer_start}``."""
    if spec.get("_type") == "ClassLabel":
        return f"ClassLabel({', '.join(spec['names'])})"
    if "_type" in spec:
        return spec.get("dtype") or f"{spec['_type']}[{_describe(spec['feature'])}]"
    return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in spec.items()) + "}"


def _print_summary(summary: dict) -> None:
    print(f"task {summary['task']} from {summary['source']}")
    for split, count in summary["splits"].items():
        print(f"  split {split}: {count} rows")
    for lang, count in summary.get("languages", {}).items():
        print(f"  language {lang}: {count} rows")
    if "answerable" in summary:
        print(f"  answerable {summary['answerable']}, unanswerable {summary['unanswerable']}")
    feats = ", ".join(f"{name}: {_describe(spec)}" for name, spec in summary["features"].items())
    print(f"  features: {feats}")


def _show(args: argparse.Namespace) -> int:
    from minilm_repro.data.tasks import load_task_configs, summarize

    try:
        data = load_task_configs(args.task, args.source, config=args.config, split=args.split, revision=args.revision)
        summary = summarize(args.task, args.source, data)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)
    return 0


def _download(args: argparse.Namespace) -> int:
    from minilm_repro.data.tasks import download_task

    try:
        written = download_task(args.task, args.hub_id, args.revision, args.out, configs=args.config)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"task": args.task, "hub_id": args.hub_id, "revision": args.revision,
                      "files": [str(p) for p in written]}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tasks", help="show a task from any source, or download a hub task into the canonical layout")
    sub = p.add_subparsers(dest="tasks_command", required=True, metavar="<command>")

    show = sub.add_parser("show", help="load a task and print its splits, features and counts")
    show.add_argument("task", help=TASK_HELP)
    show.add_argument("--source", required=True,
                      help="hub id, a distributed file (GLUE TSV, SQuAD/MLQA JSON, XNLI TSV), a folder of them, "
                           "or a canonical layout root (e.g. the generated benchmark's tasks/ folder)")
    show.add_argument("--split", help="only this split; for a single file, the split it becomes (default validation)")
    show.add_argument("--config", help="only this config: XNLI language (de) or MLQA pair (de.de); default all")
    show.add_argument("--revision", help="pinned hub revision (required for a hub id; MLQA: refs/convert/parquet)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=_show)

    dl = sub.add_parser("download", help="fetch a hub task at a pinned revision into <out>/<task>/<config>/<split>.parquet")
    dl.add_argument("task", help=TASK_HELP)
    dl.add_argument("--hub-id", required=True, help="e.g. nyu-mll/glue, rajpurkar/squad_v2, facebook/xnli, facebook/mlqa")
    dl.add_argument("--revision", required=True, help="commit sha, tag or branch (MLQA: refs/convert/parquet)")
    dl.add_argument("--out", required=True, help="root of the canonical layout")
    dl.add_argument("--config", action="append",
                    help="only this config (repeatable): XNLI language or MLQA pair; default every config")
    dl.set_defaults(func=_download)
