"""Official SQuAD/MLQA JSON files <-> rows in the hub layout, and checks shared by the QA metrics.

Official layout: ``{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}], "is_impossible", "plausible_answers"}]}]}]}``.
Hub layout row: ``{"id", "title", "context", "question", "answers": {"text": [...],
"answer_start": [...]}}``; an unanswerable SQuAD 2.0 question has empty answer lists
(its ``plausible_answers`` are not gold answers and are dropped, as the official script ignores them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path


def read_json(path: str | Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} {path} is not valid JSON: {exc}") from exc


def rows_from_official(dataset_json: dict, source: str = "<data>") -> list[dict]:
    """Flatten an official SQuAD/MLQA dict (with its "data" key) into hub-layout rows, in file order
    (parsed by the task readers' parser: :func:`minilm_repro.data.readers.squad_columns`)."""
    from minilm_repro.data.readers import squad_columns

    columns = squad_columns(dataset_json, source)
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def load_official(path: str | Path) -> list[dict]:
    """Read an official SQuAD 1.1/2.0 or MLQA JSON file into hub-layout rows."""
    return rows_from_official(read_json(path, "dataset file"), str(path))


def load_predictions(path: str | Path) -> dict[str, str]:
    """Read an official predictions file ``{id: answer text}``."""
    preds = read_json(path, "predictions file")
    if not isinstance(preds, dict):
        raise ValueError(f"predictions file {path} must hold a JSON object {{question id: answer text}}")
    return preds


def gold_table(examples: Iterable[dict]) -> dict[str, list[str]]:
    """id -> gold answer texts (possibly empty), in example order; duplicate ids are an error."""
    gold = {}
    for i, ex in enumerate(examples):
        try:
            qid, texts = ex["id"], list(ex["answers"]["text"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"example #{i} is not in the hub layout (id, answers{{text, answer_start}}): {exc!r}") from exc
        if qid in gold:
            raise ValueError(f"question id {qid!r} occurs twice in the examples")
        gold[qid] = texts
    if not gold:
        raise ValueError("no examples to score")
    return gold


def check_predictions(gold: dict, preds: dict, what: str = "predictions") -> None:
    """Every question needs a string prediction.

    The official v1.1/MLQA scripts score a missing prediction 0 (with a note on stderr) and the
    v2.0 script crashes on one; here it is always an error, since a missing id means the
    predictions belong to other data.  Extra ids are ignored, as the official scripts do.
    """
    missing = [k for k in gold if k not in preds]
    if missing:
        raise ValueError(f"{what} lack {len(missing)} of {len(gold)} question ids, e.g. {missing[:3]}")
    bad = [k for k in gold if not isinstance(preds[k], str)]
    if bad:
        raise ValueError(f"{what} must map ids to answer strings; not a string for {bad[:3]}")
