"""The budget section of the results page: distilled student − same-shape scratch against the
pretraining budget, pooled over results directories (minilm_repro.report.budget)."""

import json

import pytest

from minilm_repro.report.budget import budget_points, budget_section


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _model(track_dir, name, stage, layers, steps, batch=16, relations=None):
    _write(track_dir / f"models/{name}.metrics.json",
           {"tags": {"track": track_dir.name, "model": name, "stage": stage}, "layers": layers, "hidden": 192,
            "config": {"optim": {"steps": steps, "batch_size": batch, "lr": 1e-3}, "relations": relations}})


def _finetune(track_dir, model, seed, accuracy, gp="lr0.0002_ep3"):
    _write(track_dir / f"finetune/{model}/sst2/{gp}/seed{seed}.json",
           {"task": "sst2", "primary_metric": "accuracy", "select_score": accuracy, "train_features": 500,
            "tags": {"track": track_dir.name, "model": model, "task": "sst2", "grid_point": gp, "seed": seed},
            "evals": {"default__validation": {"split": "validation", "scores": {"accuracy": accuracy},
                                              "majority": {"accuracy": 50.9}}}})


def _run(root, steps, scores, seeds=(1,), scratch_steps=None):
    """A results dir: L4 (distilled), L4-attn (distilled, attention only), L3 (another shape), scratch."""
    track = root / "results" / "mono"
    _write(track / "corpus/stats.json", {"max_seq_len": 64, "mean_block_tokens": 50.0, "blocks": 1000, "tokens": 50000})
    _model(track, "L4", "distill", 4, steps)
    _model(track, "L4-attn", "distill", 4, steps, relations=["attention"])
    _model(track, "L3", "distill", 3, steps)
    _model(track, "scratch", "pretrain", 4, scratch_steps or steps)
    _model(track, "teacher", "import", 6, steps)
    for seed in seeds:
        for model, acc in scores.items():
            _finetune(track, model, seed, acc + seed)
    _finetune(track, "L4", 1, 10.0, gp="lr0.001_ep3")  # a worse grid point: never the reported one
    return root / "results"


def test_points_pool_runs_of_one_budget_and_pair_every_same_shape_student(tmp_path):
    scores = {"L4": 70.0, "L4-attn": 68.0, "L3": 90.0, "scratch": 66.0, "teacher": 80.0}
    a = _run(tmp_path / "a", 100, scores, seeds=(1,))
    b = _run(tmp_path / "b", 100, {**scores, "L4": 73.0}, seeds=(2,))
    c = _run(tmp_path / "c", 600, {**scores, "L4": 75.0}, seeds=(1, 2, 3))
    df = budget_points([c, a, b]).set_index(["student", "steps"])
    assert set(df.index) == {("L4", 100), ("L4-attn", 100), ("L4", 600), ("L4-attn", 600)}  # no L3, no teacher
    small = df.loc[("L4", 100)]
    assert small.runs == 2 and small.results == f"{a}, {b}"
    assert small.student_mean == pytest.approx((71.0 + 75.0) / 2) and small.scratch_mean == pytest.approx(67.5)
    assert (small.delta, small.delta_min, small.delta_max) == pytest.approx((5.5, 4.0, 7.0))
    assert small.tokens_M == pytest.approx(100 * 16 * 50 / 1e6) and small.passes == pytest.approx(1.6)
    big = df.loc[("L4", 600)]
    assert big.runs == 3 and big.delta == pytest.approx(9.0) and big.delta_std == pytest.approx(0.0)
    lines = budget_section([a, b, c])
    assert lines[0].startswith("| task") and "+5.5±2.1" in lines[0] and "100 x 16 x 64" in lines[0]


def test_a_pair_on_different_budgets_is_refused(tmp_path):
    bad = _run(tmp_path / "bad", 100, {"L4": 70.0, "scratch": 66.0}, scratch_steps=200)
    with pytest.raises(ValueError, match="pretrained on different budgets"):
        budget_points([bad])
    with pytest.raises(FileNotFoundError, match="not a results directory"):
        budget_points([tmp_path / "nowhere"])
    assert budget_section([tmp_path / "bad" / "results" / "mono" / "models"])[0].startswith("No results directory")


def test_results_page_has_the_budget_section(tmp_path):
    from minilm_repro.cli import main

    scores = {"L4": 70.0, "scratch": 66.0}
    a, b = _run(tmp_path / "a", 100, scores), _run(tmp_path / "b", 600, {**scores, "L4": 75.0})
    _write(b / "tables/checks.json", {"profile": "real-cpu", "tables": []})
    out = tmp_path / "page.md"
    assert main(["results-page", "--results", str(b), "--budget", str(a), "--out", str(out)]) == 0
    page = out.read_text()
    section = page[page.index("## Budget"):page.index("## Tables")]
    rows = [line for line in section.splitlines() if line.startswith("| sst2")]
    assert len(rows) == 2 and "100 x 16 x 64" in rows[0] and "600 x 16 x 64" in rows[1]  # by tokens seen
    assert f"--budget {a}" in page
    assert main(["results-page", "--results", str(b), "--out", str(out)]) == 0
    assert "## Budget" not in out.read_text()
