"""Which accuracy differences between the study's variants hold: the estimators applied to its runs.

`pair_tests(results)` runs the exact McNemar test and the paired bootstrap
for each pair of `comparison_pairs` and each seed the two variants share
(and, where they share several seeds, the interval of the mean);
`pair_statements(tests)` says the result in words, one line per pair, led
by its verdict ("gpc128 - gpc64: +0.64 pp, not resolved (95% interval over
seeds and test images +0.15 to +1.13 pp, Holm-adjusted p = 0.059; ...").
The main study's pairs are one Holm family (`family_tests`).

`claim_text` and `p_text` put one verdict in words (a pair's here, an
ablation contrast's in `report.ablation`).  The estimators themselves are in
`report.estimators`.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from .estimators import (ALPHA, FAMILY_COLUMNS, NOT_RESOLVED, ONE_SEED_NOTE, family_tests,
                         mcnemar_exact, paired_bootstrap_ci, seed_mean_ci)
from .results import VARIANTS, RunResult, load_predictions, short_name

__all__ = ["comparison_pairs", "pair_tests", "claim_text", "p_text", "pair_statements"]


def comparison_pairs(variants) -> list[tuple[str, str]]:
    """(a, b) pairs to compare as "b - a": each adjacent pair of the study's
    order (MobileNet, gpc16, gpc32, gpc64, gpc128), then each gpc variant
    against MobileNet; only variants in `variants`, no pair twice."""
    present = [v for v in VARIANTS if v in set(variants)]
    pairs = list(zip(present, present[1:]))
    if "mobilenet" in present:
        pairs += [("mobilenet", v) for v in present[1:] if ("mobilenet", v) not in pairs]
    return pairs


def _correct(run: RunResult):
    y_true, y_pred, _ = load_predictions(run.run_dir)
    return y_true, y_pred == y_true


def pair_tests(results: dict[str, list[RunResult]], alpha: float = ALPHA,
               n_resamples: int = 2000) -> pd.DataFrame:
    """One row per (pair, shared seed) of complete runs with saved test predictions.

    Columns: a, b, difference ("b - a": the direction of every difference),
    seed, images, acc_a %, acc_b %, diff pp (b - a), only_a, only_b (images
    only that network gets right), p (exact McNemar), ci_low pp, ci_high pp
    (95% paired bootstrap over test images), significant (p < alpha); the
    same on every row of a pair: mean_ci_low pp, mean_ci_high pp (bootstrap
    of the mean over seeds, test images only: the measurement noise of one
    test set), and `FAMILY_COLUMNS` from `family_tests` over the pairs with
    the same test images in every seed: seed_ci_low pp, seed_ci_high pp,
    seed_p (seeds and test images), p_holm, verdict, seeds needed.
    `df.attrs["notes"]` lists pairs that could not be tested and why.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    by_seed = {v: {r.seed: r for r in runs if r.status == "complete" and r.seed is not None}
               for v, runs in results.items()}
    rows, notes, family = [], [], []
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
            pair_rows.append({"a": a, "b": b, "difference": f"{b} - {a}", "seed": seed, "images": len(ya),
                              "acc_a %": 100 * ca.mean(), "acc_b %": 100 * cb.mean(),
                              "diff pp": 100 * (cb.mean() - ca.mean()),
                              "only_a": int(np.sum(ca & ~cb)), "only_b": int(np.sum(~ca & cb)),
                              "p": p, "ci_low pp": 100 * low, "ci_high pp": 100 * high,
                              "significant": bool(p < alpha)})
        # over several seeds: the interval of the mean difference over test images (the same on
        # each row of the pair); its bootstrap seed comes from the pair's names, so it never moves
        # when other pairs gain or lose runs
        mean_low = mean_high = np.nan
        same_images = pair_rows and len({len(c) for c in outcomes_a}) == 1
        if len(pair_rows) > 1 and same_images:
            mean_low, mean_high = seed_mean_ci(outcomes_a, outcomes_b, n_resamples=n_resamples,
                                               seed=zlib.crc32(f"{a} {b}".encode()))
        for row in pair_rows:
            row["mean_ci_low pp"], row["mean_ci_high pp"] = 100 * mean_low, 100 * mean_high
        if same_images:
            family.append(((a, b), np.array(outcomes_b, dtype=np.float64)
                           - np.array(outcomes_a, dtype=np.float64), pair_rows))
        rows += pair_rows
    # the main study's pairs are one family: seed variance pooled, p-values Holm-adjusted
    for (_, _, pair_rows), test in zip(family, family_tests([(p, d) for p, d, _ in family], alpha)):
        for row in pair_rows:
            row.update({k: test[k] for k in FAMILY_COLUMNS})
    columns = ["a", "b", "difference", "seed", "images", "acc_a %", "acc_b %", "diff pp",
               "only_a", "only_b", "p", "ci_low pp", "ci_high pp", "significant",
               "mean_ci_low pp", "mean_ci_high pp", *FAMILY_COLUMNS]
    df = pd.DataFrame(rows, columns=columns)
    df.attrs["notes"] = notes
    df.attrs["alpha"] = alpha
    return df


def p_text(p: float) -> str:
    """'p < 0.001' or 'p = 0.012'."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def claim_text(row, what: str = "") -> str:
    """The verdict and the interval that carries seeds and test images, for
    a row with `FAMILY_COLUMNS` (a pair's or a contrast's): 'holds (95%
    interval over seeds and test images +0.80 to +1.78 pp, Holm p = 0.001)',
    'not resolved (...; about 6 seeds would resolve a difference of this
    size and spread)', or 'not resolved (one seed: ...)'."""
    seeds = int(row["seeds"]) if "seeds" in row else None
    word = row.get("verdict")
    word = NOT_RESOLVED if not isinstance(word, str) else word
    low, high, p_holm = (row.get(k, np.nan) for k in ("seed_ci_low pp", "seed_ci_high pp",
                                                       "p_holm"))
    if seeds == 1 or pd.isna(low) or pd.isna(high):
        return f"{word}{what} ({ONE_SEED_NOTE if seeds == 1 else 'no interval over seeds'})"
    text = (f"{word}{what} (95% interval over seeds and test images {low:+.2f} to {high:+.2f} pp, "
            f"Holm-adjusted {p_text(p_holm)}")
    needed = row.get("seeds needed", np.nan)
    if word == NOT_RESOLVED:
        text += ("; " + (f"about {int(needed)} seeds" if not pd.isna(needed) else
                         "more than 100 seeds")
                 + " would resolve a difference of this size and spread")
    return text + ")"


def pair_statements(tests: pd.DataFrame, alpha: float | None = None) -> list[str]:
    """One sentence per pair, in the order of `tests`, led by its verdict."""
    alpha = tests.attrs.get("alpha", ALPHA) if alpha is None else alpha
    lines = []
    for (a, b), group in tests.groupby(["a", "b"], sort=False):
        n = len(group)
        mean = group["diff pp"].mean()
        hits = int(group["significant"].astype(str).str.lower().eq("true").sum())
        first = {**group.iloc[0].to_dict(), "seeds": n}
        head = f"{short_name(b)} - {short_name(a)}: {mean:+.2f} pp, {claim_text(first)}"
        if n == 1:
            row = group.iloc[0]
            lines.append(
                f"{head}; seed {row['seed']}: exact McNemar {p_text(row['p'])}, 95% paired "
                f"bootstrap interval over test images {row['ci_low pp']:+.2f} to "
                f"{row['ci_high pp']:+.2f} pp")
            continue
        signs = group["diff pp"]
        same_sign = (signs > 0).all() or (signs < 0).all()
        per_seed = ", ".join(f"seed {s}: {d:+.2f} pp, {p_text(p)}"
                             for s, d, p in zip(group["seed"], group["diff pp"], group["p"]))
        spread = f"mean of {n} seeds, sd {signs.std(ddof=1):.2f} pp over seeds"
        low, high = (group[c].iloc[0] if c in group else np.nan
                     for c in ("mean_ci_low pp", "mean_ci_high pp"))
        if not (pd.isna(low) or pd.isna(high)):
            spread += (f"; test images alone (the measurement noise of one test set): 95% "
                       f"bootstrap {low:+.2f} to {high:+.2f} pp")
        lines.append(
            f"{head}; {spread}; exact McNemar p < {alpha:g} in {hits} of {n} seeds, the sign "
            f"{'the same in every seed' if same_sign else 'not the same in every seed'} "
            f"({per_seed})")
    return lines
