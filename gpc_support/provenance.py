"""What a run was made from: the code (git) and the data (layout + fingerprint).

Recorded in every run's `config.json` and `metrics.json`, without any path of
the machine it ran on:

    code_version() -> {"commit": "67a435c...", "dirty": False}
    data_source(data_dir) -> {"layout": "image-folders", "fingerprint": "3f0c..."}

`commit` and `dirty` are None outside a git checkout (or without git);
`dirty` is True when `git status --porcelain` lists anything (uncommitted or
untracked files), i.e. the run may not be reproducible from the commit alone.

The data fingerprint identifies the data without reading it twice: for the
python batches, a SHA-256 of the six batch files' contents; for image
folders, a SHA-256 of every image's path relative to the data folder and its
size (decoding is the loader's job); for `keras.datasets` (data_dir None),
None: Keras' own download is always the same file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

__all__ = ["code_version", "data_source", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    status = _git("status", "--porcelain")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def _hash_files(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.basename(path).encode() + b"\n")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:32]


def _hash_listing(root: Path) -> str:
    digest = hashlib.sha256()
    for split in ("train", "test"):
        entries = []
        for dirpath, dirnames, filenames in os.walk(root / split):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.startswith("."):
                    continue
                path = os.path.join(dirpath, name)
                entries.append((os.path.relpath(path, root).replace(os.sep, "/"),
                                os.stat(path).st_size))
        for rel, size in sorted(entries):
            digest.update(f"{rel}\t{size}\n".encode())
    return digest.hexdigest()[:32]


def data_source(data_dir) -> dict:
    """{"layout": ..., "fingerprint": ...} for a data_dir (None: keras.datasets)."""
    if data_dir is None:
        return {"layout": "keras", "fingerprint": None}
    from . import data

    layout = data.detect_layout(data_dir)
    path = Path(data_dir).expanduser().resolve()
    if layout == "python-batches":
        root = path if (path / "test_batch").is_file() else path / "cifar-10-batches-py"
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        return {"layout": layout, "fingerprint": _hash_files([str(root / n) for n in names])}
    return {"layout": layout, "fingerprint": _hash_listing(path)}
