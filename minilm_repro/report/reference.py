"""The paper's published figures, shipped as package data (copied from ../shared/paper/).

``reference_results.csv`` is in long form (table, model, teacher, layers, hidden,
params_millions, speedup_vs_bert_base, task, metric, value, source, verified). Figures whose
``verified`` column does not start with "yes" were recalled rather than checked against the
authors' release; tables mark them with a dagger.

A *paper entry* is one published model in one published table: (table, model, teacher,
layers, hidden). The config names entries as ``"table|model"``, optionally qualified with
``|L6xH384`` (shape) and/or ``|from BERT-base`` (teacher) where the model name alone is
ambiguous (e.g. ``paper-table3-sizes|MiniLM`` exists for three student sizes).
"""

from __future__ import annotations

import dataclasses
from importlib import resources

import pandas as pd

# the paper's training and timing hardware (../shared/paper/README.md)
PAPER_HARDWARE = "8x V100, mixed precision; speed-up on one P100"
ENTRY_KEYS = ["table", "model", "teacher", "layers", "hidden"]


@dataclasses.dataclass(frozen=True)
class PaperEntry:
    table: str
    model: str
    teacher: str
    layers: int
    hidden: int
    params_millions: float | None
    speedup: float | None
    recalled: bool
    figures: tuple[tuple[str, str, float], ...]  # (task, metric, value)

    @property
    def shape(self) -> str:
        return f"L{self.layers}xH{self.hidden}"

    @property
    def label(self) -> str:
        return f"paper: {self.model} {self.shape} ({self.table})"

    def value(self, task: str, metric: str | None = None) -> float | None:
        """The published figure for ``task`` (e.g. "mnli-m", "xnli-fr", "mlqa-avg"), or None."""
        for t, m, v in self.figures:
            if t == task and (metric is None or m == metric):
                return v
        return None


def load_reference() -> pd.DataFrame:
    with resources.files("minilm_repro.report").joinpath("reference_results.csv").open() as fh:
        df = pd.read_csv(fh)
    df["recalled"] = ~df["verified"].astype(str).str.lower().str.startswith("yes")
    return df


def _entries(ref: pd.DataFrame) -> list[PaperEntry]:
    out = []
    for key, sub in ref.groupby(ENTRY_KEYS, sort=False):
        table, model, teacher, layers, hidden = key
        params = sub["params_millions"].dropna()
        speed = sub["speedup_vs_bert_base"].dropna()
        out.append(PaperEntry(table, model, teacher, int(layers), int(hidden),
                              float(params.iloc[0]) if len(params) else None,
                              float(speed.iloc[0]) if len(speed) else None, bool(sub["recalled"].any()),
                              tuple(zip(sub["task"], sub["metric"], sub["value"].astype(float)))))
    return out


def entries_of_tables(tables: list[str]) -> list[PaperEntry]:
    """Every paper entry of the named reference tables, in file order."""
    known = set(load_reference()["table"])
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise KeyError(f"no reference table(s) {unknown}; known: {sorted(known)}")
    return [e for e in _entries(load_reference()) if e.table in tables]


def resolve(key: str, shape: tuple[int, int] | None = None) -> PaperEntry:
    """The paper entry a config key names (``table|model[|L6xH384][|from TEACHER]``).

    ``shape`` (our model's layers, hidden) picks among entries the key leaves ambiguous.
    """
    parts = key.split("|")
    if len(parts) < 2:
        raise KeyError(f"reference {key!r}: expected 'table|model' (optionally '|L6xH384', '|from TEACHER')")
    table, model, quals = parts[0], parts[1], parts[2:]
    cands = [e for e in _entries(load_reference()) if e.table == table and e.model == model]
    for q in quals:
        cands = [e for e in cands if (q[5:] == e.teacher if q.startswith("from ") else q == e.shape)]
    if len(cands) > 1 and shape is not None:
        same = [e for e in cands if (e.layers, e.hidden) == tuple(shape)]
        cands = same or cands
    if len(cands) == 1:
        return cands[0]
    every = sorted(f"{e.table}|{e.model}|{e.shape}|from {e.teacher}" for e in _entries(load_reference()))
    if not cands:
        raise KeyError(f"no reference figures for {key!r}; known entries: {every}")
    options = [f"{e.table}|{e.model}|{e.shape}|from {e.teacher}" for e in cands]
    raise KeyError(f"reference {key!r} is ambiguous: qualify it as one of {options}")


def format_reference(value: float, recalled: bool) -> str:
    return f"{value:.1f}{'†' if recalled else ''}"
