"""The fair baseline: gpcMobileNet against MobileNet made thinner instead of grouped.

To cut MobileNet's parameters, a practitioner can group the pointwise
convolutions (gpcMobileNet) or use the width multiplier MobileNet already
has.  This module answers "at the same budget, which is more accurate?":

- `split_widths(results)`: the thinner MobileNets (width < 1) apart from
  the rest of a results folder;
- `family_points(results)`: one row per network of each family (MobileNet
  by width, MobileNet-swish by width, gpcMobileNet by channels per group,
  the ablation variants as single points): parameters, MACs at the study's
  image size, and test accuracy over seeds (mean, sd, min, max);
- `equal_budget(results)`: for each gpc network and each width family, the
  family's accuracy at the gpc network's parameter count and at its MAC
  count, interpolated linearly in log budget between the two neighbouring
  measured widths, the difference and its test (per seed and test image, the
  interpolated network's outcome is the weighted mean of its two
  neighbours' outcomes; `estimators.mean_difference_test`), with Holm's
  correction over the whole family of equal-budget comparisons;
- `plot_pareto(results)`: accuracy against parameters and against MACs, one
  line per family.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..model.variants import WIDTHS, parse_variant
from .results import RunResult, outcomes_by_seed, short_name

__all__ = ["FAMILIES", "FAMILY_LABELS", "BUDGETS", "is_thinner", "split_widths",
           "family_points", "points_table", "equal_budget", "equal_budget_statements",
           "equal_budget_table", "fair_baseline_markdown", "plot_pareto"]

# the width families, each from the thinnest to full width, and the gpc family
FAMILIES = {
    "mobilenet": tuple(f"mobilenet-a{a:g}" for a in WIDTHS) + ("mobilenet",),
    "mobilenet-swish": tuple(f"mobilenet-swish-a{a:g}" for a in WIDTHS) + ("mobilenet-swish",),
    "gpc": ("gpc16", "gpc32", "gpc64", "gpc128"),
}
FAMILY_LABELS = {
    "mobilenet": "MobileNet by width (ReLU6)",
    "mobilenet-swish": "MobileNet-swish by width",
    "gpc": "gpcMobileNet by channels per group",
    "ablation": "gpc16 ablation variants",
}
WIDTH_FAMILIES = ("mobilenet", "mobilenet-swish")
# budget column -> what it is called in text
BUDGETS = {"params": "parameters", "macs": "MACs"}


def _variant(name: str):
    try:
        return parse_variant(name)
    except ValueError:
        return None


def is_thinner(name: str) -> bool:
    """True for a MobileNet or MobileNet-swish narrower than full width."""
    variant = _variant(name)
    return variant is not None and variant.channels is None and variant.alpha < 1


def split_widths(results: dict[str, list[RunResult]]):
    """(rest, widths): the thinner MobileNets apart from every other variant."""
    rest = {k: v for k, v in results.items() if not is_thinner(k)}
    widths = {k: v for k, v in results.items() if is_thinner(k)}
    return rest, widths


def _family_of(name: str) -> str | None:
    variant = _variant(name)
    if variant is None:
        return None
    return variant.family


def _position(name: str) -> float:
    """Width multiplier of a dense network, channels per group of a gpc one."""
    variant = parse_variant(name)
    return variant.alpha if variant.channels is None else float(variant.channels)


def family_points(results: dict[str, list[RunResult]]) -> pd.DataFrame:
    """One row per variant with a complete run (index: variant).

    Columns: family, position (width or channels per group), label,
    params, macs, seeds, mean %, sd pp, min %, max %, per seed % (dict).
    MACs are counted at the runs' own image size.
    """
    rows = []
    for name, runs in results.items():
        family = _family_of(name)
        done = [r for r in runs if r.status == "complete" and r.metrics]
        if family is None or not done:
            continue
        acc = np.array([100 * r.metrics["test_accuracy"] for r in done])
        rows.append({
            "variant": name, "family": family, "position": _position(name),
            "label": short_name(name),
            "params": int(done[0].metrics["params_total"]),
            "macs": int(done[0].metrics["macs"]),
            "seeds": len(done),
            "mean %": float(acc.mean()),
            "sd pp": float(acc.std(ddof=1)) if len(acc) > 1 else np.nan,
            "min %": float(acc.min()), "max %": float(acc.max()),
            "per seed %": {r.seed: float(a) for r, a in zip(done, acc)},
        })
    columns = ["variant", "family", "position", "label", "params", "macs", "seeds", "mean %",
               "sd pp", "min %", "max %", "per seed %"]
    return pd.DataFrame(rows, columns=columns).set_index("variant")


def _outcomes(runs: list[RunResult]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """`outcomes_by_seed` with right/wrong as 0/1 floats, for the weighted neighbours."""
    return {seed: (y, correct.astype(float)) for seed, (y, correct) in outcomes_by_seed(runs).items()}


def _neighbours(points: pd.DataFrame, budget: str, value: float):
    """(lo, hi, weight of lo) around `value` in log budget, or None outside.

    `points` holds one family's networks; an exact match gives (v, v, 1.0).
    """
    ordered = points.sort_values(budget)
    budgets = ordered[budget].to_numpy(dtype=float)
    names = list(ordered.index)
    if not len(budgets) or value < budgets[0] or value > budgets[-1]:
        return None
    for i, b in enumerate(budgets):
        if b == value:
            return names[i], names[i], 1.0
    j = int(np.searchsorted(budgets, value))
    lo, hi = budgets[j - 1], budgets[j]
    weight_lo = (math.log(hi) - math.log(value)) / (math.log(hi) - math.log(lo))
    return names[j - 1], names[j], float(weight_lo)


def equal_budget(results: dict[str, list[RunResult]], alpha: float = 0.05) -> pd.DataFrame:
    """Each gpc network against each width family at its parameters and its MACs.

    One row per (gpc network, family, budget): the gpc network's accuracy
    (mean over seeds), the family's interpolated accuracy (same seeds), the
    difference gpc - family in pp, the neighbouring widths and the weight of
    the thinner one, the interval and p-value of
    `estimators.mean_difference_test` (seeds and test images), Holm's
    p over every row that has a test, and the verdict.  A gpc network outside
    the family's measured budgets gets the reason in `note` and no numbers.
    """
    from .estimators import family_tests

    points = family_points(results)
    rows, comparisons = [], []
    for gpc in FAMILIES["gpc"]:
        if gpc not in points.index:
            continue
        gpc_out = _outcomes(results[gpc])
        for family in WIDTH_FAMILIES:
            members = points[points["family"] == family]
            for budget in BUDGETS:
                value = float(points.at[gpc, budget])
                row = {"gpc": gpc, "family": family, "budget": BUDGETS[budget],
                       "gpc budget": int(value), "lo": None, "hi": None, "weight lo": np.nan,
                       "seeds": 0, "gpc %": np.nan, "family %": np.nan,
                       "diff pp (gpc - family)": np.nan, "seed_ci_low pp": np.nan,
                       "seed_ci_high pp": np.nan, "seed_p": np.nan, "p_holm": np.nan,
                       "verdict": "not tested", "seeds needed": np.nan, "note": ""}
                rows.append(row)
                near = _neighbours(members, budget, value) if len(members) > 1 else None
                if near is None:
                    measured = ", ".join(f"{short_name(n)} {int(members.at[n, budget]):,}"
                                         for n in members.sort_values(budget).index)
                    row["note"] = f"outside the measured widths ({measured or 'none'})"
                    continue
                lo, hi, w = near
                row.update({"lo": lo, "hi": hi, "weight lo": w})
                lo_out, hi_out = _outcomes(results[lo]), _outcomes(results[hi])
                seeds = sorted(set(gpc_out) & set(lo_out) & set(hi_out))
                if not seeds:
                    row["note"] = "no seed with predictions of all three networks"
                    continue
                for s in seeds:
                    if not (np.array_equal(gpc_out[s][0], lo_out[s][0])
                            and np.array_equal(gpc_out[s][0], hi_out[s][0])):
                        raise ValueError(f"equal_budget: seed {s} of {gpc}, {lo} and {hi} "
                                         "were tested on different images")
                diff = np.stack([gpc_out[s][1] - (w * lo_out[s][1] + (1 - w) * hi_out[s][1])
                                 for s in seeds])
                row["seeds"] = len(seeds)
                row["gpc %"] = 100 * float(np.mean([gpc_out[s][1].mean() for s in seeds]))
                # the comparator is named by its two neighbours: comparisons between
                # the same networks count once when the family's seed variance is pooled
                comparisons.append((row, ((f"{lo}|{hi}", gpc), diff)))
    # one family: every equal-budget comparison, seed variance pooled, Holm over all
    tests = family_tests([c for _, c in comparisons], alpha=alpha) if comparisons else []
    for (row, _), test in zip(comparisons, tests):
        row.update({
            "family %": row["gpc %"] - test["mean pp"],
            "diff pp (gpc - family)": test["mean pp"],
            "seed_ci_low pp": test["seed_ci_low pp"], "seed_ci_high pp": test["seed_ci_high pp"],
            "seed_p": test["seed_p"], "p_holm": test["p_holm"], "verdict": test["verdict"],
            "seeds needed": test["seeds needed"], "note": test["note"],
        })
    return pd.DataFrame(rows)


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def equal_budget_statements(table: pd.DataFrame) -> list[str]:
    """One sentence per row of `equal_budget`: who is ahead, by how much, verdict."""
    lines = []
    for _, row in table.iterrows():
        head = (f"{short_name(row['gpc'])} vs {FAMILY_LABELS[row['family']]} at equal "
                f"{row['budget']} ({int(row['gpc budget']):,})")
        if pd.isna(row["diff pp (gpc - family)"]):
            lines.append(f"{head}: {row['note']}.")
            continue
        d = row["diff pp (gpc - family)"]
        ahead = "gpc ahead" if d > 0 else "thinner MobileNet ahead"
        between = (short_name(row["lo"]) if row["lo"] == row["hi"] else
                   f"between {short_name(row['lo'])} and {short_name(row['hi'])}")
        if row["seeds"] == 1:
            interval = "one seed, so no interval: the seed-to-seed variation is unknown"
        else:
            interval = (f"95% interval over seeds and test images {_signed(row['seed_ci_low pp'])}"
                        f" to {_signed(row['seed_ci_high pp'])} pp, Holm-adjusted p = "
                        f"{row['p_holm']:.2g}")
            if row["verdict"] != "holds" and not pd.isna(row["seeds needed"]):
                interval += f"; about {int(row['seeds needed'])} seeds would resolve it"
        lines.append(f"{row['verdict']}: {head}: {row['gpc %']:.2f}% vs {row['family %']:.2f}% "
                     f"({between}), {_signed(d)} pp, {ahead}; {interval} "
                     f"({row['seeds']} seed{'s' if row['seeds'] != 1 else ''}).")
    return lines


def points_table(points: pd.DataFrame) -> pd.DataFrame:
    """`family_points` for reading: one row per network, families in order."""
    order = {f: i for i, f in enumerate(("mobilenet", "mobilenet-swish", "gpc", "ablation"))}
    df = points.reset_index().assign(_o=lambda d: d["family"].map(order))
    df = df.sort_values(["_o", "params"]).drop(columns=["_o"])
    return pd.DataFrame({
        "Family": [FAMILY_LABELS[f] for f in df["family"]],
        "Network": [short_name(v) for v in df["variant"]],
        "Parameters": [f"{int(p):,}" for p in df["params"]],
        "MACs (M)": [f"{m / 1e6:.2f}" for m in df["macs"]],
        "Seeds": df["seeds"].astype(int).to_list(),
        "Test accuracy %": [f"{m:.2f}" + (f" ± {sd:.2f}" if not pd.isna(sd) else "")
                            for m, sd in zip(df["mean %"], df["sd pp"])],
        "Per seed %": [", ".join(f"{k}: {v:.2f}" for k, v in sorted(d.items()))
                       for d in df["per seed %"]],
    })


def equal_budget_table(table: pd.DataFrame) -> pd.DataFrame:
    """`equal_budget` for reading: one row per (gpc network, budget, family)."""
    rows = []
    for _, r in table.iterrows():
        tested = not pd.isna(r["diff pp (gpc - family)"])
        between = ("" if r["lo"] is None or pd.isna(r["lo"]) else short_name(r["lo"])
                   if r["lo"] == r["hi"] else f"{short_name(r['lo'])} .. {short_name(r['hi'])}")
        interval = ""
        if tested and r["seeds"] > 1:
            interval = f"{_signed(r['seed_ci_low pp'])} .. {_signed(r['seed_ci_high pp'])}"
        rows.append({
            "gpc network": short_name(r["gpc"]), "at equal": r["budget"],
            "thinner family": FAMILY_LABELS[r["family"]], "between": between or "-",
            "gpc %": f"{r['gpc %']:.2f}" if tested else "-",
            "family %": f"{r['family %']:.2f}" if tested else "-",
            "gpc - family pp": _signed(r["diff pp (gpc - family)"]) if tested else "-",
            "95% interval pp": interval or ("one seed" if tested else "-"),
            "Holm p": f"{r['p_holm']:.2g}" if tested and not pd.isna(r["p_holm"]) else "-",
            "verdict": r["verdict"] if tested else r["note"],
            "seeds": int(r["seeds"]),
        })
    return pd.DataFrame(rows)


FAIR_INTRO = (
    "To cut MobileNet's parameters, one can group its pointwise convolutions (gpcMobileNet) "
    "or simply make it thinner with the width multiplier it already has. Each gpc network is "
    "compared with each width family at its own parameter count and at its own MAC count: "
    "the family's accuracy there is interpolated linearly in log budget between the two "
    "neighbouring measured widths (per test image and seed, the weighted mean of the two "
    "networks' outcomes), between runs with the same seed. Each comparison gets one verdict "
    "from the test of the mean difference over seeds and test images (seed-to-seed variance "
    "pooled over these comparisons; docs/statistics.md), Holm-corrected over all of them "
    "(one family). MobileNet-swish is the fair family for the gpc networks: they carry swish "
    "in their pointwise blocks, it does too.")


def fair_baseline_markdown(points: pd.DataFrame, table: pd.DataFrame) -> str:
    """The summary's fair-baseline section: the networks, the equal-budget table, sentences."""
    from .tables import format_markdown

    lines = ["## Fair baseline: GPC or a thinner MobileNet at the same budget?", "",
             FAIR_INTRO, "", format_markdown(points_table(points)), ""]
    if len(table):
        lines += [format_markdown(equal_budget_table(table)), ""]
        lines += [f"- {s}" for s in equal_budget_statements(table)]
    else:
        lines += ["No gpc network has complete runs: nothing to compare."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- figure

_FAMILY_STYLE = {
    "mobilenet": dict(color="#1f77b4", marker="s", ls="-"),
    "mobilenet-swish": dict(color="#2ca02c", marker="D", ls="-"),
    "gpc": dict(color="#d62728", marker="o", ls="-"),
    "ablation": dict(color="0.35", marker="^", ls="none"),
}


_ABLATION_MARKERS = {"gpc16-relu6": "^", "gpc16-no-interleave": "v", "gpc16-no-sum": "P",
                     "gpc16-k-only": "<", "gpc16-k-interleave": "X"}


def _point_label(name: str, family: str) -> str:
    variant = parse_variant(name)
    if family in WIDTH_FAMILIES:
        return f"\u00d7{variant.alpha:g}"
    if family == "gpc":
        return str(variant.channels)
    return name.replace("gpc16-", "")


def _near_any(x: float, y: float, others: pd.DataFrame, decades: float = 0.12,
              points_pct: float = 1.5) -> bool:
    """Whether (x budget, y accuracy %) lies within `decades` on the log axis and
    `points_pct` in accuracy of any row (budget, accuracy) of `others`."""
    xs, ys = others.iloc[:, 0].to_numpy(dtype=float), others.iloc[:, 1].to_numpy(dtype=float)
    return bool(np.any((np.abs(np.log10(xs) - np.log10(x)) < decades) & (np.abs(ys - y) < points_pct)))


def plot_pareto(results: dict[str, list[RunResult]]):
    """Test accuracy (mean over seeds, bar: min to max over seeds) against
    parameters (left) and MACs (right), log x; a line per family, the
    ablation variants as single points."""
    from matplotlib import ticker
    from matplotlib.lines import Line2D

    from .figure_style import LABEL_BOX, eng_axis, message, new_figure, report_style

    points = family_points(results)
    sizes = {r.image_size for runs in results.values() for r in runs
             if r.status == "complete" and r.image_size}
    size = f"{sizes.pop()} px" if len(sizes) == 1 else "the runs' image size"
    with report_style():
        fig, axes = new_figure(1, 2, (13, 5.6), sharey=True)
        for ax, budget in zip(axes[0], BUDGETS):
            if points.empty:
                message(ax, "no complete run")
                continue
            for family, style in _FAMILY_STYLE.items():
                members = points[points["family"] == family].sort_values(budget)
                if members.empty:
                    continue
                x = members[budget].to_numpy(dtype=float)
                y = members["mean %"].to_numpy()
                yerr = np.vstack([y - members["min %"].to_numpy(),
                                  members["max %"].to_numpy() - y])
                if family == "ablation":
                    # a marker of its own per variant, named in the legend (several
                    # share gpc16's budget, so labels beside them would collide); larger
                    # than the families' markers and behind them, so one level with
                    # gpc16 shows around its point instead of hiding it or being hidden
                    for name, xi, yi, lo, hi in zip(members.index, x, y, *yerr):
                        ax.errorbar([xi], [yi], yerr=[[lo], [hi]], color=style["color"],
                                    marker=_ABLATION_MARKERS.get(name, "^"), ls="none", ms=11,
                                    capsize=3, zorder=2, alpha=0.85)
                    continue
                ax.errorbar(x, y, yerr=yerr, color=style["color"], marker=style["marker"],
                            ls=style["ls"], lw=1.8, ms=6, capsize=3, zorder=3)
                # labels: ReLU6 widths below their line, swish widths above, gpc to the
                # left; a swish width close to a gpc point (whose label sits above-left)
                # takes its label below the point instead.  Above and below mean beyond
                # the end of the point's seed-to-seed bar, so the bar never runs into it.
                offset = {"mobilenet": (0, -15), "mobilenet-swish": (0, 9), "gpc": (-9, 6)}[family]
                ha = {"gpc": "right"}.get(family, "center")
                gpc_points = points.loc[points["family"] == "gpc", [budget, "mean %"]]
                for name, xi, yi, low, high in zip(members.index, x, y, members["min %"],
                                                   members["max %"]):
                    near_gpc = family == "mobilenet-swish" and _near_any(xi, yi, gpc_points)
                    xytext = (0, -15) if near_gpc else offset
                    anchor = yi if family == "gpc" else low if xytext[1] < 0 else high
                    ax.annotate(_point_label(name, family), (xi, anchor),
                                xytext=xytext, textcoords="offset points", ha=ha, fontsize=8,
                                color=style["color"], bbox=LABEL_BOX)
            eng_axis(ax)
            ax.yaxis.set_major_locator(ticker.MultipleLocator(2))
            ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=0))
            ax.margins(x=0.12, y=0.1)
            ax.set_xlabel(f"{BUDGETS[budget]}" + (f" per {size} image" if budget == "macs" else "")
                          + " (log scale)")
            ax.set_title(f"accuracy against {BUDGETS[budget]}")
        axes[0][0].set_ylabel("test accuracy (mean over seeds; bar: min to max)")
        handles = [Line2D([], [], color=s["color"], marker=s["marker"], ls=s["ls"],
                          label=FAMILY_LABELS[f]) for f, s in _FAMILY_STYLE.items()
                   if f != "ablation" and not points.empty and (points["family"] == f).any()]
        ablations = [] if points.empty else list(points.index[points["family"] == "ablation"])
        handles += [Line2D([], [], color=_FAMILY_STYLE["ablation"]["color"], ls="none",
                           marker=_ABLATION_MARKERS.get(name, "^"), label=name)
                    for name in ablations]
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4))
        seeds = sorted({int(n) for n in points["seeds"]}) if not points.empty else []
        fig.suptitle("At the same budget, which family is more accurate? (CIFAR-10 test set, "
                     f"{'/'.join(map(str, seeds)) or 'no'} seed(s) per point, {size})")
    return fig
