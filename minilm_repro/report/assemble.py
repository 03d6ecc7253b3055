"""The parts every results table is made of: our rows, the majority-class row, Δ rows between our
models (with bootstrap intervals), the paper's rows and Δ rows against the paper row each model
reproduces (``tracks.<t>.reference``, checked by :mod:`minilm_repro.report.comparable`).

All cells are percent; text cells are formatted, ``means`` hold the figures our cells report.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from minilm_repro.report.comparable import VARIANTS, ModelFacts, checked_entries
from minilm_repro.report.intervals import Bootstrap, pair_intervals
from minilm_repro.report.reference import (
    NO_TEACHER,
    PAPER_HARDWARE,
    PaperEntry,
    entries_of_tables,
    format_reference,
)
from minilm_repro.report.selection import format_cell, reported

RELEASED_SOURCE = "released, other teacher (authors' README)"
MAJORITY_SOURCE = "constant: the training set's majority label (SQuAD 2.0: no answer to every question)"


@dataclasses.dataclass
class Table:
    """One results table: ``text`` (formatted cells, index = row label), ``means`` (the figures our
    rows report, percent; columns = score columns and Avg) and ``notes`` (its caption lines)."""

    name: str
    title: str
    text: pd.DataFrame
    means: pd.DataFrame
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class TrackContext:
    """What every table of one track needs besides its scores."""

    track: str
    profile: str
    df: pd.DataFrame  # selected fine-tuning rows of the track (selection.select_best)
    models: pd.DataFrame  # model_frame rows of the track, index = model
    speed: pd.DataFrame  # speed_frame rows of the track, index = model
    references: dict  # our model -> paper entry key(s)
    bootstrap: Bootstrap | None = None  # None: no intervals

    def shape(self, model: str) -> tuple[int, int] | None:
        if model not in self.models.index or pd.isna(self.models.loc[model, "layers"]):
            return None
        return int(self.models.loc[model, "layers"]), int(self.models.loc[model, "hidden"])

    def is_distilled(self, model) -> bool:
        return model in self.models.index and str(self.models.loc[model, "origin"]).startswith("distilled")

    def via_assistant(self, model: str) -> bool:
        return self.is_distilled(model) and self.is_distilled(self.models.loc[model, "teacher"])

    def facts(self, model: str) -> ModelFacts:
        m = self.models.loc[model] if model in self.models.index else None

        def label(key):
            return m[key] if m is not None and isinstance(m[key], str) else None

        return ModelFacts(self.shape(model), self.is_distilled(model), self.via_assistant(model),
                          label("relations"), label("transfer"))

    def mapped_entries(self, model: str) -> list[PaperEntry]:
        """The paper rows ``model`` reproduces (ValueError if one is not like with like)."""
        return checked_entries(model, self.references.get(model, []), self.facts(model))

    def source(self, model: str) -> str:
        devices = sorted({d for d in self.df.loc[self.df.model == model, "device"] if isinstance(d, str)})
        text = f"{self.profile} · {', '.join(devices) or 'device not recorded'}"
        if model in self.speed.index and self.speed.loc[model, "device"] not in devices:
            text += f"; speed-up on {self.speed.loc[model, 'device']}"
        return text

    def lead(self, model: str, column: str) -> str:
        m = self.models.loc[model] if model in self.models.index else None
        if column == "Source":
            return self.source(model)
        if column == "Origin":
            return "" if m is None else m["origin"]
        if column == "Shape":
            shape = self.shape(model)
            return "" if shape is None else f"L{shape[0]}xH{shape[1]}"
        if column == "Teacher":
            if m is None or not isinstance(m["teacher"], str):
                return ""
            return m["teacher"] + (" (assistant)" if self.is_distilled(m["teacher"]) else "")
        if column in ("Relations", "Transfer"):
            return "" if m is None or not isinstance(m[column.lower()], str) else m[column.lower()]
        if column == "#Params (M)":
            return "" if m is None or pd.isna(m["params"]) else f"{m['params'] / 1e6:.2f}"
        if column == "Speed-up":
            up = self.speed["speedup"].get(model)
            return "" if up is None or pd.isna(up) else f"{up:.1f}x"
        raise KeyError(column)

    def order(self, names) -> list[str]:
        """Teacher first, then distilled (largest first), other models of ours, external checkpoints."""
        def key(m):
            origin = str(self.models["origin"].get(m, ""))
            rank = 0 if m == "teacher" else 1 if origin.startswith("distilled") else \
                2 if origin.startswith("pretrained") else 3 if origin else 4
            params = self.models["params"].get(m, pd.NA)
            return rank, -(0 if pd.isna(params) else int(params)), m
        return sorted(names, key=key)


@dataclasses.dataclass
class Layout:
    """How one table kind maps cells to paper figures."""

    kind: str
    lead: list[str]
    columns: list[str]  # score columns, in order
    avg_cols: list[str]
    ref_of: dict  # score column -> (reference task, reference metric)
    paper_tables: list[str] = dataclasses.field(default_factory=list)  # shown for context
    avg_ref: tuple[str, str] | None = None  # the paper's published average (task, metric), if any
    avg_comparable: bool = True  # whether our Avg averages the same things as the paper's


def wide(stats: pd.DataFrame, columns: list[str], avg_cols: list[str],
         value: str = "reported") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numeric, text) frames, rows = model, in ``columns`` order, plus Avg over ``avg_cols`` when
    given. ``value``: "reported" (the cells' figures) or "mean" (the seeds' means)."""
    stats = stats.assign(reported=reported(stats)) if len(stats) else stats.assign(reported=pd.Series(dtype=float))
    means = stats.pivot(index="model", columns="column", values=value).reindex(columns=columns)
    cells = [format_cell(m, s, n, b) for m, s, n, b in zip(stats["mean"], stats["std"], stats["n"], stats["best"])]
    text = stats.assign(t=cells).pivot(index="model", columns="column", values="t") \
        .reindex(columns=columns).astype(object).fillna("")
    if avg_cols:
        avg = means[avg_cols].mean(axis=1, skipna=False)
        means.insert(columns.index(avg_cols[-1]) + 1, "Avg", avg)
        text.insert(columns.index(avg_cols[-1]) + 1, "Avg", avg.map(lambda v: "" if pd.isna(v) else f"{v:.1f}"))
    means.columns.name = text.columns.name = None
    return means.astype("float64"), text


def _paper_cells(entry: PaperEntry, layout: Layout) -> tuple[dict, float | None, bool]:
    """(values by column, Avg value, whether that Avg is comparable with ours)."""
    values = {c: entry.value(*layout.ref_of[c]) for c in layout.columns if c in layout.ref_of}
    values = {c: v for c, v in values.items() if v is not None}
    if layout.avg_cols and all(c in values for c in layout.avg_cols):
        return values, sum(values[c] for c in layout.avg_cols) / len(layout.avg_cols), layout.avg_comparable
    return values, (entry.value(*layout.avg_ref) if layout.avg_ref else None), False


def paper_row(entry: PaperEntry, layout: Layout) -> pd.Series | None:
    values, avg, _ = _paper_cells(entry, layout)
    if not values and avg is None:
        return None
    row = {c: format_reference(v, entry.recalled) for c, v in values.items()}
    if avg is not None and layout.avg_cols:
        row["Avg"] = format_reference(avg, entry.recalled)
    variant = VARIANTS.get(entry.model)
    source = RELEASED_SOURCE if entry.released_student else "authors' README" if entry.released else \
        f"paper: {entry.table} ({PAPER_HARDWARE})"
    origin = "published, not distilled" if entry.teacher == NO_TEACHER else \
        f"{'released' if entry.released_student else 'published'}, teacher {entry.teacher}"
    lead = {"Source": source, "Shape": entry.shape, "Origin": origin,
            "Teacher": entry.teacher + (" (assistant)" if variant and variant.assistant else ""),
            "Relations": "" if not variant or not variant.relations else
            variant.relations.replace("*mse", "attention+value MSE"),
            "Transfer": "" if not variant or not variant.transfer else variant.transfer,
            "#Params (M)": "" if entry.params_millions is None else
            f"{entry.params_millions:g}" + ("†" if entry.recalled else ""),
            "Speed-up": "" if entry.speedup is None else f"{entry.speedup:.1f}x"}
    row.update({c: lead[c] for c in layout.lead if c in lead})
    return pd.Series(row, name=entry.label)


def paper_delta_row(model: str, entry: PaperEntry, means: pd.DataFrame, layout: Layout) -> pd.Series | None:
    """Ours − the paper's figure, per column both have (no interval: the paper's examples are not ours)."""
    values, avg, comparable = _paper_cells(entry, layout)
    row = {c: f"{means.loc[model, c] - v:+.1f}" for c, v in values.items() if pd.notna(means.loc[model, c])}
    if avg is not None and comparable and "Avg" in means.columns and pd.notna(means.loc[model, "Avg"]):
        row["Avg"] = f"{means.loc[model, 'Avg'] - avg:+.1f}"
    return pd.Series(row, name=f"Δ {model} − {entry.label}") if row else None


def ours_delta_rows(ctx: TrackContext, layout: Layout, pairs: list[tuple[str, str]], rows: pd.DataFrame, column_of,
                    seed_means: pd.DataFrame) -> list[pd.Series]:
    """Δ A − B between two of our models: the seeds' means, with a 95% paired-bootstrap interval where
    both have per-example predictions (``*``: the interval excludes 0). ``rows``: the table's rows."""
    out = []
    cols = layout.columns + (["Avg"] if layout.avg_cols else [])
    for a, b in pairs:
        if a not in seed_means.index or b not in seed_means.index:
            continue
        found = pair_intervals(ctx.bootstrap, rows, column_of, a, b, layout.columns, layout.avg_cols)
        row = {}
        for c in cols:
            if c in found:
                row[c] = found[c].format()
            elif pd.notna(seed_means.loc[a, c]) and pd.notna(seed_means.loc[b, c]):
                row[c] = f"{seed_means.loc[a, c] - seed_means.loc[b, c]:+.1f}"
        if row:
            out.append(pd.Series(row, name=f"Δ {a} − {b}"))
    return out


def assemble(ctx: TrackContext, layout: Layout, models: list[str], means: pd.DataFrame, text: pd.DataFrame,
             majority: pd.DataFrame | None = None, ours_deltas: list[pd.Series] = ()) -> pd.DataFrame:
    """Our rows (with lead columns), the majority-class row, Δ rows between ours, then the paper rows
    each model reproduces with their Δ rows, then the paper's other rows of this kind."""
    score_cols = list(text.columns)
    ours = text.reindex(models)
    for i, col in enumerate(layout.lead):
        ours.insert(i, col, [ctx.lead(m, col) for m in models])
    rows = [ours]
    if majority is not None and not majority.empty:
        maj = majority.reindex(columns=score_cols).astype(object).fillna("")
        if "Source" in layout.lead:
            maj.insert(0, "Source", MAJORITY_SOURCE)
        rows.append(maj)
    extra = list(ours_deltas)
    shown: set[str] = set()
    for model in models:
        for entry in ctx.mapped_entries(model):
            paper = paper_row(entry, layout)
            if paper is None:
                continue
            if entry.label not in shown:
                extra.append(paper)
                shown.add(entry.label)
            delta = paper_delta_row(model, entry, means, layout)
            if delta is not None:
                extra.append(delta)
    for entry in entries_of_tables(layout.paper_tables):
        paper = paper_row(entry, layout)
        if paper is not None and entry.label not in shown:
            extra.append(paper)
            shown.add(entry.label)
    if extra:
        rows.append(pd.DataFrame(extra))
    out = pd.concat(rows).reindex(columns=layout.lead + score_cols).astype(object).fillna("")
    out.index.name = None
    return out
