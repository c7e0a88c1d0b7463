"""The figures: what a reviewer checks (line styles, shared limits, what is
marked, what is joined), on results folders from tests/reporting_fixtures.py."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gpc_support.report import figures
from gpc_support.report.results import VARIANTS, load_results, load_run
from tests.reporting_fixtures import make_run


@pytest.fixture
def two_seeds(tmp_path):
    results = tmp_path / "two"
    for v in VARIANTS:
        for seed in (0, 1):
            make_run(results / "runs", v, seed=seed, epochs=4)
    make_run(results / "runs", "gpc8", seed=0, epochs=2, complete=False)
    return results


def _texts(fig):
    out = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    return "\n".join(out)


def _legend_lines(fig):
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return {t.get_text(): h for lg in legends for t, h in zip(lg.get_texts(), lg.legend_handles)}


def test_history_figure_styles_and_best_epoch(tmp_path):
    run = load_run(make_run(tmp_path / "runs", "gpc32", epochs=5))
    fig = figures.plot_history(run.history, "gpcMobileNet 32 Channels")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    handles = _legend_lines(fig)
    train, val = handles["training"], handles["validation"]
    assert train.get_linestyle() == "-" and train.get_marker() == "o"
    assert val.get_marker() == "s" and val.get_linestyle() == "--"
    offset, dashes = val._unscaled_dash_pattern
    assert dashes[0] >= 6  # long dashes: visibly different from a solid line in the legend
    # the star sits at the epoch with the highest validation accuracy, on both panels
    best = int(run.history["epoch"][run.history["val_accuracy"].idxmax()])
    stars = [ln for ax in fig.axes for ln in ax.lines if ln.get_marker() == "*"]
    assert len(stars) == 2 and all(int(s.get_xdata()[0]) == best for s in stars)
    assert any("highest validation accuracy" in t for t in handles)
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no finished epoch" in _texts(figures.plot_history(None, "nothing"))


def test_curves_grid_shares_y_and_draws_every_seed(two_seeds):
    results = load_results(two_seeds)
    fig_acc, fig_loss = figures.plot_curves_grid(results)
    for fig in (fig_acc, fig_loss):
        drawn = [ax for ax in fig.axes if ax.axison]
        assert len(drawn) == len(results) == 6
        assert len({ax.get_ylim() for ax in drawn}) == 1  # one y-scale for all panels
    g16 = next(ax for ax in fig_acc.axes if ax.get_title().startswith("gpcMobileNet 16"))
    assert "seeds 0, 1" in g16.get_title()
    assert len([ln for ln in g16.lines if ln.get_marker() == "*"]) == 2  # one star per seed
    assert len([ln for ln in g16.lines if ln.get_marker() in ("o", "s")]) == 4
    assert "Figure 6.2" in _texts(fig_acc) and "Figure 6.3" in _texts(fig_loss)
    assert "unfinished" in _texts(fig_acc)


def test_overlay_val_loss_marks_best_accuracy_epoch(tmp_path):
    folder = make_run(tmp_path / "r" / "runs", "gpc16", epochs=4)
    history = (folder / "history.csv").read_text().splitlines()
    # make validation loss lowest at epoch 2 while accuracy is highest at epoch 3
    rows = [r.split(",") for r in history[1:]]
    for row in rows:
        row[4] = "1.0" if row[0] == "2" else "2.0"
        row[5] = "0.9" if row[0] == "3" else "0.5"
    (folder / "history.csv").write_text("\n".join([history[0]] + [",".join(r) for r in rows]) + "\n")
    (folder / "metrics.json").unlink()
    results = load_results(tmp_path / "r")
    fig = figures.plot_overlay(results, "val_loss")
    stars = [ln for ln in fig.axes[0].lines if ln.get_marker() == "*"]
    assert [int(s.get_xdata()[0]) for s in stars] == [3]
    assert float(stars[0].get_ydata()[0]) == 2.0
    assert figures.BEST_EPOCH_TEXT in _texts(fig)
    with pytest.raises(ValueError, match="metric must be one of"):
        figures.plot_overlay(results, "epoch")


def test_test_accuracy_shows_every_seed(two_seeds):
    results = load_results(two_seeds)
    fig = figures.plot_test_accuracy(results)
    points = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]
    assert sum(len(ln.get_xdata()) for ln in points) == 10  # 5 variants x 2 seeds
    acc = sorted(100 * r.metrics["test_accuracy"] for r in results["gpc16"])
    g16 = next(ln for ln in points if abs(np.mean(ln.get_xdata()) - 1) < 0.2)
    assert sorted(g16.get_ydata()) == pytest.approx(acc)
    assert f"± {np.std(acc, ddof=1):.2f}" in _texts(fig) and "(n=2)" in _texts(fig)


def test_tradeoff_never_joins_protocols(two_seeds):
    fig = figures.plot_tradeoff(load_results(two_seeds))
    assert len(fig.axes) == 3
    for ax in fig.axes:
        for line in ax.lines:
            # points only: no line segment joins any two results
            assert len(line.get_xdata()) == 1 or line.get_linestyle() in ("None", "none", "")
    report_ax = fig.axes[2]
    ys = sorted(float(ln.get_ydata()[0]) for ln in report_ax.lines)
    assert ys == sorted([92.35, 89.67, 90.82, 91.96, 92.69])
    assert "224 px" in report_ax.get_title()
    ours = [float(y) for ln in fig.axes[0].lines for y in ln.get_ydata()]
    assert max(ours) < 80  # our runs are not drawn on the report's panel, nor the report's on ours


def test_reduction_bars_are_percent_of_mobilenet():
    counts = {"mobilenet": {"params_total": 3_239_114, "macs": 567_726_592, "report_flops": 567_751_710},
              "gpc16": {"params_total": 274_122, "macs": 90_051_072, "report_flops": 32_122_910}}
    fig = figures.plot_reduction(counts, 224)
    heights = sorted(round(p.get_height(), 2) for p in fig.axes[0].patches)
    assert heights == sorted([round(100 * 274_122 / 3_239_114, 2), round(100 * 90_051_072 / 567_726_592, 2),
                              round(100 * 32_122_910 / 567_751_710, 2)])
    text = _texts(fig)
    assert "grouped convolutions counted as zero" in text and "224x224" in text
    with pytest.raises(ValueError, match="mobilenet"):
        figures.plot_reduction({"gpc16": counts["gpc16"]})


def test_confusion_and_per_class():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.eye(3)[[0, 1, 1, 1, 0, 2]]
    table = figures.per_class_accuracy(y_true, y_pred, ["a", "b", "c"])
    assert table["correct"].tolist() == [1, 2, 1]
    assert table["accuracy %"].tolist() == [50.0, 100.0, 50.0]
    assert table["most confused with"].tolist() == ["b", "", "a"]
    assert "accuracy 66.67%" in _texts(figures.plot_confusion(y_true, y_pred, ["a", "b", "c"]))
    with pytest.raises(ValueError):
        figures.per_class_accuracy([0, 5], [0, 1], ["a", "b"])


def test_figure_bytes_reproducible(two_seeds):
    fig = figures.plot_test_accuracy(load_results(two_seeds))
    assert figures.figure_bytes(fig, "svg") == figures.figure_bytes(fig, "svg")
    with pytest.raises(ValueError, match="fmt"):
        figures.figure_bytes(fig, "gif")


def test_legend_handles_are_distinct():
    train, val, star = figures._style_legend_handles()
    assert isinstance(train, Line2D)
    assert (train.get_linestyle(), train.get_marker()) != (val.get_linestyle(), val.get_marker())
