"""The fair baseline: families, interpolation at equal budget, its tests and figure."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from gpc_support.report import fair_baseline as fb
from gpc_support.report.results import load_results
from tests.figure_overlaps import text_overlaps
from tests.reporting_fixtures import TEST_IMAGES, make_run

# params, macs at 32 px of the real networks (tests/test_widths.py checks the params)
COUNTS = {
    "mobilenet-a0.25": (221_114, 1_000_000), "mobilenet-a0.5": (834_666, 3_000_000),
    "mobilenet-a0.75": (1_840_666, 6_500_000), "mobilenet": (3_239_114, 11_596_288),
    "gpc16": (274_122, 1_847_808), "gpc128": (1_353_930, 7_533_056),
    "gpc32": (432_842, 3_109_376),
    "mobilenet-swish-a0.25": (221_114, 834_688),
    "mobilenet-swish-a0.5": (834_666, 3_045_568), "mobilenet-swish-a0.75": (1_840_666, 6_631_232),
    "mobilenet-swish": (3_239_114, 11_596_288),
}


def _run(runs, variant, seed, correct):
    folder = make_run(runs, variant, seed=seed, correct=correct)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["params_total"], metrics["macs"] = COUNTS[variant]
    (folder / "metrics.json").write_text(json.dumps(metrics))


def _mask(n_right, offset=0):
    mask = np.zeros(TEST_IMAGES, bool)
    mask[(np.arange(n_right) + offset) % TEST_IMAGES] = True
    return mask


def test_neighbours_interpolate_in_log_budget():
    points = pd.DataFrame({"params": [100, 400, 1600]}, index=["a", "b", "c"])
    assert fb._neighbours(points, "params", 200) == ("a", "b", pytest.approx(0.5))
    lo, hi, w = fb._neighbours(points, "params", 800)
    assert (lo, hi) == ("b", "c") and w == pytest.approx(0.5)
    # a quarter of the way (in log) from 100 to 400: weight 0.75 on the thinner one
    assert fb._neighbours(points, "params", 100 * 4 ** 0.25)[2] == pytest.approx(0.75)
    assert fb._neighbours(points, "params", 400) == ("b", "b", 1.0)
    assert fb._neighbours(points, "params", 99) is None
    assert fb._neighbours(points, "params", 1601) is None


def test_thinner_networks_are_split_off_and_families_named(tmp_path):
    runs = tmp_path / "runs"
    for v in ("mobilenet", "mobilenet-a0.25", "gpc16", "gpc16-k-only"):
        _run(runs, v, 0, _mask(600)) if v in COUNTS else make_run(runs, v, seed=0)
    results = load_results(tmp_path)
    rest, widths = fb.split_widths(results)
    assert list(widths) == ["mobilenet-a0.25"]
    assert "mobilenet-a0.25" not in rest and "mobilenet" in rest
    points = fb.family_points(results)
    assert points.at["mobilenet-a0.25", "family"] == "mobilenet"
    assert points.at["mobilenet-a0.25", "position"] == 0.25
    assert points.at["gpc16", "family"] == "gpc"
    assert points.at["gpc16-k-only", "family"] == "ablation"
    assert points.at["mobilenet-a0.25", "mean %"] == pytest.approx(60.0)
    assert points.at["mobilenet-a0.25", "params"] == 221_114


def test_equal_budget_is_the_weighted_mean_of_the_neighbours(tmp_path):
    runs = tmp_path / "runs"
    # three seeds; gpc16 right on 700 (+seed) images, the two widths around it on 600 / 800
    for seed in range(3):
        _run(runs, "gpc16", seed, _mask(700 + 10 * seed))
        _run(runs, "mobilenet-a0.25", seed, _mask(600, offset=seed))
        _run(runs, "mobilenet-a0.5", seed, _mask(800, offset=2 * seed))
    results = load_results(tmp_path)
    table = fb.equal_budget(results)
    row = table[(table["gpc"] == "gpc16") & (table["budget"] == "parameters")
                & (table["family"] == "mobilenet")].iloc[0]
    w = (math.log(834_666) - math.log(274_122)) / (math.log(834_666) - math.log(221_114))
    assert row["weight lo"] == pytest.approx(w)
    assert (row["lo"], row["hi"], row["seeds"]) == ("mobilenet-a0.25", "mobilenet-a0.5", 3)
    family = 100 * (w * 0.6 + (1 - w) * 0.8)
    assert row["family %"] == pytest.approx(family)
    assert row["gpc %"] == pytest.approx(71.0)
    assert row["diff pp (gpc - family)"] == pytest.approx(71.0 - family)
    assert row["seed_ci_low pp"] < row["diff pp (gpc - family)"] < row["seed_ci_high pp"]
    # MACs: 1.85M lies between 1.0M and 3.0M as well
    macs = table[(table["gpc"] == "gpc16") & (table["budget"] == "MACs")
                 & (table["family"] == "mobilenet")].iloc[0]
    w_macs = (math.log(3e6) - math.log(1_847_808)) / (math.log(3e6) - math.log(1e6))
    assert macs["family %"] == pytest.approx(100 * (w_macs * 0.6 + (1 - w_macs) * 0.8))
    # no swish family measured: said, not guessed
    swish = table[table["family"] == "mobilenet-swish"]
    assert len(swish) == 2 and swish["diff pp (gpc - family)"].isna().all()
    assert swish["note"].str.startswith("outside the measured widths").all()
    assert set(table["verdict"]) <= {"holds", "not resolved", "not tested"}
    tested = table["diff pp (gpc - family)"].notna()
    assert table.loc[tested, "p_holm"].notna().all()
    assert (table.loc[~tested, "verdict"] == "not tested").all()


def test_a_gpc_network_outside_the_widths_is_named_so(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "gpc128", 0, _mask(700))
    _run(runs, "mobilenet-a0.25", 0, _mask(600))
    _run(runs, "mobilenet-a0.5", 0, _mask(650))
    table = fb.equal_budget(load_results(tmp_path))
    row = table[(table["gpc"] == "gpc128") & (table["family"] == "mobilenet")].iloc[0]
    assert row["note"].startswith("outside the measured widths (mobilenet-a0.25 221,114")
    assert math.isnan(row["diff pp (gpc - family)"])
    text = fb.equal_budget_statements(table)
    assert any("outside the measured widths" in line for line in text)


def test_one_seed_is_said_instead_of_an_interval(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "gpc16", 0, _mask(700))
    _run(runs, "mobilenet-a0.25", 0, _mask(600))
    _run(runs, "mobilenet-a0.5", 0, _mask(800))
    table = fb.equal_budget(load_results(tmp_path))
    row = table[(table["family"] == "mobilenet") & (table["budget"] == "parameters")].iloc[0]
    assert row["seeds"] == 1 and row["verdict"] == "not resolved"
    assert row["note"].startswith("one seed")
    line = [t for t in fb.equal_budget_statements(table) if "parameters" in t
            and "ReLU6" in t][0]
    assert "one seed, so no interval" in line and line.startswith("not resolved: ")


def test_pareto_figure_has_a_line_per_family(tmp_path):
    runs = tmp_path / "runs"
    for v in ("mobilenet-a0.25", "mobilenet-a0.5", "mobilenet", "gpc16", "gpc32"):
        _run(runs, v, 0, _mask(600))
    make_run(runs, "gpc16-k-only", seed=0)
    fig = fb.plot_pareto(load_results(tmp_path))
    axes = fig.axes
    assert len(axes) == 2
    assert [ax.get_xscale() for ax in axes] == ["log", "log"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["MobileNet by width (ReLU6)", "gpcMobileNet by channels per group",
                      "gpc16-k-only"]
    # the ReLU6 family's line joins its three widths in budget order
    lines = [l for l in axes[0].get_lines() if l.get_marker() == "s"]
    assert [list(l.get_xdata()) for l in lines] == [[221_114, 834_666, 3_239_114]]
    assert text_overlaps(fig) == []  # no label on another, on a mark or a grid line


def test_write_summary_adds_the_fair_baseline_and_keeps_table_6_1_to_the_five(tmp_path):
    from gpc_support.report.summary_text import write_summary

    runs = tmp_path / "runs"
    for seed in range(2):
        for v in ("mobilenet", "gpc16", "gpc32"):
            _run(runs, v, seed, _mask(700 + 10 * seed + len(v)))
        for v in ("mobilenet-a0.25", "mobilenet-a0.5"):
            _run(runs, v, seed, _mask(650 + 5 * seed))
    written = {p.name for p in write_summary(load_results(tmp_path), tmp_path)}
    assert {"fig_pareto.png", "fig_pareto.svg", "fair_baseline.csv", "equal_budget.csv"} <= written
    summary = pd.read_csv(tmp_path / "summary" / "summary.csv", index_col=0)
    assert not any("a0." in str(v) for v in summary.index)
    budget = pd.read_csv(tmp_path / "summary" / "equal_budget.csv")
    assert list(budget["gpc"].unique()) == ["gpc16", "gpc32"]
    text = (tmp_path / "summary" / "summary.md").read_text()
    assert "## Fair baseline: GPC or a thinner MobileNet at the same budget?" in text
    assert "![fair baseline" in text
    runs_csv = pd.read_csv(tmp_path / "summary" / "runs.csv")
    assert {"mobilenet-a0.25", "mobilenet-a0.5"} <= set(runs_csv["variant"])


def test_pareto_labels_clear_of_each_other_where_points_crowd(tmp_path):
    """The committed study's case: MobileNet-swish at width 0.75 (6.6M MACs,
    75.9%) next to gpc128 (7.5M MACs, 76.1%): no label on another."""
    runs = tmp_path / "runs"
    share = TEST_IMAGES / 100
    for v, acc in (("mobilenet-swish-a0.5", 71.8), ("mobilenet-swish-a0.75", 75.9),
                   ("mobilenet-swish", 78.0), ("gpc32", 75.3), ("gpc128", 76.1)):
        _run(runs, v, 0, _mask(round(acc * share)))
    fig = fb.plot_pareto(load_results(tmp_path))
    assert [o for o in text_overlaps(fig) if " / text " in o] == []


def test_pareto_width_labels_sit_beyond_their_seed_bars(tmp_path):
    """The committed study's case: MobileNet-swish at width 0.25 over three
    seeds spread 62.2-64.6%: its label above the point ran into the bar."""
    runs = tmp_path / "runs"
    share = TEST_IMAGES / 100
    for seed, acc in enumerate((62.2, 63.4, 64.6)):
        _run(runs, "mobilenet-swish-a0.25", seed, _mask(round(acc * share), seed))
        _run(runs, "mobilenet-a0.25", seed, _mask(round((acc - 3) * share), seed))
    for v, acc in (("mobilenet-swish-a0.5", 71.8), ("mobilenet-a0.5", 68.4), ("gpc16", 72.5)):
        _run(runs, v, 0, _mask(round(acc * share)))
    fig = fb.plot_pareto(load_results(tmp_path))
    hits = [o for o in text_overlaps(fig) if "segment" in o and "×0.25" in o]
    assert hits == []
