"""The notebooks as a reader meets them, executed for real with papermill.

- the variant notebook on the smoke profile (tiny synthetic CIFAR-10): its
  plot cells hold PNG figures, no cell holds a traceback or TensorFlow's
  start-up lines, it ends with its result beside the report's row, and
  neither the executed notebook (after `scrub_notebook`) nor the run folder
  holds an absolute path of this machine;
- the summary notebook: on a folder without runs it writes nothing (an
  existing summary stays byte-identical); on runs it writes the summary and
  `build_summary` renders summary.html;
- both notebooks' kernelspec is the installed kernel's, so JupyterLab does
  not mark them modified on opening.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from gpc_support.run.notebook_scrub import relative_to_repo, scrub_notebook, scrub_text, tidy_cells
from gpc_support.common.quiet_startup import is_startup_noise, quiet_native_stderr
from gpc_support.report.results import VARIANTS
from tests.reporting_fixtures import make_run

ROOT = Path(__file__).resolve().parents[1]
VARIANT_NOTEBOOK = ROOT / "notebooks" / "gpc_mobilenet.ipynb"
SUMMARY_NOTEBOOK = ROOT / "notebooks" / "summary.ipynb"
NOISE_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795967201.340327    5362 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors from "
    "different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.",
]
MACHINE_PATH = re.compile(r"(?<![\w.<>+/])/(tmp|work|root|home)/")


# ------------------------------------------------------------------ helpers

def test_startup_noise_is_recognised():
    assert all(is_startup_noise(line) for line in NOISE_LINES)
    assert not is_startup_noise("Traceback (most recent call last):")
    assert not is_startup_noise("E0000 something without the absl layout")


def test_quiet_native_stderr_keeps_real_messages(capfd):
    with quiet_native_stderr():
        os.write(2, ("\n".join(NOISE_LINES) + "\nreal problem: disk full\n").encode())
    err = capfd.readouterr().err
    assert "real problem: disk full" in err
    assert "absl" not in err and "oneDNN" not in err


def _cell(kind, source, tags=(), outputs=None):
    cell = {"cell_type": kind, "id": f"c{abs(hash(source)) % 10**6}", "metadata": {"tags": list(tags)},
            "source": source}
    if kind == "code":
        cell.update(outputs=outputs or [], execution_count=1)
    return cell


def _executed_cells():
    stderr = {"output_type": "stream", "name": "stderr",
              "text": NOISE_LINES[1] + "\nUserWarning: a real warning\n"}
    only_noise = {"output_type": "stream", "name": "stderr",
                  "text": "E0000 00:00:1795988100.998481   22113 util.cc:131] oneDNN supports ...\n"}
    stdout = {"output_type": "stream", "name": "stdout", "text": "E0000 in stdout stays\n"}
    return [
        _cell("markdown", "# One variant"),
        _cell("code", "channels = 16\nprofile = 'quick'", tags=["parameters"]),
        _cell("code", "# Parameters\nchannels = 'gpc16-relu6'\nprofile = 'cpu'\n"
              "data_dir = '<data-dir>'\nout_dir = '<out>/runs/gpc16-relu6/seed2'\nseed = 2\n"
              "overrides = {'epochs': 3}\nforce = False\nprecision = 'float32'\n",
              tags=["injected-parameters"]),
        _cell("code", "import gpc_support", outputs=[stderr, only_noise, stdout]),
    ]


def test_tidy_cells_one_parameters_cell_no_log_lines_and_a_rerun_note():
    cells = tidy_cells(_executed_cells(), out="results/cpu")
    assert [c.get("metadata", {}).get("tags") for c in cells] == [
        ["rerun-note"], [], ["injected-parameters", "parameters"], []]
    note = cells[0]["source"]
    assert ("./run_all.sh --profile cpu --channels gpc16-relu6 --seeds 2 --out results/cpu "
            "--data-dir YOUR_CIFAR10_FOLDER --epochs 3 --force") in note
    assert "`<data-dir>` is the CIFAR-10 folder" in note and "`<out>` is the results folder" in note
    outputs = cells[3]["outputs"]
    # the noise line goes, the real warning stays; an output of noise alone goes; stdout untouched
    assert [o["name"] for o in outputs] == ["stderr", "stdout"]
    assert outputs[0]["text"] == "UserWarning: a real warning\n"
    assert outputs[1]["text"] == "E0000 in stdout stays\n"
    # tidying twice gives the same cells (one note, one parameters cell)
    assert tidy_cells(cells, out="results/cpu") == cells
    # without a results folder to name, the command keeps the placeholder
    assert "--out <out> " in tidy_cells(_executed_cells())[0]["source"]


def test_tidy_cells_summary_note_and_untouched_template():
    summary = [_cell("code", "results_dir = 'x'", tags=["parameters"]),
               _cell("code", "# Parameters\nresults_dir = 'results/quick'\nforce = False\n",
                     tags=["injected-parameters"])]
    cells = tidy_cells(summary)
    assert "python -m gpc_support.summary_notebook results/quick" in cells[0]["source"]
    assert "placeholders" not in cells[0]["source"]  # none appears in this notebook
    assert len(cells) == 2
    template = [_cell("code", "channels = 16", tags=["parameters"])]
    assert tidy_cells(template) == template  # not executed: no note, parameters kept


def test_scrub_text_and_relative_paths(tmp_path):
    data = tmp_path / "cifar10"
    text = f'data_dir = "{data}"\nout = "{ROOT}/results/cpu"\nother = "{ROOT}2/x"'
    clean = scrub_text(text, {str(data): "<data-dir>"})
    assert clean == f'data_dir = "<data-dir>"\nout = "results/cpu"\nother = "{ROOT}2/x"'
    assert relative_to_repo(ROOT / "results" / "cpu") == "results/cpu"
    assert relative_to_repo(str(data)) == str(data)
    assert relative_to_repo(None) is None


def _installed_kernel_display_name():
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        return KernelSpecManager().get_kernel_spec("python3").display_name
    except Exception:  # noqa: BLE001 - no kernelspec installed: ipykernel's default
        return "Python 3 (ipykernel)"


@pytest.mark.parametrize("path", [VARIANT_NOTEBOOK, SUMMARY_NOTEBOOK], ids=lambda p: p.name)
def test_notebook_templates_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    spec = nb.metadata["kernelspec"]
    assert spec == {"display_name": _installed_kernel_display_name(), "language": "python",
                    "name": "python3"}
    assert nb.metadata["language_info"]["name"] == "python"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None
        # a figure is shown, never left in an assignment that displays nothing
        if "plot_" in cell.source:
            assert "display(" in cell.source, cell.source
    if path == SUMMARY_NOTEBOOK:
        assert 'results_dir = "results/cpu"' in code[0].source


# ------------------------------------------------------------------ executed notebooks

@pytest.fixture
def kernel_name(tmp_path_factory, monkeypatch):
    """A "python3" kernelspec that runs this interpreter, found first via JUPYTER_PATH."""
    share = tmp_path_factory.mktemp("jupyter")
    spec = share / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(share))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # the notebook must quiet TF itself
    return "python3"


def _execute(notebook, output, parameters, kernel_name):
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(notebook), str(output), parameters=parameters,
                               kernel_name=kernel_name, cwd=str(ROOT), progress_bar=False,
                               log_output=False)
    return nbformat.read(output, as_version=4)


def test_executed_kernels_log_only_critical_lines(tmp_path, kernel_name):
    """The kernels a batch starts keep their own log quiet below CRITICAL
    (a kernel interrupted at shutdown would log an ERROR after a notebook
    that ran to the end); a kernel that is not ipykernel gets no option."""
    from gpc_support.run import notebooks

    notebook = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": kernel_name, "language": "python", "display_name": "Python 3"}})
    notebook.cells = [nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell(
                          "from ipykernel.kernelapp import IPKernelApp\n"
                          "print('level', IPKernelApp.instance().log_level)")]
    nbformat.write(notebook, tmp_path / "in.ipynb")
    notebooks.execute_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb", {"x": 1},
                               kernel_name=kernel_name)
    printed = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].outputs[0].text
    assert printed.strip() == "level 50"
    other = Path(os.environ["JUPYTER_PATH"]) / "kernels" / "otherlang"
    other.mkdir(parents=True)
    (other / "kernel.json").write_text(json.dumps({
        "argv": ["otherlang-kernel", "{connection_file}"], "display_name": "Other",
        "language": "other"}))
    assert notebooks._kernel_arguments("otherlang") == []
    assert notebooks._kernel_arguments("no-such-kernel") == []


def _outputs(cell):
    return cell.get("outputs", [])


def _assert_clean_outputs(nb):
    for cell in nb.cells:
        for out in _outputs(cell):
            assert out.output_type != "error", out
            if out.output_type == "stream":
                for line in out.text.splitlines():
                    assert not is_startup_noise(line), line
                    assert "Traceback" not in line, line


def _machine_paths(text: str) -> list[str]:
    return MACHINE_PATH.findall(text)


def test_variant_notebook_smoke(tmp_path, cifar_batches_dir, kernel_name):
    out = tmp_path / "out"
    run_dir = out / "runs" / "gpc16" / "seed0"
    executed = out / "notebooks" / "gpc16-seed0.ipynb"
    nb = _execute(VARIANT_NOTEBOOK, executed,
                  {"channels": 16, "profile": "smoke", "data_dir": str(cifar_batches_dir),
                   "out_dir": str(run_dir), "seed": 0}, kernel_name)
    _assert_clean_outputs(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = next(c for c in code if "quiet_native_stderr" in c.source)
    assert [o.output_type for o in _outputs(setup)] == ["stream"]
    assert _outputs(setup)[0].name == "stdout"  # one line, no TensorFlow start-up text
    for marker in ("plot_history", "plot_confusion"):
        cell = next(c for c in code if marker in c.source)
        assert any("image/png" in o.get("data", {}) for o in _outputs(cell)), marker
    last = next(c for c in reversed(code) if "run_result_markdown" in c.source)
    result = "".join(o["data"]["text/markdown"] for o in _outputs(last) if "data" in o)
    assert "**Result.** gpcMobileNet 16 Channels" in result and "89.67%" in result
    assert "seed 0" in result

    # what batch.py does after papermill: no machine path left in the notebook
    scrub_notebook(executed, {str(out): "<out>", str(cifar_batches_dir): "<data-dir>"})
    text = executed.read_text()
    assert str(tmp_path) not in text and str(ROOT) not in text
    assert not _machine_paths(text), _machine_paths(text)[:5]
    assert 'out_dir = \\"<out>/runs/gpc16/seed0\\"' in text
    tidy = nbformat.read(str(executed), as_version=4)
    nbformat.validate(tidy)
    assert tidy.cells[0].metadata.tags == ["rerun-note"]
    assert "--profile smoke --channels 16 --seeds 0 --out <out> --force" in tidy.cells[0].source
    assert "embedded_data/" in tidy.cells[0].source  # smoke's default data is the committed subset
    assert sum("parameters" in c.metadata.get("tags", []) for c in tidy.cells) == 1
    # nor in anything the run wrote
    for path in run_dir.rglob("*"):
        if path.suffix in (".json", ".csv"):
            content = path.read_text()
            assert str(tmp_path) not in content and not _machine_paths(content), path.name


def test_summary_notebook_writes_nothing_without_runs(tmp_path, kernel_name):
    results = tmp_path / "empty"
    committed = {"summary.md": b"# committed summary\n", "summary.csv": b"variant,status\ngpc16,complete\n"}
    (results / "summary").mkdir(parents=True)
    for name, data in committed.items():
        (results / "summary" / name).write_bytes(data)
    nb = _execute(SUMMARY_NOTEBOOK, tmp_path / "summary-empty.ipynb", {"results_dir": str(results)},
                  kernel_name)
    _assert_clean_outputs(nb)
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "nothing written" in text and "runs/<variant>/seed<k>/" in text
    assert {p.name: p.read_bytes() for p in (results / "summary").iterdir()} == committed


def test_build_summary_writes_html(tmp_path, kernel_name):
    from gpc_support.run.summary_notebook import build_summary

    results = tmp_path / "two"
    for v in VARIANTS:
        for seed in (0, 1):
            make_run(results / "runs", v, seed=seed)
    for seed in (0, 1):  # one ablation variant: the notebook's ablation section shows
        make_run(results / "runs", "gpc16-relu6", seed=seed, accuracy=0.5)
    notebook, html = build_summary(results, kernel_name=kernel_name)
    assert html == results / "summary" / "summary.html"
    nb = nbformat.read(notebook, as_version=4)
    _assert_clean_outputs(nb)
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in _outputs(c))
    assert images >= 8  # seven figures of the study and the ablation's
    text = notebook.read_text()
    assert str(tmp_path) not in text and not _machine_paths(text)
    page = html.read_text()
    assert "<html" in page and "data:image/png;base64" in page and "exact McNemar" in page
    # a report for reading: conclusions first, no code
    assert page.index("Conclusions") < page.index("Table 6.1</h2>") if "Table 6.1</h2>" in page \
        else "Conclusions" in page
    assert "import " not in page and "reporting.load_results" not in page
    # the list of runs comes after everything it supports; the re-run note stays in the notebook
    assert page.index('id="Conclusions"') < page.index('id="Runs"') < page.index('id="Files"')
    assert "An executed copy" not in page and "An executed copy" in nb.cells[0].source
    md = (results / "summary" / "summary.md").read_text()
    assert "mean of 2 seeds" in md and "(n=2)" in md
    assert "activation, grouped side" in page and "**activation, grouped side** (gpc16 - gpc16-relu6)" in md
    assert "gpc16-relu6" not in (results / "summary" / "summary.csv").read_text()
    # a second build from fewer complete runs is refused and leaves everything in place
    before = {p.name: p.read_bytes() for p in (results / "summary").iterdir()}
    (results / "runs" / "gpc32" / "seed1" / "metrics.json").unlink()
    from gpc_support.report.summary_text import SummaryRefused

    with pytest.raises(SummaryRefused):
        build_summary(results, kernel_name=kernel_name)
    assert {p.name: p.read_bytes() for p in (results / "summary").iterdir()} == before
