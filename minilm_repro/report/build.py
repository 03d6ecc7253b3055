"""Records -> every table of a profile, and writing them with ``checks.json``.

Protocol (:mod:`selection`): GLUE / SQuAD 2.0 cells are the mean ± std of the seeds at the grid
point with the best mean dev score; XNLI / MLQA cells the best single model on the joint dev set,
with the seeds' mean ± std beside it. Paper rows and Δ rows follow ``tracks.<t>.reference``, which
must compare like with like (:mod:`comparable`, checked before any table is built); Δ rows between
two of our models carry paired-bootstrap intervals (:mod:`intervals`). Values: percent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from minilm_repro.report.assemble import Table, TrackContext
from minilm_repro.report.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED
from minilm_repro.report.checks import learning_checks
from minilm_repro.report.collect import (
    Records,
    finetune_frame,
    model_frame,
    speed_frame,
)
from minilm_repro.report.intervals import Bootstrap
from minilm_repro.report.layouts import TABLE_BUILDERS
from minilm_repro.report.predictions import PredictionStore
from minilm_repro.report.selection import select_best


@dataclasses.dataclass
class Frames:
    """The frames every table and figure is built from."""

    finetune: pd.DataFrame  # finetune_frame, the reported runs selected (selection.select_best)
    models: pd.DataFrame
    speed: pd.DataFrame
    predictions: PredictionStore = dataclasses.field(default_factory=PredictionStore)

    @classmethod
    def from_records(cls, records: Records) -> Frames:
        return cls(select_best(finetune_frame(records.finetune)), model_frame(records.models),
                   speed_frame(records.speed), records.predictions)

    def context(self, track: str, profile: str = "", references: dict | None = None,
                bootstrap: Bootstrap | None = None) -> TrackContext:
        return TrackContext(track, profile, self.finetune[self.finetune.track == track],
                            self.models[self.models.track == track].set_index("model"),
                            self.speed[self.speed.track == track].set_index("model"), references or {}, bootstrap)


def _check_profile(frames: Frames, profile: str) -> None:
    recorded = {p for f in (frames.finetune, frames.models) for p in f["profile"].dropna().unique()}
    if recorded - {profile}:
        raise ValueError(f"records of profile(s) {sorted(recorded)} given to a report of profile {profile!r}: "
                         "build one report per profile (results directory)")


def check_references(frames: Frames, references: dict) -> None:
    """Every ``{track: {our model: paper key(s)}}`` names a model of the records and a comparable paper row."""
    for track, mapping in references.items():
        ctx = frames.context(track, references=mapping)
        known = set(ctx.models.index) | set(ctx.df.model)
        for model in mapping:
            if model not in known:
                raise ValueError(f"tracks.{track}.reference.{model}: no model {model!r} in this profile's records of "
                                 f"track {track!r} ({sorted(known)}): fix the name or drop the reference")
            ctx.mapped_entries(model)


def build_tables(frames: Frames, profile: str, references: dict | None = None,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[dict[str, Table], dict[str, str]]:
    """(tables by name, reasons by name of the tables not written). ``resamples`` = 0: no intervals."""
    _check_profile(frames, profile)
    refs = references or {}
    check_references(frames, refs)
    boot = Bootstrap(frames.predictions, resamples, seed) if resamples > 0 else None
    tables, missing = {}, {}
    for track in sorted(set(frames.finetune.track) | set(frames.models.track)):
        ctx = frames.context(track, profile, refs.get(track, {}), boot)
        for kind, (builder, reason) in TABLE_BUILDERS.items():
            table = builder(ctx)
            if table is None:
                missing[f"{track}_{kind}"] = reason
            else:
                tables[table.name] = table
    return tables, missing


def write_report(records: Records, out_dir, profile: str, references: dict | None = None,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> dict:
    """Write every table this profile has inputs for under ``out_dir`` (see :mod:`writers`), the list
    of those it has none for, and ``checks.json``; return the checks."""
    from minilm_repro.report.writers import (
        clear_previous,
        write_not_written,
        write_table,
    )

    out_dir = Path(out_dir)
    (out_dir / "html").mkdir(parents=True, exist_ok=True)
    frames = Frames.from_records(records)
    tables, missing = build_tables(frames, profile, references, resamples, seed)
    clear_previous(out_dir)
    for table in tables.values():
        write_table(table, out_dir, profile)
    write_not_written(missing, out_dir)
    devices = sorted({d for f in (frames.finetune, frames.speed) for d in f["device"].dropna().unique()})
    checks = {"profile": profile, "hardware": devices or "not recorded", "tables": sorted(tables),
              "not_written": missing, "intervals": {"resamples": resamples, "seed": seed},
              **learning_checks(frames, tables)}
    (out_dir / "checks.json").write_text(json.dumps(checks, indent=2, sort_keys=True) + "\n")
    return checks
