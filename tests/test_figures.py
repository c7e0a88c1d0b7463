"""The figures: what a reviewer checks (line styles, shared limits, what is
marked, what is joined, what the plotted numbers are, that no text collides),
on results folders from tests/reporting_fixtures.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gpc_support.report import figure_style, run_figures, summary_figures
from gpc_support.report.results import VARIANTS, load_results, load_run
from tests.figure_overlaps import text_overlaps
from tests.reporting_fixtures import make_run


@pytest.fixture
def two_seeds(tmp_path):
    results = tmp_path / "two"
    for v in VARIANTS:
        for seed in (0, 1):
            make_run(results / "runs", v, seed=seed, epochs=4)
    make_run(results / "runs", "gpc8", seed=0, epochs=2, complete=False)
    return results


@pytest.fixture
def one_seed(tmp_path):
    results = tmp_path / "one"
    for v in VARIANTS:
        make_run(results / "runs", v, seed=0, epochs=3)
    return results


def _spread_seeds(folder, variant, epochs, shift):
    """Give `variant`'s seed k validation and training curves k * shift apart."""
    for seed in range(len(shift)):
        path = folder / "runs" / variant / f"seed{seed}" / "history.csv"
        lines = path.read_text().splitlines()
        header = lines[0].split(",")
        rows = [row.split(",") for row in lines[1:]]
        for row in rows:
            for key in ("accuracy", "val_accuracy", "loss", "val_loss"):
                i = header.index(key)
                row[i] = repr(float(row[i]) + shift[seed] * int(row[0]) / epochs)
        path.write_text("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n")


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
    fig = run_figures.plot_history(run.history, "gpcMobileNet 32 Channels")
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
    assert "no finished epoch" in _texts(run_figures.plot_history(None, "nothing"))


def _by_gid(ax, gid):
    found = [a for a in list(ax.lines) + list(ax.collections) if a.get_gid() == gid]
    assert len(found) == 1, (gid, [a.get_gid() for a in list(ax.lines) + list(ax.collections)])
    return found[0]


def _panel(fig, title_start):
    return next(ax for ax in fig.axes if ax.get_title().startswith(title_start))


def _seed_table(runs, column):
    """seed x epoch values of `column` (the runs here have the same epochs)."""
    return np.array([r.history[column].to_numpy() for r in runs])


def _assert_band(band, epochs, low, high):
    """The band's polygon runs along (epoch, low) and (epoch, high), nowhere else."""
    vertices = band.get_paths()[0].vertices
    points = {(round(float(x), 9), round(float(y), 9)) for x, y in vertices}
    for e, lo, hi in zip(epochs, low, high):
        assert (round(float(e), 9), round(float(lo), 9)) in points
        assert (round(float(e), 9), round(float(hi), 9)) in points
    edges = {round(float(v), 9) for v in np.concatenate([low, high])}
    assert {y for _, y in points} <= edges


@pytest.fixture
def three_seeds(tmp_path):
    """gpc16 and MobileNet with three seeds whose curves lie well apart."""
    results = tmp_path / "three"
    for v in ("mobilenet", "gpc16"):
        for seed in (0, 1, 2):
            make_run(results / "runs", v, seed=seed, epochs=5)
        _spread_seeds(results, v, 5, (0.0, 0.06, -0.04))
    return results


def test_curves_grid_draws_the_mean_over_seeds_in_a_min_max_band(three_seeds):
    results = load_results(three_seeds)
    fig_acc, fig_loss = summary_figures.plot_curves_grid(results)
    for fig, keys in ((fig_acc, ("accuracy", "val_accuracy")), (fig_loss, ("loss", "val_loss"))):
        drawn = [ax for ax in fig.axes if ax.axison]
        assert len(drawn) == len(results) and len({ax.get_ylim() for ax in drawn}) == 1  # one y-scale
        ax = _panel(fig, "gpcMobileNet 16")
        assert "mean of 3 seeds: 0, 1, 2" in ax.get_title()
        runs = results["gpc16"]
        for key, (ls, marker) in zip(keys, (("-", "o"), ("--", "s"))):
            values = _seed_table(runs, key)
            mean = _by_gid(ax, f"mean gpc16 {key}")
            assert list(mean.get_xdata()) == [1, 2, 3, 4, 5]
            assert mean.get_ydata() == pytest.approx(values.mean(axis=0), abs=1e-12)
            assert (mean.get_linestyle(), mean.get_marker()) == (ls, marker)
            _assert_band(_by_gid(ax, f"band gpc16 {key}"), range(1, 6), values.min(axis=0),
                         values.max(axis=0))
        # one star per seed, at that seed's best epoch and its own validation value
        stars = sorted((float(s.get_xdata()[0]), float(s.get_ydata()[0]))
                       for s in ax.lines if s.get_marker() == "*")
        expected = []
        for run in runs:
            h = run.history
            best = int(h["epoch"][h["val_accuracy"].idxmax()])
            expected.append((best, float(h.loc[h["epoch"] == best, keys[1]].iloc[0])))
        assert stars == pytest.approx(sorted(expected))
        text = _texts(fig)
        assert summary_figures.BAND_TEXT in text and "mean over seeds" in text
    assert "Figure 6.2" in _texts(fig_acc) and "Figure 6.3" in _texts(fig_loss)


def test_seed_band_averages_only_the_epochs_every_seed_has():
    long = pd.DataFrame({"epoch": [1, 2, 3], "val_accuracy": [0.2, 0.4, 0.6]})
    short = pd.DataFrame({"epoch": [1, 2], "val_accuracy": [0.4, 0.6]})
    gap = pd.DataFrame({"epoch": [1, 2, 3], "val_accuracy": [0.3, np.nan, 0.5]})
    band = summary_figures.seed_band([long, short, gap], "val_accuracy")
    assert list(band.index) == [1]
    assert band.loc[1, "mean"] == pytest.approx(0.3) and band.loc[1, "sd"] == pytest.approx(0.1)
    band = summary_figures.seed_band([long, short], "val_accuracy")
    assert list(band.index) == [1, 2]
    assert list(band["mean"]) == pytest.approx([0.3, 0.5])
    assert list(band["min"]) == [0.2, 0.4] and list(band["max"]) == [0.4, 0.6]
    assert summary_figures.seed_band([long], "val_accuracy")["sd"].isna().all()


def test_curves_grid_with_a_shorter_seed_and_with_one_seed(two_seeds, one_seed):
    make_run(two_seeds / "runs", "gpc16", seed=2, epochs=2, complete=False)
    results = load_results(two_seeds)
    fig_acc, _ = summary_figures.plot_curves_grid(results)
    ax = _panel(fig_acc, "gpcMobileNet 16")
    mean = _by_gid(ax, "mean gpc16 val_accuracy")
    assert list(mean.get_xdata()) == [1, 2]
    values = np.array([r.history["val_accuracy"].to_numpy()[:2] for r in results["gpc16"]])
    assert mean.get_ydata() == pytest.approx(values.mean(axis=0), abs=1e-12)
    assert "mean to epoch 2" in ax.get_title() and "unfinished" in ax.get_title()
    assert "unfinished" in _texts(fig_acc)
    # one seed: its own line, no band, and the legend says nothing of means
    results = load_results(one_seed)
    fig_acc, _ = summary_figures.plot_curves_grid(results)
    ax = _panel(fig_acc, "gpcMobileNet 32")
    assert ax.get_title().endswith("seed 0") and not ax.collections
    line = _by_gid(ax, "mean gpc32 val_accuracy")
    assert list(line.get_ydata()) == list(results["gpc32"][0].history["val_accuracy"])
    legend = [t.get_text() for t in fig_acc.legends[0].get_texts()]
    assert legend[:2] == ["training", "validation"] and summary_figures.BAND_TEXT not in legend


def test_overlay_draws_one_mean_line_per_variant(three_seeds):
    results = load_results(three_seeds)
    fig = summary_figures.plot_overlay(results, "val_accuracy")
    ax = fig.axes[0]
    means = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("mean ")]
    assert sorted(ln.get_gid() for ln in means) == ["mean gpc16 val_accuracy",
                                                    "mean mobilenet val_accuracy"]
    for name in ("gpc16", "mobilenet"):
        values = _seed_table(results[name], "val_accuracy")
        assert _by_gid(ax, f"mean {name} val_accuracy").get_ydata() == pytest.approx(
            values.mean(axis=0), abs=1e-12)
        band = _by_gid(ax, f"band {name} val_accuracy")
        assert band.get_alpha() <= 0.15  # light: the lines stay readable
        _assert_band(band, range(1, 6), values.min(axis=0), values.max(axis=0))
    assert not ax.get_legend()  # below the axes, never over the data
    assert "(mean of 3 seeds)" in _texts(fig)


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
    fig = summary_figures.plot_overlay(results, "val_loss")
    stars = [ln for ln in fig.axes[0].lines if ln.get_marker() == "*"]
    assert [int(s.get_xdata()[0]) for s in stars] == [3]
    assert float(stars[0].get_ydata()[0]) == 2.0
    assert figure_style.BEST_EPOCH_TEXT in _texts(fig).replace("\n(its", " (its")
    with pytest.raises(ValueError, match="metric must be one of"):
        summary_figures.plot_overlay(results, "epoch")


def test_test_accuracy_shows_every_seed_beside_the_mean(two_seeds):
    results = load_results(two_seeds)
    fig = summary_figures.plot_test_accuracy(results)
    ax = fig.axes[0]
    points = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("seed ")]
    assert len(points) == 10  # 5 variants x 2 seeds, one point each
    acc = [100 * r.metrics["test_accuracy"] for r in results["gpc16"]]
    g16 = [ln for ln in points if ln.get_gid() == "seed gpc16"]
    assert [float(ln.get_ydata()[0]) for ln in g16] == pytest.approx(acc)
    assert [ln.get_marker() for ln in g16] == ["o", "s"]  # one marker per seed
    (segment,) = _by_gid(ax, "mean gpc16").get_segments()
    assert segment[:, 1] == pytest.approx([np.mean(acc)] * 2)
    # the mean bar lies beside the points, never across them
    assert min(segment[:, 0]) > max(float(ln.get_xdata()[0]) for ln in g16)
    assert f"± {np.std(acc, ddof=1):.2f}" in _texts(fig) and "(n=2)" in _texts(fig)
    assert {"seed 0", "seed 1", "mean over seeds"} <= set(_texts(fig).splitlines())


def test_tradeoff_never_joins_protocols(two_seeds):
    fig = summary_figures.plot_tradeoff(load_results(two_seeds))
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
    fig = summary_figures.plot_reduction(counts, 224)
    heights = sorted(round(p.get_height(), 2) for p in fig.axes[0].patches)
    assert heights == sorted([round(100 * 274_122 / 3_239_114, 2), round(100 * 90_051_072 / 567_726_592, 2),
                              round(100 * 32_122_910 / 567_751_710, 2)])
    text = _texts(fig)
    assert "grouped convolutions counted as zero" in text and "224x224" in text
    with pytest.raises(ValueError, match="mobilenet"):
        summary_figures.plot_reduction({"gpc16": counts["gpc16"]})


def test_confusion_and_per_class():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.eye(3)[[0, 1, 1, 1, 0, 2]]
    table = run_figures.per_class_accuracy(y_true, y_pred, ["a", "b", "c"])
    assert table["correct"].tolist() == [1, 2, 1]
    assert table["accuracy %"].tolist() == [50.0, 100.0, 50.0]
    assert table["most confused with"].tolist() == ["b", "", "a"]
    assert "accuracy 66.67%" in _texts(run_figures.plot_confusion(y_true, y_pred, ["a", "b", "c"]))
    with pytest.raises(ValueError):
        run_figures.per_class_accuracy([0, 5], [0, 1], ["a", "b"])


def test_figure_bytes_reproducible(two_seeds):
    fig = summary_figures.plot_test_accuracy(load_results(two_seeds))
    assert figure_style.figure_bytes(fig, "svg") == figure_style.figure_bytes(fig, "svg")
    with pytest.raises(ValueError, match="fmt"):
        figure_style.figure_bytes(fig, "gif")


def test_legend_handles_are_distinct():
    train, val, band, star = summary_figures._style_legend_handles()
    assert isinstance(train, Line2D)
    assert (train.get_linestyle(), train.get_marker()) != (val.get_linestyle(), val.get_marker())


@pytest.mark.parametrize("folder", ["two_seeds", "one_seed"])
def test_no_summary_figure_has_colliding_text(folder, request):
    """No label on another, on a mark, a grid line or a spine, nor past the figure's edge."""
    results = load_results(request.getfixturevalue(folder))
    counts = {v: runs[0].metrics for v, runs in results.items() if runs[0].metrics is not None}
    figures = {"accuracy": summary_figures.plot_curves_grid(results)[0],
               "loss": summary_figures.plot_curves_grid(results)[1],
               "overlay accuracy": summary_figures.plot_overlay(results, "val_accuracy"),
               "overlay loss": summary_figures.plot_overlay(results, "val_loss"),
               "test accuracy": summary_figures.plot_test_accuracy(results),
               "tradeoff": summary_figures.plot_tradeoff(results),
               "reduction": summary_figures.plot_reduction(counts, 32)}
    collisions = {name: found for name, fig in figures.items() if (found := text_overlaps(fig))}
    assert collisions == {}


def test_the_overlap_check_sees_a_label_on_a_line():
    fig, axes = figure_style.new_figure(1, 1, (4, 3))
    ax = axes[0, 0]
    ax.plot([0, 1], [0, 1])
    ax.annotate("on the line", (0.5, 0.5), ha="center", va="center")
    ax.annotate("far away", (0.05, 0.9), ha="left")
    assert text_overlaps(fig) == ["text 'on the line' / line _child0"]


def test_the_figures_module_names_where_its_figures_are():
    import importlib

    for old in ("gpc_support.report.figures", "gpc_support.figures"):
        with pytest.raises(ImportError, match="moved to gpc_support.report;"):
            importlib.import_module(old)
