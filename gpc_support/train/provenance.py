"""What a run was made from: the code (git) and the data (layout + fingerprint).

Recorded in every run's `config.json` and `metrics.json`, without any path of
the machine it ran on:

    code_version() -> {"commit": "67a435c...", "dirty": False}
    data_source(data_dir, cifar) -> {"layout": "image-folders", "fingerprint": "3f0c..."}

`commit` and `dirty` are None outside a git checkout (or without git);
`dirty` is True when a tracked file differs from the commit or an untracked
file lies outside `results/` (where runs write), i.e. the run may not be
reproducible from the commit alone.

The data fingerprint is a SHA-256 of the images and labels the run trains,
validates and tests on (after the split and subsets, in their order): the
same for the same data whatever folder or machine it comes from, different
when a single pixel or the split differs.  It is computed from the arrays in
memory (about 0.3 s for all of CIFAR-10), so no file is read twice.
"""

from __future__ import annotations

import hashlib
import subprocess

import numpy as np

__all__ = ["code_version", "data_source", "data_layout", "arrays_fingerprint", "REPO_ROOT"]

from ..common.paths import REPO_ROOT


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def code_version() -> dict:
    """{"commit": sha or None, "dirty": bool or None} for this package's checkout."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return {"commit": None, "dirty": None}
    # tracked files changed, or untracked files outside results/ (a run's own
    # output folder is untracked while it trains and says nothing about the code)
    status = _git("status", "--porcelain", "--untracked-files=no")
    untracked = _git("ls-files", "--others", "--exclude-standard", "--", ".",
                     ":(exclude)results")
    if status is None or untracked is None:
        return {"commit": commit.strip(), "dirty": None}
    return {"commit": commit.strip(), "dirty": bool(status.strip() or untracked.strip())}


def data_layout(data_dir) -> str:
    """'keras' (data_dir None), 'python-batches' or 'image-folders'."""
    if data_dir is None:
        return "keras"
    from ..data.layouts import detect_layout

    return detect_layout(data_dir)


def arrays_fingerprint(cifar) -> str:
    """SHA-256 (32 hex digits) of a `CifarData`'s six arrays, shapes included."""
    digest = hashlib.sha256()
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        array = np.ascontiguousarray(getattr(cifar, name))
        digest.update(f"{name}:{array.dtype.str}:{array.shape}\n".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()[:32]


def data_source(data_dir, cifar=None) -> dict:
    """{"layout": ..., "fingerprint": ...}: the fingerprint of `cifar` (the
    loaded data), None when not given."""
    return {"layout": data_layout(data_dir),
            "fingerprint": None if cifar is None else arrays_fingerprint(cifar)}
