"""The ablation: which part of the D6 block makes gpcMobileNet 16 what it is.

gpcMobileNet differs from MobileNet in more than grouping: swish inside the
pointwise block, a channel interleave, a second grouped convolution L whose
output is summed with K's.  Five variants take one part away each
(`gpc_support.model.networks.ABLATIONS`); with MobileNet and gpc16 from the main
study they give five contrasts, each "with the part - without it":

| contrast | difference |
|---|---|
| activation, grouped side | gpc16 - gpc16-relu6 |
| activation, dense side | MobileNet-swish - MobileNet |
| interleave | gpc16 - gpc16-no-interleave |
| sum | gpc16 - gpc16-no-sum |
| grouping | gpc16-k-only - MobileNet-swish |

Two more comparisons between the same runs, outside those five
(`SECONDARY`), say what the rest of the block does on top of K alone:
gpc16 - gpc16-k-only (interleave, L and sum together) and
gpc16-no-interleave - gpc16-k-only (L and sum without the interleave).
Four more (`EQUAL_ACTIVATION`) set each gpc network of the main study
against MobileNet-swish: both have swish after each pointwise BatchNorm, so
what is left between them is the D6 block in place of the dense pointwise
convolution.  They need the main study's gpc32/64/128 runs
(`contrast_tests(..., others=main)`).  Two more (`MIXING`) need the variant
gpc16-k-interleave (K and the interleave, no L, no sum): what mixing across
groups adds to K alone (gpc16-k-interleave - gpc16-k-only), and what L and
the sum add on top of it (gpc16 - gpc16-k-interleave); until its runs exist
they are skipped.  All are tested the same way; the figure keeps the five.

All the contrasts are one family declared in advance: their seed-to-seed
variance is pooled and their p-values are Holm-adjusted together
(`gpc_support.report.estimators.family_tests`), and each gets one verdict,
'holds' or 'not resolved'.

- `split_ablation(results)`: the main study's runs and the ablation's;
- `ablation_table(results)`: one row per variant (size, MACs, test accuracy
  mean +- sd over seeds, every seed);
- `contrast_tests(results)`: per contrast and shared seed, the exact McNemar
  p-value and a 95% paired bootstrap interval (`gpc_support.report.estimators`);
  and per contrast over all shared seeds: the mean difference, its
  seed-to-seed sd, a 95% paired bootstrap interval of the mean difference
  that resamples test images only (the measurement noise of one test set),
  and the interval, p-value, Holm-adjusted p-value and verdict that carry
  both the seeds and the test images;
- `contrast_statements`, `extra_sections`, `plot_ablation`: the result in
  words (the five; the other comparisons group by group) and one figure.

Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .results import RunResult, outcomes_by_seed, short_name
from .comparisons import claim_text, p_text
from .estimators import (ALPHA, FAMILY_COLUMNS, family_tests, mcnemar_exact, paired_bootstrap_ci,
                         seed_mean_ci)
from .tables import accuracy_text

__all__ = ["ABLATION_VARIANTS", "ABLATION_ONLY", "ISOLATES", "CONTRASTS", "SECONDARY",
           "EQUAL_ACTIVATION", "MIXING", "LATER_VARIANTS", "ALL_CONTRASTS", "GROUP_INTROS", "SECONDARY_INTRO", "TABLE_COLUMNS",
           "Contrast",
           "D6_ABLATIONS", "split_ablation", "has_d6_ablation", "curve_variants", "ablation_table", "contrast_tests", "contrast_statements",
           "extra_sections", "plot_ablation"]

# table order: each reference followed by what is taken from it
ABLATION_VARIANTS = ("mobilenet", "mobilenet-swish", "gpc16", "gpc16-relu6",
                     "gpc16-no-interleave", "gpc16-no-sum", "gpc16-k-only", "gpc16-k-interleave")
ABLATION_ONLY = ABLATION_VARIANTS[1:2] + ABLATION_VARIANTS[3:]
# gpc16 with one part of the D6 block taken away
D6_ABLATIONS = ABLATION_VARIANTS[3:]
# added to the ablation after its first runs: in the table only once a folder holds its runs
LATER_VARIANTS = ("gpc16-k-interleave",)

# the columns of `ablation_table` that the summary and its notebook show
TABLE_COLUMNS = ["Architecture", "Isolates", "Seeds", "Parameters", "MACs (M)",
                 "Test accuracy %", "Test accuracy per seed %"]

# the accuracy cell of a variant without a complete run
NOT_RUN = "no complete run yet"

ISOLATES = {
    "mobilenet": "reference (ReLU6 everywhere)",
    "mobilenet-swish": "activation, dense side: swish after each pointwise BatchNorm",
    "gpc16": "reference (the D6 block as the method defines it)",
    "gpc16-relu6": "activation, grouped side: ReLU6 in K and L",
    "gpc16-no-interleave": "interleave: K -> L -> + K",
    "gpc16-no-sum": "the sum: K -> interleave -> L, output L",
    "gpc16-k-only": "grouping alone: grouped K, no interleave, no L",
    "gpc16-k-interleave": "mixing across groups: K -> interleave, no L, no sum",
}


@dataclasses.dataclass(frozen=True)
class Contrast:
    """`with_part - without`: what the part adds to the test accuracy."""

    name: str
    with_part: str
    without: str
    group: str = "primary"  # "primary" (the five), else a key of GROUP_INTROS

    @property
    def text(self) -> str:
        return f"{short_name(self.with_part)} - {short_name(self.without)}"


CONTRASTS = (
    Contrast("activation, grouped side", "gpc16", "gpc16-relu6"),
    Contrast("activation, dense side", "mobilenet-swish", "mobilenet"),
    Contrast("interleave", "gpc16", "gpc16-no-interleave"),
    Contrast("sum", "gpc16", "gpc16-no-sum"),
    Contrast("grouping", "gpc16-k-only", "mobilenet-swish"),
)

# beyond the five: what the rest of the block adds to K alone
SECONDARY = (
    Contrast("interleave, L and sum together", "gpc16", "gpc16-k-only", "rest of block"),
    Contrast("L and sum without the interleave", "gpc16-no-interleave", "gpc16-k-only",
             "rest of block"),
)
# the main study's gpc networks against MobileNet with the same activation
EQUAL_ACTIVATION = tuple(
    Contrast(f"{n} channels per group", f"gpc{n}", "mobilenet-swish", "equal activation")
    for n in (16, 32, 64, 128))
# what the interleave's mixing across groups adds to K alone, and L and the sum on top of it
MIXING = (
    Contrast("mixing across groups", "gpc16-k-interleave", "gpc16-k-only", "mixing"),
    Contrast("L and the sum on top of mixing", "gpc16", "gpc16-k-interleave", "mixing"),
)
# the order fixes each comparison's bootstrap seed: new ones go at the end
ALL_CONTRASTS = CONTRASTS + SECONDARY + EQUAL_ACTIVATION + MIXING
# what introduces each group of comparisons beyond the five wherever they are shown
SECONDARY_INTRO = ("Beyond the five contrasts, what the rest of the block adds to K alone "
                   "(same runs, same tests):")
GROUP_INTROS = {
    "rest of block": SECONDARY_INTRO,
    "equal activation": (
        "The gpc networks against MobileNet with the same activation (swish after each "
        "pointwise BatchNorm in both; ReLU6 elsewhere): the part is the D6 block in place of "
        "the dense pointwise convolution (same seeds, same tests):"),
    "mixing": (
        "What the interleave's mixing across groups adds to K alone, and what L and the sum add "
        "on top of K and the interleave (gpc16-k-interleave: K -> interleave, no L, no sum; same "
        "seeds, same tests):"),
}


def split_ablation(results: dict[str, list[RunResult]]):
    """(main, ablation): `main` without the ablation-only variants and the
    thinner MobileNets (`fair_baseline`); `ablation` the variants of the
    ablation in table order, when the folder holds any ablation-only variant,
    else {}.  Once one of `D6_ABLATIONS` ran, every variant of the ablation
    is there (one not run yet as a "missing" run; those of `LATER_VARIANTS`
    only when the folder has them); before that (e.g. `paper32`, which
    trains MobileNet-swish but no gpc16 ablation network) only the variants
    with a run folder."""
    from .fair_baseline import is_thinner

    # the thinner MobileNets belong to the fair baseline, not to Table 6.1
    main = {k: v for k, v in results.items() if k not in ABLATION_ONLY and not is_thinner(k)}
    if not any(_ran(results.get(k, [])) for k in ABLATION_ONLY):
        return main, {}
    if not has_d6_ablation(results):
        return main, {k: results[k] for k in ABLATION_VARIANTS if _ran(results.get(k, []))}
    ablation = {}
    for name in ABLATION_VARIANTS:
        if name in LATER_VARIANTS and name not in results:
            continue
        if name in results:
            ablation[name] = results[name]
        else:
            ablation[name] = [RunResult(variant=name, status="missing",
                                        problem="no folder in runs/")]
    return main, ablation


def has_d6_ablation(results: dict[str, list[RunResult]]) -> bool:
    """Whether any gpc16 network with a part of the D6 block taken away ran here."""
    return any(_ran(results.get(k, [])) for k in D6_ABLATIONS)


def curve_variants(results: dict[str, list[RunResult]]) -> dict[str, list[RunResult]]:
    """The networks the curves figures draw, in table order: Table 6.1's that
    have a run folder; in a folder without a D6 ablation network, every other
    network with one too (e.g. `paper32`'s MobileNet-swish and thinner
    MobileNet, whose curves no other figure draws).  Table 6.1's five when
    none has a folder."""
    main = split_ablation(results)[0]
    whole = not has_d6_ablation(results)
    chosen = {k: v for k, v in results.items() if _ran(v) and (k in main or whole)}
    return chosen or main


def _ran(runs):
    return any(r.status != "missing" for r in runs)


def _done(runs):
    return [r for r in runs if r.status == "complete"]


def ablation_table(ablation: dict[str, list[RunResult]]) -> pd.DataFrame:
    """One row per variant (index: variant)."""
    rows = []
    for name, runs in ablation.items():
        done = _done(runs)
        acc = [100 * r.metrics["test_accuracy"] for r in done]
        first = done[0].metrics if done else next((r.metrics for r in runs if r.metrics), None) or {}
        rows.append({
            "variant": name,
            "Architecture": short_name(name),
            "Isolates": ISOLATES.get(name, ""),
            "Seeds": len(done),
            "Parameters": first.get("params_total"),
            "MACs (M)": first["macs"] / 1e6 if first.get("macs") is not None else np.nan,
            "Test accuracy mean %": float(np.mean(acc)) if acc else np.nan,
            "Test accuracy sd (pp)": float(np.std(acc, ddof=1)) if len(acc) > 1 else np.nan,
            "Test accuracy %": accuracy_text(acc) if acc else NOT_RUN,
            "Test accuracy per seed %": ", ".join(f"{r.seed}: {a:.2f}" for r, a in zip(done, acc)),
        })
    df = pd.DataFrame(rows).set_index("variant")
    for column in ("Seeds", "Parameters"):
        df[column] = pd.array([None if pd.isna(v) else int(v) for v in df[column]], dtype="Int64")
    return df


def contrast_tests(ablation: dict[str, list[RunResult]], alpha: float = ALPHA,
                   n_resamples: int = 2000, others: dict[str, list[RunResult]] | None = None):
    """(per_seed, summary) DataFrames for `ALL_CONTRASTS` (the five, then
    `SECONDARY` and `EQUAL_ACTIVATION`).  `others`: further runs by variant
    (the main study's, for gpc32/64/128); `ablation` wins where both have one.

    per_seed: contrast, with, without, seed, images, acc_with %, acc_without %,
    diff pp, only_with, only_without, p (exact McNemar), ci_low pp, ci_high pp,
    significant.
    summary (index: contrast): difference (the direction: with - without),
    seeds, mean diff pp, sd diff pp (over seeds, ddof=1), ci_low pp /
    ci_high pp (95% paired bootstrap of the mean difference over test images
    only: the measurement noise of one test set), significant seeds, same
    sign, primary (True for the five `CONTRASTS`), group (`Contrast.group`),
    and `FAMILY_COLUMNS` (seed_ci_low pp, seed_ci_high pp, seed_p: over seeds
    and test images; p_holm within all contrasts tested; verdict; seeds
    needed).  Contrasts whose variants have no shared seed are left out.
    `summary.attrs["notes"]`: contrasts that could not be tested and why.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    outcomes = {name: outcomes_by_seed(runs) for name, runs in {**(others or {}), **ablation}.items()}
    rows, summary, notes, family = [], [], [], []
    for index, c in enumerate(ALL_CONTRASTS):
        w, o = outcomes.get(c.with_part, {}), outcomes.get(c.without, {})
        seeds = sorted(set(w) & set(o))
        seeds = [s for s in seeds if np.array_equal(w[s][0], o[s][0])]
        if not seeds:
            # an untested SECONDARY comparison is simply not shown, nor is a contrast of
            # networks the folder never meant to run (no folder and no placeholder)
            if c in CONTRASTS and c.with_part in outcomes and c.without in outcomes:
                notes.append(f"{c.name} ({c.text}): no seed with complete runs of both")
            continue
        mine = []
        for s in seeds:
            cw, co = w[s][1], o[s][1]
            p = mcnemar_exact(co, cw)
            low, high = paired_bootstrap_ci(co, cw, n_resamples=n_resamples, seed=s)
            mine.append({"contrast": c.name, "with": c.with_part, "without": c.without, "seed": s,
                         "images": len(cw), "acc_with %": 100 * cw.mean(),
                         "acc_without %": 100 * co.mean(), "diff pp": 100 * (cw.mean() - co.mean()),
                         "only_with": int(np.sum(cw & ~co)), "only_without": int(np.sum(~cw & co)),
                         "p": p, "ci_low pp": 100 * low, "ci_high pp": 100 * high,
                         "significant": bool(p < alpha)})
        rows += mine
        diffs = np.array([r["diff pp"] for r in mine])
        low, high = seed_mean_ci([o[s][1] for s in seeds], [w[s][1] for s in seeds],
                                 n_resamples=n_resamples, seed=index)  # fixed per contrast
        summary.append({"contrast": c.name, "difference": c.text, "seeds": len(seeds),
                        "mean diff pp": float(diffs.mean()),
                        "sd diff pp": float(diffs.std(ddof=1)) if len(diffs) > 1 else np.nan,
                        "ci_low pp": 100 * low, "ci_high pp": 100 * high,
                        "significant seeds": int(sum(r["significant"] for r in mine)),
                        "same sign": bool((diffs > 0).all() or (diffs < 0).all()),
                        "primary": c in CONTRASTS, "group": c.group})
        if len({len(w[s][1]) for s in seeds}) == 1:
            family.append(((c.without, c.with_part),
                           np.array([w[s][1] for s in seeds], dtype=np.float64)
                           - np.array([o[s][1] for s in seeds], dtype=np.float64), summary[-1]))
    # every contrast is one family: seed variance pooled, p-values Holm-adjusted together
    for (_, _, row), test in zip(family, family_tests([(p, d) for p, d, _ in family], alpha)):
        row.update({k: test[k] for k in FAMILY_COLUMNS})
    per_seed = pd.DataFrame(rows, columns=[
        "contrast", "with", "without", "seed", "images", "acc_with %", "acc_without %", "diff pp",
        "only_with", "only_without", "p", "ci_low pp", "ci_high pp", "significant"])
    summary_df = pd.DataFrame(summary, columns=[
        "contrast", "difference", "seeds", "mean diff pp", "sd diff pp", "ci_low pp",
        "ci_high pp", "significant seeds", "same sign", "primary", "group", *FAMILY_COLUMNS]
                              ).set_index("contrast")
    for df in (per_seed, summary_df):
        df.attrs["notes"] = notes
        df.attrs["alpha"] = alpha
    return per_seed, summary_df


def contrast_statements(per_seed: pd.DataFrame, summary: pd.DataFrame,
                        primary: bool = True, group: str | None = None) -> list[str]:
    """One plain sentence per tested contrast: the five (`primary=True`), all
    the others (`primary=False`), or one group of them (`group`, a key of
    `GROUP_INTROS`).  A summary without the "primary" column (written before
    it existed) holds only the five; one without "group" has only the
    "rest of block" comparisons beside them.  Each sentence leads with the
    contrast's verdict ('holds' or 'not resolved'); a table without verdicts
    (written by older code) is a ValueError."""
    alpha = summary.attrs.get("alpha", ALPHA)
    flags = (summary["primary"].astype(str).str.lower() == "true" if "primary" in summary
             else pd.Series(True, index=summary.index))
    chosen = flags == primary
    if group is not None:
        if group != "primary" and group not in GROUP_INTROS:
            raise ValueError(f"group must be 'primary' or one of {sorted(GROUP_INTROS)}, "
                             f"got {group!r}")
        groups = (summary["group"] if "group" in summary
                  else flags.map({True: "primary", False: "rest of block"}))
        chosen = groups == group
    lines = []
    for name, row in summary[chosen].iterrows():
        rows = per_seed[per_seed["contrast"] == name]
        n = int(row["seeds"])
        hits = int(row["significant seeds"])
        if "verdict" not in row or pd.isna(row.get("verdict")):
            raise ValueError(f"the contrasts table has no verdict for {name!r}: it was written "
                             "before verdicts existed; rebuild the summary")
        direction = ""
        if row["verdict"] == "holds":
            direction = ": the part helps" if row["mean diff pp"] > 0 else ": the part hurts"
        per = "; ".join(f"seed {s}: {d:+.2f} pp, {p_text(p)}"
                        for s, d, p in zip(rows["seed"], rows["diff pp"], rows["p"]))
        sd = "" if pd.isna(row["sd diff pp"]) else f", sd over seeds {row['sd diff pp']:.2f} pp"
        lines.append(
            f"**{name}** ({row['difference']}): {row['mean diff pp']:+.2f} pp, "
            f"{claim_text({**row.to_dict(), 'seeds': n}, direction)}; mean of {n} "
            f"seed{'s' if n > 1 else ''}{sd}; test images alone (the measurement noise of one "
            f"test set): 95% bootstrap {row['ci_low pp']:+.2f} to {row['ci_high pp']:+.2f} pp; "
            f"exact McNemar p < {alpha:g} in {hits} of {n}: {per}.")
    return lines


def extra_sections(per_seed: pd.DataFrame, summary: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(intro, statements) for each group of comparisons beyond the five that
    has a tested one, in `GROUP_INTROS` order."""
    sections = []
    for group, intro in GROUP_INTROS.items():
        statements = contrast_statements(per_seed, summary, primary=False, group=group)
        if statements:
            sections.append((intro, statements))
    return sections


def plot_ablation(ablation: dict[str, list[RunResult]], per_seed: pd.DataFrame,
                  summary: pd.DataFrame):
    """Left: test accuracy of every seed per variant (mean +- sd bar).
    Right: each contrast's per-seed differences (points) and the mean with its
    95% paired bootstrap interval."""
    from .figure_style import new_figure, report_style, variant_colors

    colors = variant_colors(list(ablation))
    with report_style():
        fig, axes = new_figure(1, 2, (12.5, 4.8), width_ratios=[1.15, 1])
        ax = axes[0, 0]
        names = list(ablation)
        for y, name in enumerate(names):
            done = _done(ablation[name])
            acc = np.array([100 * r.metrics["test_accuracy"] for r in done])
            if not len(acc):
                ax.text(0.5, y, "no complete run", ha="center", va="center", fontsize=8,
                        color="0.4", transform=ax.get_yaxis_transform())
                continue
            offsets = np.linspace(-0.15, 0.15, len(acc)) if len(acc) > 1 else np.zeros(1)
            ax.plot(acc, y + offsets, ls="none", marker="o", ms=6, color=colors[name],
                    mec="black", mew=0.5, zorder=3)
            sd = acc.std(ddof=1) if len(acc) > 1 else 0.0
            ax.errorbar([acc.mean()], [y], xerr=[sd], fmt="|", ms=18, color="black", lw=1.2,
                        capsize=4, zorder=4)
        ax.set_yticks(range(len(names)), [short_name(n) for n in names])
        ax.set_ylim(len(names) - 0.5, -0.5)  # first variant on top, fixed row height
        ax.set_xlabel("test accuracy % (points: seeds; bar: mean ± sd)")
        ax.set_title("Test accuracy of each ablation variant")
        ax = axes[0, 1]
        # every contrast of the ablation's networks keeps its row, tested or not, so the
        # rows line up run after run
        shown = [c for c in CONTRASTS if c.with_part in ablation and c.without in ablation]
        for y, contrast in enumerate(shown):
            if contrast.name not in summary.index:
                ax.text(0.5, y, "not tested yet: no seed with complete runs of both",
                        ha="center", va="center", fontsize=8, color="0.4",
                        transform=ax.get_yaxis_transform())
                continue
            row = summary.loc[contrast.name]
            ax.plot([row["ci_low pp"], row["ci_high pp"]], [y, y], color="black", lw=2.2,
                    solid_capstyle="butt", zorder=3)
            ax.plot([row["mean diff pp"]], [y], marker="D", ms=7, color="black", zorder=4)
            d = per_seed.loc[per_seed["contrast"] == contrast.name, "diff pp"].to_numpy()
            ax.plot(d, np.full(len(d), y - 0.22), ls="none", marker="o", ms=5, color="0.55",
                    mec="black", mew=0.4, zorder=3)
        ax.axvline(0, color="0.3", lw=1, ls="--")
        ax.set_yticks(range(len(shown)), [f"{c.name}\n{c.text}" for c in shown])
        ax.set_ylim(len(shown) - 0.5, -0.5)  # first contrast on top, fixed row height
        ax.set_xlabel("accuracy difference, pp (with the part - without)")
        ax.set_title("What each part adds: mean over seeds (diamond),\n95% paired bootstrap "
                     "interval (line), each seed (grey)")
        fig.suptitle("Ablation of the D6 block (gpcMobileNet 16)" + (
            "" if any(k in ablation for k in D6_ABLATIONS)
            else ": no gpc16 network with a part taken away ran in this folder"))
    return fig
