"""The paper's published figures, shipped as package data (a copy of the project's verified ``paper/reference_results.csv``).

``reference_results.csv`` is in long form (table, model, teacher, layers, hidden,
params_millions, speedup_vs_bert_base, task, metric, value, source, verified); values are
percent except Table 4's seconds. Figures whose ``verified`` column does not start with "yes"
were recalled rather than checked against the authors' release; tables mark them with a dagger.

A *paper entry* is one published model in one published table: (table, model, teacher,
layers, hidden). The config names entries as ``"table|model"``, optionally qualified with
``|L6xH384`` (shape) and/or ``|from BERT-base`` (teacher) where the model name alone is
ambiguous (e.g. ``paper-table3-sizes|MiniLM`` exists for three student sizes).

``REFERENCE_TABLES`` says what each table is (the verified paper notes, "reference_results.csv:
which table is which"); a table the file holds but this module does not know is an error, so a
new table cannot slip into the report without a decision on how it compares.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from importlib import resources

import pandas as pd

# the paper's training and timing hardware (the verified paper notes)
PAPER_HARDWARE = "8x V100, mixed precision; speed-up on one P100"
ENTRY_KEYS = ["table", "model", "teacher", "layers", "hidden"]
NO_TEACHER = "-"  # the teacher column of a model that is not distilled (BERT-base, XLM-R-base, ...)

# table -> what it holds. ``released-*``: the authors' README (the released checkpoints: Table 8's
# in-house UniLMv2-style teacher, the multilingual and MiniLMv2 releases, other fine-tuning settings)
REFERENCE_TABLES = {
    "released-mono": "the released English models (authors' README; Table 8, in-house UniLMv2-style teacher)",
    "released-multi-xnli": "the released multilingual model on XNLI (authors' README; best single model)",
    "released-multi-mlqa": "the released multilingual model on MLQA (authors' README)",
    "released-minilmv2": "the released MiniLMv2 models (authors' README)",
    "released-minilmv2-multi": "the released multilingual MiniLMv2 models (authors' README)",
    "paper-table2-L6xH768": "Table 2: 6x768 students of BERT-base",
    "paper-table3-sizes": "Table 3: MLM-KD, TinyBERT, MiniLM and MiniLM w/ TA at 6/4/3 x 384",
    "paper-ablation-vr": "Table 5: MiniLM without the value relation (-Value-Rel)",
    "paper-table6-value-mse": "Table 6: value MSE instead of the value relation",
    "paper-table7-layerwise": "Table 7: the same knowledge transferred layer to layer",
    "paper-table4-speed": "Table 4: parameters and inference seconds of 100 QNLI batches on one P100",
    "paper-table11-xnli": "Table 11: XNLI zero-shot test accuracy, 15 languages",
    "paper-table13-mlqa": "Table 13: MLQA test F1 / EM, 7 languages",
}


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
    def released(self) -> bool:
        """A released checkpoint's figure (authors' README), not a table of the paper's BERT-base runs."""
        return self.table.startswith("released-")

    @property
    def released_student(self) -> bool:
        """A released *distilled* model (other teacher or settings): shown, never a Δ target of ours."""
        return self.released and self.teacher != NO_TEACHER

    @property
    def label(self) -> str:
        if self.released_student:
            return f"released: {self.model} {self.shape} ({self.table})"
        return f"paper: {self.model} {self.shape} ({self.table})"

    @property
    def key(self) -> str:
        """The fully qualified config key of this entry."""
        return f"{self.table}|{self.model}|{self.shape}|from {self.teacher}"

    def value(self, task: str, metric: str | None = None) -> float | None:
        """The published figure for ``task`` (e.g. "mnli-m", "xnli-fr", "mlqa-avg"), or None."""
        for t, m, v in self.figures:
            if t == task and (metric is None or m == metric):
                return v
        return None


@lru_cache(maxsize=1)
def _reference() -> pd.DataFrame:
    with resources.files("minilm_repro.report").joinpath("reference_results.csv").open() as fh:
        df = pd.read_csv(fh)
    unknown = sorted(set(df["table"]) - set(REFERENCE_TABLES))
    if unknown:
        raise ValueError(f"reference_results.csv has tables {unknown} that reference.REFERENCE_TABLES does not "
                         "describe: add them there (and decide which table kind shows them, layouts.PAPER_TABLES)")
    df["recalled"] = ~df["verified"].astype(str).str.lower().str.startswith("yes")
    return df


def load_reference() -> pd.DataFrame:
    """The reference figures, one row per figure, with a boolean ``recalled`` column (a copy)."""
    return _reference().copy()


@lru_cache(maxsize=1)
def _all_entries() -> tuple[PaperEntry, ...]:
    out = []
    for key, sub in _reference().groupby(ENTRY_KEYS, sort=False):
        table, model, teacher, layers, hidden = key
        params = sub["params_millions"].dropna()
        speed = sub["speedup_vs_bert_base"].dropna()
        out.append(PaperEntry(table, model, teacher, int(layers), int(hidden),
                              float(params.iloc[0]) if len(params) else None,
                              float(speed.iloc[0]) if len(speed) else None, bool(sub["recalled"].any()),
                              tuple(zip(sub["task"], sub["metric"], sub["value"].astype(float)))))
    return tuple(out)


def entries_of_tables(tables: list[str]) -> list[PaperEntry]:
    """Every paper entry of the named reference tables, in file order."""
    unknown = [t for t in tables if t not in REFERENCE_TABLES]
    if unknown:
        raise KeyError(f"no reference table(s) {unknown}; known: {sorted(REFERENCE_TABLES)}")
    return [e for e in _all_entries() if e.table in tables]


def resolve(key: str, shape: tuple[int, int] | None = None) -> PaperEntry:
    """The paper entry a config key names (``table|model[|L6xH384][|from TEACHER]``).

    ``shape`` (our model's layers, hidden) picks among entries the key leaves ambiguous.
    """
    parts = key.split("|")
    if len(parts) < 2:
        raise KeyError(f"reference {key!r}: expected 'table|model' (optionally '|L6xH384', '|from TEACHER')")
    table, model, quals = parts[0], parts[1], parts[2:]
    cands = [e for e in _all_entries() if e.table == table and e.model == model]
    for q in quals:
        cands = [e for e in cands if (q[5:] == e.teacher if q.startswith("from ") else q == e.shape)]
    if len(cands) > 1 and shape is not None:
        same = [e for e in cands if (e.layers, e.hidden) == tuple(shape)]
        cands = same or cands
    if len(cands) == 1:
        return cands[0]
    if not cands:
        every = sorted(e.key for e in _all_entries())
        raise KeyError(f"no reference figures for {key!r}; known entries: {every}")
    raise KeyError(f"reference {key!r} is ambiguous: qualify it as one of {[e.key for e in cands]}")


def format_reference(value: float, recalled: bool) -> str:
    return f"{value:.1f}{'†' if recalled else ''}"
