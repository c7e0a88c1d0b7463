"""The figures that compare the variants of a results folder (the summary; see `write_summary`).

- `plot_curves_grid(results)`: Figures 6.2 / 6.3 analogues, one panel per
  variant: per epoch the mean over seeds of training and of validation
  accuracy (loss), each in a band from the lowest to the highest seed; shared
  y-limits so panels compare;
- `plot_overlay(results, "val_accuracy" | "val_loss")`: all variants on one
  axis, one mean line per variant in a light min-to-max band;
- `plot_test_accuracy(results)`: every seed's test accuracy as a point (one
  marker per seed), beside it the mean +- sd;
- `plot_tradeoff(results)`: our test accuracy against parameters and MACs,
  and the report's against its parameters in a separate panel (different
  protocols are never joined by a line);
- `plot_reduction(counts)`: parameters, MACs and the report's computation
  rule of each gpc variant as % of MobileNet;
- `seed_band(histories, column)`: the mean, sd, min and max over seeds per
  epoch that the curve figures draw.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .figure_style import (BEST_EPOCH_TEXT, LABEL_BOX, STAR_STYLE, TRAIN_STYLE, VAL_STYLE, best_epoch,
                           eng_axis, epoch_axis, message, new_figure, percent_axis, report_style,
                           variant_colors)
from .published_values import REPORT_EPOCHS, REPORT_IMAGE_SIZE, REPORT_TABLE
from .results import HISTORY_FIELDS, RunResult, short_name

__all__ = ["seed_band", "plot_curves_grid", "plot_overlay", "plot_test_accuracy",
           "plot_tradeoff", "plot_reduction", "BAND_TEXT", "SEED_MARKERS"]

_METRIC_TITLES = {
    "accuracy": "Training accuracy", "val_accuracy": "Validation accuracy",
    "loss": "Training loss", "val_loss": "Validation loss",
    "lr": "Learning rate", "seconds": "Seconds per epoch",
}
BAND_TEXT = "band: lowest to highest seed"
SEED_STAR_TEXT = "each seed's epoch with the highest validation accuracy (its weights are tested)"
# one marker per seed in the test-accuracy figure (seeds beyond these reuse them)
SEED_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")


# --------------------------------------------------------------------------- helpers

def seed_band(histories, column: str) -> pd.DataFrame:
    """Per epoch that every history has a finite `column` for: the mean over
    the histories, their sd (ddof=1; NaN with one), min and max.

    Index: epoch (ascending).  Epochs some history lacks (a shorter or
    unfinished run) are left out, so every row averages the same seeds.
    """
    columns = [h.groupby("epoch")[column].last().rename(i) for i, h in enumerate(histories)]
    if not columns:
        return pd.DataFrame(columns=["mean", "sd", "min", "max"], dtype="float64")
    table = pd.concat(columns, axis=1).dropna(how="any").sort_index()
    return pd.DataFrame({"mean": table.mean(axis=1), "sd": table.std(axis=1, ddof=1),
                         "min": table.min(axis=1), "max": table.max(axis=1)})


def _runs_subtitle(results) -> str:
    profiles = {}
    for runs in results.values():
        for run in runs:
            p = run.profile
            if p:
                profiles.setdefault((p.get("name"), p.get("image_size"), p.get("epochs")), 0)
    return "; ".join(f"profile {n}: {s}x{s} images, {e} epochs" for (n, s, e) in profiles)


def _limits(values, pad=0.04, floor=None):
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(values):
        return None
    low, high = values.min(), values.max()
    span = max(high - low, 1e-3)
    low, high = low - pad * span, high + pad * span
    return (max(low, floor) if floor is not None else low), high


def _drawn(runs, column=None):
    """The runs with a finished epoch (and a value of `column`)."""
    return [r for r in runs if r.history is not None and len(r.history)
            and (column is None or r.history[column].notna().any())]


def _seed_text(runs) -> str:
    seeds = [r.seed for r in runs if r.seed is not None]
    if len(runs) == 1:
        return f"seed {seeds[0]}" if seeds else "one run"
    listed = f": {', '.join(map(str, seeds))}" if len(seeds) == len(runs) else ""
    return f"mean of {len(runs)} seeds{listed}"


def _mean_with_band(ax, histories, column, color, style, name, band_alpha, **line_kwargs):
    """The mean over `histories` of `column` per epoch, in a min-to-max band
    when there is more than one; returns the band table (empty: nothing drawn)."""
    band = seed_band(histories, column)
    if not len(band):
        return band
    epochs = band.index.to_numpy()
    if len(histories) > 1:
        ax.fill_between(epochs, band["min"], band["max"], color=color, alpha=band_alpha, lw=0,
                        gid=f"band {name} {column}")
    ax.plot(epochs, band["mean"], color=color, gid=f"mean {name} {column}", **{**style, **line_kwargs})
    return band


def _seed_stars(ax, runs, column, color, ms):
    """Each run's epoch with the highest validation accuracy, at its own `column` value."""
    for run in runs:
        best, _ = best_epoch(run.history)
        if best is not None:
            y = float(run.history.loc[run.history["epoch"] == best, column].iloc[0])
            ax.plot([best], [y], color=color, **{**STAR_STYLE, "ms": ms})


def _style_legend_handles(color="0.3", band=True):
    """Training, validation (mean over seeds with `band`), the band, the star."""
    mean = " (mean over seeds)" if band else ""
    handles = [Line2D([], [], color=color, label=f"training{mean}", **TRAIN_STYLE),
               Line2D([], [], color=color, label=f"validation{mean}", **VAL_STYLE)]
    if band:
        handles.append(Patch(color=color, alpha=0.25, lw=0, label=BAND_TEXT))
    handles.append(Line2D([], [], color="0.6", label=SEED_STAR_TEXT if band else BEST_EPOCH_TEXT,
                          **{**STAR_STYLE, "ms": 10}))
    return handles


# --------------------------------------------------------------------------- curves

def plot_curves_grid(results: dict[str, list[RunResult]]):
    """(accuracy figure, loss figure): one panel per variant (cf. report
    Figures 6.2 and 6.3), shared y-limits across panels.

    Each panel draws, per epoch, the mean over the variant's seeds of the
    training (solid, circles) and the validation (long dashes, squares)
    accuracy or loss, each in a shaded band from the lowest to the highest
    seed (min..max; with one seed just its line); the panel title gives n and
    the seeds.  The mean covers the epochs every seed has (a shorter run
    ends it; the title says so).  Each seed's epoch with the highest
    validation accuracy is starred at that seed's own validation value."""
    names = list(results)
    colors = variant_colors(names)
    n = max(len(names), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    subtitle = _runs_subtitle(results)
    several = any(len(_drawn(runs)) > 1 for runs in results.values())
    caption = ("line: mean over the seeds in each panel's title; "
               f"{BAND_TEXT}" if several else "one seed per variant")
    figs = []
    for kind, title in (("accuracy", "Training and validation accuracy per epoch (cf. report Figure 6.2)"),
                        ("loss", "Training and validation loss per epoch (cf. report Figure 6.3)")):
        keys = ("accuracy", "val_accuracy") if kind == "accuracy" else ("loss", "val_loss")
        values = [v for runs in results.values() for r in runs if r.history is not None
                  for k in keys for v in r.history[k]]
        with report_style():
            fig, axes = new_figure(nrows, ncols, (4.3 * ncols, 3.3 * nrows + 1.0), sharey=True)
            flat = list(axes.flat)
            for ax, name in zip(flat, names):
                drawn = _drawn(results[name])
                histories = [r.history for r in drawn]
                color = colors[name]
                ends = []
                for key, style, alpha in ((keys[0], TRAIN_STYLE, 0.16), (keys[1], VAL_STYLE, 0.26)):
                    with_key = [r.history for r in _drawn(results[name], key)]
                    band = _mean_with_band(ax, with_key, key, color, style, name, alpha,
                                           ms=3.2 if len(drawn) > 1 else style["ms"])
                    if len(band):
                        ends.append(int(band.index.max()))
                _seed_stars(ax, drawn, keys[1], color, ms=9 if len(drawn) > 1 else 12)
                if drawn:
                    epoch_axis(ax)
                    ax.tick_params(labelleft=True)
                    if not ends:
                        message(ax, "no epoch that every seed has")
                else:
                    run = results[name][0]
                    message(ax, "no finished epoch" if run.status == "unfinished" else
                            "no readable history" if run.status == "damaged" else "no run")
                # the label and the seeds on lines of their own: side by side they run into
                # the next panel's title
                longest = max((int(h["epoch"].max()) for h in histories), default=0)
                lines = [results[name][0].label] + ([_seed_text(drawn)] if drawn else [])
                if ends and min(ends) < longest:
                    lines.append(f"mean to epoch {min(ends)}, the last every seed reached")
                problems = [r for r in results[name] if r.status not in ("complete",)]
                tail = "; ".join(textwrap.shorten(f"{r.name}: {r.status_text}", 46, placeholder="…")
                                 for r in problems if r.status != "missing" or len(results[name]) > 1)
                ax.set_title("\n".join(t for t in lines + [tail] if t))
            for ax in flat[len(names):]:
                ax.axis("off")
            limits = _limits(values, floor=0 if kind == "loss" else None)
            if limits:
                flat[0].set_ylim(*limits)
            if kind == "accuracy":
                percent_axis(flat[0])
                flat[0].set_ylabel("accuracy")
            else:
                flat[0].set_ylabel("cross-entropy")
            fig.legend(handles=_style_legend_handles(band=several), loc="outside lower center",
                       ncols=2 if several else 3)
            fig.suptitle(title + (f"\n{subtitle}" if subtitle else "") + f"\n{caption}")
        figs.append(fig)
    return figs[0], figs[1]


def plot_overlay(results: dict[str, list[RunResult]], metric: str = "val_accuracy") -> Figure:
    """One line per variant (its colour): the mean over its seeds of a history
    column per epoch, in a light band from the lowest to the highest seed
    (epochs every seed has; with one seed just its line).  Each seed's epoch
    with the highest validation accuracy is starred at that seed's own value,
    whatever the metric.  The legend sits below the axes, off the data."""
    if metric not in HISTORY_FIELDS or metric == "epoch":
        raise ValueError(f"metric must be one of {', '.join(HISTORY_FIELDS[1:])}, got {metric!r}")
    colors = variant_colors(list(results))
    with report_style():
        fig, axes = new_figure(1, 1, (8, 5.6))
        ax = axes[0, 0]
        handles, several = [], False
        for name, runs in results.items():
            drawn = _drawn(runs, metric)
            if not drawn:
                continue
            several |= len(drawn) > 1
            band = _mean_with_band(ax, [r.history for r in drawn], metric, colors[name],
                                   dict(ls="-", marker="o", lw=1.8, ms=3.2), name, 0.12)
            _seed_stars(ax, drawn, metric, colors[name], ms=9)
            statuses = {r.status for r in drawn}
            label = runs[0].label + (f" (mean of {len(drawn)} seeds)" if len(drawn) > 1 else "")
            if statuses != {"complete"}:
                label += f" ({', '.join(sorted(statuses - {'complete'}))})"
            if len(band):
                handles.append(Line2D([], [], color=colors[name], lw=1.8, marker="o", ms=3.2,
                                      label=label))
        title = _METRIC_TITLES[metric]
        if handles:
            if "accuracy" in metric:
                percent_axis(ax)
            ax.set_ylabel(title.lower())
            epoch_axis(ax)
            if several:
                handles.append(Patch(color="0.4", alpha=0.2, lw=0, label=BAND_TEXT))
            # the star's text on two lines: on one, two columns are wider than the figure
            star = SEED_STAR_TEXT if several else BEST_EPOCH_TEXT
            handles.append(Line2D([], [], color="0.6", label=star.replace(" (its", "\n(its"),
                                  **{**STAR_STYLE, "ms": 10}))
            fig.legend(handles=handles, loc="outside lower center", ncols=2, handlelength=2.5)
        else:
            message(ax, "no run has a finished epoch")
        subtitle = _runs_subtitle(results)
        ax.set_title(f"{title} per epoch, all variants" + (f"\n{subtitle}" if subtitle else ""))
    return fig


# --------------------------------------------------------------------------- test accuracy

def _complete_by_variant(results):
    return {name: [r for r in runs if r.status == "complete"] for name, runs in results.items()}


def plot_test_accuracy(results: dict[str, list[RunResult]]) -> Figure:
    """Test accuracy of every seed (points left of each variant's tick, one
    marker per seed, legend below) and the mean +- sd (bar and whiskers
    right of it); the numbers above both, so no label crosses a mark."""
    colors = variant_colors(list(results))
    done = _complete_by_variant(results)
    seeds = sorted({r.seed for runs in done.values() for r in runs if r.seed is not None})
    marker_of = {s: SEED_MARKERS[i % len(SEED_MARKERS)] for i, s in enumerate(seeds)}
    with report_style():
        fig, axes = new_figure(1, 1, (max(6.0, 1.3 * len(results) + 2), 4.8))
        ax = axes[0, 0]
        names = list(results)
        for x, name in enumerate(names):
            acc = np.array([100 * r.metrics["test_accuracy"] for r in done[name]])
            if not len(acc):
                ax.text(x, 0.5, "no complete run", rotation=90, ha="center", va="center",
                        transform=ax.get_xaxis_transform(), fontsize=8, color="0.4", bbox=LABEL_BOX)
                continue
            offsets = np.linspace(-0.2, -0.04, len(acc)) if len(acc) > 1 else np.full(1, -0.12)
            for dx, run, a in zip(offsets, done[name], acc):
                ax.plot([x + dx], [a], ls="none", marker=marker_of.get(run.seed, "o"), ms=6.5,
                        color=colors[name], mec="black", mew=0.5, zorder=3, gid=f"seed {name}")
            mean = acc.mean()
            sd = acc.std(ddof=1) if len(acc) > 1 else 0.0
            if len(acc) > 1:
                ax.errorbar([x + 0.14], [mean], yerr=[sd], color="0.25", capsize=3, lw=1, zorder=2,
                            ls="none")
            ax.hlines(mean, x + 0.04, x + 0.24, color=colors[name], lw=2.6, zorder=3,
                      gid=f"mean {name}")
            top = max(acc.max(), mean + sd)  # the label goes above every mark
            text = (f"{mean:.2f} ± {sd:.2f}\n(n={len(acc)})" if len(acc) > 1
                    else f"{mean:.2f}\n(n=1)")
            ax.annotate(text, (x, top), xytext=(0, 7), textcoords="offset points", ha="center",
                        va="bottom", fontsize=7.5, bbox=LABEL_BOX)
        ax.set_xticks(range(len(names)), [short_name(n) for n in names])
        ax.grid(axis="x", visible=False)  # a vertical grid line would strike the numbers
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=None))
        ax.margins(y=0.25)
        ax.set_ylabel("test accuracy")
        handles = [Line2D([], [], ls="none", marker=marker_of[s], ms=6.5, color="0.6", mec="black",
                          mew=0.5, label=f"seed {s}") for s in seeds]
        handles.append(Line2D([], [], color="0.4", lw=2.6, label="mean over seeds"))
        if any(len(v) > 1 for v in done.values()):
            handles.append(Line2D([], [], color="0.25", lw=1, marker="_", ms=8, label="± sd (ddof=1)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6),
                   handlelength=1.6)
        subtitle = _runs_subtitle(results)
        ax.set_title("Test accuracy per seed (points) and mean ± sd (bar)"
                     + (f"\n{subtitle}" if subtitle else ""))
    return fig


# --------------------------------------------------------------------------- size

def _label_point(ax, text, x, y, right_edge, **kwargs):
    """A name beside its point: right of it, or left for the rightmost point
    (where it would cross the axes' edge)."""
    left = x >= right_edge
    ax.annotate(text, (x, y), xytext=(-8 if left else 8, 0), textcoords="offset points",
                ha="right" if left else "left", va="center", fontsize=8, bbox=LABEL_BOX, **kwargs)


def plot_tradeoff(results: dict[str, list[RunResult]]) -> Figure:
    """Left, centre: our test accuracy (every seed a small point, the mean a
    large one) against parameters and against MACs; right: the report's
    Table 6.1 accuracy against its parameter counts, on its own axes (a
    different protocol: 224 px, 50 epochs, PNG data).  Names sit right of
    their point, left of the rightmost one."""
    colors = variant_colors(list(results))
    done = _complete_by_variant(results)
    sizes = sorted({r.image_size for runs in done.values() for r in runs if r.image_size})
    size_text = ", ".join(f"{s}x{s}" for s in sizes) or "?"
    with report_style():
        fig, axes = new_figure(1, 3, (14, 4.6))
        ax_p, ax_m, ax_r = axes[0]
        ours = {name: runs for name, runs in done.items() if runs}
        for ax, key in ((ax_p, "params_total"), (ax_m, "macs")):
            right = max((runs[0].metrics[key] for runs in ours.values()), default=0)
            for name, runs in ours.items():
                acc = np.array([100 * r.metrics["test_accuracy"] for r in runs])
                x = runs[0].metrics[key]
                ax.plot([x] * len(acc), acc, ls="none", marker="o", ms=4, color=colors[name],
                        alpha=0.7)
                ax.plot([x], [acc.mean()], ls="none", marker="D", ms=8, color=colors[name],
                        mec="black", mew=0.6)
                _label_point(ax, short_name(name), x, acc.mean(), right, color=colors[name],
                             fontweight="bold")
        reported = {name: REPORT_TABLE[name] for name in results if REPORT_TABLE.get(name)}
        right = max((rep["params_m"] for rep in reported.values()), default=0) * 1e6
        for name, rep in reported.items():
            c = colors[name]
            ax_r.plot([rep["params_m"] * 1e6], [rep["test_accuracy_pct"]], ls="none",
                      marker="o", ms=8, mfc="none", mec=c, mew=1.8)
            _label_point(ax_r, short_name(name), rep["params_m"] * 1e6, rep["test_accuracy_pct"],
                         right, color=c)
        for ax in (ax_p, ax_m, ax_r):
            eng_axis(ax)
            ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=1))
            ax.margins(x=0.15, y=0.12)
            ax.set_ylabel("test accuracy")
        if not ours:
            for ax in (ax_p, ax_m):
                message(ax, "no complete run")
        ax_p.set_xlabel("parameters (log scale)")
        ax_m.set_xlabel(f"multiply-accumulates per {size_text} image (log scale)")
        ax_r.set_xlabel("parameters (log scale)")
        ax_p.set_title(f"This study ({size_text} px): accuracy vs parameters")
        ax_m.set_title(f"This study ({size_text} px): accuracy vs MACs")
        ax_r.set_title(f"The report's Table 6.1 ({REPORT_IMAGE_SIZE} px, {REPORT_EPOCHS} epochs)")
        handles = [Line2D([], [], ls="none", marker="o", ms=4, color="0.4", alpha=0.7,
                          label="one seed"),
                   Line2D([], [], ls="none", marker="D", ms=8, color="0.4", mec="black", mew=0.6,
                          label="mean over seeds"),
                   Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec="0.4", mew=1.8,
                          label="report (another protocol: not comparable in level)")]
        fig.legend(handles=handles, loc="outside lower center", ncols=3)
        subtitle = _runs_subtitle(results)
        fig.suptitle("Accuracy against size" + (f"\n{subtitle}" if subtitle else ""))
    return fig


def plot_reduction(counts: dict, image_size: int | None = None) -> Figure:
    """Parameters, MACs and the report's computation rule of each variant as %
    of MobileNet's: what the grouping saves, and what the report says it saves.

    counts: `{variant: {"params_total", "macs", "report_flops"}}` including
    "mobilenet" (e.g. `gpc_support.report.architecture_counts.architecture_counts(224)`).
    The legend sits below the axes, off the bars.
    """
    if "mobilenet" not in counts:
        raise ValueError("counts must include 'mobilenet' (the baseline the percentages refer to)")
    base = counts["mobilenet"]
    names = [v for v in counts if v != "mobilenet"]
    series = (("params_total", "parameters", "#4c72b0", ""),
              ("macs", "multiply-accumulates (counted from the layer shapes)", "#dd8452", ""),
              ("report_flops", "report's computation rule (grouped convolutions counted as zero)",
               "#8c8c8c", "//"))
    with report_style():
        fig, axes = new_figure(1, 1, (max(7.5, 1.6 * len(names) + 2), 5.2))
        ax = axes[0, 0]
        width = 0.26
        for k, (key, label, color, hatch) in enumerate(series):
            xs, ys = [], []
            for i, name in enumerate(names):
                value, ref = counts[name].get(key), base.get(key)
                if value is None or not ref:
                    continue
                xs.append(i + (k - 1) * width)
                ys.append(100 * value / ref)
            if not xs:  # a count nobody has (e.g. runs without the report's rule): no legend entry
                continue
            bars = ax.bar(xs, ys, width, color=color, hatch=hatch, edgecolor="white", label=label)
            ax.bar_label(bars, fmt="%.1f%%", fontsize=7.5, padding=2, bbox=LABEL_BOX)
        ax.set_xticks(range(len(names)), [short_name(n) for n in names])
        ax.grid(axis="x", visible=False)  # a vertical grid line would strike the middle label
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=None))
        ax.set_ylabel("% of MobileNet")
        ax.set_ylim(0, max(ax.get_ylim()[1], 10) * 1.08)
        fig.legend(loc="outside lower center", ncols=1, handlelength=2)
        size = f" at {image_size}x{image_size} px" if image_size else ""
        ax.set_title("What grouping saves: each gpc variant as % of MobileNet" + size
                     + "\n(lower is a larger saving; the report's computation column follows the "
                       "hatched bars)")
    return fig
