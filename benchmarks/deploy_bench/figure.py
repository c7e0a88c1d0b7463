"""The deployment figure: latency ratio against MAC ratio, drawn from latency.csv rows.

latency_series picks what is drawn; latency_figure draws it; plot_latency_vs_macs
writes latency_vs_macs.png and .svg.
"""

from __future__ import annotations

import collections
import textwrap
from pathlib import Path

import numpy as np


def _number(value):
    return None if value in ("", None) else float(value)


def latency_series(rows):
    """What the figure draws, one entry per (runtime, size, threads, form, measure):
    x (MAC ratio), y (ratio to MobileNet's median), and the interquartile bar
    (low, high) of every gpc network, in MAC order.

    measure "wall": y the ratio of median wall times, the bar the quartiles of
    the per-round ratio (each call over MobileNet's call of the same round:
    paired_ratio_q1, paired_ratio_q3).  measure "cpu" (the 1-thread rows that
    have cpu_* columns): y the ratio of median CPU times of the calling thread,
    the bar the network's CPU-time quartiles over MobileNet's median CPU time
    (the CPU times were not paired by round)."""
    base = {(r["runtime"], r["image_size"], r["threads"]): r for r in rows if r["form"] == "baseline"}
    series = {}
    for r in sorted((r for r in rows if r["form"] != "baseline"), key=lambda r: float(r["mac_ratio"])):
        setting = (r["runtime"], r["image_size"], r["threads"], r["form"])
        wall = series.setdefault(setting + ("wall",), {"x": [], "y": [], "low": [], "high": [], "variant": []})
        wall["x"].append(float(r["mac_ratio"]))
        wall["y"].append(float(r["ratio_to_mobilenet"]))
        wall["low"].append(float(r["paired_ratio_q1"]))
        wall["high"].append(float(r["paired_ratio_q3"]))
        wall["variant"].append(r["variant"])
        ref = base.get(setting[:3])
        cpu, q1, q3 = (_number(r.get(k)) for k in ("cpu_ratio_to_mobilenet", "cpu_q1_ms", "cpu_q3_ms"))
        ref_median = _number(ref.get("cpu_median_ms")) if ref else None
        if None not in (cpu, q1, q3, ref_median) and ref_median > 0:
            c = series.setdefault(setting + ("cpu",), {"x": [], "y": [], "low": [], "high": [], "variant": []})
            c["x"].append(float(r["mac_ratio"]))
            c["y"].append(cpu)
            c["low"].append(q1 / ref_median)
            c["high"].append(q3 / ref_median)
            c["variant"].append(r["variant"])
    return series


FORM_COLORS = ["#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e"]
FORM_MARKERS = "os^Dv"


def latency_figure(rows):
    """Latency ratio against MAC ratio: a panel per runtime (columns) and per
    image size and thread count (rows); per form the ratio of medians with its
    interquartile bar, wall time (filled, solid) and, with one thread, CPU
    time (hollow, dashed).  The networks are named on the x axis (their MAC
    ratio), not beside the points; the points of one network sit a little
    apart sideways so that their bars do not cover each other."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    series = latency_series(rows)
    runtimes = list(dict.fromkeys(r["runtime"] for r in rows))
    panels = sorted({(r["image_size"], r["threads"]) for r in rows}, key=lambda p: (-p[0], p[1]))
    forms = [f for f in dict.fromkeys(r["form"] for r in rows) if f != "baseline"]
    colors = dict(zip(forms, FORM_COLORS))
    markers = dict(zip(forms, FORM_MARKERS))
    with mpl.rc_context({"font.size": 9, "axes.titlesize": 9.5}):
        width = 5.6 * len(runtimes)
        fig = Figure(figsize=(width, 3.3 * len(panels) + 1.6), layout="constrained")
        axes = fig.subplots(len(panels), len(runtimes), squeeze=False, sharex=True, sharey="row")
        for i, (size, threads) in enumerate(panels):
            top = 1.1
            for j, runtime in enumerate(runtimes):
                ax = axes[i][j]
                ax.plot([0, 1.05], [0, 1.05], color="grey", lw=1, ls="--", zorder=1)
                ax.axhline(1.0, color="black", lw=0.8, zorder=1)
                drawn = [(form, measure) for form in forms for measure in ("wall", "cpu")
                         if (runtime, size, threads, form, measure) in series]
                offsets = (np.arange(len(drawn)) - (len(drawn) - 1) / 2) * 0.016
                for (form, measure), dx in zip(drawn, offsets):
                    s = series[(runtime, size, threads, form, measure)]
                    x, y = np.asarray(s["x"]), np.asarray(s["y"])
                    # the point is the ratio of medians, the bar the paired ratios'
                    # quartiles; with few rounds the point can fall outside them,
                    # and the bar then reaches to the point
                    low, high = np.minimum(s["low"], y), np.maximum(s["high"], y)
                    yerr = np.vstack([y - low, high - y])
                    wall = measure == "wall"
                    ax.errorbar(x + dx, y, yerr=yerr, color=colors[form], marker=markers[form],
                                ls="-" if wall else (0, (4, 2)), lw=1.1, ms=6, capsize=2.5, elinewidth=1,
                                mfc=colors[form] if wall else "white", mew=1.3, zorder=3,
                                gid=f"{runtime} {size} {threads} {form} {measure}")
                    top = max(top, float(np.max(s["high"])) * 1.05)
                ax.grid(alpha=0.3)
                ax.set_title(f"{runtime}, {size} px, {threads} thread{'s' if threads > 1 else ''}, batch 1")
                if i == len(panels) - 1:
                    ax.set_xlabel("network: multiply-accumulates / MobileNet's")
                if j == 0:
                    ax.set_ylabel("latency / MobileNet's")
            axes[i][0].set_ylim(0, top)
        # one x axis for all panels: every network at its MAC ratio (the sizes differ in the
        # third decimal at most)
        ratios = collections.defaultdict(list)
        for s in series.values():
            for v, x in zip(s["variant"], s["x"]):
                ratios[v].append(x)
        ticks = sorted((float(np.mean(x)), v) for v, x in ratios.items())
        axes[0][0].set_xlim(0, 1.05)
        axes[0][0].set_xticks([x for x, _ in ticks] + [1.0],
                              [f"{v}\n{x:.2f}" for x, v in ticks] + ["MobileNet\n1"])
        handles = [Line2D([], [], color="grey", lw=1, ls="--", label="ideal: latency ratio = MAC ratio"),
                   Line2D([], [], color="black", lw=0.8, label="MobileNet's latency")]
        for form in forms:
            handles.append(Line2D([], [], color=colors[form], marker=markers[form], ms=6, lw=1.1,
                                  label=f"{form} form, wall time"))
            if any(k[3] == form and k[4] == "cpu" for k in series):
                handles.append(Line2D([], [], color=colors[form], marker=markers[form], ms=6, lw=1.1,
                                      ls=(0, (4, 2)), mfc="white", mew=1.3,
                                      label=f"{form} form, CPU time (1 thread)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=3 if len(runtimes) > 1 else 2,
                   frameon=False, fontsize=8.5)
        notes = sorted({r.get("note") for r in rows if r.get("note")})
        lines = ["Deployment latency of gpcMobileNet against MobileNet v1 (CPU, batch 1)",
                 "point: ratio of medians; bar: interquartile range of the per-round ratio (wall time), "
                 "or the network's CPU-time quartiles over MobileNet's median (CPU time)"] + notes
        # wrapped to the figure's width (about 12 characters an inch at this size)
        fig.suptitle("\n".join(textwrap.fill(line, int(12 * width)) for line in lines), fontsize=10)
    return fig


def plot_latency_vs_macs(rows, out_dir):
    """latency_vs_macs.png and .svg in `out_dir` (reproducible: no dates, fixed SVG ids)."""
    import matplotlib as mpl

    fig = latency_figure(rows)
    with mpl.rc_context({"svg.hashsalt": "gpc-study"}):
        for ext in ("png", "svg"):
            fig.savefig(Path(out_dir) / f"latency_vs_macs.{ext}", dpi=130, facecolor="white",
                        metadata={"Software": None} if ext == "png" else {"Date": None})
