"""Executing a notebook with papermill: a whole notebook or none, machine paths scrubbed.

`execute_notebook` writes to a hidden partial file and replaces the output only
with a whole notebook (also when stopped); `scrub_paths` replaces this
machine's paths by placeholders; `remove_stale_partials` cleans what a killed
batch left.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..common.atomic_files import temporary_path, write_error
from ..common.paths import REPO_ROOT
from .stopping import STATE, settle_notebook

__all__ = ["settle_notebook", "execute_notebook", "path_anchors", "scrub_paths",
           "remove_stale_partials"]


def _kernel_arguments(kernel_name: str) -> list[str]:
    """Extra command-line arguments for an IPython kernel: its own log quiet
    below CRITICAL.  jupyter_client interrupts (SIGINT) every kernel it shuts
    down; a kernel caught inside a message handler then logs "ERROR |
    KeyboardInterrupt caught in kernel." after a notebook that ran to the end.
    Errors in the notebook's cells are not in that log: they stop papermill.
    Other kernels get nothing (they may not know the option)."""
    from jupyter_client.kernelspec import NoSuchKernel, get_kernel_spec

    try:
        argv = get_kernel_spec(kernel_name).argv
    except NoSuchKernel:
        return []   # papermill says so, naming the kernel
    return ["--IPKernelApp.log_level=CRITICAL"] if "ipykernel" in " ".join(argv) else []


def execute_notebook(notebook: Path, output: Path, parameters: dict,
                     kernel_name: str | None = None) -> None:
    """Run a notebook with papermill into `output`, replacing it only at the end
    and only with a whole notebook; papermill's error propagates unchanged."""
    import papermill

    kernel_name = kernel_name or os.environ.get("GPC_KERNEL", "python3")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_path(output, ".partial.ipynb")
    STATE.begin_notebook(partial, output)
    try:
        papermill.execute_notebook(
            str(notebook), str(partial), parameters=parameters,
            kernel_name=kernel_name, cwd=str(REPO_ROOT), progress_bar=False, log_output=False,
            extra_arguments=_kernel_arguments(kernel_name),
        )
    except OSError as err:
        if getattr(err, "errno", None) is not None:
            raise write_error(output, err) from err
        raise
    finally:
        settle_notebook(partial, output)
        STATE.end_notebook()


def path_anchors(plan: dict) -> dict:
    """The machine paths of a plan and the placeholders executed notebooks show instead."""
    anchors = {str(plan["out"]): "<out>"}
    if plan.get("data_dir"):
        anchors[str(plan["data_dir"])] = "<data-dir>"
    return anchors


def scrub_paths(notebook: Path, anchors: dict) -> None:
    """Replace this machine's paths in an executed notebook by placeholders
    (`anchors`: path -> placeholder, plus repository-relative paths); never
    fails the run (a failure to scrub is printed)."""
    notebook = Path(notebook)
    if not notebook.exists():
        return
    from .notebook_scrub import scrub_notebook

    try:
        scrub_notebook(notebook, anchors)
    except (OSError, ValueError) as err:
        print(f"  (paths not scrubbed from {notebook.name}: {err})", file=sys.stderr, flush=True)


def remove_stale_partials(out: Path) -> None:
    """Half-written notebooks of batches that were killed (-9) before they
    could clean up; safe under the folder's lock."""
    folder = Path(out) / "notebooks"
    if folder.is_dir():
        for stale in folder.glob(".*.partial.ipynb"):
            stale.unlink(missing_ok=True)
