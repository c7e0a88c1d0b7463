"""The test that carries seeds and test images (`mean_difference_test`), its
pooled seed variance, Holm's correction, the verdicts and the power estimate,
against hand-computed values."""

import numpy as np
import pytest
from scipy import stats

from gpc_support.report import estimators as sig
from gpc_support.report.comparisons import claim_text

# three seeds, four images: b - a per image; seed means 1/4, 1/2, 3/4
DIFF = np.array([[1, 0, 0, 0],
                 [1, 1, 0, 0],
                 [1, 1, 1, 0]], dtype=float)


def test_interval_and_p_by_hand():
    # mean 1/2; seed means' variance (ddof=1) 1/16 -> seed term 1/48;
    # image means 1, 2/3, 1/3, 0: variance 5/27; residual sum of squares 5/6
    # over (3-1)(4-1) = 6 df: 5/36; image term (5/27 - 5/36/3)/4 = 5/144;
    # V = 1/48 + 5/144 = 1/18; df = V^2 / ((1/48)^2/2 + (5/144)^2/3) = 192/38.5
    out = sig.mean_difference_test(DIFF)
    se, df = np.sqrt(1 / 18), 192 / 38.5
    assert out["seeds"] == 3 and out["images"] == 4
    assert out["mean pp"] == pytest.approx(50.0)
    assert out["se pp"] == pytest.approx(100 * se)
    assert out["df"] == pytest.approx(df)
    assert out["seed_sd pp"] == pytest.approx(25.0)
    assert out["image_se pp"] == pytest.approx(100 * np.sqrt(5 / 144))
    half = stats.t.ppf(0.975, df) * se
    assert out["seed_ci_low pp"] == pytest.approx(100 * (0.5 - half))
    assert out["seed_ci_high pp"] == pytest.approx(100 * (0.5 + half))
    # t = (1/2) / sqrt(1/18) = 3 / sqrt(2)
    assert out["seed_p"] == pytest.approx(2 * stats.t.sf(3 / np.sqrt(2), df))
    # a pooled seed variance of 0.01 on 10 df replaces the pair's own 1/16 on 2
    pooled = sig.mean_difference_test(DIFF, pooled=(0.01, 10))
    v = 0.01 / 3 + 5 / 144
    assert pooled["se pp"] == pytest.approx(100 * np.sqrt(v))
    assert pooled["df"] == pytest.approx(v ** 2 / ((0.01 / 3) ** 2 / 10 + (5 / 144) ** 2 / 3))


def test_nothing_varies_and_bad_input():
    same = sig.mean_difference_test(np.full((3, 5), 0.2))
    assert (same["seed_ci_low pp"], same["seed_ci_high pp"], same["seed_p"]) == \
        pytest.approx((20.0, 20.0, 0.0))
    assert sig.mean_difference_test(np.zeros((2, 5)))["seed_p"] == 1.0
    with pytest.raises(ValueError, match="diff must be a matrix"):
        sig.mean_difference_test(np.zeros(5))
    with pytest.raises(ValueError, match=r"in \[-1, 1\]"):
        sig.mean_difference_test(np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="confidence"):
        sig.mean_difference_test(DIFF, confidence=1.0)
    with pytest.raises(ValueError, match="pooled must be"):
        sig.mean_difference_test(DIFF, pooled=(0.01, 0))


def test_one_seed_says_so():
    out = sig.mean_difference_test(DIFF[:1])
    assert np.isnan(out["seed_ci_low pp"]) and np.isnan(out["seed_p"])
    assert out["note"].startswith("one seed")
    assert sig.verdict(out["seed_p"]) == "not resolved"
    (test,) = sig.family_tests([(("a", "b"), DIFF[:1])])
    assert test["verdict"] == "not resolved" and np.isnan(test["p_holm"])
    assert "one seed" in claim_text(test)


def test_pooled_seed_variance_by_hand():
    # sums of squares of the seed means: 1/8 (2 df) and 1/8 (seed means 0, 1/2; 1 df)
    other = np.array([[0, 0, 0, 0], [1, 1, 0, 0]], dtype=float)
    assert sig.pooled_seed_variance([DIFF, other]) == pytest.approx((0.25 / 3, 3.0))
    # one independent comparison among the two: df scaled by 1/2
    assert sig.pooled_seed_variance([DIFF, other], independent=1) == pytest.approx((0.25 / 3, 1.5))
    assert sig.pooled_seed_variance([DIFF[:1]]) == (pytest.approx(np.nan, nan_ok=True), 0.0)
    with pytest.raises(ValueError, match="independent must be"):
        sig.pooled_seed_variance([DIFF], independent=0)
    assert sig.independent_comparisons([("a", "b"), ("b", "c"), ("a", "c")]) == 2
    assert sig.independent_comparisons([("a", "b"), ("c", "d")]) == 2
    with pytest.raises(ValueError, match="two different networks"):
        sig.independent_comparisons([("a", "a")])


def test_holm_by_hand():
    # m = 3 tested: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert sig.holm([0.01, 0.04, 0.03, np.nan]).tolist()[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(sig.holm([0.01, 0.04, 0.03, np.nan])[3])
    assert sig.holm([0.5, 0.6]).tolist() == [1.0, 1.0]
    assert sig.holm([0.02]).tolist() == [0.02]
    with pytest.raises(ValueError, match="pvalues must lie in"):
        sig.holm([1.5])


def test_verdict():
    assert sig.verdict(0.049) == "holds"
    assert sig.verdict(0.05) == "not resolved"
    assert sig.verdict(np.nan) == "not resolved"
    with pytest.raises(ValueError, match="alpha"):
        sig.verdict(0.01, alpha=0)


def _pair(per_seed_b, per_seed_a, n=2000):
    """Outcomes where a gets the first k_a images right and b the first k_b."""
    return np.array([(np.arange(n) < kb).astype(float) - (np.arange(n) < ka)
                     for kb, ka in zip(per_seed_b, per_seed_a)])


def test_large_consistent_difference_holds_and_disagreeing_seeds_do_not():
    big = _pair((1500, 1510, 1490), (1000, 1000, 1000))  # +25, +25.5, +24.5 pp
    split = _pair((1060, 940, 1010), (1000, 1000, 1000))  # +3, -3, +0.5 pp
    tests = sig.family_tests([(("a", "b"), big), (("a", "c"), split)])
    assert [t["verdict"] for t in tests] == ["holds", "not resolved"]
    # Holm over the two: the smaller p doubled, the larger kept (no smaller one to exceed it)
    assert tests[0]["p_holm"] == pytest.approx(2 * tests[0]["seed_p"])
    assert tests[1]["p_holm"] == pytest.approx(max(tests[1]["seed_p"], tests[0]["p_holm"]))
    assert np.isnan(tests[0]["seeds needed"])
    assert "holds (95% interval over seeds and test images" in claim_text(tests[0])
    assert "would resolve a difference" in claim_text(tests[1])


def test_seeds_needed():
    # no spread at all: two seeds suffice; a fixed test-set error larger than the effect: never
    assert sig.seeds_needed(1.0, 0.0) == 2
    assert sig.seeds_needed(0.1, 0.3, image_se_pp=1.0) is None
    assert sig.seeds_needed(0.0, 0.3) is None
    # the answer is the first n with power >= 0.8 (noncentral t, df = n - 1)
    n = sig.seeds_needed(0.5, 0.5)

    def power(k):
        df, ncp = k - 1, 0.5 / np.sqrt(0.25 / k)
        crit = stats.t.ppf(0.975, df)
        return stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)

    assert power(n) >= 0.8 > power(n - 1)
    with pytest.raises(ValueError, match="power"):
        sig.seeds_needed(0.5, 0.5, power=1.5)
