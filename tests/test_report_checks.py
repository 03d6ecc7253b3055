"""checks.json's teacher-vs-scratch check: over the columns both models have."""

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from minilm_repro.report.assemble import Table
from minilm_repro.report.checks import learning_checks
from minilm_repro.report.collect import finetune_frame


def _checks(means: pd.DataFrame) -> dict:
    frames = SimpleNamespace(finetune=finetune_frame([]))
    table = Table(name="mono_models", title="", text=means.astype(str), means=means)
    return learning_checks(frames, {"mono_models": table})


def test_a_teacher_only_task_leaves_the_check_on_the_shared_columns():
    nan = math.nan
    means = pd.DataFrame({"SQuAD2": [58.2, nan], "SST-2": [83.1, 67.7], "RTE": [42.8, 41.2], "MRPC": [68.4, 70.1],
                          "Avg": [63.1, nan]}, index=["teacher", "scratch"])
    check = _checks(means)["teacher_beats_scratch"]["mono"]
    assert check["columns"] == ["SST-2", "RTE", "MRPC"]
    assert check["teacher"] == pytest.approx((83.1 + 42.8 + 68.4) / 3)
    assert check["scratch"] == pytest.approx((67.7 + 41.2 + 70.1) / 3)
    assert check["ok"] is True


def test_the_teacher_below_scratch_fails_and_no_shared_column_is_no_check():
    nan = math.nan
    below = pd.DataFrame({"SST-2": [60.0, 70.0], "Avg": [60.0, 70.0]}, index=["teacher", "scratch"])
    checks = _checks(below)
    assert checks["teacher_beats_scratch"]["mono"]["ok"] is False and checks["all_ok"] is False
    apart = pd.DataFrame({"SQuAD2": [58.2, nan], "SST-2": [nan, 67.7]}, index=["teacher", "scratch"])
    assert _checks(apart)["teacher_beats_scratch"] == {}
