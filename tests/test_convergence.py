"""The 15-epoch answers beside the converged ones: orderings, claims, outcomes."""

from __future__ import annotations

import numpy as np
import pytest

from gpc_support.report import convergence as cv
from gpc_support.report.results import load_results
from tests.reporting_fixtures import TEST_IMAGES, correct_mask, make_run

SEEDS = (0, 1, 2)


def folder(tmp_path, name, accuracies):
    """A results folder with three seeds per network at the given accuracies
    (one for every seed, or one per seed)."""
    runs = tmp_path / name / "runs"
    for variant, accuracy in accuracies.items():
        for seed in SEEDS:
            acc = accuracy[seed] if isinstance(accuracy, tuple) else accuracy
            make_run(runs, variant, seed=seed, correct=correct_mask(acc, seed, variant + name))
    return load_results(tmp_path / name)


# each claim's fate is set by the accuracies: large gaps hold, equal accuracies do not
SHORT = {"mobilenet": 0.50, "mobilenet-swish": 0.70, "gpc16": 0.80, "gpc32": 0.60,
         "gpc128": 0.60, "mobilenet-swish-a0.5": 0.60}
CONVERGED = {"mobilenet": 0.80, "mobilenet-swish": 0.60, "gpc16": 0.95, "gpc32": 0.60,
             "gpc128": 0.75, "mobilenet-swish-a0.5": 0.60}


def one_seed_folder(tmp_path):
    """results/paper32 with seed 0 only of each network, at CONVERGED's accuracies."""
    runs = tmp_path / "paper32" / "runs"
    for variant, accuracy in CONVERGED.items():
        make_run(runs, variant, seed=0, correct=correct_mask(accuracy, 0, variant + "paper32"))
    return load_results(tmp_path / "paper32")


def test_ordering_ranks_by_the_mean_over_seeds(tmp_path):
    results = folder(tmp_path, "cpu", SHORT)
    df = cv.ordering(results)
    assert list(df["variant"][:2]) == ["gpc16", "mobilenet-swish"]
    assert list(df["rank"]) == list(range(1, len(SHORT) + 1))
    assert (df["seeds"] == 3).all()
    assert df["mean test %"].iloc[0] == pytest.approx(80.0)
    assert cv.ordering({}).empty


def test_claim_tests_are_paired_differences_of_the_runs(tmp_path):
    results = folder(tmp_path, "cpu", SHORT)
    df = cv.claim_tests(results).set_index("claim")
    assert len(df) == len(cv.CLAIMS)
    # the difference is b - a over the same seeds, in pp, exactly
    assert df.loc["gpc16 - MobileNet", "mean diff pp"] == pytest.approx(30.0)
    assert df.loc["gpc16 - MobileNet", "verdict"] == "holds"
    assert df.loc["gpc128 - gpc32", "mean diff pp"] == pytest.approx(0.0)
    assert df.loc["gpc128 - gpc32", "verdict"] == "not resolved"
    # a network without runs takes its claims away, not the others
    del results["gpc32"]
    left = cv.claim_tests(results)
    assert "gpc32" not in set(left["a"]) | set(left["b"]) and len(left) == len(cv.CLAIMS) - 5


def test_each_claims_outcome_follows_both_verdicts(tmp_path):
    short, converged = folder(tmp_path, "cpu", SHORT), folder(tmp_path, "paper32", CONVERGED)
    table = cv.convergence_table(short, converged).set_index("claim")
    assert table.loc["gpc16 - MobileNet", "outcome"] == "survived"            # +30 -> +15
    assert table.loc["mobilenet-swish - MobileNet", "outcome"] == "reversed"  # +20 -> -20
    assert table.loc["gpc32 - mobilenet-swish", "outcome"] == "weakened"      # -10 -> 0
    assert table.loc["gpc128 - mobilenet-swish-a0.5", "outcome"] == "emerged"   # 0 -> +15
    assert table.loc["gpc32 - mobilenet-swish-a0.5", "outcome"] == "open"       # 0 -> 0
    assert table.loc["gpc32 - gpc16", "outcome"] == "survived"                # -20 -> -35
    assert set(table["outcome"]) <= set(cv.OUTCOMES)
    # each side is that folder's own test
    assert table.loc["gpc16 - MobileNet", "converged pp"] == pytest.approx(15.0)
    assert table.loc["gpc16 - MobileNet", "15 epochs seeds"] == 3


def test_weakened_when_a_held_gap_shrinks_into_the_noise(tmp_path):
    short = folder(tmp_path, "cpu", {"mobilenet": 0.50, "gpc16": 0.70})
    # at convergence +0.2 pp on average, the seeds spread from -1.0 to +1.2
    converged = folder(tmp_path, "paper32", {"mobilenet": 0.700, "gpc16": (0.690, 0.712, 0.704)})
    table = cv.convergence_table(short, converged)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["claim"] == "gpc16 - MobileNet" and row["15 epochs verdict"] == "holds"
    assert row["converged pp"] == pytest.approx(0.2) and row["converged verdict"] == "not resolved"
    assert row["outcome"] == "weakened"


def test_one_converged_seed_compares_signs_and_tests_nothing(tmp_path):
    """Without the seeds' spread no converged claim holds or fails: a claim that
    held at 15 epochs is not 'weakened' because one seed cannot be tested."""
    short, converged = folder(tmp_path, "cpu", SHORT), one_seed_folder(tmp_path)
    table = cv.convergence_table(short, converged).set_index("claim")
    assert (table["converged seeds"] == 1).all() and table["converged low pp"].isna().all()
    assert table.loc["gpc16 - MobileNet", "outcome"] == "same sign, untested"             # +30 -> +15
    assert table.loc["mobilenet-swish - MobileNet", "outcome"] == "opposite sign, untested"  # +20 -> -20
    assert table.loc["gpc32 - gpc16", "outcome"] == "same sign, untested"                 # -20 -> -35
    assert not table["outcome"].isin(["survived", "reversed", "weakened", "emerged", "open"]).any()
    text = cv.convergence_section(cv.orderings(short, converged), table.reset_index())
    assert cv.UNTESTED_NOTE in text and "(not resolved, one seed)" in text
    assert cv.UNTESTED_NOTE not in cv.convergence_markdown(short, folder(tmp_path, "p", CONVERGED))


def test_markdown_shows_both_orderings_and_every_claim(tmp_path):
    short, converged = folder(tmp_path, "cpu", SHORT), folder(tmp_path, "paper32", CONVERGED)
    text = cv.convergence_markdown(short, converged)
    assert "- 15 epochs (`cpu`): gpc16 80.00% > mobilenet-swish 70.00%" in text
    assert "- converged (`paper32`, 50 epochs): gpc16 95.00% > MobileNet 80.00%" in text
    assert "| gpc16 - MobileNet | +30.00 (holds) | +15.00 (holds) | survived: holds in both" in text
    assert f"Of {len(cv.CLAIMS)} claims:" in text
    nothing = cv.convergence_markdown(short, {})
    assert "No claim has complete runs" in nothing


def test_counterpart_is_the_cpu_folder_beside_a_paper32_one(tmp_path):
    folder(tmp_path, "cpu", {"mobilenet": 0.5})
    assert cv.counterpart_dir(tmp_path / "paper32") == tmp_path / "cpu"
    assert cv.counterpart_dir(tmp_path / "cpu") is None
    assert cv.counterpart_dir(tmp_path / "quick") is None
    assert cv.counterpart_dir(tmp_path / "other" / "paper32") is None


def test_masks_have_the_exact_accuracy():
    # what the tests above rely on
    assert correct_mask(0.6, 1, "x").sum() == round(0.6 * TEST_IMAGES)
    assert not np.array_equal(correct_mask(0.6, 1, "x"), correct_mask(0.6, 1, "y"))


def test_the_summary_of_a_paper32_folder_sets_it_beside_the_cpu_one(tmp_path):
    from gpc_support.report import write_summary

    folder(tmp_path, "cpu", SHORT)
    converged = folder(tmp_path, "paper32", CONVERGED)
    written = {p.name for p in write_summary(converged, tmp_path / "paper32")}
    assert "convergence.csv" in written
    text = (tmp_path / "paper32" / "summary" / "summary.md").read_text()
    assert "## 15 epochs against convergence" in text
    assert "| gpc16 - MobileNet | +30.00 (holds) | +15.00 (holds) | survived" in text
    # a cpu folder's summary has no such section
    written = {p.name for p in write_summary(load_results(tmp_path / "cpu"), tmp_path / "cpu")}
    assert "convergence.csv" not in written
    assert "against convergence" not in (tmp_path / "cpu" / "summary" / "summary.md").read_text()


def _render_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "render_readme_results.py"
    spec = importlib.util.spec_from_file_location("render_readme_results", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_section_is_rendered_from_the_summary_files(tmp_path):
    from gpc_support.report import write_summary

    render = _render_module()
    folder(tmp_path, "cpu", SHORT)
    converged = folder(tmp_path, "paper32", CONVERGED)
    summary = tmp_path / "paper32" / "summary"
    # before the summary: says so, invents nothing
    assert "No converged run" in render.render_convergence_section(tmp_path / "paper32",
                                                                   "results/paper32")
    write_summary(converged, tmp_path / "paper32")
    section = render.render_convergence_section(tmp_path / "paper32", "results/paper32")
    # the same orderings and claims, to the digit, as the summary (from the CSVs it wrote)
    text = (summary / "summary.md").read_text()
    body = text.split("## 15 epochs against convergence", 1)[1]
    for line in section.splitlines():
        if line.startswith(("- 15 epochs", "- converged", "| gpc", "| mobilenet", "Of ")):
            assert line in body, line
    assert "| gpc16 - MobileNet | +30.00 (holds) | +15.00 (holds) | survived" in section
    assert "- converged (`paper32`, 50 epochs): gpc16 95.00% > MobileNet 80.00%" in section
    # a table whose outcome contradicts its verdicts is refused
    import pandas as pd

    table = pd.read_csv(summary / "convergence.csv")
    table.loc[table["claim"] == "gpc16 - MobileNet", "outcome"] = "reversed"
    table.to_csv(summary / "convergence.csv", index=False)
    with pytest.raises(render.RenderError, match="outcome disagrees"):
        render.render_convergence_section(tmp_path / "paper32", "results/paper32")


def test_outcome_of_covers_every_outcome():
    assert cv.outcome_of("holds", 2.0, "holds", 1.0) == "survived"
    assert cv.outcome_of("holds", 2.0, "holds", -1.0) == "reversed"
    assert cv.outcome_of("holds", 2.0, "not resolved", 1.0) == "weakened"
    assert cv.outcome_of("not resolved", 0.1, "holds", 1.0) == "emerged"
    assert cv.outcome_of("not resolved", 0.1, "not resolved", -1.0) == "open"
    # one converged seed: only the signs, whatever the verdicts say
    assert cv.outcome_of("holds", 2.0, "not resolved", 1.0, converged_tested=False) \
        == "same sign, untested"
    assert cv.outcome_of("holds", 2.0, "not resolved", -1.0, converged_tested=False) \
        == "opposite sign, untested"
    assert cv.outcome_of("not resolved", -0.1, "holds", -1.0, converged_tested=False) \
        == "same sign, untested"
    assert cv.converged_tested(0.3) and not cv.converged_tested(float("nan"))


def test_one_seed_section_renders_from_the_files_with_its_note(tmp_path):
    """convergence.csv keeps an untested claim's missing interval: the README
    rendering recomputes the same outcome from it and shows the note."""
    from gpc_support.report import write_summary

    render = _render_module()
    folder(tmp_path, "cpu", SHORT)
    write_summary(one_seed_folder(tmp_path), tmp_path / "paper32")
    section = render.render_convergence_section(tmp_path / "paper32", "results/paper32")
    assert "| gpc16 - MobileNet | +30.00 (holds) | +15.00 (not resolved, one seed) | " \
           "same sign, untested" in section
    assert cv.UNTESTED_NOTE in section
