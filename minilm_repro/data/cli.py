"""``minilm-repro tasks show|download|import|build-corpus``: inspect a task from any source, fetch a hub
task or import local files into the canonical layout, build an English corpus from imported tasks.

    minilm-repro tasks show glue/qnli --source path/to/QNLI/dev.tsv --json
    minilm-repro tasks show xnli --source resources/tasks --config de
    minilm-repro tasks download glue/rte --hub-id nyu-mll/glue --revision main --out resources/tasks
    minilm-repro tasks import glue/qnli --source glue_data/QNLI --out resources/tasks --split-dev 0.3
    minilm-repro tasks import squad_v2 --source squad2/ --out resources/tasks --split-dev 0.3
    minilm-repro tasks build-corpus --tasks-root resources/tasks --out resources/corpus-en

Bad input (unreadable file, unknown task/config/split, unreachable hub) prints ``error: ...`` on
stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

TASK_HELP = "glue/<cola|sst2|mrpc|stsb|qqp|mnli|qnli|rte>, squad_v2, squad, xnli or mlqa"


def _user_errors() -> tuple[type[Exception], ...]:
    from minilm_repro.data.importing import TaskImportError
    from minilm_repro.data.readers import TaskFormatError
    from minilm_repro.data.tasks import HubUnavailableError, TaskSourceError

    return TaskFormatError, TaskSourceError, HubUnavailableError, FileNotFoundError, TaskImportError


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


def _import(args: argparse.Namespace) -> int:
    import datasets

    from minilm_repro.data.importing import import_task

    datasets.disable_progress_bars()
    try:
        res = import_task(args.task, args.source, args.out, config=args.config, split_dev=args.split_dev)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"task": args.task, "source": str(args.source), "out": str(args.out), "splits": res.splits,
                      "source_json": [str(p) for p in res.source_json]}))
    return 0


def _build_corpus(args: argparse.Namespace) -> int:
    import datasets

    from minilm_repro.data.realcorpus import build_real_corpus

    datasets.disable_progress_bars()
    try:
        record = build_real_corpus(args.tasks_root, args.out, max_words=args.max_words, group_words=args.group_words)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"corpus {args.out}/en.txt: {record['words']} words, {record['documents']} documents, sha256 {record['sha256']}")
    for source, counts in sorted(record["by_source"].items()):
        print(f"  {source}: {counts['words']} words, {counts['documents']} documents")
    ex = record["exclusion"]
    print(f"  excluded: {ex['evaluation_texts']} evaluation texts searched, {ex['texts_found_in_corpus']} found; "
          f"{ex['sentences_removed']} sentences removed from {ex['documents_cut']} documents")
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

    imp = sub.add_parser("import", help="local task files -> <out>/<task>/<config>/<split>.parquet (+ SOURCE.json)")
    imp.add_argument("task", help=TASK_HELP)
    imp.add_argument("--source", required=True,
                     help="a distributed file or a folder of them: glue_data/<Task>/ (train.tsv, dev.tsv, ...), "
                          "SQuAD 1.1/2.0 or MLQA .json (several dev slices are merged, duplicates dropped), XNLI .tsv")
    imp.add_argument("--out", required=True, help="root of the canonical layout")
    imp.add_argument("--config", help="only this config: XNLI language (de) or MLQA pair (de.de)")
    imp.add_argument("--split-dev", type=float, metavar="FRACTION",
                     help="only a dev set exists: split it by document into train and validation, FRACTION of the "
                          "documents (by a stable sha256 of their key) to validation; recorded in SOURCE.json")
    imp.set_defaults(func=_import)

    bc = sub.add_parser("build-corpus", help="English pretraining text from imported tasks' train splits, "
                                             "without any validation/test text")
    bc.add_argument("--tasks-root", required=True, help="layout root written by `tasks import`")
    bc.add_argument("--out", required=True, help="folder for en.txt and CORPUS.json")
    bc.add_argument("--max-words", type=int, help="keep documents up to this many words (default all)")
    bc.add_argument("--group-words", type=int, default=256, help="words per document of gathered short texts")
    bc.set_defaults(func=_build_corpus)
