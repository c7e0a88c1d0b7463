"""Tests for gpc_support.reporting and notebooks/summary.ipynb.

Every test builds its own results folder in tmp_path, in the layout
gpc_support.training writes (runs/<variant>/history.csv, metrics.json,
config.json, state.json, test_predictions.npz), with plausible numbers: the
parameter counts of SPEC.md section 2 and the MAC / profiler counts of the
real models at 32x32.  No Keras or TensorFlow is imported here.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import sys
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from gpc_support import reporting
from gpc_support.reporting import (
    REPORT_TABLE,
    VARIANTS,
    format_markdown,
    load_results,
    load_run,
    per_class_accuracy,
    plot_confusion,
    plot_curves_grid,
    plot_history,
    plot_overlay,
    plot_tradeoff,
    summary_table,
    write_summary,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "summary.ipynb"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]

# (params_total, params_trainable, macs, profiler_flops) of the real models at 32x32
COUNTS = {
    "mobilenet": (3_239_114, 3_217_226, 11_596_288, 23_465_148),
    "gpc16": (274_122, 244_298, 1_847_808, 1_792_444),
    "gpc32": (432_842, 403_018, 3_109_376, 2_841_020),
    "gpc64": (748_234, 718_410, 5_108_224, 3_889_596),
    "gpc128": (1_353_930, 1_324_362, 7_533_056, 6_993_596),
}
FINAL_ACC = {"mobilenet": 0.62, "gpc16": 0.55, "gpc32": 0.57, "gpc64": 0.59, "gpc128": 0.61}
PROFILE = {"name": "quick", "image_size": 32, "batch_size": 64, "epochs": 3,
           "train_limit": 5000, "test_limit": 1000, "validation_fraction": 0.1, "augment": True,
           "lr_base": 0.001, "lr_peak": 0.004, "lr_warmup": 1, "lr_decay": 0.5, "lr_cycle": 3}
HEADER = "epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds"


def history_rows(variant, epochs):
    final = FINAL_ACC.get(variant, 0.5)
    rows = []
    for e in range(1, epochs + 1):
        acc = final * (1 - 0.55 ** e)
        val = acc - 0.03 + 0.02 * (e % 2)
        rows.append((e, 0.001 * (1 + 0.5 * (e - 1)), 2.3 - 1.2 * acc, acc,
                     2.4 - 1.2 * val, val, 20.0 + e))
    return rows


def history_text(variant, epochs):
    lines = [HEADER] + [",".join(repr(float(v)) if i else str(v) for i, v in enumerate(row))
                        for row in history_rows(variant, epochs)]
    return "\n".join(lines) + "\n"


def make_run(runs, variant, epochs=3, complete=True):
    """A run folder as gpc_support.training leaves it (finished or not)."""
    folder = runs / variant
    folder.mkdir(parents=True, exist_ok=True)
    channels = None if variant == "mobilenet" else int(variant[3:])
    label = reporting.variant_label(variant)
    profile = dict(PROFILE)
    (folder / "config.json").write_text(json.dumps(
        {"variant": variant, "label": label, "channels": channels, "profile": profile, "seed": 0}))
    (folder / "history.csv").write_text(history_text(variant, epochs))
    rows = history_rows(variant, epochs)
    best = max(rows, key=lambda r: r[5])
    (folder / "state.json").write_text(json.dumps(
        {"epochs_done": epochs, "checkpoint": f"epoch_{epochs:03d}.keras",
         "best_val_accuracy": best[5], "best_epoch": best[0], "training_seconds": 66.0}))
    if not complete:
        return folder
    total, trainable, macs, flops = COUNTS.get(variant, (500_000, 480_000, 4_000_000, 3_000_000))
    rng = np.random.default_rng(len(variant))
    y_true = np.arange(200) % 10
    y_pred = np.where(rng.random(200) < FINAL_ACC.get(variant, 0.5), y_true, (y_true + 1) % 10)
    probs = np.full((200, 10), 0.01, np.float32)
    probs[np.arange(200), y_pred] = 0.91
    buf = io.BytesIO()
    np.savez_compressed(buf, y_true=y_true, probabilities=probs, class_names=np.array(CLASS_NAMES))
    (folder / "test_predictions.npz").write_bytes(buf.getvalue())
    metrics = {
        "variant": variant, "label": label, "channels": channels, "profile": profile,
        "params_total": total, "params_trainable": trainable,
        "param_size_mib": total * 4 / 2**20, "macs": macs, "profiler_flops": flops,
        "test_accuracy": FINAL_ACC.get(variant, 0.5) - 0.01, "test_loss": 1.3,
        "best_epoch": best[0], "best_val_accuracy": best[5], "epochs": epochs,
        "training_seconds": 66.0, "images_per_second": 204.5, "mixed_precision": False,
        "train_images": 4500, "val_images": 500, "test_images": 1000,
        "data_source": "synthetic", "environment": {"python": "3.x"},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return folder


@pytest.fixture
def complete_dir(tmp_path):
    results = tmp_path / "complete"
    for v in VARIANTS:
        make_run(results / "runs", v)
    return results


@pytest.fixture
def broken_dir(tmp_path):
    """mobilenet complete; gpc16 truncated history; gpc32 metrics not JSON;
    gpc64 metrics lacking macs; gpc128 missing; gpc8 unfinished."""
    results = tmp_path / "broken"
    runs = results / "runs"
    make_run(runs, "mobilenet")
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

def _training_constant(name):
    tree = ast.parse((ROOT / "gpc_support" / "training.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in training.py")


def test_fields_agree_with_training_engine():
    assert reporting.HISTORY_FIELDS == _training_constant("HISTORY_FIELDS")
    assert set(reporting.REQUIRED_METRICS) <= set(_training_constant("METRICS_FIELDS"))


def test_report_table_values():
    assert tuple(REPORT_TABLE) == VARIANTS == ("mobilenet", "gpc16", "gpc32", "gpc64", "gpc128")
    assert REPORT_TABLE["mobilenet"] == dict(
        architecture="MobileNet", params_m=3.239, param_reduction_pct=None, param_size_mb=12.36,
        computation_m=567.751, computation_reduction_pct=None, test_accuracy_pct=92.35)
    expect = {"gpc16": (0.274, 91.54, 1.05, 32.122, 94.34, 89.67),
              "gpc32": (0.432, 86.66, 1.65, 57.813, 89.81, 90.82),
              "gpc64": (0.748, 76.90, 2.85, 83.503, 85.29, 91.96),
              "gpc128": (1.353, 58.22, 5.16, 160.172, 71.78, 92.69)}
    for v, values in expect.items():
        r = REPORT_TABLE[v]
        assert (r["params_m"], r["param_reduction_pct"], r["param_size_mb"], r["computation_m"],
                r["computation_reduction_pct"], r["test_accuracy_pct"]) == values
        assert r["architecture"] == f"gpcMobileNet {v[3:]} Channels"


# ------------------------------------------------------------------ loading

def test_load_complete_run(complete_dir):
    run = load_run(complete_dir / "runs" / "gpc16")
    assert run.status == "complete" and run.problem is None
    assert run.variant == "gpc16" and run.label == "gpcMobileNet 16 Channels"
    assert list(run.history.columns) == list(reporting.HISTORY_FIELDS)
    assert run.history["epoch"].tolist() == [1, 2, 3]
    assert run.metrics["macs"] == COUNTS["gpc16"][2]
    assert run.planned_epochs == 3 and run.predictions_path is not None


def test_load_results_statuses(broken_dir):
    results = load_results(broken_dir)
    assert list(results) == ["mobilenet", "gpc16", "gpc32", "gpc64", "gpc128", "gpc8"]
    st = {k: r.status for k, r in results.items()}
    assert st == {"mobilenet": "complete", "gpc16": "damaged", "gpc32": "damaged",
                  "gpc64": "damaged", "gpc128": "missing", "gpc8": "unfinished"}
    assert "history.csv" in results["gpc16"].problem and "truncated" in results["gpc16"].problem
    assert results["gpc16"].history is None and results["gpc16"].metrics is not None
    assert results["gpc32"].problem == "metrics.json is not valid JSON"
    assert results["gpc32"].metrics is None and len(results["gpc32"].history) == 3
    assert results["gpc64"].problem == "metrics.json lacks macs"
    assert results["gpc8"].epochs_done == 2
    assert results["gpc8"].status_text == "unfinished (2/3 epochs)"
    assert results["gpc128"].history is None and results["gpc128"].metrics is None


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
    data = content if isinstance(content, bytes) else content.encode()
    (folder / "history.csv").write_bytes(data)
    run = load_run(folder)
    assert run.status == "damaged"
    assert fragment in run.problem


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(test_accuracy="high"), "test_accuracy"),
    (lambda m: m.update(test_accuracy=92.3), "not a fraction"),
    (lambda m: m.update(variant="gpc64"), "for variant 'gpc64'"),
    (lambda m: m.update(epochs=5), "metrics.json says 5"),
    (lambda m: m.update(profiler_flops="n/a"), "profiler_flops"),
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


def test_unfinished_without_epochs_and_null_profiler(tmp_path):
    runs = tmp_path / "runs"
    (runs / "gpc64").mkdir(parents=True)
    run = load_run(runs / "gpc64")
    assert run.status == "unfinished" and run.epochs_done == 0
    folder = make_run(runs, "gpc16")
    m = json.loads((folder / "metrics.json").read_text())
    m["profiler_flops"] = None
    (folder / "metrics.json").write_text(json.dumps(m))
    assert load_run(folder).status == "complete"


def test_load_results_of_nothing(tmp_path):
    results = load_results(tmp_path / "does-not-exist")
    assert list(results) == list(VARIANTS)
    assert all(r.status == "missing" for r in results.values())


# ------------------------------------------------------------------ table

def test_summary_table_values(complete_dir):
    df = summary_table(load_results(complete_dir))
    assert list(df.index) == list(VARIANTS)
    for column in ("Architecture", "Parameters", "Parameter reduction %", "Parameter size (MB)",
                   "Computation MACs (M)", "MAC reduction %", "Profiler FLOPs/2 (M)",
                   "Profiler reduction %", "Test accuracy %", "status", "Report params (M)",
                   "Report computation (M)", "Report accuracy %", "Δ accuracy (pp)"):
        assert column in df.columns
    g16 = df.loc["gpc16"]
    assert g16["Parameters"] == 274_122
    assert g16["Parameter reduction %"] == pytest.approx(100 * (1 - 274_122 / 3_239_114))
    assert round(g16["Parameter reduction %"], 2) == REPORT_TABLE["gpc16"]["param_reduction_pct"]
    assert round(df.loc["mobilenet", "Parameter size (MB)"], 2) == 12.36
    assert g16["Computation MACs (M)"] == pytest.approx(1.847808)
    assert g16["MAC reduction %"] == pytest.approx(100 * (1 - 1_847_808 / 11_596_288))
    assert g16["Profiler FLOPs/2 (M)"] == pytest.approx(1_792_444 / 2e6)
    assert g16["Test accuracy %"] == pytest.approx(54.0)
    assert g16["Δ accuracy (pp)"] == pytest.approx(54.0 - 89.67)
    assert math.isnan(df.loc["mobilenet", "Parameter reduction %"]) is False
    assert df.loc["mobilenet", "Parameter reduction %"] == pytest.approx(0.0)
    assert math.isnan(df.loc["mobilenet", "Report parameter reduction %"])
    assert (df["status"] == "complete").all()
    assert any("compare the reduction" in n for n in df.attrs["notes"])


def test_summary_table_without_baseline(broken_dir):
    results = load_results(broken_dir)
    del results["mobilenet"]
    df = summary_table(results)
    assert df["Parameter reduction %"].isna().all()
    assert any("baseline" in n for n in df.attrs["notes"])
    assert df.loc["gpc16", "status"].startswith("damaged: history.csv")
    assert df.loc["gpc16", "Parameters"] == 274_122          # metrics still fine
    assert math.isnan(df.loc["gpc32", "Parameters"])
    assert df.loc["gpc128", "status"] == "missing"


def test_format_markdown():
    df = pd.DataFrame({"Architecture": ["A|B", "C"], "Parameters": [3_239_114.0, np.nan],
                       "Test accuracy %": [92.346, 1.0], "status": ["complete", "missing"]})
    md = format_markdown(df)
    lines = md.strip().split("\n")
    assert lines[0] == "| Architecture | Parameters | Test accuracy % | Status |"
    assert lines[1] == "|:---|---:|---:|:---|"
    assert lines[2] == "| A\\|B | 3,239,114 | 92.35 | complete |"
    assert lines[3] == "| C | NA | 1.00 | missing |"
    assert format_markdown(df, columns=["Parameters"], index=True).startswith("|  | Parameters |")


# ------------------------------------------------------------------ figures

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


def test_plot_history(complete_dir):
    run = load_run(complete_dir / "runs" / "gpc32")
    fig = plot_history(run.history, "gpcMobileNet 32 Channels")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    text = _texts(fig)
    assert "training" in text and "validation" in text and "best val. acc. (epoch 3" in text
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = plot_history(None, "nothing")
    assert "no finished epoch" in _texts(empty)


def test_plots_with_broken_results(broken_dir):
    results = load_results(broken_dir)
    fig_acc, fig_loss = plot_curves_grid(results)
    assert len([a for a in fig_acc.axes if a.axison]) == 6 == len(results)
    text = _texts(fig_acc)
    assert "Figure 6.2" in text and "no run" in text and "no readable history" in text
    assert "training" in text and "validation" in text and "best val. acc. 31.9% (epoch 2)" in text
    assert "Figure 6.3" in _texts(fig_loss)
    overlay = plot_overlay(results, "val_accuracy")
    labels = [t.get_text() for t in overlay.axes[0].get_legend().get_texts()]
    assert "MobileNet" in labels and "gpcMobileNet 8 Channels (unfinished)" in labels
    with pytest.raises(ValueError):
        plot_overlay(results, "epoch")
    trade = plot_tradeoff(results)
    text = _texts(trade)
    assert len(trade.axes) == 2 and "report, Table 6.1" in text and "gpc16 (damaged)" in text
    # colours are fixed per variant
    colours = reporting.variant_colors(list(results))
    assert colours["gpc16"] == reporting.variant_colors(["gpc16"])["gpc16"]
    assert len(set(colours.values())) == len(colours)


def test_confusion_and_per_class():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.eye(3)[[0, 1, 1, 1, 0, 2]]  # one-hot predictions
    table = per_class_accuracy(y_true, y_pred, ["a", "b", "c"])
    assert table["images"].tolist() == [2, 2, 2]
    assert table["correct"].tolist() == [1, 2, 1]
    assert table["accuracy %"].tolist() == [50.0, 100.0, 50.0]
    assert table["most confused with"].tolist() == ["b", "", "a"]
    fig = plot_confusion(y_true, y_pred, ["a", "b", "c"])
    assert "accuracy 66.67%" in _texts(fig)
    with pytest.raises(ValueError):
        per_class_accuracy([0, 5], [0, 1], ["a", "b"])


def test_load_predictions(complete_dir):
    y_true, y_pred, names = reporting.load_predictions(complete_dir / "runs" / "gpc16")
    assert names == CLASS_NAMES and len(y_true) == len(y_pred) == 200
    with pytest.raises(ValueError):
        reporting.load_predictions(complete_dir / "runs" / "nothing")


# ------------------------------------------------------------------ summary files

@contextlib.contextmanager
def _no_warnings():
    """Fail on any UserWarning (write_summary warns when a figure is not drawn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        yield


EXPECTED_FILES = {"summary.md", "summary.csv"} | {
    f"{stem}.{ext}" for stem in ("fig_accuracy", "fig_loss", "fig_overlay_val_accuracy", "fig_tradeoff")
    for ext in ("png", "svg")}


def test_write_summary_broken(broken_dir):
    results = load_results(broken_dir)
    with _no_warnings():
        paths = write_summary(results, broken_dir)
    out = broken_dir / "summary"
    assert {p.name for p in paths} == EXPECTED_FILES == {p.name for p in out.iterdir()}
    md = (out / "summary.md").read_text()
    assert "profile `quick`: 32x32 images" in md
    assert "`gpc128` (gpcMobileNet 128 Channels): missing" in md
    assert "`gpc16` (gpcMobileNet 16 Channels): damaged: history.csv" in md
    assert "`gpc32` (gpcMobileNet 32 Channels): damaged: metrics.json is not valid JSON" in md
    assert "`gpc64` (gpcMobileNet 64 Channels): damaged: metrics.json lacks macs" in md
    assert "unfinished (2/3 epochs)" in md
    assert "profiler" in md and "Not drawn" not in md
    csv = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(csv.index) == ["mobilenet", "gpc16", "gpc32", "gpc64", "gpc128", "gpc8"]
    assert (out / "fig_tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (out / "fig_loss.svg").read_bytes()[:1000]


def test_write_summary_all_missing(tmp_path):
    results = load_results(tmp_path / "empty")
    with _no_warnings():
        paths = write_summary(results, tmp_path / "empty")
    assert {p.name for p in paths} == EXPECTED_FILES
    md = (tmp_path / "empty" / "summary" / "summary.md").read_text()
    assert "no run recorded its profile" in md and "baseline" in md
    assert md.count(": missing") == 5


def test_write_summary_is_reproducible(complete_dir):
    results = load_results(complete_dir)
    first = {p.name: p.read_bytes() for p in write_summary(results, complete_dir)}
    second = {p.name: p.read_bytes() for p in write_summary(results, complete_dir)}
    assert first["fig_tradeoff.svg"] == second["fig_tradeoff.svg"]
    assert first["summary.md"] == second["summary.md"]
    assert "All 5 runs are complete." in first["summary.md"].decode()
    # atomic writes leave no temporary files behind
    assert {p.name for p in (complete_dir / "summary").iterdir()} == EXPECTED_FILES


# ------------------------------------------------------------------ notebook

def test_notebook_template_is_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert 'results_dir = "results/quick"' in code[0].source
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None


@pytest.fixture
def kernel_name(tmp_path_factory, monkeypatch):
    """A "python3" kernelspec that runs this interpreter, found first via JUPYTER_PATH,
    so the notebook runs in this environment whatever other kernels are installed."""
    share = tmp_path_factory.mktemp("jupyter")
    spec = share / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (gpc-study tests)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(share))
    return "python3"


def _run_notebook(results_dir, tmp_path, kernel_name):
    import papermill

    out = tmp_path / f"summary-{results_dir.name}.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"results_dir": str(results_dir)},
                               kernel_name=kernel_name, cwd=str(ROOT), progress_bar=False,
                               log_output=False)
    nb = nbformat.read(out, as_version=4)
    text = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert o.output_type != "error", o
            text.append(o.get("text", ""))
            text += [str(v) for k, v in o.get("data", {}).items() if k.startswith("text/")]
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    return "\n".join(text), images


def test_notebook_complete(tmp_path, kernel_name):
    results = tmp_path / "two"
    make_run(results / "runs", "mobilenet")
    make_run(results / "runs", "gpc16")
    text, images = _run_notebook(results, tmp_path, kernel_name)
    assert images >= 4
    assert "gpcMobileNet 16 Channels" in text and "missing" in text
    assert {p.name for p in (results / "summary").iterdir()} == EXPECTED_FILES
    md = (results / "summary" / "summary.md").read_text()
    assert "`gpc32` (gpcMobileNet 32 Channels): missing" in md


def test_notebook_broken(broken_dir, tmp_path, kernel_name):
    text, images = _run_notebook(broken_dir, tmp_path, kernel_name)
    assert images >= 4
    for fragment in ("damaged: history.csv", "metrics.json is not valid JSON",
                     "metrics.json lacks macs", "missing", "unfinished"):
        assert fragment in text, fragment
    assert {p.name for p in (broken_dir / "summary").iterdir()} == EXPECTED_FILES
