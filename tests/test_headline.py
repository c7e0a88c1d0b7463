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


def test_thinner_mobilenet_sentences_give_each_budget_and_its_verdicts():
    budget = _budget()
    rows = headline_rows(_pairs(), _contrasts(), budget)
    lines = answer_sentences(rows, budget)
    assert len(lines) == 4
    assert lines[2] == ("Against MobileNet-swish made thinner instead (the width multiplier), the "
                        "gpc networks are at the same parameters ahead, +7.00 to +9.00 pp (one "
                        "seed so far, not yet resolved); at the same MACs ahead, +4.00 to +6.00 pp "
                        "(one seed so far, not yet resolved).")
    assert lines[3].startswith("Against MobileNet (ReLU6) made thinner instead")
    # verdicts by network where they differ; a one-seed comparison is never "not resolved for"
    budget.loc[(budget["family"] == "mobilenet") & (budget["gpc"] == "gpc16"),
               ["verdict", "seeds"]] = ["holds", 2]
    budget.loc[(budget["family"] == "mobilenet") & (budget["gpc"] == "gpc32")
               & (budget["budget"] == "MACs"), ["seeds"]] = [2]
    line = answer_sentences(rows, budget)[3]
    assert "at the same parameters ahead, +7.00 to +9.00 pp (holds for gpc16; gpc32 one seed so far)" in line
    assert "at the same MACs ahead, +4.00 to +6.00 pp (holds for gpc16; not resolved for gpc32)" in line
    # one family behind everywhere is said so
    budget.loc[budget["family"] == "mobilenet", "diff pp (gpc - family)"] *= -1
    assert "at the same parameters behind, -9.00 to -7.00 pp" in answer_sentences(rows, budget)[3]
    # both signs: no direction for the span, only where the difference holds
    budget.loc[(budget["family"] == "mobilenet") & (budget["gpc"] == "gpc16"),
               "diff pp (gpc - family)"] *= -1
    line = answer_sentences(rows, budget)[3]
    assert ("at the same parameters -7.00 to +9.00 pp (ahead where it holds: holds for gpc16; "
            "gpc32 one seed so far)") in line
    assert "ahead," not in line and "behind," not in line


def test_figure_marks_verdicts_by_fill():
    fig = plot_headline(headline_rows(_pairs(), _contrasts(), _budget()))
    ax = fig.axes[0]
    markers = [l for l in ax.get_lines() if len(l.get_xdata()) == 1 and l.get_marker() != "None"]
    filled = [l for l in markers if l.get_markerfacecolor() != "white"]
    hollow = [l for l in markers if l.get_markerfacecolor() == "white"]
    assert len(markers) == 8 and len(filled) == 3 and len(hollow) == 5
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gpcMobileNet 16", "gpcMobileNet 32"]
    assert text_overlaps(fig) == []  # the verdicts beside the axes collide with nothing
