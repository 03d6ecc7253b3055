"""The speed CLI's argument checks (its timings run in the smoke DAG test: one job per track)."""

import argparse

import pytest

from minilm_repro.config import ConfigError
from minilm_repro.report.speed import register


def _args(*argv):
    p = argparse.ArgumentParser()
    register(p.add_subparsers())
    return p.parse_args(["speed", *argv])


def test_speed_needs_one_features_dir_and_name_per_model():
    args = _args("--model", "a", "b", "--features", "fa", "--name", "a", "b", "--out", "x.json")
    with pytest.raises(ConfigError, match="one --features and one --name per --model"):
        args.func(args)


def test_speed_needs_tags_for_every_model():
    args = _args("--model", "a", "b", "--features", "fa", "fb", "--name", "teacher", "student", "--out", "x.json",
                 "--tags", '{"teacher": {"track": "mono", "model": "teacher"}}')
    with pytest.raises(ConfigError, match=r"no entry for model\(s\) \['student'\]"):
        args.func(args)
