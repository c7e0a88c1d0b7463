"""Run the summary notebook for a results folder and render it as HTML.

    python -m gpc_support.summary_notebook results/cpu [--force]

executes `notebooks/summary.ipynb` with papermill into
`<results>/notebooks/summary.ipynb` (paths in it made relative), then writes
`<results>/summary/summary.html` (nbconvert) beside `summary.md`, for
readers without Jupyter.  When the folder holds no run, or fewer complete
runs than the summary already there, nothing is executed or written and the
reason is printed (exit status 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .files import atomic_write_text
from .notebook_paths import REPO_ROOT, relative_to_repo, scrub_notebook
from .runs import load_results
from .summary_text import SummaryRefused, check_summary_allowed, shown_path

__all__ = ["SUMMARY_NOTEBOOK", "build_summary", "render_html"]

SUMMARY_NOTEBOOK = REPO_ROOT / "notebooks" / "summary.ipynb"


def render_html(notebook_path, html_path) -> Path:
    """The executed notebook as one self-contained HTML page (figures embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(str(notebook_path), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    return atomic_write_text(Path(html_path), body)


def build_summary(results_dir, force: bool = False, kernel_name: str | None = None) -> list[Path]:
    """Execute the summary notebook for `results_dir`, scrub paths, render HTML.

    Returns the executed notebook's and the HTML's paths.  Raises
    SummaryRefused (nothing run, nothing written) as `write_summary` would.
    """
    import papermill

    results_dir = Path(results_dir)
    check_summary_allowed(load_results(results_dir), results_dir, force)
    output = results_dir / "notebooks" / "summary.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name("summary.partial.ipynb")
    anchors = {str(results_dir.resolve()): "<results>"} if not results_dir.resolve().is_relative_to(
        REPO_ROOT) else {}
    try:
        papermill.execute_notebook(
            str(SUMMARY_NOTEBOOK), str(partial),
            parameters={"results_dir": relative_to_repo(results_dir), "force": force},
            kernel_name=kernel_name or os.environ.get("GPC_KERNEL", "python3"),
            cwd=str(REPO_ROOT), progress_bar=False, log_output=False)
    finally:
        if partial.exists():
            scrub_notebook(partial, anchors)
            os.replace(partial, output)
    html = render_html(output, results_dir / "summary" / "summary.html")
    return [output, html]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpc_support.summary_notebook",
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
