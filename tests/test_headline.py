"""The headline: each gpc network against the MobileNets it could replace, with verdicts."""

import math

import pandas as pd

from gpc_support.report.headline import answer_sentences, headline_rows, plot_headline
from tests.figure_overlaps import text_overlaps


def _pairs():
    rows = []
    for gpc, diffs, verdict in (("gpc16", (-2.0, -3.0), "holds"),
                                ("gpc32", (0.5, -0.1), "not resolved")):
        for seed, d in enumerate(diffs):
            rows.append({"a": "mobilenet", "b": gpc, "seed": seed, "diff pp": d,
                         "seed_ci_low pp": -4.0 if gpc == "gpc16" else -1.0,
                         "seed_ci_high pp": -1.0 if gpc == "gpc16" else 1.4,
                         "verdict": verdict})
    # a pair between two gpc networks is not a headline comparison
    rows.append({"a": "gpc16", "b": "gpc32", "seed": 0, "diff pp": 2.0, "seed_ci_low pp": 1.0,
                 "seed_ci_high pp": 3.0, "verdict": "holds"})
    return pd.DataFrame(rows)


def _contrasts():
    return pd.DataFrame([
        {"contrast": "16 channels per group", "difference": "gpc16 - mobilenet-swish",
         "seeds": 2, "mean diff pp": -5.5, "seed_ci_low pp": -6.5, "seed_ci_high pp": -4.5,
         "verdict": "holds"},
        {"contrast": "32 channels per group", "difference": "gpc32 - mobilenet-swish",
         "seeds": 2, "mean diff pp": -2.5, "seed_ci_low pp": -3.5, "seed_ci_high pp": -1.5,
         "verdict": "holds"},
        {"contrast": "sum", "difference": "gpc16 - gpc16-no-sum", "seeds": 2,
         "mean diff pp": 0.1, "seed_ci_low pp": -1.0, "seed_ci_high pp": 1.0,
         "verdict": "not resolved"},
    ]).set_index("contrast")


def _budget():
    rows = []
    for gpc, d in (("gpc16", 9.0), ("gpc32", 7.0)):
        for family in ("mobilenet", "mobilenet-swish"):
            for what in ("parameters", "MACs"):
                rows.append({"gpc": gpc, "family": family, "budget": what,
                             "diff pp (gpc - family)": d - (3 if what == "MACs" else 0),
                             "seed_ci_low pp": math.nan, "seed_ci_high pp": math.nan,
                             "verdict": "not resolved", "seeds": 1})
    return pd.DataFrame(rows)


def test_rows_take_each_comparison_from_its_table():
    rows = headline_rows(_pairs(), _contrasts(), _budget())
    got = {(r.gpc, r.comparator): (r._3, r.verdict, r.seeds) for r in rows.itertuples()}
    assert got[("gpc16", "mobilenet")] == (-2.5, "holds", 2)      # mean over the seeds
    assert got[("gpc32", "mobilenet")] == (0.2, "not resolved", 2)
    assert got[("gpc16", "mobilenet-swish")] == (-5.5, "holds", 2)
    assert got[("gpc32", "swish-params")] == (7.0, "not resolved", 1)
    assert got[("gpc32", "swish-macs")] == (4.0, "not resolved", 1)
    assert len(rows) == 8 and set(rows["gpc"]) == {"gpc16", "gpc32"}
    assert headline_rows(None, None, None).empty


def test_sentences_state_every_claim_with_its_verdict():
    lines = answer_sentences(headline_rows(_pairs(), _contrasts(), _budget()))
    assert lines[0] == ("Against MobileNet as published (ReLU6): gpc16 -2.50 pp (holds), "
                        "gpc32 +0.20 pp (not resolved).")
    assert "behind -5.50 to -2.50 pp (every one holds)" in lines[1]
    assert lines[2].endswith("ahead, +7.00 to +9.00 pp (one seed so far, not yet resolved).")
    # a comparison that does not hold is never said to hold
    mixed = _contrasts()
    mixed.loc["32 channels per group", "verdict"] = "not resolved"
    line = answer_sentences(headline_rows(None, mixed, None))[0]
    assert "every one holds" not in line and "gpc32 not resolved" in line


def test_figure_marks_verdicts_by_fill():
    fig = plot_headline(headline_rows(_pairs(), _contrasts(), _budget()))
    ax = fig.axes[0]
    markers = [l for l in ax.get_lines() if len(l.get_xdata()) == 1 and l.get_marker() != "None"]
    filled = [l for l in markers if l.get_markerfacecolor() != "white"]
    hollow = [l for l in markers if l.get_markerfacecolor() == "white"]
    assert len(markers) == 8 and len(filled) == 3 and len(hollow) == 5
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gpcMobileNet 16", "gpcMobileNet 32"]
    assert text_overlaps(fig) == []  # the verdicts beside the axes collide with nothing
