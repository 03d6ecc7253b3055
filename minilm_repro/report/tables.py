"""Results tables in the paper's layout, built from job records (metrics files or MLflow).

Protocol: for each (model, task), the grid point with the best mean dev score over seeds is
selected; a cell is that grid point's mean (± std) over seeds, in percent. A cell that gathers
several evaluations (a language average) averages them within each seed first. ``Avg`` is the
mean of the row's averaged columns. Tables, per track:

* ``<track>_glue_squad``: the monolingual comparison (params, measured speed-up, SQuAD 2.0 F1,
  MNLI-m, SST-2, QNLI, CoLA, RTE, MRPC, QQP, average; MNLI-mm and STS-B after it, outside it)
* ``<track>_sizes``: distilled students grouped by shape, with and without teacher assistant
* ``<track>_ablation``: students of one shape that differ in relations or layer transfer
* ``<track>_xnli`` (languages + average), ``<track>_mlqa`` (languages, F1 / EM, + average)
* ``<track>_models``: every model of the track (ours and external checkpoints) side by side

Each shows our rows, the majority-class baseline where the task has one, the paper's rows
(the paper's own table for that kind, plus the config's ``reference`` entries) and a Δ row per
configured ``our model -> paper entry``; † marks recalled figures. ``Source`` states the
profile and hardware each row came from.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from minilm_repro.report.collect import MAJORITY, Records, finetune_frame, model_frame, speed_frame
from minilm_repro.report.reference import PAPER_HARDWARE, PaperEntry, entries_of_tables, format_reference, resolve

GLUE_COLUMNS = {
    ("mnli", "validation_matched"): "MNLI-m", ("mnli", "validation_mismatched"): "MNLI-mm",
    ("sst2", "validation"): "SST-2", ("qnli", "validation"): "QNLI", ("cola", "validation"): "CoLA",
    ("rte", "validation"): "RTE", ("mrpc", "validation"): "MRPC", ("qqp", "validation"): "QQP",
    ("stsb", "validation"): "STS-B", ("squad_v2", "validation"): "SQuAD2",
}
PAPER_GLUE = ["SQuAD2", "MNLI-m", "SST-2", "QNLI", "CoLA", "RTE", "MRPC", "QQP"]  # averaged, the paper's order
EXTRA_GLUE = ["MNLI-mm", "STS-B"]  # shown after Avg, outside it (not in the paper's table)
REF_TASK = {"SQuAD2": "squad2", "MNLI-m": "mnli-m", "MNLI-mm": "mnli-mm", "SST-2": "sst2", "QNLI": "qnli",
            "CoLA": "cola", "RTE": "rte", "MRPC": "mrpc", "QQP": "qqp", "STS-B": "stsb",
            "XNLI": "xnli-avg", "MLQA": "mlqa-avg"}
# the paper's own tables shown in each kind of table
PAPER_TABLES = {"glue_squad": ["paper-table2-L6xH768", "released-mono"], "sizes": ["paper-table3-sizes"],
                "ablation": ["paper-ablation-vr"], "xnli": ["released-multi-xnli", "released-minilmv2-multi"],
                "mlqa": ["released-multi-mlqa", "released-minilmv2-multi"], "models": []}
# the paper's language sets: an average over other languages gets no Δ
PAPER_LANGUAGES = {
    "xnli": ["en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"],
    "mlqa": ["en", "es", "de", "ar", "hi", "vi", "zh"],
}
MULTI_TASKS = {"XNLI": ("xnli", "accuracy"), "MLQA": ("mlqa", "f1")}


@dataclasses.dataclass
class Table:
    """One results table: ``text`` (formatted cells, index = row label) and ``means`` (our models'
    numeric cell means, percent; columns = score columns and Avg)."""

    name: str
    title: str
    text: pd.DataFrame
    means: pd.DataFrame


def select_best(df: pd.DataFrame) -> pd.DataFrame:
    """Keep, per (track, model, task), the grid point whose mean dev select_score is best."""
    if df.empty:
        return df
    keys = ["track", "model", "task"]
    scores = df[df.model != MAJORITY].groupby(keys + ["grid_point"])["select_score"].mean().reset_index()
    best = scores.loc[scores.groupby(keys)["select_score"].idxmax(), keys + ["grid_point"]]
    chosen = df.merge(best, on=keys + ["grid_point"], how="inner")
    majority = df[df.model == MAJORITY].drop_duplicates(["track", "task", "eval", "metric"])
    return pd.concat([chosen, majority], ignore_index=True)


def _fmt(mean: float, std: float, n: int) -> str:
    if pd.isna(mean):
        return ""
    return f"{mean:.1f}" if n <= 1 or pd.isna(std) else f"{mean:.1f}±{std:.1f}"


def cell_stats(df: pd.DataFrame, column_of) -> pd.DataFrame:
    """model, column, mean, std, n: per seed the mean of the rows a column gathers, then over seeds."""
    if df.empty:
        return pd.DataFrame(columns=["model", "column", "mean", "std", "n"])
    df = df.assign(column=[column_of(r) for r in df.itertuples(index=False)]).dropna(subset=["column"])
    per_seed = df.groupby(["model", "column", "seed"])["value"].mean().reset_index()
    agg = per_seed.groupby(["model", "column"])["value"].agg(["mean", "std", "count"]).reset_index()
    return agg.rename(columns={"count": "n"})


def _wide(stats: pd.DataFrame, columns: list[str], avg_cols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(means, text) frames, rows = model, in ``columns`` order, plus Avg over ``avg_cols`` when given."""
    means = stats.pivot(index="model", columns="column", values="mean").reindex(columns=columns)
    text = stats.assign(t=[_fmt(m, s, n) for m, s, n in zip(stats["mean"], stats["std"], stats["n"])]) \
        .pivot(index="model", columns="column", values="t").reindex(columns=columns).astype(object).fillna("")
    if avg_cols:
        avg = means[avg_cols].mean(axis=1, skipna=False)
        means.insert(columns.index(avg_cols[-1]) + 1, "Avg", avg)
        text.insert(columns.index(avg_cols[-1]) + 1, "Avg", avg.map(lambda v: "" if pd.isna(v) else f"{v:.1f}"))
    means.columns.name = text.columns.name = None
    return means.astype("float64"), text


@dataclasses.dataclass
class TrackContext:
    """What every table of one track needs besides its scores."""

    track: str
    profile: str
    df: pd.DataFrame  # selected fine-tuning rows of the track
    models: pd.DataFrame  # model_frame rows of the track, index = model
    speed: pd.DataFrame  # speed_frame rows of the track, index = model
    references: dict  # our model -> [paper entry keys]

    def shape(self, model: str) -> tuple[int, int] | None:
        if model not in self.models.index or pd.isna(self.models.loc[model, "layers"]):
            return None
        return int(self.models.loc[model, "layers"]), int(self.models.loc[model, "hidden"])

    def is_distilled(self, model: str) -> bool:
        return model in self.models.index and str(self.models.loc[model, "origin"]).startswith("distilled")

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

    def mapped_entries(self, model: str) -> list[PaperEntry]:
        keys = self.references.get(model, [])
        return [resolve(k, self.shape(model)) for k in ([keys] if isinstance(keys, str) else keys)]


@dataclasses.dataclass
class Layout:
    """How one table kind maps cells to paper figures."""

    kind: str
    lead: list[str]
    columns: list[str]  # score columns, in order
    avg_cols: list[str]
    ref_of: dict  # score column -> (reference task, metric or None)
    avg_task: str | None = None  # the paper's published average, if any
    avg_comparable: bool = True  # whether our Avg averages the same things as the paper's


def _paper_cells(entry: PaperEntry, layout: Layout) -> tuple[dict, dict, float | None, bool]:
    """(values by column, text by column, Avg value, whether that Avg is comparable with ours)."""
    values = {c: entry.value(*layout.ref_of[c]) for c in layout.columns if c in layout.ref_of}
    values = {c: v for c, v in values.items() if v is not None}
    avg, comparable = None, False
    if layout.avg_cols and all(c in values for c in layout.avg_cols):
        avg, comparable = sum(values[c] for c in layout.avg_cols) / len(layout.avg_cols), layout.avg_comparable
    elif layout.avg_task:
        avg = entry.value(layout.avg_task)
    text = {c: format_reference(v, entry.recalled) for c, v in values.items()}
    return values, text, avg, comparable


def _paper_row(entry: PaperEntry, layout: Layout, text_of=None) -> pd.Series | None:
    values, text, avg, _ = _paper_cells(entry, layout)
    if not values and avg is None:
        return None
    row = {c: (text_of(t) if text_of else t) for c, t in text.items()}
    if avg is not None and layout.avg_cols:
        row["Avg"] = (text_of if text_of else str)(format_reference(avg, entry.recalled))
    lead = {"Source": f"paper: {entry.table} ({PAPER_HARDWARE})", "Shape": entry.shape,
            "Origin": f"published, teacher {entry.teacher}", "Teacher": entry.teacher,
            "#Params (M)": "" if entry.params_millions is None else
            f"{entry.params_millions:g}" + ("†" if entry.recalled else ""),
            "Speed-up": "" if entry.speedup is None else f"{entry.speedup:.1f}x"}
    row.update({c: lead[c] for c in layout.lead if c in lead})
    return pd.Series(row, name=entry.label)


def _delta_row(model: str, entry: PaperEntry, means: pd.DataFrame, layout: Layout) -> pd.Series | None:
    values, _, avg, comparable = _paper_cells(entry, layout)
    row = {c: f"{means.loc[model, c] - v:+.1f}" for c, v in values.items() if pd.notna(means.loc[model, c])}
    if avg is not None and comparable and "Avg" in means.columns and pd.notna(means.loc[model, "Avg"]):
        row["Avg"] = f"{means.loc[model, 'Avg'] - avg:+.1f}"
    return pd.Series(row, name=f"Δ {model} − {entry.label}") if row else None


def assemble(ctx: TrackContext, layout: Layout, models: list[str], means: pd.DataFrame, text: pd.DataFrame,
             majority: pd.DataFrame | None = None, text_of=None) -> pd.DataFrame:
    """Our rows (with lead columns), the majority-class row, paper and Δ rows, in display order."""
    score_cols = list(text.columns)
    ours = text.reindex(models)
    for i, col in enumerate(layout.lead):
        ours.insert(i, col, [ctx.lead(m, col) for m in models])
    rows = [ours]
    if majority is not None and not majority.empty:
        maj = majority.reindex(columns=score_cols).astype(object).fillna("")
        if "Source" in layout.lead:
            maj.insert(0, "Source", "constant: the training set's majority label")
        rows.append(maj)
    shown: set[str] = set()
    extra = []
    for model in models:
        for entry in ctx.mapped_entries(model):
            paper = _paper_row(entry, layout, text_of)
            delta = _delta_row(model, entry, means, layout)
            if paper is None:
                continue
            if entry.label not in shown:
                extra.append(paper)
                shown.add(entry.label)
            if delta is not None:
                extra.append(delta)
    for entry in entries_of_tables(PAPER_TABLES[layout.kind]) if PAPER_TABLES[layout.kind] else []:
        paper = _paper_row(entry, layout, text_of)
        if paper is not None and entry.label not in shown:
            extra.append(paper)
            shown.add(entry.label)
    if extra:
        rows.append(pd.DataFrame(extra))
    out = pd.concat(rows).reindex(columns=layout.lead + score_cols).astype(object).fillna("")
    out.index.name = None
    return out


# ---- the tables ---------------------------------------------------------------------------------------


def _glue_label(r) -> str | None:
    label = GLUE_COLUMNS.get((r.task, r.split))
    return label if label and r.metric == r.primary_metric else None


def glue_squad_table(ctx: TrackContext) -> Table | None:
    tdf = ctx.df[ctx.df.task.isin({t for t, _ in GLUE_COLUMNS})]
    if tdf.empty:
        return None
    stats = cell_stats(tdf, _glue_label)
    present = set(stats["column"])
    cols = [c for c in PAPER_GLUE if c in present]
    extra = [c for c in EXTRA_GLUE if c in present]
    layout = Layout("glue_squad", ["Source", "Shape", "#Params (M)", "Speed-up"], cols + extra, cols,
                    {c: (REF_TASK[c], None) for c in cols + extra})
    ours = stats[stats.model != MAJORITY]
    means, text = _wide(ours, cols + extra, cols)
    _, majority = _wide(stats[stats.model == MAJORITY], cols + extra, [])
    models = ctx.order(means.index)
    text = assemble(ctx, layout, models, means, text, majority)
    return Table(f"{ctx.track}_glue_squad", f"{ctx.track}: GLUE dev and SQuAD 2.0 dev", text, means)


def _languages(df: pd.DataFrame, task: str) -> list[str]:
    langs = set(df.loc[df.task == task, "language"].dropna())
    known = [lang for lang in PAPER_LANGUAGES[task] if lang in langs]
    return known + sorted(langs - set(known))


def xnli_table(ctx: TrackContext) -> Table | None:
    tdf = ctx.df[(ctx.df.task == "xnli") & (ctx.df.split == "test") & (ctx.df.metric == "accuracy")]
    if tdf.empty:
        return None
    langs = _languages(tdf, "xnli")
    stats = cell_stats(tdf, lambda r: r.language)
    layout = Layout("xnli", ["Source", "Shape", "#Params (M)", "Speed-up"], langs, langs,
                    {lang: (f"xnli-{lang}", "accuracy") for lang in langs}, "xnli-avg",
                    set(langs) == set(PAPER_LANGUAGES["xnli"]))
    means, text = _wide(stats[stats.model != MAJORITY], langs, langs)
    _, majority = _wide(stats[stats.model == MAJORITY], langs, [])
    text = assemble(ctx, layout, ctx.order(means.index), means, text, majority)
    return Table(f"{ctx.track}_xnli", f"{ctx.track}: XNLI zero-shot test accuracy", text, means)


def mlqa_table(ctx: TrackContext) -> Table | None:
    tdf = ctx.df[(ctx.df.task == "mlqa") & (ctx.df.split == "test") & ctx.df.metric.isin(["f1", "exact_match"])]
    if tdf.empty:
        return None
    langs = _languages(tdf, "mlqa")
    f1_means, f1_text = _wide(cell_stats(tdf[tdf.metric == "f1"], lambda r: r.language), langs, langs)
    _, em_text = _wide(cell_stats(tdf[tdf.metric == "exact_match"], lambda r: r.language), langs, langs)
    text = f1_text + " / " + em_text.reindex(index=f1_text.index, columns=f1_text.columns).fillna("")
    layout = Layout("mlqa", ["Source", "Shape", "#Params (M)", "Speed-up"], langs, langs,
                    {lang: (f"mlqa-{lang}", "f1") for lang in langs}, "mlqa-avg",
                    set(langs) == set(PAPER_LANGUAGES["mlqa"]))
    text = assemble(ctx, layout, ctx.order(f1_means.index), f1_means, text, text_of=lambda t: f"{t} / –")
    return Table(f"{ctx.track}_mlqa", f"{ctx.track}: MLQA test F1 / EM", text, f1_means)


def _summary_label(r) -> str | None:
    if r.task == "xnli":
        return "XNLI" if r.split == "test" and r.metric == "accuracy" else None
    if r.task == "mlqa":
        return "MLQA" if r.split == "test" and r.metric == "f1" else None
    label = _glue_label(r)
    return label if label in PAPER_GLUE else None


def _summary(ctx: TrackContext, kind: str, lead: list[str], models: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, Layout] | None:
    tdf = ctx.df[ctx.df.model.isin(models)]
    stats = cell_stats(tdf, _summary_label)
    if stats.empty:
        return None
    present = set(stats["column"])
    cols = [c for c in PAPER_GLUE + list(MULTI_TASKS) if c in present]
    comparable = all(set(_languages(ctx.df, MULTI_TASKS[c][0])) == set(PAPER_LANGUAGES[MULTI_TASKS[c][0]])
                     for c in cols if c in MULTI_TASKS)
    ref_of = {c: (REF_TASK[c], MULTI_TASKS[c][1] if c in MULTI_TASKS else None) for c in cols}
    if not comparable:  # the paper's language averages are not ours: shown, not compared
        ref_of = {c: v for c, v in ref_of.items() if c not in MULTI_TASKS}
    layout = Layout(kind, lead, cols, cols, ref_of)
    means, text = _wide(stats, cols, cols)
    return means, text, layout


def models_table(ctx: TrackContext) -> Table | None:
    models = [m for m in ctx.df.model.unique() if m != MAJORITY]
    built = _summary(ctx, "models", ["Source", "Origin", "Shape", "#Params (M)", "Speed-up"], models)
    if built is None:
        return None
    means, text, layout = built
    text = assemble(ctx, layout, ctx.order(means.index), means, text)
    return Table(f"{ctx.track}_models", f"{ctx.track}: every model and checkpoint compared", text, means)


def sizes_table(ctx: TrackContext) -> Table | None:
    students = [m for m in ctx.df.model.unique() if ctx.is_distilled(m)]
    built = _summary(ctx, "sizes", ["Source", "Shape", "Teacher", "#Params (M)", "Speed-up"], students) \
        if students else None
    if built is None:
        return None
    means, text, layout = built

    def key(m):
        layers, hidden = ctx.shape(m) or (0, 0)
        return -layers, -hidden, ctx.is_distilled(ctx.models.loc[m, "teacher"]), m

    text = assemble(ctx, layout, sorted(means.index, key=key), means, text)
    return Table(f"{ctx.track}_sizes", f"{ctx.track}: student sizes, with and without teacher assistant", text, means)


def ablation_table(ctx: TrackContext) -> Table | None:
    students = [m for m in ctx.df.model.unique() if ctx.is_distilled(m)]
    variants: dict = {}
    for m in students:
        v = ctx.models.loc[m, ["relations", "transfer"]]
        variants.setdefault(ctx.shape(m), set()).add((v["relations"], v["transfer"]))
    shapes = {s for s, v in variants.items() if len(v) >= 2}
    chosen = [m for m in students if ctx.shape(m) in shapes]
    built = _summary(ctx, "ablation", ["Source", "Shape", "Relations", "Transfer", "Teacher", "#Params (M)"],
                     chosen) if chosen else None
    if built is None:
        return None
    means, text, layout = built

    def key(m):
        layers, hidden = ctx.shape(m)
        return -layers, -hidden, str(ctx.models.loc[m, "transfer"]), str(ctx.models.loc[m, "relations"]), m

    text = assemble(ctx, layout, sorted(means.index, key=key), means, text)
    return Table(f"{ctx.track}_ablation", f"{ctx.track}: ablations (relations, layer transfer)", text, means)


TABLE_BUILDERS = {
    "glue_squad": (glue_squad_table, "no GLUE or SQuAD 2.0 fine-tuning in this track"),
    "sizes": (sizes_table, "no distilled student with fine-tuning results in this track"),
    "ablation": (ablation_table, "no two distilled students of one shape that differ in `relations` or "
                                 "`layer_map` (add ablation students to tracks.<track>.students)"),
    "xnli": (xnli_table, "no XNLI fine-tuning in this track"),
    "mlqa": (mlqa_table, "no MLQA fine-tuning in this track"),
    "models": (models_table, "no fine-tuning results in this track"),
}


@dataclasses.dataclass
class Frames:
    """The frames every table and figure is built from."""

    finetune: pd.DataFrame  # finetune_frame, best grid point selected
    models: pd.DataFrame
    speed: pd.DataFrame

    @classmethod
    def from_records(cls, records: Records) -> "Frames":
        return cls(select_best(finetune_frame(records.finetune)), model_frame(records.models),
                   speed_frame(records.speed))


def _profile_of(frames: Frames, profile: str) -> str:
    recorded = {p for f in (frames.finetune, frames.models) for p in f["profile"].dropna().unique()}
    if recorded - {profile}:
        raise ValueError(f"records of profile(s) {sorted(recorded)} given to a report of profile {profile!r}: "
                         "build one report per profile (results directory)")
    return profile


def build_tables(frames: Frames, profile: str, references: dict | None = None) -> tuple[dict[str, Table], dict[str, str]]:
    """(tables by name, reasons by name of the tables not written)."""
    _profile_of(frames, profile)
    tables, missing = {}, {}
    refs = references or {}
    tracks = sorted(set(frames.finetune.track) | set(frames.models.track))
    for track in tracks:
        ctx = TrackContext(track, profile, frames.finetune[frames.finetune.track == track],
                           frames.models[frames.models.track == track].set_index("model"),
                           frames.speed[frames.speed.track == track].set_index("model"), refs.get(track, {}))
        for kind, (builder, reason) in TABLE_BUILDERS.items():
            table = builder(ctx)
            if table is None:
                missing[f"{track}_{kind}"] = reason
            else:
                tables[table.name] = table
    return tables, missing


def learning_checks(frames: Frames, tables: dict[str, Table]) -> dict:
    """Does every model beat the majority class; does the teacher beat the from-scratch student.

    ``beats_majority_task`` compares each task's reported score (per split, the mean over its
    configs: XNLI's languages, as the paper's "Avg" column); ``beats_majority`` compares every
    evaluation (one language of one split), a stricter reading that ``per_eval_ok`` sums up."""
    df = frames.finetune
    checks: dict = {"beats_majority": {}, "beats_majority_task": {}, "teacher_beats_scratch": {}}
    keys = ["track", "task", "split", "eval", "metric"]
    maj = df[(df.model == MAJORITY) & (df.metric == df.primary_metric)].groupby(keys)["value"].first()
    ours = df[df.model != MAJORITY].groupby(keys + ["model"])["value"].mean()  # mean over grid points and seeds
    both = ours.reset_index().merge(maj.rename("majority").reset_index(), on=keys)
    for r in both.itertuples():
        checks["beats_majority"][f"{r.track}/{r.model}/{r.task}/{r.eval}"] = bool(r.value > r.majority)
    per_task = both.groupby(["track", "model", "task", "split"])[["value", "majority"]].mean()
    for (track, model, task, split), r in per_task.iterrows():
        checks["beats_majority_task"][f"{track}/{model}/{task}/{split}"] = bool(r.value > r.majority)
    for name, table in tables.items():
        track = name.removesuffix("_models")
        if name.endswith("_models") and {"teacher", "scratch"} <= set(table.means.index):
            t, s = table.means.loc["teacher", "Avg"], table.means.loc["scratch", "Avg"]
            checks["teacher_beats_scratch"][track] = {"teacher": float(t), "scratch": float(s), "ok": bool(t > s)}
    checks["all_ok"] = all(checks["beats_majority_task"].values()) and all(
        v["ok"] for v in checks["teacher_beats_scratch"].values())
    checks["per_eval_ok"] = all(checks["beats_majority"].values())
    return checks


def write_report(records: Records, out_dir, profile: str, references: dict | None = None) -> dict:
    """Write every table this profile has inputs for under ``out_dir`` (see :mod:`writers`), the list
    of those it has none for, and ``checks.json``; return the checks."""
    import json
    from pathlib import Path

    from minilm_repro.report.writers import clear_previous, write_not_written, write_table

    out_dir = Path(out_dir)
    (out_dir / "html").mkdir(parents=True, exist_ok=True)
    frames = Frames.from_records(records)
    tables, missing = build_tables(frames, profile, references)
    clear_previous(out_dir)
    for table in tables.values():
        write_table(table, out_dir, profile)
    write_not_written(missing, out_dir)
    devices = sorted({d for f in (frames.finetune, frames.speed) for d in f["device"].dropna().unique()})
    checks = {"profile": profile, "hardware": devices or "not recorded", "tables": sorted(tables),
              "not_written": missing, **learning_checks(frames, tables)}
    (out_dir / "checks.json").write_text(json.dumps(checks, indent=2, sort_keys=True) + "\n")
    return checks


def _run(args) -> int:
    import json

    from minilm_repro.report.collect import records_from_files, records_from_mlflow

    if args.mlflow == bool(args.finetune):
        raise SystemExit("report: give either --finetune FILES (with --models/--speed) or --mlflow, not both/neither")
    records = records_from_mlflow(args.profile) if args.mlflow else \
        records_from_files(args.finetune, args.models, args.speed)
    checks = write_report(records, args.out, args.profile, json.loads(args.references))
    print(json.dumps({k: v for k, v in checks.items() if not k.startswith("beats_majority")}, indent=2, default=str))
    for kind in ("beats_majority_task", "beats_majority"):
        failed = [k for k, ok in checks[kind].items() if not ok]
        if failed:
            print(f"{kind}: not above the majority-class baseline: {failed}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="build the results tables from metrics files (or from MLflow alone)")
    p.add_argument("--finetune", nargs="*", default=[], help="fine-tuning metrics JSON files")
    p.add_argument("--models", nargs="*", default=[], help="pretrain/distill/describe metrics JSON files")
    p.add_argument("--speed", nargs="*", default=[], help="inference timing JSON files (minilm-repro speed)")
    p.add_argument("--mlflow", action="store_true",
                   help="read every record from the profile's MLflow experiment (MLFLOW_TRACKING_URI) instead")
    p.add_argument("--out", required=True, help="tables directory")
    p.add_argument("--profile", required=True)
    p.add_argument("--references", default="{}",
                   help='JSON {track: {our model: "table|paper model" or a list}} (config tracks.<t>.reference)')
    p.set_defaults(func=_run)
