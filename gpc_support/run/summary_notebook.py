"""The one summary builder: run the summary notebook for a results folder, scrub paths, render HTML.

    python -m gpc_support.run.summary_notebook results/cpu [--force]

executes `notebooks/summary.ipynb` with papermill into
`<results>/notebooks/summary.ipynb` (machine paths replaced by placeholders),
then writes `<results>/summary/summary.html` (nbconvert) beside `summary.md`,
for readers without Jupyter.  Every way of running the study (sequential,
--gpus / --cpus, Slurm) builds its summary with `build_summary`.  When the
folder holds no run, or fewer complete runs than the summary already there,
nothing is executed or written and the reason is given (`SummaryRefused`,
exit status 1).  A failing notebook raises its own error; the notebook it
wrote, if whole, is kept (scrubbed) for reading.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..common.atomic_files import atomic_write_text
from ..common.paths import REPO_ROOT, SUMMARY_NOTEBOOK
from ..report.results import load_results
from ..report.summary_text import SummaryRefused, check_summary_allowed, shown_path
from .notebook_scrub import relative_to_repo
from .notebooks import execute_notebook, scrub_paths
from .stopping import STATE

__all__ = ["SUMMARY_NOTEBOOK", "SummaryRefused", "build_summary", "render_html", "main"]


def render_html(notebook_path, html_path) -> Path:
    """The executed notebook as one self-contained HTML page (figures embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(str(notebook_path), as_version=4)
    # the page is the report; how to rebuild it is the notebook's first cell
    notebook.cells = [c for c in notebook.cells if "rerun-note" not in c.metadata.get("tags", [])]
    # a report for reading: the code stays in the notebook, the page shows its results
    body, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                           exclude_output_prompt=True).from_notebook_node(notebook)
    return atomic_write_text(Path(html_path), body)


def build_summary(results_dir, force: bool = False, kernel_name: str | None = None, *,
                  results_param: str | None = None, anchors: dict | None = None) -> list[Path]:
    """Execute the summary notebook for `results_dir`, scrub paths, render HTML.

    `results_param` is the folder as the notebook gets it (default: relative to
    the repository when inside it); `anchors` maps machine paths to the
    placeholders that replace them (default: the results folder, when outside
    the repository, becomes `<results>`).  Returns the executed notebook's and
    the HTML's paths.  Raises SummaryRefused (nothing run, nothing written) as
    `write_summary` would, and any error of the notebook or the HTML export.
    """
    results_dir = Path(results_dir)
    check_summary_allowed(load_results(results_dir), results_dir, force)
    if anchors is None:
        resolved = results_dir.resolve()
        anchors = {} if resolved.is_relative_to(REPO_ROOT) else {str(resolved): "<results>"}
    output = results_dir / "notebooks" / "summary.ipynb"
    for stale in output.parent.glob(f".{output.name}.*.partial.ipynb"):
        stale.unlink(missing_ok=True)
    STATE.begin_summary()
    try:
        execute_notebook(SUMMARY_NOTEBOOK, output,
                         {"results_dir": results_param or relative_to_repo(results_dir),
                          "force": force}, kernel_name=kernel_name)
    finally:
        scrub_paths(output, anchors)  # the notebook kept for reading has no machine path
    html = render_html(output, results_dir / "summary" / "summary.html")
    return [output, html]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpc_support.run.summary_notebook",
                                     description="Build <results>/summary/ with the summary notebook.")
    parser.add_argument("results_dir", help="a results folder holding runs/ (e.g. results/cpu)")
    parser.add_argument("--force", action="store_true",
                        help="write even when the summary there was made from more complete runs")
    args = parser.parse_args(argv)
    try:
        paths = build_summary(args.results_dir, force=args.force)
    except SummaryRefused as err:
        print(f"summary: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {shown_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
