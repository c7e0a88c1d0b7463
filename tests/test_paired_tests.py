"""The paired tests between networks: the exact McNemar test, the paired
bootstrap interval, the interval of the mean over seeds, and the statements
the summary makes from them.

Every test builds its own results folder in tmp_path (tests/reporting_fixtures.py).
No Keras or TensorFlow is imported here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gpc_support.report.results import load_results
from gpc_support.report.comparisons import pair_statements, pair_tests
from gpc_support.report.estimators import mcnemar_exact, paired_bootstrap_ci
from tests.reporting_fixtures import make_run


def _binomial_two_sided(k, n):
    """Exact two-sided binomial p at 0.5 from the definition (sum of the
    probabilities no larger than P(k))."""
    probs = [math.comb(n, i) / 2 ** n for i in range(n + 1)]
    return min(1.0, sum(p for p in probs if p <= probs[k] * (1 + 1e-12)))


def test_mcnemar_exact_matches_the_binomial_definition():
    a = np.array([True] * 30 + [False] * 10 + [True] * 50 + [False] * 10)
    b = np.array([False] * 30 + [True] * 10 + [True] * 50 + [False] * 10)
    # 30 images only a gets right, 10 only b
    assert mcnemar_exact(a, b) == pytest.approx(_binomial_two_sided(10, 40))
    assert mcnemar_exact(b, a) == pytest.approx(mcnemar_exact(a, b))
    assert mcnemar_exact(a, b) < 0.05
    assert mcnemar_exact(a, a) == 1.0
    only = np.array([True] * 10 + [False] * 10)
    assert mcnemar_exact(~only, only) == pytest.approx(1.0)  # 10 images each way
    with pytest.raises(ValueError, match="same length"):
        mcnemar_exact([True, False], [True])


def test_paired_bootstrap_interval():
    rng = np.random.default_rng(1)
    a = rng.random(4000) < 0.70
    b = a.copy()
    flip = rng.choice(4000, 160, replace=False)  # b right on 160 images a gets wrong, or wrong
    b[flip] = ~b[flip]
    diff = b.mean() - a.mean()
    low, high = paired_bootstrap_ci(a, b, n_resamples=2000, seed=0)
    assert low < diff < high
    # the normal approximation of the paired difference's sd gives the width
    sd = np.std(b.astype(float) - a.astype(float), ddof=1) / np.sqrt(len(a))
    assert (high - low) == pytest.approx(2 * stats.norm.ppf(0.975) * sd, rel=0.15)
    assert paired_bootstrap_ci(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap_ci(a, b, confidence=95)


def test_pair_tests_and_statements(tmp_path):
    runs = tmp_path / "r" / "runs"
    n = 1000
    for seed in (0, 1, 2):
        base = np.zeros(n, bool)
        base[:600] = True
        better = base.copy()
        better[600:700] = True  # gpc16 right on 100 more images: +10 pp, significant
        same = base.copy()
        same[[0, 1]] = False
        same[[600, 601]] = True  # gpc32 swaps two images with gpc16's base: not significant
        make_run(runs, "mobilenet", seed=seed, correct=base)
        make_run(runs, "gpc16", seed=seed, correct=better)
        make_run(runs, "gpc32", seed=seed, correct=same)
    results = load_results(tmp_path / "r")
    tests = pair_tests(results, n_resamples=500)
    assert list(zip(tests["a"], tests["b"]))[::3] == [("mobilenet", "gpc16"), ("gpc16", "gpc32"),
                                                      ("mobilenet", "gpc32")]
    row = tests[(tests["a"] == "mobilenet") & (tests["b"] == "gpc16")].iloc[0]
    assert row["diff pp"] == pytest.approx(10.0) and row["only_b"] == 100 and row["only_a"] == 0
    assert row["p"] == pytest.approx(stats.binomtest(100, 100, 0.5).pvalue)
    lines = pair_statements(tests)
    # each claim leads with its verdict, then the test over seeds and test images
    assert lines[0].startswith("gpc16 - MobileNet: +10.00 pp, holds (95% interval over seeds and "
                               "test images ")
    assert "mean of 3 seeds, sd 0.00 pp over seeds" in lines[0]
    assert "exact McNemar p < 0.05 in 3 of 3 seeds" in lines[0]
    assert lines[1].startswith("gpc32 - gpc16: -10.00 pp, holds (")
    assert "exact McNemar p < 0.05 in 3 of 3 seeds" in lines[1]
    assert lines[2].startswith("gpc32 - MobileNet: +0.00 pp, not resolved (")
    assert "exact McNemar p < 0.05 in 0 of 3 seeds" in lines[2]
    assert list(tests.drop_duplicates(["a", "b"])["verdict"]) == ["holds", "holds", "not resolved"]
    assert "no seed with complete runs of both" in " ".join(tests.attrs["notes"])  # gpc64, gpc128


def test_interval_of_the_mean_over_seeds(tmp_path):
    """Seeds that disagree: the pair's interval is scipy's bootstrap of the per-image
    mean difference over seeds, with a bootstrap seed fixed by the pair's names."""
    import zlib

    runs = tmp_path / "r" / "runs"
    n, rng = 2000, np.random.default_rng(5)
    diffs = []
    for seed in (0, 1):
        a = rng.random(n) < 0.70
        b = rng.random(n) < 0.70 + 0.03 * seed  # +0 pp in seed 0, about +3 pp in seed 1
        make_run(runs, "mobilenet", seed=seed, correct=a)
        make_run(runs, "gpc16", seed=seed, correct=b)
        diffs.append(b.astype(float) - a.astype(float))
    tests = pair_tests(load_results(tmp_path / "r"), n_resamples=400)
    expected = stats.bootstrap((np.mean(diffs, axis=0),), np.mean, n_resamples=400,
                               method="percentile",
                               rng=np.random.default_rng(zlib.crc32(b"mobilenet gpc16")))
    assert len(tests) == 2  # one row per seed, each carrying the pair's interval of the mean
    assert tests["mean_ci_low pp"].tolist() == pytest.approx([100 * expected.confidence_interval.low] * 2)
    assert tests["mean_ci_high pp"].tolist() == pytest.approx([100 * expected.confidence_interval.high] * 2)
    sd = np.std(tests["diff pp"], ddof=1)
    assert sd > 1  # the seeds really disagree
    assert f"sd {sd:.2f} pp over seeds" in pair_statements(tests)[0]
    # a pairs.csv written before the interval existed still reads
    old = tests.drop(columns=["mean_ci_low pp", "mean_ci_high pp"])
    assert "interval of the mean" not in pair_statements(old)[0]


def test_pair_tests_skip_different_test_sets(tmp_path):
    runs = tmp_path / "r" / "runs"
    make_run(runs, "mobilenet", correct=np.ones(1000, bool))
    make_run(runs, "gpc16", correct=np.ones(999, bool))
    tests = pair_tests(load_results(tmp_path / "r"))
    assert len(tests) == 0 and "not the same test images" in tests.attrs["notes"][0]
