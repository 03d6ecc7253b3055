"""The speed stage's checks of its job spec (its timings run in the smoke DAG test: one job per track)."""

import pytest
from conftest import job_spec

from minilm_repro.config import ConfigError
from minilm_repro.jobs.stage import JobSpec
from minilm_repro.report.speed import run_job


def _spec(paths: dict, tags: dict) -> JobSpec:
    import json

    return JobSpec.from_dict(json.loads(job_spec("speed", {}, {"out": "x.json", "run_prefix": "t/", **paths},
                                                 tags=tags)))


def test_speed_needs_one_features_dir_and_name_per_model():
    spec = _spec({"models": ["a", "b"], "features": ["fa"], "names": ["a", "b"]}, {"a": {}, "b": {}})
    with pytest.raises(ConfigError, match="one features dir and one name per model"):
        run_job(spec)


def test_speed_needs_tags_for_every_model():
    spec = _spec({"models": ["a", "b"], "features": ["fa", "fb"], "names": ["teacher", "student"]},
                 {"teacher": {"track": "mono", "model": "teacher"}})
    with pytest.raises(ConfigError, match=r"no entry for model\(s\) \['student'\]"):
        run_job(spec)
