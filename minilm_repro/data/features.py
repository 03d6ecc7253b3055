"""The features of the real hub datasets, per task.

Every source (hub id, local files in the distributed format, the generated benchmark) is
converted to exactly these features before any stage consumes it, so one fine-tuning code
path serves all three.

Task names: ``cola sst2 mrpc stsb qqp mnli qnli rte`` (the GLUE configs of ``nyu-mll/glue``),
``squad_v2`` (``rajpurkar/squad_v2``), ``squad`` (``rajpurkar/squad``, MLQA's training set),
``xnli`` (``facebook/xnli``, one config per language) and ``mlqa`` (``facebook/mlqa``, one
config ``mlqa.<context_lang>.<question_lang>``).
"""

from __future__ import annotations

from datasets import ClassLabel, Features, Sequence, Value

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

_idx = Value("int32")


def _glue(columns: tuple[str, ...], label) -> Features:
    feats = {c: Value("string") for c in columns}
    feats["label"] = label
    feats["idx"] = _idx
    return Features(feats)


_SQUAD = Features(
    {
        "id": Value("string"),
        "title": Value("string"),
        "context": Value("string"),
        "question": Value("string"),
        "answers": Sequence({"text": Value("string"), "answer_start": Value("int32")}),
    }
)

FEATURES: dict[str, Features] = {
    "cola": _glue(TEXT_COLUMNS["cola"], ClassLabel(names=["unacceptable", "acceptable"])),
    "sst2": _glue(TEXT_COLUMNS["sst2"], ClassLabel(names=["negative", "positive"])),
    "mrpc": _glue(TEXT_COLUMNS["mrpc"], ClassLabel(names=["not_equivalent", "equivalent"])),
    "stsb": _glue(TEXT_COLUMNS["stsb"], Value("float32")),
    "qqp": _glue(TEXT_COLUMNS["qqp"], ClassLabel(names=["not_duplicate", "duplicate"])),
    "mnli": _glue(TEXT_COLUMNS["mnli"], ClassLabel(names=NLI_LABELS)),
    "qnli": _glue(TEXT_COLUMNS["qnli"], ClassLabel(names=["entailment", "not_entailment"])),
    "rte": _glue(TEXT_COLUMNS["rte"], ClassLabel(names=["entailment", "not_entailment"])),
    "squad_v2": _SQUAD,
    "squad": _SQUAD,
    "xnli": Features(
        {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=NLI_LABELS)}
    ),
    "mlqa": Features(
        {
            "context": Value("string"),
            "question": Value("string"),
            "answers": Sequence({"answer_start": Value("int32"), "text": Value("string")}),
            "id": Value("string"),
        }
    ),
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


def num_labels(task: str) -> int:
    label = FEATURES[task]["label"]
    return 1 if isinstance(label, Value) else label.num_classes


def check_task(task: str) -> str:
    if task not in FEATURES:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return task
