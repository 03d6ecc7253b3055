"""Paired bootstrap over evaluation examples, pooled over fine-tuning seeds (percent).

For two models A and B scored on the same examples, each with per-example predictions from one
or more seeds: draw ``resamples`` index sets of the n examples with replacement; on each, recompute
the task metric from the per-example predictions of every seed, average over the seeds of each
model, and take A − B. The interval is the percentile interval of those differences (95%: the
2.5th and 97.5th percentiles); the point estimate is A − B on all examples.

A resample is a vector of counts (how often each example was drawn), so every metric is computed
from count-weighted sums: accuracy, binary F1 of label 1 (MRPC, QQP), the multi-class Matthews
correlation (CoLA), Pearson's r (STS-B) and the mean of per-example scores (QA F1 / EM). The draws
depend only on (n, seed): eval sets of one size get the same index sets, which pairs the
translations of XNLI's parallel test sets across languages; a score over several eval sets
(a language average) averages their metrics within each resample.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 1000
CHUNK = 100  # resamples drawn at once (memory: CHUNK x n counts)
METRICS = ("accuracy", "f1", "matthews_correlation", "pearson", "mean")


@dataclasses.dataclass(frozen=True)
class Interval:
    """A − B (percent points) on all examples, and its bootstrap percentile interval."""

    delta: float
    low: float
    high: float
    resamples: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def format(self) -> str:
        return f"{self.delta:+.1f} [{self.low:+.1f}, {self.high:+.1f}]" + ("*" if self.excludes_zero else "")


def resample_counts(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of shape (≤ CHUNK, n): per resample, how often each of the n examples was drawn."""
    rng = np.random.default_rng([seed, n])
    done = 0
    while done < resamples:
        r = min(CHUNK, resamples - done)
        idx = rng.integers(0, n, size=(r, n)) + n * np.arange(r)[:, None]
        yield np.bincount(idx.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)
        done += r


def weighted_metric(metric: str, w: np.ndarray, pred: np.ndarray, label: np.ndarray | None = None) -> np.ndarray:
    """``metric`` (percent) for each row of example weights ``w`` (r, n).

    accuracy / f1 / matthews_correlation: ``pred``, ``label`` class ids; pearson: float predictions
    and labels; mean: ``pred`` holds per-example scores (percent), ``label`` unused. F1, Matthews and
    Pearson are 0 where undefined (no positive, constant predictions), as scikit-learn reports them.
    """
    w = np.atleast_2d(w)
    total = w.sum(axis=1)

    def weighted(indicator):  # float64 vectors: matrix-vector products in BLAS
        return w @ np.asarray(indicator, dtype=np.float64)

    if metric == "mean":
        return weighted(pred) / total
    if metric == "accuracy":
        return 100.0 * weighted(pred == label) / total
    if metric == "f1":
        tp, fp, fn = (weighted((pred == p) & (label == q)) for p, q in ((1, 1), (1, 0), (0, 1)))
        den = 2 * tp + fp + fn
        return np.divide(200.0 * tp, den, out=np.zeros_like(den), where=den > 0)
    if metric == "matthews_correlation":
        classes = np.union1d(pred, label)
        correct = weighted(pred == label)
        p_k = np.stack([weighted(pred == k) for k in classes], axis=1)
        t_k = np.stack([weighted(label == k) for k in classes], axis=1)
        num = correct * total - (p_k * t_k).sum(axis=1)
        den = np.sqrt((total ** 2 - (p_k ** 2).sum(axis=1)) * (total ** 2 - (t_k ** 2).sum(axis=1)))
        return np.divide(100.0 * num, den, out=np.zeros_like(num), where=den > 0)
    if metric == "pearson":
        x, y = pred.astype(np.float64), label.astype(np.float64)
        mx, my = weighted(x) / total, weighted(y) / total
        cov = weighted(x * y) / total - mx * my
        vx, vy = weighted(x * x) / total - mx ** 2, weighted(y * y) / total - my ** 2
        den = np.sqrt(np.clip(vx * vy, 0.0, None))
        return np.divide(100.0 * cov, den, out=np.zeros_like(cov), where=den > 0)
    raise ValueError(f"no bootstrap kernel for metric {metric!r}; known: {METRICS}")


@dataclasses.dataclass(frozen=True)
class Part:
    """One eval set scored for A and B on the same n examples. ``a_pred`` / ``b_pred``: one row per
    seed of each model, shape (seeds, n); ``label``: (n,) (None for metric "mean")."""

    metric: str
    a_pred: np.ndarray
    b_pred: np.ndarray
    label: np.ndarray | None = None

    def __post_init__(self):
        a, b = np.atleast_2d(self.a_pred), np.atleast_2d(self.b_pred)
        if a.shape[1] != b.shape[1] or (self.label is not None and len(self.label) != a.shape[1]):
            raise ValueError(f"paired bootstrap needs both models on the same examples: {a.shape[1]} vs "
                             f"{b.shape[1]} predictions, {None if self.label is None else len(self.label)} labels")

    @property
    def n(self) -> int:
        return np.atleast_2d(self.a_pred).shape[1]

    def delta(self, w: np.ndarray) -> np.ndarray:
        """Seed-averaged metric of A minus that of B, per weight row."""
        def score(preds):
            return np.mean([weighted_metric(self.metric, w, p, self.label) for p in np.atleast_2d(preds)], axis=0)
        return score(self.a_pred) - score(self.b_pred)


def part_draws(part: Part, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[float, np.ndarray]:
    """(A − B on all examples, A − B on each resample)."""
    full = float(part.delta(np.ones((1, part.n)))[0])
    draws = np.concatenate([part.delta(w) for w in resample_counts(part.n, resamples, seed)])
    return full, draws


def interval(point: float, draws: np.ndarray, level: float = 0.95) -> Interval:
    low, high = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)])
    return Interval(point, float(low), float(high), len(draws))


def paired_bootstrap(parts: list[Part], resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                     level: float = 0.95) -> Interval:
    """The interval of A − B for a score that averages the metrics of ``parts`` (eval sets)."""
    if not parts:
        raise ValueError("paired_bootstrap needs at least one eval set")
    points, draws = zip(*(part_draws(p, resamples, seed) for p in parts))
    return interval(float(np.mean(points)), np.mean(draws, axis=0), level)
