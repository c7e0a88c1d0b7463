"""The headline figure: each gpc network against the MobileNets it could replace.

For each gpcMobileNet, its test-accuracy difference (gpc - other, pp, mean
over seeds) with the 95% interval over seeds and test images and its
verdict, against: MobileNet (ReLU6, full width), MobileNet-swish (full
width: the same activation), and MobileNet-swish made thinner to the gpc
network's parameters and to its MACs (the fair baseline).  Filled markers
hold, hollow ones are not resolved.  The inputs are the summary's tables
(`pair_tests`, the summary of `contrast_tests`, `fair_baseline.equal_budget`),
so the figure can be redrawn from the committed CSV files alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .estimators import HOLDS

__all__ = ["headline_rows", "answer_sentences", "plot_headline"]

GPC = ("gpc16", "gpc32", "gpc64", "gpc128")
# comparator -> (label, colour, marker)
COMPARATORS = {
    "mobilenet": ("MobileNet (ReLU6, full width)", "#1f77b4", "s"),
    "mobilenet-swish": ("MobileNet-swish (full width)", "#2ca02c", "D"),
    "swish-params": ("thinner MobileNet-swish, same parameters", "#9467bd", "^"),
    "swish-macs": ("thinner MobileNet-swish, same MACs", "#ff7f0e", "v"),
}


def _row(gpc, comparator, mean, low, high, verdict, seeds):
    return {"gpc": gpc, "comparator": comparator, "diff pp": float(mean),
            "low pp": float(low), "high pp": float(high), "verdict": verdict,
            "seeds": int(seeds)}


def headline_rows(pairs: pd.DataFrame | None, contrasts: pd.DataFrame | None,
                  budget: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (gpc network, comparator) that the tables hold: gpc -
    comparator in pp, its interval over seeds and test images, verdict, seeds.

    pairs: `pair_tests` rows (a, b, diff pp per seed, seed_ci_* and verdict
    per pair); contrasts: `contrast_tests` summary (difference "gpc16 -
    MobileNet-swish", ...); budget: `equal_budget`.  Any may be None or empty.
    """
    rows = []
    for gpc in GPC:
        if pairs is not None and len(pairs):
            mine = pairs[(pairs["a"] == "mobilenet") & (pairs["b"] == gpc)]
            if len(mine):
                first = mine.iloc[0]
                rows.append(_row(gpc, "mobilenet", mine["diff pp"].mean(),
                                 first["seed_ci_low pp"], first["seed_ci_high pp"],
                                 first["verdict"], mine["seed"].nunique()))
        if contrasts is not None and len(contrasts):
            frame = contrasts.reset_index() if "contrast" not in contrasts.columns else contrasts
            mine = frame[frame["difference"].str.lower() == f"{gpc} - mobilenet-swish"]
            if len(mine):
                r = mine.iloc[0]
                rows.append(_row(gpc, "mobilenet-swish", r["mean diff pp"], r["seed_ci_low pp"],
                                 r["seed_ci_high pp"], r["verdict"], r["seeds"]))
        if budget is not None and len(budget):
            for name, what in (("swish-params", "parameters"), ("swish-macs", "MACs")):
                mine = budget[(budget["gpc"] == gpc) & (budget["family"] == "mobilenet-swish")
                              & (budget["budget"] == what)]
                if len(mine) and not pd.isna(mine.iloc[0]["diff pp (gpc - family)"]):
                    r = mine.iloc[0]
                    rows.append(_row(gpc, name, r["diff pp (gpc - family)"], r["seed_ci_low pp"],
                                     r["seed_ci_high pp"], r["verdict"], r["seeds"]))
    return pd.DataFrame(rows, columns=["gpc", "comparator", "diff pp", "low pp", "high pp",
                                       "verdict", "seeds"])


def plot_headline(rows: pd.DataFrame):
    """A forest plot of `headline_rows`: a band per gpc network, a marker
    per comparator (filled: holds; hollow: not resolved; no bar: one seed)."""
    from matplotlib.lines import Line2D

    from .figure_style import message, new_figure, report_style

    with report_style():
        fig, axes = new_figure(1, 1, (10, 1.2 + 1.15 * max(1, rows["gpc"].nunique())))
        ax = axes[0][0]
        if rows.empty:
            message(ax, "no comparison yet")
            return fig
        present = [g for g in GPC if g in set(rows["gpc"])]
        kinds = [k for k in COMPARATORS if k in set(rows["comparator"])]
        step = 0.8 / max(1, len(kinds))
        for i, gpc in enumerate(present):
            if i % 2:
                ax.axhspan(i - 0.5, i + 0.5, color="0.95", zorder=0)
            for j, kind in enumerate(kinds):
                mine = rows[(rows["gpc"] == gpc) & (rows["comparator"] == kind)]
                if mine.empty:
                    continue
                r = mine.iloc[0]
                _, color, marker = COMPARATORS[kind]
                y = i - 0.4 + step * (j + 0.5)
                if not (np.isnan(r["low pp"]) or np.isnan(r["high pp"])):
                    ax.plot([r["low pp"], r["high pp"]], [y, y], color=color, lw=2, zorder=2)
                holds = r["verdict"] == "holds"
                ax.plot([r["diff pp"]], [y], marker=marker, ms=8, color=color, zorder=3,
                        mfc=color if holds else "white", mec=color, mew=1.8, ls="none")
                text = f"{r['diff pp']:+.2f} pp, {r['verdict']}"
                if r["seeds"] == 1:
                    text += " (one seed)"
                ax.annotate(text, (1.0, y), xycoords=("axes fraction", "data"),
                            xytext=(6, 0), textcoords="offset points", va="center",
                            fontsize=7.5, color=color, annotation_clip=False)
        ax.axvline(0, color="0.3", lw=1)
        ax.set_yticks(range(len(present)), [f"gpcMobileNet {g[3:]}" for g in present])
        ax.set_ylim(len(present) - 0.5, -0.5)
        ax.set_xlabel("test accuracy of the gpc network minus the other (pp); bar: 95% interval "
                      "over seeds and test images")
        handles = [Line2D([], [], color=COMPARATORS[k][1], marker=COMPARATORS[k][2], ls="-",
                          label=COMPARATORS[k][0]) for k in kinds]
        handles += [Line2D([], [], color="0.3", marker="o", ls="none", label="holds"),
                    Line2D([], [], color="0.3", marker="o", mfc="white", ls="none",
                           label="not resolved")]
        fig.legend(handles=handles, loc="outside lower center", ncols=3)
        fig.suptitle("Does a gpc network beat the MobileNet it would replace? "
                     "(right of 0: the gpc network is more accurate)")
    return fig


def _span(values) -> str:
    values = sorted(values)
    return f"{values[0]:+.2f}" if len(values) == 1 else f"{values[0]:+.2f} to {values[-1]:+.2f}"


def _status(frame: pd.DataFrame) -> str:
    """The verdicts of some equal-budget rows in words, by gpc network."""
    holds = [g for g, v in zip(frame["gpc"], frame["verdict"]) if v == HOLDS]
    one = [g for g, v, n in zip(frame["gpc"], frame["verdict"], frame["seeds"])
           if v != HOLDS and n == 1]
    open_ = [g for g in frame["gpc"] if g not in holds and g not in one]
    if len(holds) == len(frame):
        return "every one holds"
    if len(one) == len(frame):
        return "one seed so far, not yet resolved"
    parts = ([f"holds for {', '.join(holds)}"] if holds else []) \
        + ([f"not resolved for {', '.join(open_)}"] if open_ else []) \
        + ([f"{', '.join(one)} one seed so far"] if one else [])
    return "; ".join(parts)


def _thinner_sentence(budget: pd.DataFrame, family: str, name: str) -> str | None:
    """'Against <name> made thinner ...: at the same parameters ..., at the same MACs ...'."""
    diff = "diff pp (gpc - family)"
    mine = budget[(budget["family"] == family) & budget[diff].notna()]
    parts = []
    for what in ("parameters", "MACs"):
        rows = mine[mine["budget"] == what]
        if rows.empty:
            continue
        if (rows[diff] > 0).all() or (rows[diff] < 0).all():
            ahead = "ahead" if (rows[diff] > 0).all() else "behind"
            parts.append(f"at the same {what} {ahead}, {_span(rows[diff])} pp ({_status(rows)})")
            continue
        # differences of both signs: the direction is only worth saying where it holds
        held = rows[rows["verdict"] == HOLDS][diff]
        where = ("ahead where it holds: " if len(held) and (held > 0).all() else
                 "behind where it holds: " if len(held) and (held < 0).all() else "")
        parts.append(f"at the same {what} {_span(rows[diff])} pp ({where}{_status(rows)})")
    if not parts:
        return None
    return (f"Against {name} made thinner instead (the width multiplier), the gpc networks are "
            + "; ".join(parts) + ".")


def answer_sentences(rows: pd.DataFrame, budget: pd.DataFrame | None = None) -> list[str]:
    """Plain sentences over `headline_rows`, each claim with its verdict: the
    conclusions the README and the summary open with.  With `budget`
    (`fair_baseline.equal_budget`), the thinner MobileNets' sentences cover
    both families at equal parameters and at equal MACs."""
    out = []
    full = rows[rows["comparator"] == "mobilenet"]
    if len(full):
        parts = [f"{g} {r['diff pp']:+.2f} pp ({r['verdict']})"
                 for g, r in full.set_index("gpc").iterrows()]
        out.append("Against MobileNet as published (ReLU6): " + ", ".join(parts) + ".")
    swish = rows[rows["comparator"] == "mobilenet-swish"]
    if len(swish):
        verdicts = set(swish["verdict"])
        word = ("every one holds" if verdicts == {HOLDS} else
                "verdicts: " + ", ".join(f"{g} {v}" for g, v in zip(swish["gpc"], swish["verdict"])))
        out.append("Against MobileNet with the same swish activation every gpc network is "
                   f"{'behind' if (swish['diff pp'] < 0).all() else 'at'} "
                   f"{_span(swish['diff pp'])} pp ({word}): where they are ahead of the "
                   "published MobileNet, swish does it, and MobileNet can have swish too.")
    if budget is not None and len(budget):
        for family, name in (("mobilenet-swish", "MobileNet-swish"),
                             ("mobilenet", "MobileNet (ReLU6)")):
            sentence = _thinner_sentence(budget, family, name)
            if sentence:
                out.append(sentence)
        return out
    thin = rows[rows["comparator"] == "swish-params"]
    if len(thin):
        seeds = int(thin["seeds"].min())
        verdicts = set(thin["verdict"])
        word = ("every one holds" if verdicts == {HOLDS} else
                "one seed so far, not yet resolved" if seeds == 1 else
                "verdicts: " + ", ".join(f"{g} {v}" for g, v in zip(thin["gpc"], thin["verdict"])))
        ahead = "ahead" if (thin["diff pp"] > 0).all() else "not uniformly ahead"
        out.append("Against MobileNet-swish made thinner to the same parameters (the width "
                   f"multiplier instead of grouping) the gpc networks are {ahead}, "
                   f"{_span(thin['diff pp'])} pp ({word}).")
    return out
