"""Where a figure's text collides: with other text, with the marks of its axes, with grid
lines and spines, or with the figure's edge; and legends inside an axes that cover data.

`text_overlaps(fig)` draws the figure (Agg) and returns one line per collision (empty
when none).  Tick labels and grid lines of ticks outside the view are never drawn and
are left out; a label on an opaque box (figure_style.LABEL_BOX) hides the grid behind it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.text import Text

NO_LINE = ("None", "none", "", " ")


def _stale_ticks(fig) -> set[int]:
    """ids of the labels and grid lines of ticks outside the view (made, never drawn)."""
    stale = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            slack = 1e-9 * abs(hi - lo)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if loc is None or not lo - slack <= loc <= hi + slack:
                    stale |= {id(tick.label1), id(tick.label2), id(tick.gridline)}
    return stale


def _box(artist, renderer):
    bb = artist.get_window_extent(renderer)
    return bb.x0, bb.y0, bb.x1, bb.y1


def _hit(a, b, pad=0.5) -> bool:
    return a[0] + pad < b[2] and b[0] + pad < a[2] and a[1] + pad < b[3] and b[1] + pad < a[3]


def _dense(xy, per_segment=60):
    """Points along a polyline (display coordinates), so a segment through a box is seen."""
    if len(xy) < 2:
        return xy
    return np.concatenate([np.linspace(xy[k], xy[k + 1], per_segment) for k in range(len(xy) - 1)])


def _line_points(line):
    xy = np.column_stack([line.get_xdata(orig=False), line.get_ydata(orig=False)]).astype(float)
    xy = line.get_transform().transform(xy)
    return _dense(xy) if line.get_linestyle() not in NO_LINE else xy


def _inside(points, box, pad=1.0) -> bool:
    points = points[np.isfinite(points).all(axis=1)]
    return bool(((points[:, 0] > box[0] + pad) & (points[:, 0] < box[2] - pad)
                 & (points[:, 1] > box[1] + pad) & (points[:, 1] < box[3] - pad)).any())


def _name(artist) -> str:
    return f"text {artist.get_text()!r}" if isinstance(artist, Text) else "legend"


def text_overlaps(fig) -> list[str]:
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    stale = _stale_ticks(fig)
    texts = []
    for t in fig.findobj(Text):
        if id(t) in stale or not t.get_visible() or not t.get_text().strip():
            continue
        box = _box(t, renderer)
        if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
            texts.append((t, box))
    found = []
    width, height = fig.bbox.width, fig.bbox.height
    for t, box in texts:
        if box[0] < -0.5 or box[1] < -0.5 or box[2] > width + 0.5 or box[3] > height + 0.5:
            found.append(f"{_name(t)} / the figure's edge")
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            if _hit(box_a, box_b):
                found.append(f"{_name(a)} / {_name(b)}")
    for ax in fig.axes:
        gridlines = list(ax.get_xgridlines()) + list(ax.get_ygridlines())
        marks = [(f"line {ln.get_gid() or ln.get_label()}", _line_points(ln))
                 for ln in ax.lines if ln.get_visible() and ln not in gridlines]
        for c in ax.collections:
            if isinstance(c, LineCollection):
                for seg in c.get_segments():
                    marks.append((f"segment {c.get_gid() or c.get_label()}",
                                  _dense(c.get_transform().transform(np.asarray(seg, float)))))
        grid = [("grid line", _dense(_line_points(g), 300)) for g in gridlines
                if g.get_visible() and id(g) not in stale]
        boxes = [(f"spine {where}", _box(spine, renderer)) for where, spine in ax.spines.items()
                 if spine.get_visible()]
        boxes += [(f"bar {p.get_label()}", _box(p, renderer)) for p in ax.patches]
        labels = [(t, _box(t, renderer)) for t in ax.texts
                  if t.get_visible() and t.get_text().strip()]
        if ax.get_legend() is not None:
            labels.append((ax.get_legend(), _box(ax.get_legend(), renderer)))
        for t, box in labels:
            opaque = not isinstance(t, Text) or t.get_bbox_patch() is not None
            for name, points in marks + ([] if opaque else grid):
                if _inside(points, box):
                    found.append(f"{_name(t)} / {name}")
            for name, other in boxes:
                if _hit(box, other, pad=1.0):
                    found.append(f"{_name(t)} / {name}")
    return found
