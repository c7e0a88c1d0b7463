"""scripts/render_readme_results.py: the README's Results table comes from the summary."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from gpc_support.report.results import VARIANTS, load_results
from gpc_support.report import readme_sections
from gpc_support.report.summary_text import write_summary
from tests.reporting_fixtures import make_run

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("render_readme_results",
                                              ROOT / "scripts" / "render_readme_results.py")
render = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render)


@pytest.fixture(scope="module")
def summarised_once(tmp_path_factory):
    results = tmp_path_factory.mktemp("readme") / "cpu"
    for v in VARIANTS:
        for seed in (0, 1):
            make_run(results / "runs", v, seed=seed, code=(v != "gpc64"),
                     data_source={"layout": "image-folders", "fingerprint": "f00d"})
    write_summary(load_results(results), results)
    return results


@pytest.fixture
def summarised(summarised_once, tmp_path):
    """A results folder with its summary, this test's own copy (summarising is the slow part)."""
    return Path(shutil.copytree(summarised_once, tmp_path / "cpu"))


def test_section_from_the_summary(summarised):
    section = render.render_section(summarised, "results/cpu")
    results = load_results(summarised)
    accs = [100 * r.metrics["test_accuracy"] for r in results["gpc16"]]
    import numpy as np

    assert f"**{np.mean(accs):.2f} ± {np.std(accs, ddof=1):.2f} (n=2)**" in section
    assert "| gpcMobileNet 16 Channels | 274,122 | 91.54% |" in section
    assert "2 of these runs were made before the fidelity fix" in section
    assert "quality 75" in section
    assert "gpc16 - MobileNet:" in section and "; mean of 2 seeds, sd " in section
    assert "test images alone (the measurement noise of one test set): 95% bootstrap" in section
    assert "95% interval over seeds and test images" in section
    assert "![" in section and "results/cpu/summary/fig_test_accuracy.png" in section
    # each seed's training time (the fixtures: 66 + seed seconds), not their mean
    assert "| 1.1, 1.1 min |" in section and section.count(" min |") == len(VARIANTS)
    n = 2 * len(VARIANTS)
    assert f"{n} complete runs of the networks in this table, seeds 0, 1;" in section


def test_run_count_leaves_out_ablation_runs(summarised):
    """Ablation runs share the folder but not the main table: its count says so."""
    make_run(summarised / "runs", "gpc16-k-only", seed=0, accuracy=0.40)
    write_summary(load_results(summarised), summarised)
    section = render.render_section(summarised, "results/cpu")
    n = 2 * len(VARIANTS)
    assert (f"{n} complete runs of the networks in this table, seeds 0, 1 "
            "(the folder's 1 other complete run: see the ablation below);") in section


def test_training_time_per_seed(summarised):
    import json

    metrics = summarised / "runs" / "gpc32" / "seed1" / "metrics.json"
    m = json.loads(metrics.read_text())
    m["training_seconds"] = 6744.0  # a run that shared the machine
    metrics.write_text(json.dumps(m))
    write_summary(load_results(summarised), summarised)
    section = render.render_section(summarised, "results/cpu")
    (row,) = [line for line in section.splitlines() if line.startswith("| gpcMobileNet 32 ")]
    assert row.endswith("| 1.1, 112.4 min |")


def test_rewrite_between_markers(summarised):
    start, end = render.markers("cpu")
    text = f"# Title\n\n## Results\n{start}\nold typed table\n{end}\n\nmore\n"
    section = render.render_section(summarised, "results/cpu")
    new = render.rewrite(text, "cpu", section)
    assert "old typed table" not in new and section in new
    assert new.startswith("# Title\n\n## Results\n") and new.endswith(f"{end}\n\nmore\n")
    assert render.rewrite(new, "cpu", section) == new  # idempotent
    with pytest.raises(render.RenderError, match="exactly once"):
        render.rewrite("no markers here", "cpu", section)


def test_missing_summary_is_a_clear_error(tmp_path):
    with pytest.raises(render.RenderError, match="no such file"):
        render.render_section(tmp_path / "cpu", "results/cpu")


def test_committed_readme_matches_committed_summary():
    """The README's answer and docs/results.md's sections are what the script
    makes of results/cpu/summary/ and results/deploy/."""
    readme = (ROOT / "README.md").read_text()
    assert "<!-- answer:cpu:start -->" in readme
    assert "<!-- results:cpu:start -->" in (ROOT / "docs" / "results.md").read_text()
    assert render.main(["cpu", "--check"]) == 0
    # the converged claims beside the 15-epoch ones (a placeholder until paper32 runs land)
    assert "<!-- results:paper32-convergence:start -->" in readme
    assert render.main(["paper32", "--check"]) == 0


def _with_widths(summarised):
    """The summarised folder with thinner MobileNets of both families, two seeds."""
    import json

    counts = {"mobilenet-a0.25": (221_114, 834_688), "mobilenet-swish-a0.25": (221_114, 834_688),
              "mobilenet-swish": (3_239_114, 11_596_288)}
    for v, acc in (("mobilenet-a0.25", 0.40), ("mobilenet-swish-a0.25", 0.45),
                   ("mobilenet-swish", 0.66)):
        for seed in (0, 1):
            folder = make_run(summarised / "runs", v, seed=seed, accuracy=acc + 0.01 * seed)
            metrics = json.loads((folder / "metrics.json").read_text())
            metrics["params_total"], metrics["macs"] = counts[v]
            (folder / "metrics.json").write_text(json.dumps(metrics))
    write_summary(load_results(summarised), summarised)
    return summarised


def test_answer_and_fair_sections_from_the_summary(summarised, tmp_path):
    folder = _with_widths(summarised)
    answer = render.render_answer(folder, "results/cpu", tmp_path / "no-deploy")
    rows = [line for line in answer.splitlines() if line.startswith("| gpcMobileNet")]
    assert [r.split("|")[1].strip() for r in rows] == [
        "gpcMobileNet 16", "gpcMobileNet 32", "gpcMobileNet 64", "gpcMobileNet 128"]
    # parameters and their share of MobileNet's; latency NA without results/deploy
    assert "| 274,122 (8%) | 1.85M (16%) | NA |" in rows[0]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[6:9]]
        assert all(c.endswith(("holds", "not resolved")) or "not resolved" in c for c in cells)
    sentences = [line for line in answer.splitlines() if line.startswith("* ")]
    assert len(sentences) == 4
    assert sentences[0].startswith("* Against MobileNet as published (ReLU6): gpc16 ")
    assert sentences[2].startswith("* Against MobileNet-swish made thinner instead (the width "
                                   "multiplier), the gpc networks are ")
    assert "at the same parameters" in sentences[2] and "at the same MACs" in sentences[2]
    assert sentences[3].startswith("* Against MobileNet (ReLU6) made thinner instead")
    fair = render.render_fair_section(folder, "../results/cpu", "")
    assert "| mobilenet-a0.25 | MobileNet by width (ReLU6) | 221,114 | 0.83M | 2 |" in fair
    assert "[docs/statistics.md](statistics.md)" in fair
    assert "../results/cpu/summary/fig_pareto.png" in fair
    statements = [line for line in fair.splitlines() if line.startswith("* ")]
    assert len(statements) == 16 and all(
        line.startswith(("* holds: ", "* not resolved: ")) for line in statements)
    # render_file rewrites only the sections a file holds
    text = "intro\n<!-- answer:cpu:start -->\nold\n<!-- answer:cpu:end -->\ntail\n"
    new = render.render_file(text, "cpu", folder, "results/cpu", "docs/", tmp_path)
    assert new.startswith("intro\n<!-- answer:cpu:start -->\n<!-- generated by")
    assert new.endswith("<!-- answer:cpu:end -->\ntail\n") and "\nold\n" not in new
    with pytest.raises(render.RenderError, match="no generated section of profile 'cpu'"):
        render.render_file("nothing here", "cpu", folder, "results/cpu", "docs/", tmp_path)


def test_ablation_section_from_the_summary(summarised):
    for seed in (0, 1):
        make_run(summarised / "runs", "gpc16-k-only", seed=seed, accuracy=0.40 + 0.01 * seed)
        make_run(summarised / "runs", "mobilenet-swish", seed=seed, accuracy=0.63)
    empty = render.render_ablation_section(summarised, "results/cpu")
    assert "No ablation runs in `results/cpu/runs/` yet." in empty
    write_summary(load_results(summarised), summarised)
    section = render.render_ablation_section(summarised, "results/cpu")
    assert "| gpc16-k-only | grouping alone: grouped K, no interleave, no L |" in section
    assert "**40.50 ± 0.71 (n=2)**" in section
    # MACs at the study's image size beside the parameters (fixture: 4,000,000 for these names)
    header = next(line for line in section.splitlines() if line.startswith("| Variant "))
    assert "| MACs @ 32 px |" in header
    row = next(line for line in section.splitlines() if line.startswith("| gpc16-k-only "))
    assert "| 4.00M |" in row
    # a variant without a run says so, in words, not NaN
    relu6 = next(line for line in section.splitlines() if line.startswith("| gpc16-relu6 "))
    assert "no complete run yet" in relu6 and "nan" not in relu6.lower()
    assert "**grouping** (gpc16-k-only - mobilenet-swish): -22.50 pp, holds" in section
    assert "no seed with complete runs" not in section  # only tested contrasts are stated
    assert "results/cpu/summary/fig_ablation.png" in section
    start, end = render.markers("cpu-ablation")
    text = f"{render.markers('cpu')[0]}\nx\n{render.markers('cpu')[1]}\n{start}\nold\n{end}\n"
    assert section in render.rewrite(text, "cpu-ablation", section)


def test_renderer_refuses_holds_for_a_claim_not_resolved(summarised):
    line = "gpc64 - gpc32: +0.18 pp, holds (95% interval over seeds and test images ...)"
    assert readme_sections.checked_statements([line], ["holds"]) == [line]
    with pytest.raises(render.RenderError, match="says 'holds' where the verdict is 'not resolved'"):
        readme_sections.checked_statements([line], ["not resolved"])
    # a pairs.csv whose verdict contradicts its Holm-adjusted p-value is refused
    import pandas as pd

    path = summarised / "summary" / "pairs.csv"
    pairs = pd.read_csv(path)
    pairs["verdict"], pairs["p_holm"] = "holds", 0.3
    pairs.to_csv(path, index=False)
    with pytest.raises(render.RenderError, match="contradicts itself"):
        render.render_section(summarised, "results/cpu")
    # one written before verdicts existed is refused too
    pairs.drop(columns=["verdict"]).to_csv(path, index=False)
    with pytest.raises(render.RenderError, match="no 'verdict' column"):
        render.render_section(summarised, "results/cpu")


def test_deploy_latency_table_is_read_from_latency_csv(tmp_path):
    columns = ("runtime,form,variant,image_size,threads,median_ms,ratio_to_mobilenet,"
               "cpu_median_ms,cpu_ratio_to_mobilenet,mac_ratio,note")
    rows = ["ONNX Runtime,baseline,mobilenet,224,1,26.0,1.0,10.0,1.0,1.0,idle machine",
            "ONNX Runtime,grouped,gpc16,224,1,24.0,0.923,9.0,0.9,0.1586,idle machine",
            "LiteRT+XNNPACK,baseline,mobilenet,32,1,2.0,1.0,,,1.0,idle machine",
            "LiteRT+XNNPACK,grouped,gpc16,32,1,0.5,0.25,,,0.1586,idle machine",
            "LiteRT+XNNPACK,baseline,mobilenet,224,2,11.0,1.0,,,1.0,idle machine",
            "LiteRT+XNNPACK,einsum,gpc16,224,2,11.44,1.04,,,0.1586,idle machine"]
    (tmp_path / "latency.csv").write_text(columns + "\n" + "\n".join(rows) + "\n")
    lines = render.render_deploy_latency(tmp_path).splitlines()
    assert lines[0] == "MAC ratios: gpc16 0.159."
    assert lines[2] == "Measured under: idle machine (`note` column of latency.csv)."
    body = [line for line in lines if line.startswith("| ") and "runtime" not in line]
    # LiteRT before ONNX, 224 px before 32 px; NA where a form was not measured
    assert body[0] == "| LiteRT+XNNPACK | 224 | 2 | 11.00 | 1.04 | NA | NA | NA | NA | NA | NA | NA |"
    assert body[1] == "| LiteRT+XNNPACK | 32 | 1 | 2.00 | NA | 0.25 | NA | NA | NA | NA | NA | NA |"
    assert body[2] == ("| ONNX Runtime | 224 | 1 | 26.00 (CPU 10.00) | NA | 0.92 (0.90) | NA | NA | NA | NA "
                       "| NA | NA |")
