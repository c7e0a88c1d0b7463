"""Where the study's files are: the repository root, computed once, and the folders under it.

The package itself needs none of these; the command line and the summary need
the notebooks, the default results folder and the embedded CIFAR-10 subset,
which live in the source checkout next to `gpc_support/` (an installed copy
has the package alone, so these paths only exist when run from a checkout).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PACKAGE_DIR", "REPO_ROOT", "NOTEBOOKS_DIR", "VARIANT_NOTEBOOK", "SUMMARY_NOTEBOOK",
           "RESULTS_DIR", "EMBEDDED_DIR"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../gpc_support
REPO_ROOT = PACKAGE_DIR.parent  # the checkout; also the folder to put on PYTHONPATH
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
VARIANT_NOTEBOOK = NOTEBOOKS_DIR / "gpc_mobilenet.ipynb"
SUMMARY_NOTEBOOK = NOTEBOOKS_DIR / "summary.ipynb"
RESULTS_DIR = REPO_ROOT / "results"
EMBEDDED_DIR = REPO_ROOT / "embedded_data"
