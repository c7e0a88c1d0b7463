"""Reading results folders, the tables and the summary files (the paired tests:
test_paired_tests.py).

Every test builds its own results folder in tmp_path (tests/reporting_fixtures.py).
No Keras or TensorFlow is imported here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpc_support import report as reporting
from gpc_support.report.published_values import AUTHORS_ACCURACY, REPORT_TABLE
from gpc_support.report.results import VARIANTS, load_results, load_run
from gpc_support.report.comparisons import comparison_pairs
from gpc_support.report.summary_text import SummaryRefused, write_summary
from gpc_support.report.tables import csv_text, format_markdown, runs_table, summary_table
from tests.reporting_fixtures import COUNTS, HEADER, history_text, make_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def three_seeds(tmp_path):
    """All five variants x seeds 0, 1, 2 in the seed layout, made with the corrected networks."""
    results = tmp_path / "three"
    for v in VARIANTS:
        for seed in (0, 1, 2):
            make_run(results / "runs", v, seed=seed)
    return results


@pytest.fixture
def broken_dir(tmp_path):
    """mobilenet complete (old layout); gpc16 truncated history; gpc32 metrics not
    JSON; gpc64 metrics lacking macs; gpc128 missing; gpc8 unfinished."""
    results = tmp_path / "broken"
    runs = results / "runs"
    make_run(runs, "mobilenet", layout="old")
    f = make_run(runs, "gpc16")
    text = (f / "history.csv").read_text()
    (f / "history.csv").write_text(text[: len(text) - 12])  # cut inside the last row
    f = make_run(runs, "gpc32")
    (f / "metrics.json").write_text('{"variant": "gpc32", "params_total": 43')
    f = make_run(runs, "gpc64")
    m = json.loads((f / "metrics.json").read_text())
    del m["macs"]
    (f / "metrics.json").write_text(json.dumps(m))
    make_run(runs, "gpc8", epochs=2, complete=False)
    return results


# ------------------------------------------------------------------ constants

def test_fields_agree_with_training_engine():
    from gpc_support.common import run_folder

    # one definition of the run folder's files, read by the reports and written by the engine
    assert reporting.HISTORY_FIELDS is run_folder.HISTORY_FIELDS
    assert reporting.HISTORY_FIELDS == ("epoch", "lr", "loss", "accuracy", "val_loss",
                                        "val_accuracy", "seconds")
    assert set(reporting.REQUIRED_METRICS) <= set(run_folder.METRICS_FIELDS)


def test_aside_suffix_agrees_with_training_engine(tmp_path):
    from gpc_support.report.results import ASIDE_SUFFIX

    from gpc_support.common.run_folder import PREVIOUS_SUFFIX

    assert ASIDE_SUFFIX == PREVIOUS_SUFFIX == ".previous"
    make_run(tmp_path / "r" / "runs", "gpc16", layout="old")
    make_run(tmp_path / "r" / "runs", "gpc16" + ASIDE_SUFFIX, layout="old")
    make_run(tmp_path / "r" / "runs", "gpc32", seed=0)
    (tmp_path / "r" / "runs" / "gpc32" / ("seed0" + ASIDE_SUFFIX)).mkdir()
    results = load_results(tmp_path / "r")
    assert list(results) == list(VARIANTS)
    assert [r.seed for r in results["gpc32"]] == [0]


def test_report_values():
    assert tuple(REPORT_TABLE) == VARIANTS == ("mobilenet", "gpc16", "gpc32", "gpc64", "gpc128")
    expect = {"mobilenet": (3.239, None, 12.36, 567.751, None, 92.35),
              "gpc16": (0.274, 91.54, 1.05, 32.122, 94.34, 89.67),
              "gpc32": (0.432, 86.66, 1.65, 57.813, 89.81, 90.82),
              "gpc64": (0.748, 76.90, 2.85, 83.503, 85.29, 91.96),
              "gpc128": (1.353, 58.22, 5.16, 160.172, 71.78, 92.69)}
    for v, values in expect.items():
        r = REPORT_TABLE[v]
        assert (r["params_m"], r["param_reduction_pct"], r["param_size_mb"], r["computation_m"],
                r["computation_reduction_pct"], r["test_accuracy_pct"]) == values
    assert AUTHORS_ACCURACY == {"mobilenet": 93.15, "gpc16": 89.81, "gpc32": 91.27,
                                "gpc64": 92.08, "gpc128": 93.02}
    assert "89.67%" in reporting.report_row_sentence("gpc16")
    assert reporting.report_row_sentence("gpc16-relu6") == ""


# ------------------------------------------------------------------ loading

def test_seed_layout_and_old_layout(tmp_path):
    runs = tmp_path / "r" / "runs"
    make_run(runs, "mobilenet", layout="old", seed=4, code=False)
    for seed in (2, 0, 1):
        make_run(runs, "gpc16", seed=seed)
    results = load_results(tmp_path / "r")
    assert [r.seed for r in results["gpc16"]] == [0, 1, 2]
    assert all(r.status == "complete" and not r.before_fidelity_fix for r in results["gpc16"])
    (old,) = results["mobilenet"]
    assert old.seed == 4 and old.status == "complete" and old.before_fidelity_fix
    assert old.name == "MobileNet seed 4"
    assert [r.status for r in results["gpc32"]] == ["missing"]


def test_seed_folder_supersedes_the_old_run_of_that_seed(tmp_path):
    runs = tmp_path / "r" / "runs"
    make_run(runs, "gpc16", layout="old", seed=0, code=False)
    make_run(runs, "gpc16", seed=0)
    make_run(runs, "gpc16", seed=1)
    make_run(runs, "gpc32", layout="old", seed=3, code=False)
    make_run(runs, "gpc32", seed=0)
    results = load_results(tmp_path / "r")
    assert [(r.seed, r.before_fidelity_fix) for r in results["gpc16"]] == [(0, False), (1, False)]
    assert "supersedes the older run of seed 0" in results["gpc16"][0].notes[0]
    assert [(r.seed, r.before_fidelity_fix) for r in results["gpc32"]] == [(0, False), (3, True)]


def test_seed_folder_contradicting_config_is_damaged(tmp_path):
    folder = make_run(tmp_path / "runs", "gpc32", seed=1)
    config = json.loads((folder / "config.json").read_text())
    config["seed"] = 5
    (folder / "config.json").write_text(json.dumps(config))
    run = load_run(folder)
    assert run.status == "damaged" and "seed 5" in run.problem and run.seed == 1


def test_unknown_variant_names_sort_after_the_five(tmp_path):
    runs = tmp_path / "r" / "runs"
    for name in ("gpc16-relu6", "mobilenet-swish", "gpc16", "gpc8"):
        make_run(runs, name)
    results = load_results(tmp_path / "r")
    assert list(results) == [*VARIANTS, "gpc8", "gpc16-relu6", "mobilenet-swish"]
    assert results["gpc16-relu6"][0].label == "gpc16-relu6"
    assert results["gpc8"][0].label == "gpcMobileNet 8 Channels"
    table = summary_table(results)  # ablations do not crash the table or the tests
    assert table.loc["mobilenet-swish", "Architecture"] == "mobilenet-swish"
    assert ("mobilenet", "gpc16") in comparison_pairs(results)
    assert all("relu6" not in a + b for a, b in comparison_pairs(results))


def test_load_results_statuses(broken_dir):
    results = load_results(broken_dir)
    assert list(results) == ["mobilenet", "gpc16", "gpc32", "gpc64", "gpc128", "gpc8"]
    st = {k: [r.status for r in runs] for k, runs in results.items()}
    assert st == {"mobilenet": ["complete"], "gpc16": ["damaged"], "gpc32": ["damaged"],
                  "gpc64": ["damaged"], "gpc128": ["missing"], "gpc8": ["unfinished"]}
    gpc16, gpc32, gpc64 = results["gpc16"][0], results["gpc32"][0], results["gpc64"][0]
    assert "history.csv" in gpc16.problem and "truncated" in gpc16.problem
    assert gpc16.history is None and gpc16.metrics is not None
    assert gpc32.problem == "metrics.json is not valid JSON" and len(gpc32.history) == 3
    assert gpc64.problem == "metrics.json lacks macs"
    assert results["gpc8"][0].status_text == "unfinished (2/3 epochs)"


@pytest.mark.parametrize("content, fragment", [
    ("", "empty"),
    ("epoch,lr,loss\n1,0.1,2.0\n", "header lacks accuracy"),
    (HEADER + "\n1,0.001,2.0,0.3,2.1,0.28,\n", "not a number"),
    (HEADER + "\n1,0.001,2.0,0.3,2.1,0.28,20\n3,0.001,2.0,0.3,2.1,0.28,20\n", "epochs are not"),
    (HEADER + "\n1,0.001,2.0,30,2.1,28,20\n", "outside 0..1"),
    (b"\xff\xfe\x00garbage", "not text"),
])
def test_damaged_history(tmp_path, content, fragment):
    folder = make_run(tmp_path / "runs", "gpc32", complete=False)
    (folder / "history.csv").write_bytes(content if isinstance(content, bytes) else content.encode())
    run = load_run(folder)
    assert run.status == "damaged" and fragment in run.problem


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(test_accuracy="high"), "test_accuracy"),
    (lambda m: m.update(test_accuracy=92.3), "not a fraction"),
    (lambda m: m.update(variant="gpc64"), "for variant 'gpc64'"),
    (lambda m: m.update(epochs=5), "metrics.json says 5"),
    (lambda m: m.update(report_flops="n/a"), "report_flops"),
])
def test_damaged_metrics(tmp_path, change, fragment):
    folder = make_run(tmp_path / "runs", "gpc32")
    m = json.loads((folder / "metrics.json").read_text())
    change(m)
    (folder / "metrics.json").write_text(json.dumps(m))
    run = load_run(folder)
    assert run.status == "damaged" and fragment in run.problem


def test_history_shorter_than_state_is_damaged(tmp_path):
    folder = make_run(tmp_path / "runs", "gpc32", complete=False)
    (folder / "history.csv").write_text(history_text("gpc32", 1))
    run = load_run(folder)
    assert run.status == "damaged" and "state.json says 3" in run.problem


def test_load_results_of_nothing(tmp_path):
    results = load_results(tmp_path / "does-not-exist")
    assert list(results) == list(VARIANTS)
    assert all(runs[0].status == "missing" for runs in results.values())


def test_data_source_layouts(tmp_path):
    old = make_run(tmp_path / "runs", "gpc16", data_source="image-folders:/somewhere/data")
    assert load_run(old).data_layout == "image-folders"
    new = make_run(tmp_path / "runs", "gpc32", data_source={"layout": "keras", "fingerprint": None})
    assert load_run(new).data_layout == "keras" and load_run(new).data_fingerprint is None



def test_runs_phrase_groups_seeds_per_variant(tmp_path):
    from gpc_support.report.results import runs_phrase

    runs = [load_run(make_run(tmp_path / "runs", v, seed=s))
            for v, s in [("mobilenet", 0), ("mobilenet", 2), ("gpc16", 1), ("gpc16-relu6", 0)]]
    assert runs_phrase(runs) == "MobileNet (seeds 0, 2), gpc16 (seed 1), gpc16-relu6 (seed 0)"
    assert runs_phrase([]) == ""


def test_data_lines_one_folder_two_fingerprint_kinds(tmp_path):
    """The same image counts under two fingerprints: one data line that names
    which runs carry which fingerprint and says why a folder can have two."""
    from gpc_support.report.summary_text import _data_lines

    runs = tmp_path / "runs"
    for s in (0, 1):
        make_run(runs, "mobilenet", seed=s,
                 data_source={"layout": "image-folders", "fingerprint": "old1"})
        make_run(runs, "gpc16", seed=s,
                 data_source={"layout": "image-folders", "fingerprint": "new2"})
    lines = _data_lines(load_results(tmp_path))
    assert len(lines) == 1, lines
    assert "fingerprint old1 (2 runs: MobileNet (seeds 0, 1))" in lines[0]
    assert "fingerprint new2 (2 runs: gpc16 (seeds 0, 1))" in lines[0]
    assert "file listing" in lines[0] and lines[0].count("quality 75") == 1
    # one fingerprint: no list of runs, no explanation
    single = tmp_path / "single"
    make_run(single / "runs", "gpc16", data_source={"layout": "image-folders", "fingerprint": "a"})
    (line,) = _data_lines(load_results(single))
    assert line.endswith("; fingerprint a (1 run)")


# ------------------------------------------------------------------ tables

def test_summary_table_mean_and_sd(three_seeds):
    results = load_results(three_seeds)
    df = summary_table(results)
    assert list(df.index) == list(VARIANTS)
    g16 = df.loc["gpc16"]
    accs = [100 * r.metrics["test_accuracy"] for r in results["gpc16"]]
    assert g16["Seeds"] == 3
    assert g16["Test accuracy mean %"] == pytest.approx(np.mean(accs))
    assert g16["Test accuracy sd (pp)"] == pytest.approx(np.std(accs, ddof=1))
    assert g16["Test accuracy sd (pp)"] > 0
    assert g16["Test accuracy %"] == f"{np.mean(accs):.2f} ± {np.std(accs, ddof=1):.2f} (n=3)"
    assert g16["Parameters"] == 274_122
    assert g16["Parameter reduction %"] == pytest.approx(100 * (1 - 274_122 / 3_239_114))
    assert round(g16["Parameter reduction %"], 2) == REPORT_TABLE["gpc16"]["param_reduction_pct"]
    assert g16["MAC reduction %"] == pytest.approx(100 * (1 - COUNTS["gpc16"][2] / COUNTS["mobilenet"][2]))
    assert g16["Report-rule reduction %"] == pytest.approx(
        100 * (1 - COUNTS["gpc16"][3] / COUNTS["mobilenet"][3]))
    assert g16["Best epoch"] == "3, 3, 3"
    assert g16["Training time (min)"] == pytest.approx(np.mean([66, 67, 68]) / 60)
    assert g16["Training time per seed (min)"] == "1.1, 1.1, 1.1"
    assert round(df.loc["mobilenet", "Parameter size (MiB)"], 2) == 12.36
    assert any("compare the reduction" in n for n in df.attrs["notes"])


def test_summary_table_one_seed_says_n1(tmp_path):
    make_run(tmp_path / "r" / "runs", "gpc16", accuracy=0.5)
    df = summary_table(load_results(tmp_path / "r"))
    assert df.loc["gpc16", "Test accuracy %"] == "50.00 (n=1)"
    assert math.isnan(df.loc["gpc16", "Test accuracy sd (pp)"])
    assert df.loc["gpc16", "Best epoch"] == 3
    assert any("baseline" in n for n in df.attrs["notes"])
    assert df["Parameter reduction %"].isna().all()


def test_summary_table_at_224(three_seeds):
    counts = {"mobilenet": {"macs": 567_726_592, "report_flops": 567_751_710},
              "gpc16": {"macs": 90_051_072, "report_flops": 32_122_910}}
    df = summary_table(load_results(three_seeds), counts)
    assert df.loc["gpc16", "Report-rule computation @224 (M)"] == pytest.approx(32.12291)
    assert round(df.loc["gpc16", "Report-rule reduction @224 %"], 2) == 94.34  # the report's figure
    assert round(df.loc["gpc16", "MAC reduction @224 %"], 1) == 84.1


def test_csv_integers_and_rounding(three_seeds):
    results = load_results(three_seeds)
    text = csv_text(summary_table(results))
    df = pd.read_csv(pd.io.common.StringIO(text), index_col=0, dtype=str)
    assert df.loc["mobilenet", "Parameters"] == "3239114"
    assert df.loc["mobilenet", "Seeds"] == "3"
    assert df.loc["gpc16", "Parameter reduction %"] == "91.54"
    assert "Parameter size (MiB)" in df.columns and "Parameter size (MB)" not in df.columns
    for value in df["Test accuracy mean %"]:
        assert len(value.split(".")[1]) <= 2
    runs = pd.read_csv(pd.io.common.StringIO(csv_text(runs_table(results), index=False)), dtype=str)
    assert set(runs["seed"]) == {"0", "1", "2"} and set(runs["Best epoch"]) == {"3"}
    assert set(runs["Networks"]) == {"corrected"}


def test_runs_table_marks_old_networks(tmp_path):
    make_run(tmp_path / "r" / "runs", "gpc16", layout="old", code=False)
    df = runs_table(load_results(tmp_path / "r"))
    row = df[df["variant"] == "gpc16"].iloc[0]
    assert row["Networks"] == "before the fidelity fix (all-swish gpc networks)"
    assert row["seed"] == 0


def test_runs_table_says_which_cpu_kernels_each_run_recorded(tmp_path):
    runs = tmp_path / "r" / "runs"
    for seed, record in ((0, {"kernels": {"tensorflow_onednn": True}}),
                         (1, {"environment": {"tensorflow_onednn": False}}), (2, {})):
        folder = make_run(runs, "gpc16", seed=seed)
        name = "config.json" if "kernels" in record else "metrics.json"
        data = json.loads((folder / name).read_text())
        data.update({k: {**data.get(k, {}), **v} for k, v in record.items()})
        (folder / name).write_text(json.dumps(data))
    df = runs_table(load_results(tmp_path / "r"))
    df = df[df["variant"] == "gpc16"].set_index("seed").sort_index()
    assert list(df["Kernels"]) == ["oneDNN", "Eigen", ""]


def test_format_markdown():
    df = pd.DataFrame({"Architecture": ["A|B", "C"], "Parameters": [3_239_114.0, np.nan],
                       "Test accuracy mean %": [92.346, 1.0], "status": ["complete", "missing"]})
    lines = format_markdown(df).strip().split("\n")
    assert lines[0] == "| Architecture | Parameters | Test accuracy mean % | Status |"
    assert lines[1] == "|:---|---:|---:|:---|"
    assert lines[2] == "| A\\|B | 3239114.00 | 92.35 | complete |"
    assert lines[3] == "| C | NA | 1.00 | missing |"


# ------------------------------------------------------------------ summary files

EXPECTED_FILES = {"summary.md", "summary.csv", "runs.csv", "pairs.csv"} | {
    f"{stem}.{ext}" for stem in reporting.FIGURES if stem not in ("fig_ablation", "fig_pareto")
    for ext in ("png", "svg")}  # fig_ablation only where ablation runs are (test_ablation_report),
# fig_pareto only where thinner MobileNets are (test_fair_baseline)


def test_write_summary_three_seeds(three_seeds):
    results = load_results(three_seeds)
    paths = write_summary(results, three_seeds)
    out = three_seeds / "summary"
    assert {p.name for p in paths} == EXPECTED_FILES == {p.name for p in out.iterdir()}
    md = (out / "summary.md").read_text()
    assert "All 15 runs are complete." in md
    assert "exact McNemar p < 0.05 in" in md and "scipy.stats.binomtest" in md
    assert ", holds (95% interval over seeds and test images" in md
    assert "grouped convolution as free" in md
    assert "before the fidelity fix" not in md
    assert "0123456789" in md  # the code commit the runs recorded
    assert "/tmp" not in md and str(three_seeds) not in md
    for name in ("summary.csv", "runs.csv", "pairs.csv"):
        assert "/tmp" not in (out / name).read_text()
    pairs = pd.read_csv(out / "pairs.csv")
    assert len(pairs) == 7 * 3


def test_write_summary_says_old_networks_and_jpeg(tmp_path):
    results_dir = tmp_path / "old"
    for v in VARIANTS:
        make_run(results_dir / "runs", v, layout="old", code=False,
                 data_source="image-folders:/data/cifar10-jpeg")
    write_summary(load_results(results_dir), results_dir)
    md = (results_dir / "summary" / "summary.md").read_text()
    assert "made before the fidelity fix (all-swish gpc networks)" in md
    assert "quality 75" in md and "lossless PNGs" in md and "78.2%" in md
    assert "one seed: no interval that carries seed-to-seed variation" in md
    assert "/data/cifar10-jpeg" not in md


def test_write_summary_refuses_an_empty_folder(tmp_path):
    results_dir = tmp_path / "empty"
    (results_dir / "summary").mkdir(parents=True)
    (results_dir / "summary" / "summary.md").write_text("the committed summary\n")
    with pytest.raises(SummaryRefused, match="no runs in .*runs/<variant>/seed<k>/"):
        write_summary(load_results(results_dir), results_dir)
    assert [p.name for p in (results_dir / "summary").iterdir()] == ["summary.md"]
    assert (results_dir / "summary" / "summary.md").read_text() == "the committed summary\n"


def test_write_summary_never_emptier(three_seeds):
    write_summary(load_results(three_seeds), three_seeds)
    before = {p.name: p.read_bytes() for p in (three_seeds / "summary").iterdir()}
    (three_seeds / "runs" / "gpc64" / "seed2" / "metrics.json").unlink()  # 14 complete now
    results = load_results(three_seeds)
    with pytest.raises(SummaryRefused, match="made from 15 complete runs"):
        write_summary(results, three_seeds)
    assert {p.name: p.read_bytes() for p in (three_seeds / "summary").iterdir()} == before
    write_summary(results, three_seeds, force=True)
    assert "gpc64 seed 2" in (three_seeds / "summary" / "summary.md").read_text()


def test_write_summary_broken(broken_dir):
    paths = write_summary(load_results(broken_dir), broken_dir)
    # no pair with MobileNet among these runs: no headline comparison to draw
    assert {p.name for p in paths} == EXPECTED_FILES - {"fig_headline.png", "fig_headline.svg"}
    md = (broken_dir / "summary" / "summary.md").read_text()
    assert "`gpc128` (gpcMobileNet 128 Channels): missing" in md
    assert "damaged: history.csv" in md and "metrics.json is not valid JSON" in md
    assert "unfinished (2/3 epochs)" in md and "Not drawn" not in md


def test_write_summary_is_reproducible(three_seeds):
    results = load_results(three_seeds)
    first = {p.name: p.read_bytes() for p in write_summary(results, three_seeds)}
    second = {p.name: p.read_bytes() for p in write_summary(results, three_seeds)}
    assert first == second
