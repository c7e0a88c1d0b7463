"""gpc_support.report.architecture_counts: the architecture counts the summary shows."""

from __future__ import annotations

import pytest

from gpc_support.report.architecture_counts import architecture_counts, channels_of, fill_report_flops
from gpc_support.report.results import load_results
from tests.reporting_fixtures import make_run


def test_counts_at_224_are_the_reports_figures():
    counts = architecture_counts(224, variants=("mobilenet", "gpc16"))
    assert counts["mobilenet"] == {"params_total": 3_239_114, "macs": 567_726_592,
                                   "report_flops": 567_751_710}
    assert counts["gpc16"]["report_flops"] == 32_122_910  # the report's 32.122M
    assert counts["gpc16"]["macs"] == 90_051_072
    with pytest.raises(ValueError, match="image_size"):
        architecture_counts(16)


def test_channels_of():
    assert channels_of("mobilenet") is None and channels_of("gpc64") == 64
    with pytest.raises(ValueError, match="gpc16-relu6"):
        channels_of("gpc16-relu6")


def test_fill_report_flops_only_where_missing(tmp_path):
    runs = tmp_path / "r" / "runs"
    for name in ("gpc16", "gpc16-relu6"):
        folder = make_run(runs, name)
        text = (folder / "metrics.json").read_text().replace('"report_flops"', '"unused"')
        (folder / "metrics.json").write_text(text)
    make_run(runs, "gpc32")  # records its own figure: kept as it is
    results = load_results(tmp_path / "r")
    recorded = results["gpc32"][0].metrics["report_flops"]
    notes = fill_report_flops(results)
    assert results["gpc16"][0].metrics["report_flops"] == architecture_counts(32, ("gpc16",))["gpc16"]["report_flops"]
    assert results["gpc32"][0].metrics["report_flops"] == recorded
    assert "report_flops" not in results["gpc16-relu6"][0].metrics
    assert "of gpc16 (seed 0) was" in notes[0] and "for gpc16-relu6 (seed 0) (" in notes[1]
