"""benchmarks/real_budget.py: model specs, the capped fine-tuning root, the summary over seeds."""

import importlib.util
import sys
from pathlib import Path

import datasets
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = next((p / "shared" for p in REPO.parents if (p / "shared" / "realdata").is_dir()), REPO.parent / "shared")
datasets.disable_progress_bars()


@pytest.fixture(scope="module")
def rb():
    spec = importlib.util.spec_from_file_location("real_budget", REPO / "benchmarks" / "real_budget.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["real_budget"] = module
    spec.loader.exec_module(module)
    return module


def test_model_specs(rb):
    assert rb.parse_spec("minilm=3x384", "student") == {
        "name": "minilm", "layers": 3, "hidden": 384, "teacher": "teacher", "relations": None, "lr": None, "kind": "student"}
    ta = rb.parse_spec("small=3x192@ta~5e-4", "student")
    assert (ta["teacher"], ta["lr"], ta["layers"], ta["hidden"]) == ("ta", 5e-4, 3, 192)
    assert rb.parse_spec("attn=4x192+attention", "student")["relations"] == "attention"
    with pytest.raises(SystemExit, match=r"expected name=LxH"):
        rb.parse_spec("minilm=3by384", "student")
    with pytest.raises(SystemExit, match=r"a scratch model has no teacher"):
        rb.parse_spec("scratch=3x384@ta", "scratch")


def test_specs_must_name_earlier_students(rb, tmp_path):
    with pytest.raises(SystemExit, match=r"teacher 'ta' must be a --student given before it"):
        rb.main(["--out", str(tmp_path), "--student", "small=3x192@ta", "--student", "ta=6x192"])
    with pytest.raises(SystemExit, match=r"--ft 'sst2:1e-4'"):
        rb.main(["--out", str(tmp_path), "--ft", "sst2:1e-4"])
    with pytest.raises(SystemExit, match=r"unknown task 'cola'"):
        rb.main(["--out", str(tmp_path), "--ft", "cola:1e-4:3"])


@pytest.mark.skipif(not (SHARED / "realdata").is_dir(), reason="shared real data not found")
def test_finetune_root_caps_train_deterministically(rb, tmp_path):
    from minilm_repro.data import layout
    from minilm_repro.data.importing import import_task

    tasks = tmp_path / "tasks"
    import_task("glue/sst2", SHARED / "realdata/glue/SST-2", tasks)
    import_task("glue/rte", SHARED / "realdata/glue/RTE", tasks, split_dev=0.3)
    a = rb.finetune_root(tmp_path / "a", tasks, ["sst2", "rte"], 500)
    b = rb.finetune_root(tmp_path / "b", tasks, ["sst2", "rte"], 500)
    sub = layout.load_split(a, "sst2", "default", "train")
    assert len(sub) == 500
    assert sub.to_list() == layout.load_split(b, "sst2", "default", "train").to_list()
    full = layout.load_split(tasks, "sst2", "default", "train")
    assert list(sub["idx"]) == sorted(sub["idx"]) and set(sub["sentence"]) <= set(full["sentence"])
    assert len(layout.load_split(a, "sst2", "default", "validation")) == 872
    # a task under the cap is copied whole
    assert len(layout.load_split(a, "rte", "default", "train")) == len(layout.load_split(tasks, "rte", "default", "train"))


def test_summary_mean_std_and_average(rb, tmp_path):
    rec = rb.Recorder(tmp_path / "r.json", {})
    rec.data["scores"] = {
        "minilm@1e-3": {"sst2": {"1": {"score": 80.0}, "2": {"score": 82.0}}, "rte": {"1": {"score": 60.0}, "2": {"score": 50.0}}},
        "scratch@1e-3": {"sst2": {"1": {"score": 70.0}}, "rte": {"1": {"score": 50.0}}}}
    table = rb.summarize(rec, ["sst2", "rte"], {"minilm": "minilm@1e-3", "scratch": "scratch@1e-3"}, [1, 2])
    assert table["minilm"]["sst2"]["mean"] == 81.0 and table["minilm"]["sst2"]["std"] == pytest.approx(2 ** 0.5)
    assert table["minilm"]["avg"]["values"] == [70.0, 66.0]
    assert table["scratch"]["avg"] == {"mean": 60.0, "std": 0.0, "n": 1, "values": [60.0]}
