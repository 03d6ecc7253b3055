"""``minilm-repro compare``'s plan: checkpoints and tasks -> a checks-only workflow config.

A checkpoint is ``SOURCE`` or ``NAME=SOURCE``; a source is a local HF model directory or a hub id
with an optional ``@revision`` (default ``main``). ``--tokenizer NAME=SOURCE`` gives a checkpoint
another tokenizer (the multilingual MiniLM: BERT weights, XLM-R's sentencepiece tokenizer).

Every input is checked before any job runs, one line each naming the fix (:class:`CompareError`):
a path that is not a model directory, a hub id while offline (with the download command), a
tokenizer whose vocabulary does not fit a local checkpoint's weights, an unknown task or language,
a language a task does not have.

The config (:func:`compare_config`) is a checkpoint-only track ``cmp`` (``external`` models,
their fine-tuning and speed; no corpus, teacher or distillation). Protocols, both read from the
paper configs so that their settings are stated once:

* ``paper``: Appendix B, each task's settings and grid as ``paper-mono.yaml`` (GLUE, SQuAD 2.0) and
  ``paper-multilingual.yaml`` (XNLI, MLQA) hold them;
* ``quick``: the same settings at one grid point (the grid's middle learning rate), at most
  ``QUICK_EPOCHS`` epochs and ``QUICK_TRAIN_EXAMPLES`` training examples, micro-batches of at most
  ``QUICK_DEVICE_BATCH`` (gradient accumulation keeps the global batch): a sanity check in minutes,
  labelled ``quick`` in the profile name and every output.

Task data: the paper configs' hub sources, or with ``data_dir`` the local files of a folder laid out
like ``../shared/realdata`` (``glue_data/<Task>``, ``squad2``, ``xnli``, ``mlqa``); a local task
without a training set is split by document (:mod:`minilm_repro.data.importing`, ``SPLIT_DEV``
of its dev set to validation), and MLQA then trains on its own split, not on SQuAD.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import yaml

from minilm_repro.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
PAPER_CONFIGS = {"mono": REPO / "workflow" / "config" / "paper-mono.yaml",
                 "multi": REPO / "workflow" / "config" / "paper-multilingual.yaml"}
GLUE_DIRS = {"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B", "qqp": "QQP", "mnli": "MNLI",
             "qnli": "QNLI", "rte": "RTE"}
TASKS = (*GLUE_DIRS, "squad_v2", "xnli", "mlqa")
# the languages each task has (GLUE, SQuAD: English only)
TASK_LANGUAGES = {"xnli": ("en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"),
                  "mlqa": ("en", "es", "de", "ar", "hi", "vi", "zh")}
QUICK_EPOCHS, QUICK_TRAIN_EXAMPLES = 2, 1000
QUICK_DEVICE_BATCH = 8  # micro-batches (the global batch stays the paper's): 512-token QA fits a laptop's memory
SPLIT_DEV = 0.3
PROTOCOLS = ("paper", "quick")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class CompareError(ConfigError):
    """A compare input that cannot work (one line naming the fix)."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    name: str
    path: str | None = None  # a local model directory
    hub: tuple[str, str] | None = None  # (id, revision)
    tokenizer: dict | None = None  # {"path": dir} | {"hub": {"id", "revision"}}

    def external(self) -> dict:
        out: dict = {"path": self.path} if self.path else {"hub": {"id": self.hub[0], "revision": self.hub[1]}}
        return {**out, **({"tokenizer": self.tokenizer} if self.tokenizer else {})}


def _source(text: str, what: str) -> dict:
    """``{"path": dir}`` or ``{"hub": {"id", "revision"}}`` of a checkpoint or tokenizer source."""
    if Path(text).exists():
        path = Path(text).resolve()
        if not path.is_dir() or not (path / "config.json").is_file():
            raise CompareError(f"{what} {text}: not a model directory (no config.json); give a directory that "
                               "save_pretrained wrote, or a hub id such as microsoft/Multilingual-MiniLM-L12-H384@<rev>")
        return {"path": str(path)}
    repo, _, revision = text.partition("@")
    if not _HUB_ID.match(repo):
        raise CompareError(f"{what} {text}: neither an existing directory nor a hub id (org/name[@revision])")
    return {"hub": {"id": repo, "revision": revision or "main"}}


def parse_checkpoints(specs: list[str], tokenizers: list[str] = ()) -> list[Checkpoint]:
    """``[NAME=]SOURCE`` each; ``tokenizers``: ``NAME=SOURCE`` overrides. Names are unique."""
    if not specs:
        raise CompareError("compare: give at least one checkpoint (a model directory or a hub id)")
    out, names = [], set()
    for spec in specs:
        name, sep, src = spec.partition("=")
        if not sep or "/" in name or Path(spec).exists():
            name, src = "", spec
        source = _source(src, "checkpoint")
        name = name or (Path(source["path"]).name if "path" in source else source["hub"]["id"].split("/")[-1])
        if not re.match(r"^[A-Za-z0-9_-]+$", name):
            raise CompareError(f"checkpoint name {name!r}: use letters, digits, '-' and '_' (NAME=SOURCE)")
        if name in names:
            raise CompareError(f"two checkpoints are named {name!r}: name them apart with NAME=SOURCE")
        names.add(name)
        out.append(Checkpoint(name, source.get("path"), (source["hub"]["id"], source["hub"]["revision"])
                              if "hub" in source else None))
    by_name = {c.name: c for c in out}
    for spec in tokenizers:
        name, sep, src = spec.partition("=")
        if not sep or name not in by_name:
            raise CompareError(f"--tokenizer {spec}: give NAME=SOURCE with NAME one of {sorted(by_name)}")
        by_name[name] = dataclasses.replace(by_name[name], tokenizer=_source(src, f"tokenizer of {name}"))
    return [by_name[c.name] for c in out]


def check_tasks(tasks: list[str], languages: list[str] | None) -> None:
    for task in tasks:
        if task not in TASKS:
            raise CompareError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    multi = [t for t in tasks if t in TASK_LANGUAGES]
    if languages and not multi:
        raise CompareError(f"--languages {' '.join(languages)}: {', '.join(tasks)} are English-only tasks; "
                           "languages apply to xnli and mlqa")
    for lang in languages or ():
        have = [t for t in multi if lang in TASK_LANGUAGES[t]]
        if not have:
            known = sorted(set().union(*(TASK_LANGUAGES[t] for t in multi)))
            raise CompareError(f"unknown language {lang!r} for {', '.join(multi)}; known: {', '.join(known)}")
        lacking = [t for t in multi if lang not in TASK_LANGUAGES[t]]
        if lacking:
            raise CompareError(f"{', '.join(lacking)} has no language {lang!r} ({', '.join(TASK_LANGUAGES[lacking[0]])}): "
                               "drop the language or compare that task on its own")


def check_sources(checkpoints: list[Checkpoint], offline: bool, dry_run: bool = False) -> None:
    """Local checkpoints load (config, tokenizer that fits the weights); hub ids only when online."""
    from transformers import AutoConfig

    from minilm_repro.jobs.model_io import load_tokenizer, tokenizer_matches

    for c in checkpoints:
        for src in ([{"hub": {"id": c.hub[0], "revision": c.hub[1]}}] if c.hub else []) + \
                   ([c.tokenizer] if c.tokenizer and "hub" in c.tokenizer else []):
            if offline and not dry_run:
                hub = src["hub"]
                raise CompareError(
                    f"{c.name}: hub id {hub['id']}@{hub['revision']} but this machine is offline; download it first "
                    f"(huggingface-cli download {hub['id']} --revision {hub['revision']} --local-dir models/{c.name}) "
                    f"and give the directory, or run where the hub is reachable")
        if c.path:
            tok_dir = c.tokenizer["path"] if c.tokenizer and "path" in c.tokenizer else c.path
            if c.tokenizer and "hub" in c.tokenizer:
                continue  # fetched by its rule, checked there
            try:
                tokenizer = load_tokenizer(tok_dir)
            except (OSError, ValueError) as exc:
                raise CompareError(f"{c.name}: no tokenizer loads from {tok_dir} ({str(exc).splitlines()[0]}); "
                                   f"give one with --tokenizer {c.name}=<dir or hub id>") from None
            try:
                tokenizer_matches(AutoConfig.from_pretrained(c.path), tokenizer, f"{c.name}")
            except ConfigError as exc:
                raise CompareError(f"{exc} (or give the right one with --tokenizer {c.name}=...)") from None


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or \
        os.environ.get("TRANSFORMERS_OFFLINE", "").lower() in ("1", "true", "yes")


def _paper_finetune(task: str) -> tuple[dict, dict]:
    """(the paper config's settings of ``task``, its task source)."""
    cfg = yaml.safe_load(PAPER_CONFIGS["multi" if task in TASK_LANGUAGES else "mono"].read_text())
    settings = {**cfg["finetune"].get("defaults", {}), **cfg["finetune"]["tasks"][task]}
    sources = cfg["task_sources"]
    needed = {t: sources[t] for t in (("mlqa", "squad") if task == "mlqa" else (task,)) if t in sources}
    return settings, needed


def _local_sources(task: str, data_dir: Path) -> tuple[dict, bool]:
    """(task_sources entries of ``task`` under ``data_dir``, whether MLQA trains on its own split)."""
    if task in GLUE_DIRS:
        folder = next((d for d in (data_dir / "glue_data" / GLUE_DIRS[task], data_dir / GLUE_DIRS[task],
                                   data_dir / "glue" / GLUE_DIRS[task]) if d.is_dir()), None)
        if folder is None:
            raise CompareError(f"{task}: no {GLUE_DIRS[task]} folder under {data_dir} (glue_data/{GLUE_DIRS[task]}); "
                               "give --data-dir a folder in GLUE's layout, or drop --data-dir to use the hub")
        has_train = (folder / "train.tsv").is_file()
        return {task: {"path": str(folder.resolve()), **({} if has_train else {"split_dev": SPLIT_DEV})}}, False
    folder = data_dir / {"squad_v2": "squad2", "xnli": "xnli", "mlqa": "mlqa"}[task]
    if not folder.exists():
        raise CompareError(f"{task}: no {folder.name} under {data_dir}; give --data-dir a folder that holds it")
    has_train = any("train" in p.name for p in folder.rglob("*") if p.is_file())
    return {task: {"path": str(folder.resolve()), **({} if has_train else {"split_dev": SPLIT_DEV})}}, \
        task == "mlqa" and not has_train


def compare_config(checkpoints: list[Checkpoint], tasks: list[str], *, protocol: str = "quick",
                   languages: list[str] | None = None, seeds: list[int] | None = None,
                   data_dir: str | Path | None = None, threads: int = 1) -> dict:
    """The workflow config that fine-tunes, times and tables ``checkpoints`` on ``tasks``."""
    if protocol not in PROTOCOLS:
        raise CompareError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    check_tasks(tasks, languages)
    multi = [t for t in tasks if t in TASK_LANGUAGES]
    langs = list(languages or (TASK_LANGUAGES["xnli" if "xnli" in multi else multi[0]] if multi else ["en"]))
    train_language = "en" if "en" in langs else langs[0]
    task_sources, ft_tasks = {}, {}
    for task in tasks:
        settings, hub_sources = _paper_finetune(task)
        if languages and task in TASK_LANGUAGES:
            settings["languages"] = list(languages)  # else the paper's (MLQA: its seven)
        own_train = False
        if data_dir is not None:
            local, own_train = _local_sources(task, Path(data_dir))
            task_sources.update(local)
        else:
            task_sources.update(hub_sources)
        if own_train:
            settings["train_task"] = "mlqa"
        if protocol == "quick":
            grid = sorted(settings["lr"])
            settings.update(lr=[grid[len(grid) // 2]], epochs=[min(min(settings["epochs"]), QUICK_EPOCHS)],
                            max_train_examples=QUICK_TRAIN_EXAMPLES, save_steps=100000,
                            max_device_batch=min(settings.get("max_device_batch", QUICK_DEVICE_BATCH), QUICK_DEVICE_BATCH))
            settings.pop("checkpoint", None)  # best-dev checkpoints: the paper's protocol only
        if seeds:
            settings["seeds"] = list(seeds)
        elif protocol == "quick":
            settings["seeds"] = [1]
        ft_tasks[task] = settings
    speed_task = next((t for t in tasks if t not in ("squad_v2", "mlqa")), None)
    track = {"external": {c.name: c.external() for c in checkpoints},
             "finetune": {"models": [c.name for c in checkpoints], "tasks": list(tasks)}}
    if speed_task:
        track["speed"] = {"task": speed_task, "batches": 20 if protocol == "quick" else 100}
    return {"profile": f"compare-{protocol}", "threads_per_job": threads, "tasks_root": "resources/tasks",
            "languages": langs, "train_language": train_language, "task_sources": task_sources,
            "tracks": {"cmp": track}, "finetune": {"tasks": ft_tasks}}
