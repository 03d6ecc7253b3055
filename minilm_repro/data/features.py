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

from minilm_repro.data.task_names import (  # noqa: F401  (the task constants, importable from here too)
    GLUE_TASKS,
    MLQA_LANGUAGES,
    NLI_LABELS,
    QA_TASKS,
    SPLITS,
    TASKS,
    TEXT_COLUMNS,
    XNLI_LANGUAGES,
    check_task,
    is_qa,
    is_regression,
)

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



def num_labels(task: str) -> int:
    label = FEATURES[task]["label"]
    return 1 if isinstance(label, Value) else label.num_classes
