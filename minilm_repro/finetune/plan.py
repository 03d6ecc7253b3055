"""Which data each task trains and evaluates on (the paper's protocol), as (task, config, split) sets.

* GLUE: train on ``train``; evaluate on the dev split(s) (MNLI: matched and mismatched).
* SQuAD 2.0: train on ``train``, evaluate on ``validation``.
* XNLI: train on the English (``train_language``) training set only; evaluate zero-shot on the
  validation and test sets of every language; model selection on the joint dev set.
* MLQA: train on SQuAD 1.1 (``squad``); evaluate on ``mlqa.<l>.<l>`` validation and test for
  every language (all context/question pairs with ``cross_language``); select on English dev.
"""

from __future__ import annotations

import dataclasses

from minilm_repro.data.task_names import GLUE_TASKS, check_task

DEV_SPLITS = {"mnli": ("validation_matched", "validation_mismatched")}

# the metric that picks the best grid point on dev and that the tables report: the paper's (Table 2
# caption: accuracy for MRPC and QQP; their F1 is an extra column)
PRIMARY_METRIC = {
    "cola": "matthews_correlation", "sst2": "accuracy", "mrpc": "accuracy", "stsb": "pearson",
    "qqp": "accuracy", "mnli": "accuracy", "qnli": "accuracy", "rte": "accuracy",
    "squad_v2": "best_f1", "squad": "f1", "xnli": "accuracy", "mlqa": "f1",
}


@dataclasses.dataclass(frozen=True)
class DataRef:
    task: str  # the task whose features the data has (e.g. "squad" for MLQA training)
    config: str
    split: str
    language: str | None = None

    @property
    def name(self) -> str:
        return f"{self.config}/{self.split}"


@dataclasses.dataclass(frozen=True)
class TaskPlan:
    task: str
    train: DataRef
    evals: tuple[DataRef, ...]
    select_on: tuple[DataRef, ...]  # dev sets whose mean primary metric picks the grid point


def task_plan(task: str, languages: list[str], train_language: str, cross_language: bool = False,
              train_task: str | None = None) -> TaskPlan:
    """``train_task`` ("mlqa"): MLQA trains on its own train split of ``train_language`` instead of SQuAD 1.1."""
    if train_task not in (None, "mlqa") or (train_task and task != "mlqa"):
        raise ValueError(f"{task}: train_task {train_task!r} is not a training source of it (mlqa: 'mlqa' or none)")
    check_task(task)
    if task in GLUE_TASKS or task in ("squad_v2", "squad"):
        dev = tuple(DataRef(task, "default", s) for s in DEV_SPLITS.get(task, ("validation",)))
        return TaskPlan(task, DataRef(task, "default", "train"), dev, dev[:1])
    if task == "xnli":
        if train_language not in languages:
            raise ValueError(f"xnli: train_language {train_language!r} is not among languages {languages}")
        evals = tuple(DataRef("xnli", l, s, l) for s in ("validation", "test") for l in languages)
        return TaskPlan(task, DataRef("xnli", train_language, "train", train_language), evals,
                        tuple(e for e in evals if e.split == "validation"))
    if task == "mlqa":
        pairs = [(c, q) for c in languages for q in languages] if cross_language else [(l, l) for l in languages]
        evals = tuple(DataRef("mlqa", f"{c}.{q}", s, c if c == q else f"{c}.{q}")
                      for s in ("validation", "test") for c, q in pairs)
        select = tuple(e for e in evals if e.split == "validation" and e.config == f"{train_language}.{train_language}")
        train = DataRef("mlqa", f"{train_language}.{train_language}", "train", train_language) if train_task else \
            DataRef("squad", "default", "train", train_language)
        return TaskPlan(task, train, evals, select)
    raise ValueError(f"no fine-tuning protocol for task {task!r}")
