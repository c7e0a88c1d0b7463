"""Figures of the study (matplotlib Figures made without pyplot).

Per variant notebook:
- `plot_history(history, title)`: accuracy and loss per epoch, training
  (solid line, circles) against validation (long dashes, squares), the epoch
  with the highest validation accuracy (whose weights are tested) starred;
- `plot_confusion(y_true, y_pred, class_names)`.

Summary (every seed of every variant drawn; see `write_summary`):
- `plot_curves_grid(results)`: Figures 6.2 / 6.3 analogues, one panel per
  variant, shared y-limits so panels compare;
- `plot_overlay(results, "val_accuracy" | "val_loss")`: all variants on one axis;
- `plot_test_accuracy(results)`: every seed's test accuracy as a point, mean +- sd;
- `plot_tradeoff(results)`: our test accuracy against parameters and MACs,
  and the report's against its parameters in a separate panel (different
  protocols are never joined by a line);
- `plot_reduction(counts)`: parameters, MACs and the report's computation
  rule of each gpc variant as % of MobileNet.

Figures are `ReportFigure`s: they show themselves as PNG when they are the
last expression of a cell or passed to `display()`; `figure_bytes` renders
PNG/SVG reproducibly.
"""

from __future__ import annotations

import contextlib
import io
import math
import textwrap

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .published_values import REPORT_EPOCHS, REPORT_IMAGE_SIZE, REPORT_TABLE
from .results import HISTORY_FIELDS, RunResult, labels_of, short_name

__all__ = [
    "DPI",
    "BEST_EPOCH_TEXT",
    "ReportFigure",
    "figure_bytes",
    "variant_colors",
    "plot_history",
    "plot_curves_grid",
    "plot_overlay",
    "plot_test_accuracy",
    "plot_tradeoff",
    "plot_reduction",
    "plot_confusion",
    "per_class_accuracy",
    "confusion_counts",
]

DPI = 130
BEST_EPOCH_TEXT = "epoch with the highest validation accuracy (its weights are tested)"
# training: solid with circles; validation: long dashes with squares
TRAIN_STYLE = dict(ls="-", marker="o", lw=1.8, ms=3.8)
VAL_STYLE = dict(ls=(0, (7, 3)), marker="s", lw=1.8, ms=3.6)
STAR_STYLE = dict(marker="*", ms=12, mec="black", mew=0.6, ls="none", zorder=5)
LEGEND_HANDLE_LENGTH = 4.5  # long enough to show the dashes

_METRIC_TITLES = {
    "accuracy": "Training accuracy", "val_accuracy": "Validation accuracy",
    "loss": "Training loss", "val_loss": "Validation loss",
    "lr": "Learning rate", "seconds": "Seconds per epoch",
}


# --------------------------------------------------------------------------- plumbing

class ReportFigure(Figure):
    """A Figure that shows itself as PNG in notebooks (no pyplot needed)."""

    def _repr_png_(self):
        return figure_bytes(self, "png")


def figure_bytes(fig, fmt: str = "png") -> bytes:
    """The figure as PNG/SVG bytes (reproducible: no dates, fixed SVG ids)."""
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"fmt must be 'png', 'svg' or 'pdf', got {fmt!r}")
    buf = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None}
    with mpl.rc_context({"svg.hashsalt": "gpc-study"}):
        fig.savefig(buf, format=fmt, dpi=DPI, facecolor="white", metadata=metadata)
    return buf.getvalue()


@contextlib.contextmanager
def _style():
    import seaborn as sns

    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.8)}
    rc.update({"figure.dpi": DPI, "savefig.dpi": DPI, "axes.titlesize": 10.5,
               "figure.titlesize": 12, "legend.fontsize": 8.5, "legend.framealpha": 0.9,
               "legend.handlelength": LEGEND_HANDLE_LENGTH})
    with mpl.rc_context(rc):
        yield


def _figure(nrows, ncols, figsize, **kwargs):
    fig = ReportFigure(figsize=figsize, dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def variant_colors(variants) -> dict[str, tuple]:
    """A fixed colour per variant (the five of the study always the same)."""
    import seaborn as sns

    palette = sns.color_palette("colorblind", 10)
    fixed = {"mobilenet": palette[7], "gpc16": palette[0], "gpc32": palette[2],
             "gpc64": palette[1], "gpc128": palette[4]}
    spare = [palette[i] for i in (5, 9, 8, 3, 6)]
    colors, k = {}, 0
    for v in variants:
        if v in fixed:
            colors[v] = fixed[v]
        else:
            colors[v] = spare[k % len(spare)]
            k += 1
    return colors


def _percent_axis(ax, xmax=1.0):
    scale = 100 / xmax
    ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(
        lambda v, _: f"{scale * v:.0f}%" if abs(scale * v - round(scale * v)) < 1e-6
        else f"{scale * v:.1f}%"))


def _epoch_axis(ax):
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def _message(ax, text):
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 38)), ha="center", va="center",
            transform=ax.transAxes, fontsize=9, color="0.35")
    ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
    ax.grid(False)


def _best_epoch(history: pd.DataFrame):
    """(epoch, validation accuracy) of the highest validation accuracy; (None, None)."""
    val = history["val_accuracy"]
    if not val.notna().any():
        return None, None
    i = int(val.idxmax())
    return int(history["epoch"].iloc[i]), float(val.iloc[i])


def _runs_subtitle(results) -> str:
    profiles = {}
    for runs in results.values():
        for run in runs:
            p = run.profile
            if p:
                profiles.setdefault((p.get("name"), p.get("image_size"), p.get("epochs")), 0)
    return "; ".join(f"profile {n}: {s}x{s} images, {e} epochs" for (n, s, e) in profiles)


def _style_legend_handles(color="0.3"):
    return [Line2D([], [], color=color, label="training", **TRAIN_STYLE),
            Line2D([], [], color=color, label="validation", **VAL_STYLE),
            Line2D([], [], color="0.6", label=BEST_EPOCH_TEXT, **STAR_STYLE)]


def _limits(values, pad=0.04, floor=None):
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(values):
        return None
    low, high = values.min(), values.max()
    span = max(high - low, 1e-3)
    low, high = low - pad * span, high + pad * span
    return (max(low, floor) if floor is not None else low), high


# --------------------------------------------------------------------------- one variant

def _draw_curves(ax, history, kind, color, alpha=1.0, star=True):
    """Training (solid) and validation (long dashes) curves of `kind`; best epoch starred."""
    train_key, val_key = ("accuracy", "val_accuracy") if kind == "accuracy" else ("loss", "val_loss")
    epochs = history["epoch"]
    ax.plot(epochs, history[train_key], color=color, alpha=alpha, **TRAIN_STYLE)
    ax.plot(epochs, history[val_key], color=color, alpha=alpha, **VAL_STYLE)
    best, _ = _best_epoch(history)
    if best is not None and star:
        y = float(history.loc[history["epoch"] == best, val_key].iloc[0])
        ax.plot([best], [y], color=color, **STAR_STYLE)
    return best


def plot_history(history_df: pd.DataFrame | None, title: str, color=None) -> Figure:
    """Accuracy and loss per epoch of one run: training solid, validation long
    dashes, the epoch with the highest validation accuracy starred on both
    panels and marked by a dotted vertical line."""
    with _style():
        fig, axes = _figure(1, 2, (10.5, 4.0))
        ax_acc, ax_loss = axes[0]
        if history_df is None or len(history_df) == 0:
            for ax in (ax_acc, ax_loss):
                _message(ax, "no finished epoch")
        else:
            train_c = color if color is not None else "#1f4e79"
            val_c = color if color is not None else "#d9730d"
            best, best_val = _best_epoch(history_df)
            for ax, kind in ((ax_acc, "accuracy"), (ax_loss, "loss")):
                train_key, val_key = (("accuracy", "val_accuracy") if kind == "accuracy"
                                      else ("loss", "val_loss"))
                ax.plot(history_df["epoch"], history_df[train_key], color=train_c, label="training",
                        **TRAIN_STYLE)
                ax.plot(history_df["epoch"], history_df[val_key], color=val_c, label="validation",
                        **VAL_STYLE)
                if best is not None:
                    y = float(history_df.loc[history_df["epoch"] == best, val_key].iloc[0])
                    ax.axvline(best, color="0.45", lw=0.9, ls=":", zorder=0)
                    ax.plot([best], [y], color=val_c,
                            label=f"best epoch {best}: highest validation accuracy "
                                  f"({best_val:.1%}); its weights are tested",
                            **STAR_STYLE)
                _epoch_axis(ax)
                if len(history_df) == 1:
                    ax.set_xlim(0.5, 1.5)
            _percent_axis(ax_acc)
            ax_acc.set_ylabel("accuracy")
            ax_loss.set_ylabel("categorical cross-entropy")
            handles, labels = ax_acc.get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncols=3)
        ax_acc.set_title("Accuracy")
        ax_loss.set_title("Loss")
        fig.suptitle(title)
    return fig


def confusion_counts(y_true, y_pred, n_classes: int) -> np.ndarray:
    """counts[i, j]: test images of true class i predicted as j."""
    t, p = labels_of(y_true), labels_of(y_pred)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    if len(t) and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(y_true, y_pred, class_names) -> pd.DataFrame:
    """Per class: test images, correct predictions, accuracy %, and the class
    most often predicted instead."""
    names = [str(n) for n in class_names]
    counts = confusion_counts(y_true, y_pred, len(names))
    images = counts.sum(axis=1)
    correct = np.diag(counts)
    off = counts.copy()
    np.fill_diagonal(off, -1)
    confused = [names[int(off[i].argmax())] if off[i].max() > 0 else "" for i in range(len(names))]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(images > 0, 100.0 * correct / np.maximum(images, 1), np.nan)
    return pd.DataFrame({"class": names, "images": images, "correct": correct,
                         "accuracy %": acc, "most confused with": confused})


def plot_confusion(y_true, y_pred, class_names, title: str | None = None) -> Figure:
    """Confusion matrix, rows normalised to % of the true class."""
    import seaborn as sns

    names = [str(n) for n in class_names]
    counts = confusion_counts(y_true, y_pred, len(names))
    percent = 100.0 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    total = int(counts.sum())
    accuracy = np.trace(counts) / total if total else float("nan")
    with _style():
        size = 1.1 + 0.62 * len(names)
        fig, axes = _figure(1, 1, (size + 1.4, size))
        ax = axes[0, 0]
        labels = np.where(counts > 0, np.char.mod("%.0f", percent), "")
        sns.heatmap(percent, ax=ax, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=100,
                    square=True, linewidths=0.4, linecolor="white",
                    xticklabels=names, yticklabels=names, annot_kws={"fontsize": 7.5},
                    cbar_kws={"label": "% of the true class", "shrink": 0.8})
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.tick_params(axis="x", rotation=45)
        ax.tick_params(axis="y", rotation=0)
        ax.set_title(f"{title or 'Confusion matrix'}\n{total:,} test images, accuracy {accuracy:.2%}")
    return fig


# --------------------------------------------------------------------------- all variants

def _seed_alpha(i: int) -> float:
    return 1.0 if i == 0 else 0.55


def plot_curves_grid(results: dict[str, list[RunResult]]):
    """(accuracy figure, loss figure): one panel per variant, every seed drawn
    (the first opaque, the others lighter), shared y-limits across panels
    (cf. report Figures 6.2 and 6.3)."""
    names = list(results)
    colors = variant_colors(names)
    n = max(len(names), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    subtitle = _runs_subtitle(results)
    figs = []
    for kind, title in (("accuracy", "Training and validation accuracy per epoch (cf. report Figure 6.2)"),
                        ("loss", "Training and validation loss per epoch (cf. report Figure 6.3)")):
        keys = ("accuracy", "val_accuracy") if kind == "accuracy" else ("loss", "val_loss")
        values = [v for runs in results.values() for r in runs if r.history is not None
                  for k in keys for v in r.history[k]]
        with _style():
            fig, axes = _figure(nrows, ncols, (4.3 * ncols, 3.3 * nrows + 0.8), sharey=True)
            flat = list(axes.flat)
            for ax, name in zip(flat, names):
                drawn = [r for r in results[name] if r.history is not None and len(r.history)]
                for i, run in enumerate(drawn):
                    _draw_curves(ax, run.history, kind, colors[name], alpha=_seed_alpha(i))
                if drawn:
                    _epoch_axis(ax)
                    ax.tick_params(labelleft=True)
                else:
                    run = results[name][0]
                    _message(ax, "no finished epoch" if run.status == "unfinished" else
                             "no readable history" if run.status == "damaged" else "no run")
                seeds = [r.seed for r in drawn if r.seed is not None]
                head = results[name][0].label
                seed_text = (f"seed {seeds[0]}" if len(seeds) == 1 else
                             f"seeds {', '.join(map(str, seeds))}" if seeds else "")
                problems = [r for r in results[name] if r.status not in ("complete",)]
                tail = "; ".join(textwrap.shorten(f"{r.name}: {r.status_text}", 46, placeholder="…")
                                 for r in problems if r.status != "missing" or len(results[name]) > 1)
                ax.set_title("\n".join(t for t in (head + (f" ({seed_text})" if seed_text else ""), tail) if t))
            for ax in flat[len(names):]:
                ax.axis("off")
            limits = _limits(values, floor=0 if kind == "loss" else None)
            if limits:
                flat[0].set_ylim(*limits)
            if kind == "accuracy":
                _percent_axis(flat[0])
                flat[0].set_ylabel("accuracy")
            else:
                flat[0].set_ylabel("cross-entropy")
            fig.legend(handles=_style_legend_handles(), loc="outside lower center", ncols=3)
            fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""))
        figs.append(fig)
    return figs[0], figs[1]


def plot_overlay(results: dict[str, list[RunResult]], metric: str = "val_accuracy") -> Figure:
    """One curve per run (variant colour; seeds after the first lighter) of a
    history column; the epoch with the highest validation accuracy starred
    on every curve, whatever the metric."""
    if metric not in HISTORY_FIELDS or metric == "epoch":
        raise ValueError(f"metric must be one of {', '.join(HISTORY_FIELDS[1:])}, got {metric!r}")
    colors = variant_colors(list(results))
    with _style():
        fig, axes = _figure(1, 1, (8, 4.8))
        ax = axes[0, 0]
        handles = []
        for name, runs in results.items():
            drawn = [r for r in runs if r.history is not None and len(r.history)
                     and r.history[metric].notna().any()]
            for i, run in enumerate(drawn):
                h = run.history
                ax.plot(h["epoch"], h[metric], color=colors[name], alpha=_seed_alpha(i),
                        lw=1.8, marker="o", ms=3.2)
                best, _ = _best_epoch(h)
                if best is not None:
                    ax.plot([best], [float(h.loc[h["epoch"] == best, metric].iloc[0])],
                            color=colors[name], alpha=_seed_alpha(i), **STAR_STYLE)
            if drawn:
                statuses = {r.status for r in drawn}
                label = runs[0].label + (f" ({len(drawn)} seeds)" if len(drawn) > 1 else "")
                if statuses != {"complete"}:
                    label += f" ({', '.join(sorted(statuses - {'complete'}))})"
                handles.append(Line2D([], [], color=colors[name], lw=1.8, marker="o", ms=3.2,
                                      label=label))
        title = _METRIC_TITLES[metric]
        if handles:
            if "accuracy" in metric:
                _percent_axis(ax)
            ax.set_ylabel(title.lower())
            _epoch_axis(ax)
            handles.append(Line2D([], [], color="0.6", label=BEST_EPOCH_TEXT, **STAR_STYLE))
            ax.legend(handles=handles, loc="best", handlelength=2.5)
        else:
            _message(ax, "no run has a finished epoch")
        subtitle = _runs_subtitle(results)
        ax.set_title(f"{title} per epoch, all variants" + (f"\n{subtitle}" if subtitle else ""))
    return fig


def _complete_by_variant(results):
    return {name: [r for r in runs if r.status == "complete"] for name, runs in results.items()}


def plot_test_accuracy(results: dict[str, list[RunResult]]) -> Figure:
    """Test accuracy of every seed (points) and the mean +- sd per variant."""
    colors = variant_colors(list(results))
    done = _complete_by_variant(results)
    with _style():
        fig, axes = _figure(1, 1, (max(6.0, 1.3 * len(results) + 2), 4.4))
        ax = axes[0, 0]
        names = list(results)
        for x, name in enumerate(names):
            acc = np.array([100 * r.metrics["test_accuracy"] for r in done[name]])
            if not len(acc):
                ax.text(x, 0.5, "no complete run", rotation=90, ha="center", va="center",
                        transform=ax.get_xaxis_transform(), fontsize=8, color="0.4")
                continue
            offsets = np.linspace(-0.12, 0.12, len(acc)) if len(acc) > 1 else np.zeros(1)
            ax.plot(x + offsets, acc, ls="none", marker="o", ms=6, color=colors[name],
                    mec="black", mew=0.5, zorder=3)
            for dx, r, a in zip(offsets, done[name], acc):
                if r.seed is not None:
                    ax.annotate(f"s{r.seed}", (x + dx, a), xytext=(3, -9), textcoords="offset points",
                                fontsize=7, color="0.3", va="center")
            mean = acc.mean()
            ax.hlines(mean, x - 0.28, x + 0.28, color=colors[name], lw=2.2, zorder=2)
            top = acc.max()  # the label goes above every point and the sd bar, never on them
            if len(acc) > 1:
                sd = acc.std(ddof=1)
                ax.errorbar([x + 0.3], [mean], yerr=[sd], color="0.25", capsize=3, lw=1)
                text = f"{mean:.2f} ± {sd:.2f}\n(n={len(acc)})"
                top = max(top, mean + sd)
            else:
                text = f"{mean:.2f}\n(n=1)"
            ax.annotate(text, (x, top), xytext=(0, 7), textcoords="offset points", ha="center",
                        va="bottom", fontsize=7.5)
        ax.set_xticks(range(len(names)), [short_name(n) for n in names])
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=None))
        ax.margins(y=0.25)
        ax.set_ylabel("test accuracy")
        subtitle = _runs_subtitle(results)
        ax.set_title("Test accuracy per seed (points, labelled s<seed>) and mean (bar) ± sd"
                     + (f"\n{subtitle}" if subtitle else ""))
    return fig


def _eng_axis(ax):
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.EngFormatter(places=0, sep=""))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def plot_tradeoff(results: dict[str, list[RunResult]]) -> Figure:
    """Left, centre: our test accuracy (every seed a small point, the mean a
    large one) against parameters and against MACs; right: the report's
    Table 6.1 accuracy against its parameter counts, on its own axes (a
    different protocol: 224 px, 50 epochs, PNG data)."""
    colors = variant_colors(list(results))
    done = _complete_by_variant(results)
    sizes = sorted({r.image_size for runs in done.values() for r in runs if r.image_size})
    size_text = ", ".join(f"{s}x{s}" for s in sizes) or "?"
    with _style():
        fig, axes = _figure(1, 3, (14, 4.6))
        ax_p, ax_m, ax_r = axes[0]
        for name, runs in done.items():
            if not runs:
                continue
            acc = np.array([100 * r.metrics["test_accuracy"] for r in runs])
            m = runs[0].metrics
            for ax, x in ((ax_p, m["params_total"]), (ax_m, m["macs"])):
                ax.plot([x] * len(acc), acc, ls="none", marker="o", ms=4, color=colors[name],
                        alpha=0.7)
                ax.plot([x], [acc.mean()], ls="none", marker="D", ms=8, color=colors[name],
                        mec="black", mew=0.6)
                ax.annotate(short_name(name), (x, acc.mean()), xytext=(8, 0),
                            textcoords="offset points", fontsize=8, color=colors[name],
                            va="center", fontweight="bold")
        for name in results:
            rep = REPORT_TABLE.get(name)
            if rep:
                c = colors[name]
                ax_r.plot([rep["params_m"] * 1e6], [rep["test_accuracy_pct"]], ls="none",
                          marker="o", ms=8, mfc="none", mec=c, mew=1.8)
                ax_r.annotate(short_name(name), (rep["params_m"] * 1e6, rep["test_accuracy_pct"]),
                              xytext=(8, 0), textcoords="offset points", fontsize=8, color=c,
                              va="center")
        for ax in (ax_p, ax_m, ax_r):
            _eng_axis(ax)
            ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=1))
            ax.margins(x=0.15, y=0.12)
            ax.set_ylabel("test accuracy")
        if not any(done.values()):
            for ax in (ax_p, ax_m):
                _message(ax, "no complete run")
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
    """
    if "mobilenet" not in counts:
        raise ValueError("counts must include 'mobilenet' (the baseline the percentages refer to)")
    base = counts["mobilenet"]
    names = [v for v in counts if v != "mobilenet"]
    series = (("params_total", "parameters", "#4c72b0", ""),
              ("macs", "multiply-accumulates (counted from the layer shapes)", "#dd8452", ""),
              ("report_flops", "report's computation rule (grouped convolutions counted as zero)",
               "#8c8c8c", "//"))
    with _style():
        fig, axes = _figure(1, 1, (max(7.5, 1.6 * len(names) + 2), 4.8))
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
            bars = ax.bar(xs, ys, width, color=color, hatch=hatch, edgecolor="white", label=label)
            ax.bar_label(bars, fmt="%.1f%%", fontsize=7.5, padding=2)
        ax.set_xticks(range(len(names)), [short_name(n) for n in names])
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=None))
        ax.set_ylabel("% of MobileNet")
        ax.set_ylim(0, max(ax.get_ylim()[1], 10) * 1.12)
        ax.legend(loc="upper left", handlelength=2)
        size = f" at {image_size}x{image_size} px" if image_size else ""
        ax.set_title("What grouping saves: each gpc variant as % of MobileNet" + size
                     + "\n(lower is a larger saving; the report's computation column follows the "
                       "hatched bars)")
    return fig


