"""Where a job's wall time goes: named phases inside the stage (``load``, ``train``, ``evaluate``,
``tracking``), timed where they happen, and the moment the stage began (what came before it is
start-up: the interpreter, imports, the hand-off to a warm process).

Off unless ``MINILM_REPRO_PHASES`` names a JSON file: then the stage's command writes there, when it
ends, ``{"stage", "started", "ended", "phases": {name: seconds}}`` (``started``/``ended``: Unix
seconds; phases are exclusive, an inner phase's time is not counted in the phase around it).
``benchmarks/bench_job_phases.py`` runs one job of each stage and reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

_phases: dict[str, float] = {}
_open: list[list] = []  # [name, start, time spent in inner phases]
_started: float | None = None
_stage: str | None = None


def stage_started(stage: str) -> None:
    global _started, _stage
    _started, _stage = time.time(), stage
    _phases.clear()


@contextlib.contextmanager
def phase(name: str):
    frame = [name, time.perf_counter(), 0.0]
    _open.append(frame)
    try:
        yield
    finally:
        _open.pop()
        spent = time.perf_counter() - frame[1]
        _phases[name] = _phases.get(name, 0.0) + spent - frame[2]
        if _open:
            _open[-1][2] += spent


class timed:
    """``with timed(cm, "tracking") as x``: the context manager ``cm``, its entry and exit timed as a phase."""

    def __init__(self, cm, name: str):
        self.cm, self.name = cm, name

    def __enter__(self):
        with phase(self.name):
            return self.cm.__enter__()

    def __exit__(self, *exc):
        with phase(self.name):
            return self.cm.__exit__(*exc)


def write_if_asked() -> None:
    """Write the record to ``MINILM_REPRO_PHASES`` (when set and a stage began)."""
    path = os.environ.get("MINILM_REPRO_PHASES")
    if not path or _started is None:
        return
    with open(path, "w") as f:
        json.dump({"stage": _stage, "started": _started, "ended": time.time(), "phases": dict(_phases)}, f)
