"""Estimators for paired right/wrong outcomes of two networks: tests, intervals, Holm, verdicts.

Two runs of different variants with the same seed saw the same test images,
so their per-image outcomes (right / wrong) are paired:

- `mcnemar_exact(correct_a, correct_b)`: the exact McNemar test, i.e. a
  two-sided binomial test (scipy.stats.binomtest) of the images only one of
  the two gets right: under "same accuracy" each of those is equally likely
  to favour either network;
- `paired_bootstrap_ci(correct_a, correct_b)`: a percentile bootstrap
  interval (scipy.stats.bootstrap) of the accuracy difference, resampling
  test images (both networks' outcomes on an image stay together).

- `seed_mean_ci(per_seed_a, per_seed_b)`: over several seeds, a bootstrap
  interval of the mean accuracy difference that resamples test images, each
  image keeping its outcomes in every seed and both networks together.

Those three measure one source of variation: the test images, with the
trained networks held fixed (the measurement noise of one test set).  A
claim "b is better than a" is about networks trained from any seed, so its
test must also carry the seed-to-seed variation of training:

- `mean_difference_test(diff)`: the mean over seeds of the per-image
  differences b - a (a matrix seeds x images), with an interval and a
  p-value that carry both sources: the seed-to-seed variance of the per-seed
  mean differences (optionally pooled over a family of comparisons,
  `pooled_seed_variance`) plus the test-image variance of a two-way crossed
  random-effects model, on Welch-Satterthwaite degrees of freedom (the
  estimator and its check on the data: docs/statistics.md);
- `holm(pvalues)`: Holm's step-down adjustment within one family;
- `verdict(p_holm)`: 'holds' or 'not resolved', the one word a claim gets;
- `seeds_needed(...)`: how many seeds would resolve a difference of a given
  size and spread (a power estimate);
- `family_tests(comparisons)`: `mean_difference_test` for each comparison
  of one family, the seed variance pooled over the family, p-values
  Holm-adjusted within it, a verdict and the seeds needed for each.

Applying them to a results folder is `report.comparisons`' job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ALPHA", "HOLDS", "NOT_RESOLVED", "ONE_SEED_NOTE", "FAMILY_COLUMNS", "mcnemar_exact",
           "paired_bootstrap_ci", "bootstrap_mean_ci", "seed_mean_ci", "mean_difference_test",
           "pooled_seed_variance", "independent_comparisons", "holm", "verdict", "seeds_needed",
           "family_tests"]

ALPHA = 0.05
HOLDS = "holds"
NOT_RESOLVED = "not resolved"
ONE_SEED_NOTE = "one seed: no interval that carries seed-to-seed variation"
# the columns `family_tests` adds to pairs.csv and contrasts.csv (the same on every seed's row)
FAMILY_COLUMNS = ["seed_ci_low pp", "seed_ci_high pp", "seed_p", "p_holm", "verdict",
                  "seeds needed"]


def _outcomes(correct_a, correct_b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b must be vectors of the same length, got shapes "
                         f"{a.shape} and {b.shape}")
    if not len(a):
        raise ValueError("correct_a and correct_b are empty: no test images to compare")
    return a, b


def mcnemar_exact(correct_a, correct_b) -> float:
    """Two-sided exact McNemar p-value for paired right/wrong outcomes.

    Only the discordant images count: b01 (a right, b wrong) and b10 (a
    wrong, b right); p = binomtest(b10, b01 + b10, 0.5).  1.0 when no image
    is discordant.
    """
    a, b = _outcomes(correct_a, correct_b)
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_b, only_a + only_b, 0.5, alternative="two-sided").pvalue)


def paired_bootstrap_ci(correct_a, correct_b, confidence: float = 0.95, n_resamples: int = 2000,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of accuracy(b) - accuracy(a), as fractions."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    a, b = _outcomes(correct_a, correct_b)
    return bootstrap_mean_ci(b.astype(np.float64) - a.astype(np.float64), confidence,
                             n_resamples, seed)


def bootstrap_mean_ci(diff, confidence: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-image differences `diff`
    (scipy.stats.bootstrap, resampling images)."""
    diff = np.asarray(diff, dtype=np.float64)
    if np.all(diff == diff[0]):
        return float(diff[0]), float(diff[0])  # no spread: every resample gives the same mean
    result = stats.bootstrap((diff,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                             method="percentile", vectorized=True, batch=250,
                             rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def seed_mean_ci(per_seed_a, per_seed_b, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over seeds of accuracy(b) -
    accuracy(a), as fractions: `per_seed_a[k]`, `per_seed_b[k]` are the two
    networks' per-image outcomes in seed k, on the same test images.  Test
    images are resampled, each with its outcomes in every seed (the per-image
    mean difference over seeds is what is resampled): the interval measures
    test-set noise; the seed-to-seed spread is a separate number."""
    if len(per_seed_a) != len(per_seed_b) or not len(per_seed_a):
        raise ValueError(f"per_seed_a and per_seed_b must hold the same number (>= 1) of seeds, "
                         f"got {len(per_seed_a)} and {len(per_seed_b)}")
    diffs = []
    for a, b in zip(per_seed_a, per_seed_b):
        a, b = _outcomes(a, b)
        diffs.append(b.astype(np.float64) - a.astype(np.float64))
    if len({len(d) for d in diffs}) != 1:
        raise ValueError("every seed must have the same test images (equal lengths)")
    return bootstrap_mean_ci(np.mean(diffs, axis=0), confidence, n_resamples, seed)


def _diff_matrix(diff) -> np.ndarray:
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] < 2:
        raise ValueError(f"diff must be a matrix of shape (seeds >= 1, images >= 2), got shape "
                         f"{d.shape}")
    if not np.all(np.isfinite(d)) or np.any(np.abs(d) > 1):
        raise ValueError("diff must hold finite per-image differences in [-1, 1]")
    return d


def _seed_variance(d: np.ndarray) -> tuple[float, int]:
    """Sample variance (ddof=1) of the per-seed mean differences, and its df."""
    n = d.shape[0]
    return (float(d.mean(axis=1).var(ddof=1)), n - 1) if n > 1 else (np.nan, 0)


def pooled_seed_variance(diffs, independent: int | None = None) -> tuple[float, float]:
    """(variance, df): the seed-to-seed variance of the per-seed mean
    difference, pooled over the comparisons of one family.

    `diffs`: one (seeds, images) matrix per comparison (per-image b - a, as
    for `mean_difference_test`); those with one seed add nothing.  The pool
    is sum_j sum_k (d_jk - m_j)^2 / sum_j (n_j - 1), d_jk the mean difference
    of comparison j in seed k.  Comparisons of one family share networks, so
    their seed deviations are not independent: `independent` (how many of the
    comparisons are linearly independent, `independent_comparisons`) scales
    the degrees of freedom down to sum_j (n_j - 1) * independent / J.
    Assumes every comparison of the family has the same seed-to-seed variance
    (checked on the data in docs/statistics.md).  (nan, 0) when no
    comparison has two seeds.
    """
    squares, df, used = 0.0, 0, 0
    for diff in diffs:
        d = _diff_matrix(diff)
        if d.shape[0] > 1:
            means = d.mean(axis=1)
            squares += float(np.sum((means - means.mean()) ** 2))
            df += d.shape[0] - 1
            used += 1
    if not df:
        return np.nan, 0.0
    if independent is not None:
        if int(independent) != independent or independent < 1:
            raise ValueError(f"independent must be a whole number >= 1, got {independent!r}")
        df_used = df * min(1.0, independent / used)
    else:
        df_used = float(df)
    return squares / df, float(df_used)


def independent_comparisons(pairs) -> int:
    """How many of the comparisons `pairs` ((a, b) network names) are
    linearly independent: the rank of their network incidence matrix
    (networks minus connected groups of them)."""
    pairs = list(pairs)
    if not pairs:
        return 0
    names = sorted({n for pair in pairs for n in pair})
    matrix = np.zeros((len(pairs), len(names)))
    for row, (a, b) in enumerate(pairs):
        if a == b:
            raise ValueError(f"a comparison needs two different networks, got {a!r} twice")
        matrix[row, names.index(a)], matrix[row, names.index(b)] = -1.0, 1.0
    return int(np.linalg.matrix_rank(matrix))


def mean_difference_test(diff, confidence: float = 0.95, pooled: tuple[float, float] | None = None
                         ) -> dict:
    """Interval and p-value of the mean over seeds of per-image differences
    b - a that carry both the seeds and the test images.

    `diff`: shape (seeds, images), diff[k, i] = outcome of b - outcome of a
    on image i in seed k (1, 0, -1 for right/wrong outcomes; any value in
    [-1, 1] for a comparator whose outcome is a weighted average).  The
    model is two-way crossed random effects, diff[k, i] = mu + seed_k +
    image_i + residual_ki, and the variance of the mean m is

        V = s_seed^2 / n + max(s_image^2 - MS_residual / n, 0) / N

    with s_seed^2 the sample variance of the n per-seed means (which already
    holds each run's own test-set noise), s_image^2 that of the N per-image
    means over seeds and MS_residual the two-way residual mean square (so
    the test-image term does not count that noise twice).  `pooled`:
    (variance, df) from `pooled_seed_variance`, used for s_seed^2 and its df
    in place of this comparison's own (n - 1 df).  t = m / sqrt(V) on
    Welch-Satterthwaite degrees of freedom.

    Returns {"seeds", "images", "mean pp", "se pp", "df", "seed_sd pp" (the
    sd of a per-seed mean difference used), "image_se pp" (the test-image
    term's standard error), "seed_ci_low pp", "seed_ci_high pp", "seed_p",
    "note"}.  With one seed the seed-to-seed
    variance is unknown: interval and p are NaN and "note" says one seed
    (`verdict` then gives 'not resolved').
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    d = _diff_matrix(diff)
    n, N = d.shape
    seed_means, image_means = d.mean(axis=1), d.mean(axis=0)
    mean = float(seed_means.mean())
    out = {"seeds": n, "images": N, "mean pp": 100 * mean, "se pp": np.nan, "df": np.nan,
           "seed_sd pp": np.nan, "image_se pp": np.nan, "seed_ci_low pp": np.nan,
           "seed_ci_high pp": np.nan, "seed_p": np.nan, "note": ""}
    if n < 2:
        out["note"] = ONE_SEED_NOTE
        return out
    if pooled is not None:
        seed_var, seed_df = (float(pooled[0]), float(pooled[1]))
        if not (np.isfinite(seed_var) and seed_var >= 0 and seed_df > 0):
            raise ValueError(f"pooled must be (variance >= 0, df > 0), got {pooled!r}")
    else:
        seed_var, seed_df = _seed_variance(d)
    residual = d - seed_means[:, None] - image_means[None, :] + mean
    ms_residual = float(np.sum(residual ** 2)) / ((n - 1) * (N - 1))
    seed_term = seed_var / n
    image_term = max(float(image_means.var(ddof=1)) - ms_residual / n, 0.0) / N
    variance = seed_term + image_term
    out.update({"seed_sd pp": 100 * np.sqrt(seed_var), "image_se pp": 100 * np.sqrt(image_term)})
    if variance <= 0:  # every seed and every image the same difference: nothing varies
        out.update({"se pp": 0.0, "df": np.inf, "seed_ci_low pp": 100 * mean,
                    "seed_ci_high pp": 100 * mean, "seed_p": 1.0 if mean == 0 else 0.0})
        return out
    df = variance ** 2 / (seed_term ** 2 / seed_df + image_term ** 2 / (N - 1))
    se = np.sqrt(variance)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    out.update({"se pp": 100 * se, "df": float(df), "seed_ci_low pp": 100 * (mean - half),
                "seed_ci_high pp": 100 * (mean + half),
                "seed_p": float(2 * stats.t.sf(abs(mean) / se, df))})
    return out


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given: the i-th
    smallest of m p-values becomes max over j <= i of (m - j + 1) p_(j),
    capped at 1.  NaN (an untested comparison) stays NaN and does not count
    in m."""
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"pvalues must lie in [0, 1] (or be NaN), got {p.tolist()}")
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else np.array([])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def verdict(p_holm: float, alpha: float = ALPHA) -> str:
    """'holds' when the Holm-adjusted p-value is below `alpha`, else 'not
    resolved' (also for NaN: one seed, or untested)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return HOLDS if (p_holm is not None and not pd.isna(p_holm) and p_holm < alpha) else NOT_RESOLVED


def seeds_needed(mean_pp: float, seed_sd_pp: float, image_se_pp: float = 0.0,
                 alpha: float = ALPHA, power: float = 0.8, df_per_seed: float = 1.0,
                 max_seeds: int = 100) -> int | None:
    """Fewest seeds n (>= 2) with which a difference of `mean_pp`, seed-to-seed
    sd `seed_sd_pp` (of the per-seed mean difference) and a test-image
    standard error `image_se_pp` that more seeds do not shrink (one fixed
    test set), would be found by a two-sided t-test at level `alpha` with
    probability `power`: se = sqrt(sd^2 / n + image_se^2), df = df_per_seed
    * (n - 1) (more than 1 when the variance is pooled over a family), power
    from the noncentral t.  None when even `max_seeds` seeds would not do."""
    for name, value in (("alpha", alpha), ("power", power)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    if not (np.isfinite(seed_sd_pp) and seed_sd_pp >= 0 and np.isfinite(image_se_pp)
            and image_se_pp >= 0):
        raise ValueError(f"seed_sd_pp and image_se_pp must be finite and >= 0, got "
                         f"{seed_sd_pp!r} and {image_se_pp!r}")
    if df_per_seed <= 0 or max_seeds < 2:
        raise ValueError(f"df_per_seed must be > 0 and max_seeds >= 2, got {df_per_seed!r} and "
                         f"{max_seeds!r}")
    if not np.isfinite(mean_pp) or mean_pp == 0:
        return None
    for n in range(2, int(max_seeds) + 1):
        se = np.sqrt(seed_sd_pp ** 2 / n + image_se_pp ** 2)
        if se == 0:
            return n
        df = df_per_seed * (n - 1)
        crit = stats.t.ppf(1 - alpha / 2, df)
        ncp = abs(mean_pp) / se
        achieved = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
        if achieved >= power:
            return n
    return None


def family_tests(comparisons, alpha: float = ALPHA, confidence: float = 0.95) -> list[dict]:
    """`mean_difference_test` for each comparison of one family, the seed
    variance pooled over the family, p-values Holm-adjusted within it.

    `comparisons`: ((a, b), diff) per comparison, diff of shape (seeds,
    images) holding b - a.  Returns one dict per comparison, in order:
    `mean_difference_test`'s keys plus "p_holm", "verdict" and "seeds needed"
    (for a difference not resolved: the fewest seeds with which a difference
    of its size and spread would be found with power 0.8 at the family's
    strictest Holm level alpha / m; NaN when it holds, or when no number
    up to 100 would do).
    """
    comparisons = list(comparisons)
    pooled = pooled_seed_variance([d for _, d in comparisons],
                                  independent_comparisons([pair for pair, _ in comparisons]))
    pooled = None if np.isnan(pooled[0]) else pooled
    tests = [mean_difference_test(d, confidence, pooled=pooled) for _, d in comparisons]
    adjusted = holm([t["seed_p"] for t in tests])
    tested = int(np.sum(~np.isnan(adjusted)))
    for t, p in zip(tests, adjusted):
        t["p_holm"], t["verdict"], t["seeds needed"] = float(p), verdict(p, alpha), np.nan
        if t["verdict"] == NOT_RESOLVED and t["seeds"] > 1:
            needed = seeds_needed(t["mean pp"], t["seed_sd pp"], t["image_se pp"],
                                  alpha=alpha / max(tested, 1),
                                  df_per_seed=(pooled[1] if pooled else t["seeds"] - 1)
                                  / (t["seeds"] - 1))
            t["seeds needed"] = np.nan if needed is None else needed
    return tests
