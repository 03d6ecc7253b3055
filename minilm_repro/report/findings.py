"""The paper's comparative findings, measured: one row per claim, the paper's Δ beside ours, a verdict.

A claim compares two kinds of model of the same shape (the assistant claim: the smallest student
through the assistant and the same shape distilled directly), found among the track's models by
their records (:meth:`TrackContext.facts`):

* Table 3: MiniLM (last-layer attention + value relations, from the teacher) > the TinyBERT-style
  layer-to-layer baseline; > MLM-KD (needs the teacher's MLM head); w/ TA > direct for the smallest;
* Table 5: attention + value relation > attention only; Table 6: value relation > Value-MSE;
* Table 7: last layer > layer to layer; Table 2: MiniLM > the same-shape scratch MLM model (BERT_SMALL).

Paper Δ: the paper's rows (``reference_results.csv``) of the same depth where the table has one
(its students are H384; Table 2's are 6x768), per paper task and their mean. Ours: per GLUE column
of the track and on their mean, the seeds' mean Δ with the 95% paired-bootstrap interval the tables
compute (:func:`minilm_repro.report.intervals.pair_intervals`). Verdict, on the mean over tasks:
*agrees* (the interval excludes 0 on the paper's side), *opposite* (excludes 0 on the other side),
*not distinguishable* (contains 0). A claim with no pair of models here says why.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from minilm_repro.report.assemble import Table, TrackContext
from minilm_repro.report.collect import MAJORITY
from minilm_repro.report.comparable import LAST, PLAIN
from minilm_repro.report.intervals import pair_intervals
from minilm_repro.report.reference import load_reference
from minilm_repro.report.selection import cell_stats

# our columns (the paper's metric per task) -> (task, split, metric)
COLUMNS = {"CoLA": ("cola", "validation", "matthews_correlation"), "SST-2": ("sst2", "validation", "accuracy"),
           "MRPC": ("mrpc", "validation", "accuracy"), "RTE": ("rte", "validation", "accuracy"),
           "STS-B": ("stsb", "validation", "pearson"), "QNLI": ("qnli", "validation", "accuracy"),
           "MNLI-m": ("mnli", "validation_matched", "accuracy"), "QQP": ("qqp", "validation", "accuracy"),
           "SQuAD2": ("squad_v2", "validation", "best_f1")}
_LABEL = {v: k for k, v in COLUMNS.items()}
PAPER_TASKS = {"squad2": "SQuAD2", "mnli-m": "MNLI-m", "sst2": "SST-2", "qnli": "QNLI", "cola": "CoLA",
               "rte": "RTE", "mrpc": "MRPC", "qqp": "QQP"}


@dataclasses.dataclass(frozen=True)
class Claim:
    """A model of a kind in ``a`` > one of kind ``b`` (:func:`_kind`); the paper's rows: (table, model) of each side."""

    claim: str
    table: str
    a: tuple[str, ...]
    b: str
    paper_a: tuple[str, str]
    paper_b: tuple[str, str]


CLAIMS = [
    Claim("MiniLM > TinyBERT-style layer-to-layer", "Table 3", ("minilm",), "tinybert",
          ("paper-table3-sizes", "MiniLM"), ("paper-table3-sizes", "TinyBERT")),
    Claim("MiniLM > MLM-KD", "Table 3", ("minilm",), "mlm_kd",
          ("paper-table3-sizes", "MiniLM"), ("paper-table3-sizes", "MLM-KD")),
    Claim("attention + value relation > attention only", "Table 5", ("minilm",), "attention",
          ("paper-table3-sizes", "MiniLM"), ("paper-ablation-vr", "MiniLM w/o VR")),
    Claim("value relation > Value-MSE", "Table 6", ("minilm",), "value_mse",
          ("paper-table3-sizes", "MiniLM"), ("paper-table6-value-mse", "Value-MSE")),
    Claim("last layer > layer to layer", "Table 7", ("minilm",), "layerwise",
          ("paper-table3-sizes", "MiniLM"), ("paper-table7-layerwise", "MiniLM+layer-to-layer")),
    Claim("w/ TA > direct, smallest student", "Table 3", ("minilm_ta",), "minilm",
          ("paper-table3-sizes", "MiniLM+TA"), ("paper-table3-sizes", "MiniLM")),
    Claim("MiniLM > same-shape scratch MLM", "Table 2", ("minilm", "minilm_ta"), "scratch",
          ("paper-table2-L6xH768", "MiniLM"), ("paper-table2-L6xH768", "BERT_SMALL")),
]
NOT_HERE = {"mlm_kd": "not run: MLM-KD needs the teacher's masked-LM head, which this teacher does not ship",
            "tinybert": "no TinyBERT-style student of a MiniLM student's shape in this track",
            "attention": "no attention-only (-VR) student of a MiniLM student's shape in this track",
            "value_mse": "no Value-MSE student of a MiniLM student's shape in this track",
            "layerwise": "no layer-to-layer MiniLM student of a MiniLM student's shape in this track",
            "minilm_ta": "no student distilled through a teacher assistant with a direct twin of its shape",
            "scratch": "no scratch model of a MiniLM student's shape in this track"}


def _kind(ctx: TrackContext, m: str) -> str | None:
    """What kind of model ``m`` is, for the claims (None: none of them)."""
    if m == "scratch":
        return "scratch"
    f = ctx.facts(m)
    if not f.distilled or f.relations is None:
        return None
    if f.relations.startswith("tinybert"):
        return "tinybert"
    if f.relations.startswith("mlm_kd"):
        return "mlm_kd"
    if "mse" in f.relations.lower():
        return "value_mse"
    if f.relations == "attention" and f.transfer == LAST:
        return "attention"
    if f.relations == PLAIN and f.transfer == LAST:
        return "minilm_ta" if f.via_assistant else "minilm"
    if f.relations == PLAIN and str(f.transfer).startswith("layer-wise"):
        return "layerwise"
    return None


def pairs_of(ctx: TrackContext, claim: Claim, models: list[str]) -> list[tuple[str, str]]:
    """(A, B) pairs of ``claim`` among ``models``: same shape; the assistant claim, the smallest shape only."""
    kinds = {m: _kind(ctx, m) for m in models}
    pairs = [(a, b) for a in models for b in models
             if kinds[a] in claim.a and kinds[b] == claim.b and ctx.shape(a) == ctx.shape(b) and a != b]
    if claim.a == ("minilm_ta",) and pairs:
        smallest = min(ctx.shape(a) for a, _ in pairs)
        pairs = [(a, b) for a, b in pairs if ctx.shape(a) == smallest]
    return pairs


def paper_delta(claim: Claim, layers: int) -> tuple[dict[str, float], str]:
    """(paper Δ per our column name, which rows: table, shape) at the paper's depth nearest ``layers``."""
    ref = load_reference()
    rows = {side: ref[(ref.table == t) & (ref.model == m)] for side, (t, m) in (("a", claim.paper_a),
                                                                                 ("b", claim.paper_b))}
    depths = sorted(set(rows["a"].layers) & set(rows["b"].layers), key=lambda d: (abs(d - layers), -d))
    if not depths:
        return {}, "no paper rows"
    depth = depths[0]
    out, shape, dagger = {}, "", False
    for task, label in PAPER_TASKS.items():
        va = rows["a"][(rows["a"].layers == depth) & (rows["a"].task == task)]
        vb = rows["b"][(rows["b"].layers == depth) & (rows["b"].task == task)]
        if len(va) and len(vb):
            out[label] = float(va.value.iloc[0]) - float(vb.value.iloc[0])
            shape = f"L{depth}xH{int(va.hidden.iloc[0])}"
            dagger |= bool(va.recalled.iloc[0] or vb.recalled.iloc[0])
    return out, f"{claim.table}, {shape}" + (" †" if dagger else "")


def verdict(paper_mean: float | None, interval) -> str:
    if interval is None or paper_mean is None or np.isnan(paper_mean):
        return "no interval" if interval is None else "no paper Δ"
    if not interval.excludes_zero:
        return "not distinguishable"
    return "agrees" if (interval.delta > 0) == (paper_mean > 0) else "opposite"


def findings_table(ctx: TrackContext) -> Table | None:
    rows_df = ctx.df[ctx.df.apply(lambda r: (r.task, r.split, r.metric) in _LABEL, axis=1)] if len(ctx.df) else ctx.df
    if rows_df.empty:
        return None
    models = [m for m in ctx.order(set(rows_df.model) - {MAJORITY})]
    if not any(_kind(ctx, m) in ("minilm", "minilm_ta") for m in models):
        return None

    def column_of(r):
        return _LABEL.get((r.task, r.split, r.metric))

    stats = cell_stats(rows_df, column_of)
    means = stats.pivot_table(index="model", columns="column", values="mean")
    seeds = stats.pivot_table(index="model", columns="column", values="n", aggfunc="min")
    out, figures = [], []
    for claim in CLAIMS:
        pairs = pairs_of(ctx, claim, models)
        if not pairs:
            why = NOT_HERE["minilm_ta" if claim.a == ("minilm_ta",) else claim.b]
            out.append({"Claim": claim.claim, "Paper (rows)": claim.table, "Verdict": why})
            continue
        for a, b in pairs:
            cols = [c for c in COLUMNS if c in means.columns and pd.notna(means.loc[a].get(c))
                    and b in means.index and pd.notna(means.loc[b].get(c))]
            found = pair_intervals(ctx.bootstrap, rows_df, column_of, a, b, cols, cols)
            paper, rows_label = paper_delta(claim, ctx.shape(a)[0])
            paper_mean = float(np.mean(list(paper.values()))) if paper else None
            row = {"Claim": claim.claim, "Paper (rows)": rows_label,
                   "Paper Δ": ", ".join(f"{k} {v:+.1f}" for k, v in paper.items()) +
                              (f"; mean {paper_mean:+.1f}" if paper else ""),
                   "Ours: A − B": f"{a} − {b}"}
            for c in cols:
                row[c] = found[c].format() if c in found else f"{means.loc[a, c] - means.loc[b, c]:+.1f}"
            avg = found.get("Avg")
            row["Mean over tasks"] = avg.format() if avg else \
                f"{np.mean([means.loc[a, c] - means.loc[b, c] for c in cols]):+.1f}"
            row["Seeds"] = int(min(min(seeds.loc[a, c], seeds.loc[b, c]) for c in cols)) if cols else ""
            row["Verdict"] = verdict(paper_mean, avg)
            out.append(row)
            figures.append({"claim": claim.claim, "a": a, "b": b, "paper_mean": paper_mean,
                            "ours_mean": avg.delta if avg else None})
    text = pd.DataFrame(out, dtype=object).set_index("Claim").fillna("")
    notes = [
        ("One row per comparative claim of the paper. Paper Δ: its rows of the nearest depth (Tables 3, 5-7: H384 "
         "students; Table 2: 6x768), per task it reports and their mean; † marks figures recalled, not verified."),
        ("Ours: A − B per GLUE dev column (the paper's metric: CoLA MCC, accuracy, STS-B Pearson) and on their mean: "
         "the seeds' mean difference with the 95% paired-bootstrap interval over the examples, pooled over the seeds "
         "both have; * marks an interval that excludes 0."),
        ("Verdict, on the mean over tasks: agrees (the interval excludes 0 on the paper's side), opposite (excludes 0 "
         "on the other side), not distinguishable (contains 0). Our students are far smaller and less trained than "
         "the paper's: a verdict is about this profile, not a test of the paper."),
    ]
    mean_frame = pd.DataFrame(figures).set_index("claim") if figures else pd.DataFrame()
    return Table(f"{ctx.track}_findings", f"{ctx.track}: the paper's findings, measured", text, mean_frame, notes)
