"""Which accuracy differences between variants hold: paired tests on the test set.

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

`pair_tests(results)` runs both for each pair of `comparison_pairs` and each
seed the two variants share (and, where they share several seeds, the
interval of the mean); `pair_statements(tests)` says the result in words,
one line per pair ("gpc128 - gpc64: +0.90 pp (mean of 3 seeds, sd 0.20 pp over
seeds; 95% paired bootstrap interval of the mean +0.42 to +1.37 pp, excluding
0), significant in 3 of 3 seeds (exact McNemar, p < 0.05); ...").
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy import stats

from .runs import VARIANTS, RunResult, load_predictions, short_name

__all__ = ["ALPHA", "comparison_pairs", "mcnemar_exact", "paired_bootstrap_ci",
           "bootstrap_mean_ci", "seed_mean_ci", "p_text", "pair_tests", "pair_statements"]

ALPHA = 0.05


def comparison_pairs(variants) -> list[tuple[str, str]]:
    """(a, b) pairs to compare as "b - a": each adjacent pair of the study's
    order (MobileNet, gpc16, gpc32, gpc64, gpc128), then each gpc variant
    against MobileNet; only variants in `variants`, no pair twice."""
    present = [v for v in VARIANTS if v in set(variants)]
    pairs = list(zip(present, present[1:]))
    if "mobilenet" in present:
        pairs += [("mobilenet", v) for v in present[1:] if ("mobilenet", v) not in pairs]
    return pairs


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


def _correct(run: RunResult):
    y_true, y_pred, _ = load_predictions(run.run_dir)
    return y_true, y_pred == y_true


def pair_tests(results: dict[str, list[RunResult]], alpha: float = ALPHA,
               n_resamples: int = 2000) -> pd.DataFrame:
    """One row per (pair, shared seed) of complete runs with saved test predictions.

    Columns: a, b, seed, images, acc_a %, acc_b %, diff pp (b - a), only_a,
    only_b (images only that network gets right), p (exact McNemar),
    ci_low pp, ci_high pp (95% paired bootstrap), significant (p < alpha).
    `df.attrs["notes"]` lists pairs that could not be tested and why.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    by_seed = {v: {r.seed: r for r in runs if r.status == "complete" and r.seed is not None}
               for v, runs in results.items()}
    rows, notes = [], []
    for a, b in comparison_pairs(results):
        seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
        if not seeds:
            notes.append(f"{short_name(b)} - {short_name(a)}: no seed with complete runs of both")
            continue
        pair_rows, outcomes_a, outcomes_b = [], [], []
        for seed in seeds:
            try:
                ya, ca = _correct(by_seed[a][seed])
                yb, cb = _correct(by_seed[b][seed])
            except ValueError as err:
                notes.append(f"{short_name(b)} - {short_name(a)}, seed {seed}: {err}")
                continue
            if not np.array_equal(ya, yb):
                notes.append(f"{short_name(b)} - {short_name(a)}, seed {seed}: the two runs' test "
                             "labels differ (not the same test images), not paired")
                continue
            p = mcnemar_exact(ca, cb)
            low, high = paired_bootstrap_ci(ca, cb, n_resamples=n_resamples, seed=seed)
            outcomes_a.append(ca)
            outcomes_b.append(cb)
            pair_rows.append({"a": a, "b": b, "seed": seed, "images": len(ya),
                              "acc_a %": 100 * ca.mean(), "acc_b %": 100 * cb.mean(),
                              "diff pp": 100 * (cb.mean() - ca.mean()),
                              "only_a": int(np.sum(ca & ~cb)), "only_b": int(np.sum(~ca & cb)),
                              "p": p, "ci_low pp": 100 * low, "ci_high pp": 100 * high,
                              "significant": bool(p < alpha)})
        # over several seeds: the interval of the mean difference (the same on each row of the
        # pair); its bootstrap seed comes from the pair's names, so it never moves when other
        # pairs gain or lose runs
        mean_low = mean_high = np.nan
        if len(pair_rows) > 1 and len({len(c) for c in outcomes_a}) == 1:
            mean_low, mean_high = seed_mean_ci(outcomes_a, outcomes_b, n_resamples=n_resamples,
                                               seed=zlib.crc32(f"{a} {b}".encode()))
        for row in pair_rows:
            row["mean_ci_low pp"], row["mean_ci_high pp"] = 100 * mean_low, 100 * mean_high
        rows += pair_rows
    columns = ["a", "b", "seed", "images", "acc_a %", "acc_b %", "diff pp", "only_a", "only_b",
               "p", "ci_low pp", "ci_high pp", "significant", "mean_ci_low pp", "mean_ci_high pp"]
    df = pd.DataFrame(rows, columns=columns)
    df.attrs["notes"] = notes
    df.attrs["alpha"] = alpha
    return df


def p_text(p: float) -> str:
    """'p < 0.001' or 'p = 0.012'."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def pair_statements(tests: pd.DataFrame, alpha: float | None = None) -> list[str]:
    """One sentence per pair, in the order of `tests`."""
    alpha = tests.attrs.get("alpha", ALPHA) if alpha is None else alpha
    lines = []
    for (a, b), group in tests.groupby(["a", "b"], sort=False):
        n = len(group)
        mean = group["diff pp"].mean()
        hits = int(group["significant"].sum())
        head = f"{short_name(b)} - {short_name(a)}: {mean:+.2f} pp"
        if n == 1:
            row = group.iloc[0]
            lines.append(
                f"{head} (n=1 seed: seed {row['seed']}), "
                f"{'significant' if row['significant'] else 'not significant'} "
                f"(exact McNemar {p_text(row['p'])}; 95% paired bootstrap interval "
                f"{row['ci_low pp']:+.2f} to {row['ci_high pp']:+.2f} pp)")
            continue
        signs = group["diff pp"]
        same_sign = (signs > 0).all() or (signs < 0).all()
        per_seed = ", ".join(f"seed {s}: {d:+.2f} pp, {p_text(p)}"
                             for s, d, p in zip(group["seed"], group["diff pp"], group["p"]))
        spread = f"mean of {n} seeds, sd {signs.std(ddof=1):.2f} pp over seeds"
        low, high = (group[c].iloc[0] if c in group else np.nan
                     for c in ("mean_ci_low pp", "mean_ci_high pp"))
        if not (pd.isna(low) or pd.isna(high)):
            spread += (f"; 95% paired bootstrap interval of the mean {low:+.2f} to {high:+.2f} pp, "
                       f"{'excluding' if low > 0 or high < 0 else 'including'} 0")
        lines.append(
            f"{head} ({spread}), significant in {hits} of {n} seeds "
            f"(exact McNemar, p < {alpha:g}); the sign is "
            f"{'the same in every seed' if same_sign else 'not the same in every seed'} "
            f"({per_seed})")
    return lines
