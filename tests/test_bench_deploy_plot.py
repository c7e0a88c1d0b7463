"""The deployment figure of benchmarks/bench_deploy.py (drawn by benchmarks/deploy_bench/figure.py)
from a latency.csv alone (no runtime, no timing): what its points and interquartile bars are, and --plot-only."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from tests.figure_overlaps import text_overlaps

ROOT = Path(__file__).resolve().parents[1]
# the benchmark's package, benchmarks/deploy_bench/, imported as the script imports it
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))

from deploy_bench.csv_files import read_latency_csv  # noqa: E402
from deploy_bench.figure import latency_figure, latency_series  # noqa: E402

FIELDS = ["runtime", "form", "variant", "image_size", "threads", "median_ms", "ratio_to_mobilenet",
          "paired_ratio_q1", "paired_ratio_q3", "cpu_median_ms", "cpu_q1_ms", "cpu_q3_ms",
          "cpu_ratio_to_mobilenet", "macs", "mac_ratio", "note"]
ROWS = [
    # runtime, form, variant, px, threads, median, ratio, pq1, pq3, cpu med, cpu q1, cpu q3, cpu ratio, macs, mac ratio
    ("LiteRT+XNNPACK", "baseline", "mobilenet", 32, 1, 2.0, 1.0, 1.0, 1.0, 1.6, 1.5, 1.7, 1.0, 1000, 1.0),
    ("LiteRT+XNNPACK", "einsum", "gpc16", 32, 1, 0.6, 0.3, 0.2, 0.45, 0.48, 0.4, 0.56, 0.3, 160, 0.16),
    ("LiteRT+XNNPACK", "grouped", "gpc16", 32, 1, 0.4, 0.2, 0.15, 0.3, 0.32, 0.3, 0.4, 0.2, 160, 0.16),
    ("LiteRT+XNNPACK", "grouped", "gpc64", 32, 1, 1.0, 0.5, 0.4, 0.6, 0.8, 0.7, 0.9, 0.5, 440, 0.44),
    ("LiteRT+XNNPACK", "baseline", "mobilenet", 32, 2, 1.5, 1.0, 1.0, 1.0, "", "", "", "", 1000, 1.0),
    ("LiteRT+XNNPACK", "grouped", "gpc16", 32, 2, 0.6, 0.4, 0.3, 0.7, "", "", "", "", 160, 0.16),
]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_deploy", ROOT / "benchmarks" / "bench_deploy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def latency_csv(tmp_path):
    path = tmp_path / "latency.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for row in ROWS:
            writer.writerow(list(row) + ["shared machine"])
    return path


def test_series_carry_the_interquartile_ranges(latency_csv):
    rows = read_latency_csv(latency_csv)
    assert rows[0]["image_size"] == 32 and rows[4]["cpu_median_ms"] is None
    series = latency_series(rows)
    wall = series[("LiteRT+XNNPACK", 32, 1, "grouped", "wall")]
    assert wall["x"] == [0.16, 0.44] and wall["y"] == [0.2, 0.5]  # MAC order
    assert wall["low"] == [0.15, 0.4] and wall["high"] == [0.3, 0.6]  # paired_ratio_q1, _q3
    cpu = series[("LiteRT+XNNPACK", 32, 1, "grouped", "cpu")]
    assert cpu["y"] == [0.2, 0.5]
    # the network's CPU-time quartiles over MobileNet's median CPU time (1.6 ms)
    assert cpu["low"] == pytest.approx([0.3 / 1.6, 0.7 / 1.6])
    assert cpu["high"] == pytest.approx([0.4 / 1.6, 0.9 / 1.6])
    assert ("LiteRT+XNNPACK", 32, 2, "grouped", "cpu") not in series  # no CPU time with 2 threads


def test_figure_draws_the_bars_from_q1_to_q3(latency_csv):
    fig = latency_figure(read_latency_csv(latency_csv))
    assert len(fig.axes) == 2  # 32 px with 1 and with 2 threads, one runtime
    ax = fig.axes[0]
    containers = {c.lines[0].get_gid(): c for c in ax.containers}
    assert set(containers) == {f"LiteRT+XNNPACK 32 1 {form} {measure}"
                               for form in ("einsum", "grouped") for measure in ("wall", "cpu")}
    grouped = containers["LiteRT+XNNPACK 32 1 grouped wall"]
    assert list(grouped.lines[0].get_ydata()) == [0.2, 0.5]
    bars = grouped.lines[2][0].get_segments()
    assert [tuple(seg[:, 1]) for seg in bars] == [pytest.approx((0.15, 0.3)), pytest.approx((0.4, 0.6))]
    assert "interquartile" in fig._suptitle.get_text()
    assert text_overlaps(fig) == []  # draws the figure
    # the networks are named on the (shared) x axis, at their MAC ratio
    bottom = fig.axes[-1]
    labels = {t.get_text(): x for t, x in zip(bottom.get_xticklabels(), bottom.get_xticks())}
    assert labels["gpc16\n0.16"] == pytest.approx(0.16) and labels["gpc64\n0.44"] == pytest.approx(0.44)


def test_a_point_outside_its_quartiles_gets_a_bar_that_reaches_it(latency_csv):
    # few timing rounds: the ratio of medians (0.1) below the paired ratios' q1 (0.15)
    rows = read_latency_csv(latency_csv)
    rows[2]["ratio_to_mobilenet"] = 0.1
    fig = latency_figure(rows)
    grouped = {c.lines[0].get_gid(): c for c in fig.axes[0].containers}[
        "LiteRT+XNNPACK 32 1 grouped wall"]
    bars = grouped.lines[2][0].get_segments()
    assert [tuple(seg[:, 1]) for seg in bars] == [pytest.approx((0.1, 0.3)), pytest.approx((0.4, 0.6))]


def test_plot_only_redraws_from_the_csv(bench, latency_csv, tmp_path):
    bench.main(["--out", str(tmp_path), "--plot-only"])
    svg = (tmp_path / "latency_vs_macs.svg").read_bytes()
    assert (tmp_path / "latency_vs_macs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bench.main(["--out", str(tmp_path), "--plot-only"])
    assert (tmp_path / "latency_vs_macs.svg").read_bytes() == svg  # reproducible
    with pytest.raises(SystemExit, match="no .*latency.csv"):
        bench.main(["--out", str(tmp_path / "empty"), "--plot-only"])
