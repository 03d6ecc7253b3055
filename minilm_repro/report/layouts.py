"""The table kinds, per track (cells in percent; the paper's metric for each column):

* ``<track>_findings``: one row per comparative claim of the paper, its Δ beside ours and a verdict
  (:mod:`minilm_repro.report.findings`)
* ``<track>_glue_squad``: SQuAD 2.0 F1, MNLI-m, SST-2, QNLI, CoLA (Matthews), RTE, MRPC and QQP
  (accuracy, as the paper), their average; MNLI-mm, MRPC/QQP F1, STS-B (Pearson) and SQuAD 2.0's
  F1 on the answerable questions after it, outside it (not in the paper's table)
* ``<track>_sizes``: distilled students grouped by shape, with and without teacher assistant
  (Table 3); Δ with-assistant − direct of one shape
* ``<track>_ablation``: students of one shape and teacher that differ in relations or layer
  transfer (Tables 5, 6, 7); Δ variant − the plain MiniLM student of that shape and teacher
* ``<track>_xnli`` (languages + average, Table 11), ``<track>_mlqa`` (languages, F1 / EM, Table 13)
* ``<track>_models``: every model of the track (ours and external checkpoints) side by side
* ``<track>_speed``: parameters and measured inference time beside the paper's Table 4

Δ rows between two of our models carry paired-bootstrap intervals (:mod:`intervals`); each
distilled student is also compared with ``scratch`` of its shape where there is one.
"""

from __future__ import annotations

import pandas as pd

from minilm_repro.report.assemble import (
    Layout,
    Table,
    TrackContext,
    assemble,
    ours_delta_rows,
    wide,
)
from minilm_repro.report.collect import MAJORITY
from minilm_repro.report.comparable import LAST, PLAIN
from minilm_repro.report.findings import findings_table
from minilm_repro.report.selection import MULTI_TASKS, cell_stats

GLUE_COLUMNS = {  # (task, split, metric) -> column
    ("squad_v2", "validation", "best_f1"): "SQuAD2", ("mnli", "validation_matched", "accuracy"): "MNLI-m",
    ("sst2", "validation", "accuracy"): "SST-2", ("qnli", "validation", "accuracy"): "QNLI",
    ("cola", "validation", "matthews_correlation"): "CoLA", ("rte", "validation", "accuracy"): "RTE",
    ("mrpc", "validation", "accuracy"): "MRPC", ("qqp", "validation", "accuracy"): "QQP",
    ("mnli", "validation_mismatched", "accuracy"): "MNLI-mm", ("mrpc", "validation", "f1"): "MRPC-F1",
    ("qqp", "validation", "f1"): "QQP-F1", ("stsb", "validation", "pearson"): "STS-B",
    ("squad_v2", "validation", "f1"): "SQuAD2-F1@0", ("squad_v2", "validation", "HasAns_f1"): "SQuAD2-HasAns-F1",
}
PAPER_GLUE = ["SQuAD2", "MNLI-m", "SST-2", "QNLI", "CoLA", "RTE", "MRPC", "QQP"]  # averaged, the paper's order
# after Avg, outside it (not in the paper's table)
EXTRA_GLUE = ["MNLI-mm", "MRPC-F1", "QQP-F1", "STS-B", "SQuAD2-F1@0", "SQuAD2-HasAns-F1"]
REF_OF = {"SQuAD2": ("squad2", "f1"), "MNLI-m": ("mnli-m", "accuracy"), "SST-2": ("sst2", "accuracy"),
          "QNLI": ("qnli", "accuracy"), "CoLA": ("cola", "matthews"), "RTE": ("rte", "accuracy"),
          "MRPC": ("mrpc", "accuracy"), "QQP": ("qqp", "accuracy"), "XNLI": ("xnli-avg", "accuracy"),
          "MLQA": ("mlqa-avg", "f1")}
MULTI_COLUMNS = {"XNLI": ("xnli", "accuracy"), "MLQA": ("mlqa", "f1")}
# the paper's own tables shown in each kind of table (released-* rows: labelled, never a Δ target)
PAPER_TABLES = {"glue_squad": ["paper-table2-L6xH768", "released-mono", "released-minilmv2"], "sizes": ["paper-table3-sizes"],
                "ablation": ["paper-ablation-vr", "paper-table6-value-mse", "paper-table7-layerwise"],
                "xnli": ["paper-table11-xnli", "released-multi-xnli", "released-minilmv2-multi"],
                "mlqa": ["paper-table13-mlqa", "released-multi-mlqa", "released-minilmv2-multi"],
                "models": [], "speed": ["paper-table4-speed"]}
# the paper's language sets: an average over other languages gets no Δ
PAPER_LANGUAGES = {
    "xnli": ["en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"],
    "mlqa": ["en", "es", "de", "ar", "hi", "vi", "zh"],
}
MONO_NOTE = ("GLUE / SQuAD 2.0 cells: mean ± std over the seeds of the grid point with the best mean dev score "
             "(percent; the paper reports the mean of 4 runs). SQuAD2: F1 at the best-F1 null threshold, as the "
             "authors score SQuAD 2.0 dev; SQuAD2-F1@0 and SQuAD2-HasAns-F1: at null threshold 0 (answer \"\" when "
             "the null score beats the best span).")
MULTI_NOTE = ("XNLI / MLQA cells: the best single model (grid point and seed) on the joint dev set (the mean over "
              "every language's dev set), its test score; in brackets the mean ± std over the seeds of its grid "
              "point (percent).")
SPEED_NOTE = ("Ours: measured seconds for 100 batches on the Source's device (speed-ups within that machine, "
              "relative to the track's teacher); the paper's: 100 QNLI batches on one P100, relative to BERT-base. "
              "Different hardware: compare the speed-ups, not the seconds.")
LEAD = ["Source", "Shape", "#Params (M)", "Speed-up"]


def _language_of(r) -> str | None:
    return r.language


def glue_label(r) -> str | None:
    return GLUE_COLUMNS.get((r.task, r.split, r.metric))


def summary_label(r) -> str | None:
    for column, (task, metric) in MULTI_COLUMNS.items():
        if r.task == task:
            return column if r.split == "test" and r.metric == metric else None
    label = glue_label(r)
    return label if label in PAPER_GLUE else None


def _notes(ctx: TrackContext, tasks, pairs, lacking: list[str]) -> list[str]:
    notes = []
    if set(tasks) - set(MULTI_TASKS):
        notes.append(MONO_NOTE)
    if set(tasks) & set(MULTI_TASKS):
        notes.append(MULTI_NOTE)
    if pairs:
        boot = ctx.bootstrap
        how = (f"[low, high]: 95% paired-bootstrap interval over the examples of the column's eval sets, pooled "
               f"over seeds ({boot.resamples} resamples, seed {boot.seed}); * marks a difference whose interval "
               "excludes 0") if boot else "no intervals: the report was built without per-example predictions"
        notes.append(f"Δ A − B between two of our models: difference of the seed means over the seeds both have; {how}.")
        if lacking:
            notes.append(f"No per-example predictions for {len(lacking)} job(s) of this table (e.g. {lacking[0]}): "
                         "Δ that need them are given without an interval.")
    return notes


def _table(ctx: TrackContext, kind: str, title: str, layout: Layout, rows: pd.DataFrame, column_of,
           models: list[str], pairs: list[tuple[str, str]]) -> Table:
    """The table of ``rows`` (selected fine-tuning rows; ``column_of`` maps a row to its column or None)."""
    if ctx.bootstrap:
        ctx.bootstrap.take_recent()
    stats = cell_stats(rows, column_of)
    ours = stats[stats.model != MAJORITY]
    means, text = wide(ours, layout.columns, layout.avg_cols)
    seed_means, _ = wide(ours, layout.columns, layout.avg_cols, value="mean")
    _, majority = wide(stats[stats.model == MAJORITY], layout.columns, [])
    deltas = ours_delta_rows(ctx, layout, pairs, rows, column_of, seed_means)
    text = assemble(ctx, layout, models, means, text, majority, deltas)
    lacking = sorted(ctx.bootstrap.take_recent()) if ctx.bootstrap else []
    return Table(f"{ctx.track}_{kind}", f"{ctx.track}: {title}", text, means,
                 _notes(ctx, set(rows.task), deltas, lacking))


def scratch_pairs(ctx: TrackContext, models) -> list[tuple[str, str]]:
    """(distilled student, scratch) for each student of scratch's shape (the paper's Table 2 BERT_SMALL)."""
    if "scratch" not in models:
        return []
    return [(m, "scratch") for m in models if ctx.is_distilled(m) and ctx.shape(m) == ctx.shape("scratch")]


def glue_squad_table(ctx: TrackContext) -> Table | None:
    tdf = ctx.df[ctx.df.task.isin({t for t, _, _ in GLUE_COLUMNS})]
    stats = cell_stats(tdf, glue_label)
    if stats.empty:
        return None
    present = set(stats["column"])
    cols, extra = [c for c in PAPER_GLUE if c in present], [c for c in EXTRA_GLUE if c in present]
    layout = Layout("glue_squad", LEAD, cols + extra, cols, REF_OF, PAPER_TABLES["glue_squad"])
    models = ctx.order(set(stats.model) - {MAJORITY})
    return _table(ctx, "glue_squad", "GLUE dev and SQuAD 2.0 dev", layout, tdf, glue_label, models,
                  scratch_pairs(ctx, models))


def languages(df: pd.DataFrame, task: str) -> list[str]:
    langs = set(df.loc[df.task == task, "language"].dropna())
    known = [lang for lang in PAPER_LANGUAGES[task] if lang in langs]
    return known + sorted(langs - set(known))


def _language_layout(kind: str, langs: list[str], metric: str) -> Layout:
    return Layout(kind, LEAD, langs, langs, {lang: (f"{kind}-{lang}", metric) for lang in langs}, PAPER_TABLES[kind],
                  (f"{kind}-avg", metric), set(langs) == set(PAPER_LANGUAGES[kind]))


def xnli_table(ctx: TrackContext) -> Table | None:
    tdf = ctx.df[(ctx.df.task == "xnli") & (ctx.df.split == "test") & (ctx.df.metric == "accuracy")]
    if tdf.empty:
        return None
    models = ctx.order(set(tdf.model) - {MAJORITY})
    return _table(ctx, "xnli", "XNLI zero-shot test accuracy", _language_layout("xnli", languages(tdf, "xnli"), "accuracy"),
                  tdf, _language_of, models, scratch_pairs(ctx, models))


def mlqa_table(ctx: TrackContext) -> Table | None:
    """F1 / EM per language: two tables of the same rows (F1 decides the order), cells joined."""
    tdf = ctx.df[(ctx.df.task == "mlqa") & (ctx.df.split == "test") & ctx.df.metric.isin(["f1", "exact_match"])]
    if tdf.empty:
        return None
    langs = languages(tdf, "mlqa")
    models = ctx.order(set(tdf.model) - {MAJORITY})
    pairs = scratch_pairs(ctx, models)
    parts = [_table(ctx, "mlqa", "MLQA test F1 / EM", _language_layout("mlqa", langs, ref_metric),
                    tdf[tdf.metric == metric], _language_of, models, pairs)
             for metric, ref_metric in (("f1", "f1"), ("exact_match", "em"))]
    f1, em = parts[0].text, parts[1].text.reindex(index=parts[0].text.index)
    scores = [c for c in f1.columns if c not in LEAD]
    joined = f1.copy()
    for c in scores:
        joined[c] = [f"{a} / {b or '–'}" if a else "" for a, b in zip(f1[c], em[c].fillna(""))]
    return Table(parts[0].name, parts[0].title, joined, parts[0].means, parts[0].notes)


def _summary(ctx: TrackContext, kind: str, title: str, lead: list[str], models: list[str], order, pairs) -> Table | None:
    tdf = ctx.df[ctx.df.model.isin(models)]
    stats = cell_stats(tdf, summary_label)
    if stats.empty:
        return None
    present = set(stats["column"])
    cols = [c for c in PAPER_GLUE + list(MULTI_COLUMNS) if c in present]
    comparable = all(set(languages(ctx.df, MULTI_COLUMNS[c][0])) == set(PAPER_LANGUAGES[MULTI_COLUMNS[c][0]])
                     for c in cols if c in MULTI_COLUMNS)
    # the paper's language averages are not ours unless the languages are the paper's: shown, not compared
    ref_of = {c: v for c, v in REF_OF.items() if c in cols and (comparable or c not in MULTI_COLUMNS)}
    layout = Layout(kind, lead, cols, cols, ref_of, PAPER_TABLES[kind])
    ordered = order(sorted(set(stats.model)))
    return _table(ctx, kind, title, layout, tdf, summary_label, ordered, pairs(ordered))


def models_table(ctx: TrackContext) -> Table | None:
    models = [m for m in ctx.df.model.unique() if m != MAJORITY]
    return _summary(ctx, "models", "every model and checkpoint compared",
                    ["Source", "Origin", "Shape", "#Params (M)", "Speed-up"], models, ctx.order,
                    lambda ms: scratch_pairs(ctx, ms))


def _variant(ctx: TrackContext, m: str) -> tuple:
    return ctx.models.loc[m, "relations"], ctx.models.loc[m, "transfer"]


def sizes_table(ctx: TrackContext) -> Table | None:
    students = [m for m in ctx.df.model.unique() if ctx.is_distilled(m)]

    def key(m):
        layers, hidden = ctx.shape(m) or (0, 0)
        return -layers, -hidden, ctx.via_assistant(m), m

    def pairs(ms):  # with assistant − direct, same shape and variant
        return [(a, b) for a in ms for b in ms if ctx.via_assistant(a) and not ctx.via_assistant(b)
                and ctx.shape(a) == ctx.shape(b) and _variant(ctx, a) == _variant(ctx, b)]

    return _summary(ctx, "sizes", "student sizes, with and without teacher assistant",
                    ["Source", "Shape", "Teacher", "#Params (M)", "Speed-up"], students,
                    lambda ms: sorted(ms, key=key), pairs) if students else None


def ablation_table(ctx: TrackContext) -> Table | None:
    students = [m for m in ctx.df.model.unique() if ctx.is_distilled(m)]
    variants: dict = {}
    for m in students:
        variants.setdefault((ctx.shape(m), ctx.models.loc[m, "teacher"]), set()).add(_variant(ctx, m))
    groups = {g for g, v in variants.items() if len(v) >= 2}
    chosen = [m for m in students if (ctx.shape(m), ctx.models.loc[m, "teacher"]) in groups]

    def key(m):
        layers, hidden = ctx.shape(m)
        return -layers, -hidden, str(ctx.models.loc[m, "teacher"]), _variant(ctx, m) != (PLAIN, LAST), \
            str(ctx.models.loc[m, "transfer"]), str(ctx.models.loc[m, "relations"]), m

    def pairs(ms):  # variant − the plain MiniLM student of its shape and teacher
        base = {(ctx.shape(m), ctx.models.loc[m, "teacher"]): m for m in ms if _variant(ctx, m) == (PLAIN, LAST)}
        return [(m, base[g]) for m in ms if (g := (ctx.shape(m), ctx.models.loc[m, "teacher"])) in base
                and base[g] != m]

    return _summary(ctx, "ablation", "ablations (relations, layer transfer)",
                    ["Source", "Shape", "Relations", "Transfer", "Teacher", "#Params (M)"], chosen,
                    lambda ms: sorted(ms, key=key), pairs) if chosen else None


def speed_table(ctx: TrackContext) -> Table | None:
    if ctx.speed.empty:
        return None
    col = "s / 100 batches"
    layout = Layout("speed", LEAD, [col], [], {col: ("qnli-100-batches-p100", "seconds")}, PAPER_TABLES["speed"])
    seconds = (ctx.speed["seconds_per_batch"] * 100).rename(col).to_frame()
    text = seconds.map(lambda v: f"{v:.2f}")
    text = assemble(ctx, layout, ctx.order(seconds.index), seconds, text)
    return Table(f"{ctx.track}_speed", f"{ctx.track}: parameters and inference speed", text, seconds, [SPEED_NOTE])


TABLE_BUILDERS = {  # the page's order within a track: the findings first, the table a reviewer reads first
    "findings": (findings_table, "no MiniLM student with GLUE fine-tuning results in this track"),
    "glue_squad": (glue_squad_table, "no GLUE or SQuAD 2.0 fine-tuning in this track"),
    "sizes": (sizes_table, "no distilled student with fine-tuning results in this track"),
    "ablation": (ablation_table, ("no two distilled students of one shape and teacher that differ in `relations` "
                                  "or `layer_map` (add ablation students to tracks.<track>.students)")),
    "xnli": (xnli_table, "no XNLI fine-tuning in this track"),
    "mlqa": (mlqa_table, "no MLQA fine-tuning in this track"),
    "models": (models_table, "no fine-tuning results in this track"),
    "speed": (speed_table, "no speed job in this track (tracks.<track>.speed)"),
}
