"""Task and language names: the one home of these constants (no heavy imports, so the planner and
the CLI can use them).

Task names: ``cola sst2 mrpc stsb qqp mnli qnli rte`` (the GLUE configs of ``nyu-mll/glue``),
``squad_v2`` (``rajpurkar/squad_v2``), ``squad`` (``rajpurkar/squad``, MLQA's training set),
``xnli`` (``facebook/xnli``, one config per language) and ``mlqa`` (``facebook/mlqa``, one
config ``mlqa.<context_lang>.<question_lang>``).
"""

from __future__ import annotations

GLUE_TASKS = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte")
QA_TASKS = ("squad_v2", "squad", "mlqa")
TASKS = GLUE_TASKS + ("squad_v2", "squad", "xnli", "mlqa")

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
MLQA_LANGUAGES = ("en", "es", "de", "ar", "hi", "vi", "zh")

NLI_LABELS = ["entailment", "neutral", "contradiction"]

# text columns per task, in model input order (first, second)
TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "cola": ("sentence",),
    "sst2": ("sentence",),
    "mrpc": ("sentence1", "sentence2"),
    "stsb": ("sentence1", "sentence2"),
    "qqp": ("question1", "question2"),
    "mnli": ("premise", "hypothesis"),
    "qnli": ("question", "sentence"),
    "rte": ("sentence1", "sentence2"),
    "xnli": ("premise", "hypothesis"),
}

# the splits each task has on the hub (labelled ones used for training / evaluation)
SPLITS: dict[str, tuple[str, ...]] = {
    **{t: ("train", "validation", "test") for t in GLUE_TASKS if t != "mnli"},
    "mnli": ("train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched"),
    "squad_v2": ("train", "validation"),
    "squad": ("train", "validation"),
    "xnli": ("train", "validation", "test"),
    "mlqa": ("validation", "test"),
}


def is_regression(task: str) -> bool:
    return task == "stsb"


def is_qa(task: str) -> bool:
    return task in QA_TASKS


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return task
