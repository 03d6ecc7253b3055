"""The paper's published figures, shipped as package data (copied from ../shared/paper/).

``reference_results.csv`` is in long form (table, model, ..., task, metric, value, source,
verified). Figures whose ``verified`` column does not start with "yes" were recalled rather
than checked against the authors' release; tables mark them with a dagger.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

# our task/split naming -> the reference file's task names
TASK_NAMES = {("mnli", "validation_matched"): "mnli-m", ("mnli", "validation_mismatched"): "mnli-mm",
              ("sst2", "validation"): "sst2", ("qnli", "validation"): "qnli", ("cola", "validation"): "cola",
              ("rte", "validation"): "rte", ("mrpc", "validation"): "mrpc", ("qqp", "validation"): "qqp",
              ("stsb", "validation"): "stsb", ("squad_v2", "validation"): "squad2"}


def load_reference() -> pd.DataFrame:
    with resources.files("minilm_repro.report").joinpath("reference_results.csv").open() as fh:
        df = pd.read_csv(fh)
    df["recalled"] = ~df["verified"].astype(str).str.lower().str.startswith("yes")
    return df


def reference_row(ref: pd.DataFrame, table: str, model: str) -> pd.DataFrame:
    """Rows of one published model in one published table; a clear error when absent."""
    sub = ref[(ref["table"] == table) & (ref["model"] == model)]
    if sub.empty:
        known = sorted({f"{t}|{m}" for t, m in zip(ref["table"], ref["model"])})
        raise KeyError(f"no reference figures for {table}|{model}; known: {known}")
    return sub


def format_reference(value: float, recalled: bool) -> str:
    return f"{value:.1f}{'†' if recalled else ''}"
