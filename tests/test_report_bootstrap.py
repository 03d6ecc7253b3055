"""The paired bootstrap of minilm_repro.report.bootstrap: weighted metrics equal scikit-learn's on the
resampled data, a case small enough to check by hand, and the two behaviours that matter: the same
model twice gives an interval around 0, a clearly better model one that excludes it."""

import math

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from minilm_repro.report.bootstrap import (
    Part,
    paired_bootstrap,
    part_draws,
    resample_counts,
    weighted_metric,
)


def test_counts_are_resamples_with_replacement_and_depend_on_size_and_seed():
    chunks = list(resample_counts(7, 250, seed=3))
    counts = np.concatenate(chunks)
    assert counts.shape == (250, 7) and [len(c) for c in chunks] == [100, 100, 50]
    assert (counts.sum(axis=1) == 7).all() and (counts >= 0).all()
    again = np.concatenate(list(resample_counts(7, 250, seed=3)))
    assert (counts == again).all()  # deterministic: parallel eval sets of one size get the same draws
    assert not (counts == np.concatenate(list(resample_counts(7, 250, seed=4)))).all()


@pytest.mark.parametrize("metric", ["accuracy", "f1", "matthews_correlation", "pearson", "mean"])
def test_weighted_metrics_equal_sklearn_on_the_drawn_examples(metric):
    rng = np.random.default_rng(0)
    n = 60
    if metric == "pearson":
        label, pred = rng.uniform(0, 5, n), rng.uniform(0, 5, n)
    elif metric == "mean":
        pred, label = rng.choice([0.0, 50.0, 100.0], n), None
    else:
        k = 3 if metric == "matthews_correlation" else 2
        label, pred = rng.integers(0, k, n), rng.integers(0, k, n)
    w = next(resample_counts(n, 5, seed=1))
    got = weighted_metric(metric, w, pred, label)
    for row, value in zip(w, got):
        idx = np.repeat(np.arange(n), row.astype(int))  # the resample, example by example
        if metric == "accuracy":
            want = 100 * accuracy_score(label[idx], pred[idx])
        elif metric == "f1":
            want = 100 * f1_score(label[idx], pred[idx], zero_division=0.0)
        elif metric == "matthews_correlation":
            want = 100 * matthews_corrcoef(label[idx], pred[idx])
        elif metric == "pearson":
            want = 100 * pearsonr(pred[idx], label[idx])[0]
        else:
            want = pred[idx].mean()
        assert value == pytest.approx(want, abs=1e-9)


def test_hand_checkable_case():
    """4 examples; A right on all, B right on examples 0 and 1. A resample draws k of its 4 examples
    from {2, 3} with k ~ Binomial(4, 1/2), and then A − B = 25 k points: 0 and 100 each have
    probability 1/16 > 2.5%, so the 95% interval is [0, 100] around the observed +50."""
    label = np.array([1, 0, 1, 0])
    a = label.copy()
    b = np.array([1, 0, 0, 1])
    point, draws = part_draws(Part("accuracy", a[None], b[None], label), resamples=4000, seed=0)
    assert point == 50.0
    assert set(np.unique(draws)) <= {0.0, 25.0, 50.0, 75.0, 100.0}
    for k in range(5):
        assert np.mean(draws == 25.0 * k) == pytest.approx(math.comb(4, k) / 16, abs=0.03)
    ci = paired_bootstrap([Part("accuracy", a[None], b[None], label)], resamples=4000, seed=0)
    assert (ci.delta, ci.low, ci.high) == (50.0, 0.0, 100.0) and not ci.excludes_zero
    assert ci.format() == "+50.0 [+0.0, +100.0]"


def test_seeds_are_averaged_before_the_difference():
    """A's two seeds are right on complementary halves: every resample scores A at 50% exactly."""
    label = np.zeros(10, dtype=int)
    a = np.stack([np.r_[np.zeros(5), np.ones(5)], np.r_[np.ones(5), np.zeros(5)]]).astype(int)
    b = np.zeros((1, 10), dtype=int)  # always right
    point, draws = part_draws(Part("accuracy", a, b, label), resamples=200, seed=5)
    assert point == -50.0 and np.allclose(draws, -50.0)


def _noisy(label, accuracy, rng):
    wrong = rng.random(len(label)) > accuracy
    return np.where(wrong, 1 - label, label)


def test_identical_models_contain_zero_and_a_clearly_better_model_excludes_it():
    rng = np.random.default_rng(42)
    label = rng.integers(0, 2, 500)
    same = np.stack([_noisy(label, 0.7, rng) for _ in range(3)])
    identical = paired_bootstrap([Part("accuracy", same, same.copy(), label)])
    assert identical.low <= 0 <= identical.high and not identical.excludes_zero
    # two models of the same skill, different errors (independent seeds): still no real difference
    other = np.stack([_noisy(label, 0.7, rng) for _ in range(3)])
    alike = paired_bootstrap([Part("accuracy", same, other, label)])
    assert alike.low < 0 < alike.high
    better = np.stack([_noisy(label, 0.9, rng) for _ in range(3)])
    clear = paired_bootstrap([Part("accuracy", better, same, label)])
    assert clear.low > 0 and clear.excludes_zero and clear.format().endswith("*")
    assert clear.delta == pytest.approx(100 * ((better == label).mean() - (same == label).mean()))


def test_several_eval_sets_are_averaged_and_mismatched_examples_are_refused():
    label = np.array([1, 1, 0, 0])
    one = Part("accuracy", label[None], np.array([[1, 1, 0, 1]]), label)  # +25
    two = Part("accuracy", label[None], label[None], label)  # 0
    assert paired_bootstrap([one, two], resamples=50).delta == 12.5
    with pytest.raises(ValueError, match="same examples"):
        Part("accuracy", label[None], np.array([[1, 0]]), label)
    with pytest.raises(ValueError, match="no bootstrap kernel"):
        weighted_metric("spearmanr", np.ones((1, 4)), label, label)
