"""The look every figure of the study shares, and how a figure becomes a file.

- `ReportFigure`: a matplotlib Figure (no pyplot) that shows itself as PNG
  when it is the last expression of a notebook cell or passed to `display()`;
- `figure_bytes(fig, fmt)`: PNG/SVG/PDF bytes, reproducible (no dates, fixed
  SVG ids);
- `report_style()`, `new_figure(...)`: the seaborn-based style and a
  constrained-layout figure in it;
- `variant_colors(variants)`: one fixed colour per variant;
- line styles: training solid with circles, validation long dashes with
  squares, the best epoch a star (`TRAIN_STYLE`, `VAL_STYLE`, `STAR_STYLE`);
  `LABEL_BOX`, the white box behind a label on the axes;
- axis helpers: `percent_axis`, `epoch_axis`, `eng_axis` (log scale with
  200k/1M ticks), `message` (an empty panel that says why), and
  `best_epoch(history)`.
"""

from __future__ import annotations

import contextlib
import io
import textwrap

import matplotlib as mpl
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

__all__ = [
    "DPI", "BEST_EPOCH_TEXT", "TRAIN_STYLE", "VAL_STYLE", "STAR_STYLE", "LABEL_BOX", "ReportFigure",
    "figure_bytes", "report_style", "new_figure", "variant_colors", "percent_axis",
    "epoch_axis", "eng_axis", "message", "best_epoch",
]

DPI = 130
BEST_EPOCH_TEXT = "epoch with the highest validation accuracy (its weights are tested)"
# training: solid with circles; validation: long dashes with squares
TRAIN_STYLE = dict(ls="-", marker="o", lw=1.8, ms=3.8)
VAL_STYLE = dict(ls=(0, (7, 3)), marker="s", lw=1.8, ms=3.6)
STAR_STYLE = dict(marker="*", ms=12, mec="black", mew=0.6, ls="none", zorder=5)
# behind a label on the axes: grid lines stop at its edge instead of striking it
LABEL_BOX = dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85)
LEGEND_HANDLE_LENGTH = 4.5  # long enough to show the dashes


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
def report_style():
    """The rc settings of every figure (seaborn whitegrid, small notebook fonts)."""
    import seaborn as sns

    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.8)}
    rc.update({"figure.dpi": DPI, "savefig.dpi": DPI, "axes.titlesize": 10.5,
               "figure.titlesize": 12, "legend.fontsize": 8.5, "legend.framealpha": 0.9,
               "legend.handlelength": LEGEND_HANDLE_LENGTH})
    with mpl.rc_context(rc):
        yield


def new_figure(nrows, ncols, figsize, **kwargs):
    """(figure, 2-d array of axes), constrained layout; kwargs go to `subplots`."""
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


def percent_axis(ax, xmax=1.0):
    """y tick labels as percentages of `xmax`."""
    scale = 100 / xmax
    ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(
        lambda v, _: f"{scale * v:.0f}%" if abs(scale * v - round(scale * v)) < 1e-6
        else f"{scale * v:.1f}%"))


def epoch_axis(ax):
    """Whole-number epochs on x."""
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def eng_axis(ax):
    """A log x axis with ticks at 1, 2 and 5 of each decade, written 200k, 1M."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.EngFormatter(places=0, sep=""))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def message(ax, text):
    """An empty panel that says why it is empty."""
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 38)), ha="center", va="center",
            transform=ax.transAxes, fontsize=9, color="0.35")
    ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
    ax.grid(False)


def best_epoch(history: pd.DataFrame):
    """(epoch, validation accuracy) of the highest validation accuracy; (None, None)."""
    val = history["val_accuracy"]
    if not val.notna().any():
        return None, None
    i = int(val.idxmax())
    return int(history["epoch"].iloc[i]), float(val.iloc[i])
