"""No machine paths in executed notebooks.

papermill writes the parameters it injects, and its own metadata
(`input_path`, `output_path`), into the executed notebook; a notebook's
outputs may print paths too.  `scrub_notebook(path, anchors)` rewrites every
string in the notebook file (sources, outputs, metadata):

- each anchor (an absolute folder such as the results folder given with
  --out, or the data folder) becomes its placeholder, e.g. "<out>",
  "<data-dir>";
- the repository root becomes a relative path ("results/cpu/...");
- the home folder becomes "~".

`relative_to_repo(path)` is the path to pass to papermill instead, when the
folder lies inside the repository (the notebooks run with the repository
root as their working folder).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..common.atomic_files import atomic_write_text

__all__ = ["REPO_ROOT", "relative_to_repo", "scrub_text", "scrub_notebook"]

from ..common.paths import REPO_ROOT


def relative_to_repo(path, root=REPO_ROOT):
    """`path` relative to the repository root when inside it (as a str); otherwise unchanged."""
    if path is None:
        return None
    resolved = Path(path).expanduser().resolve()
    root = Path(root).resolve()
    if resolved.is_relative_to(root):
        return resolved.relative_to(root).as_posix() or "."
    return str(path)


def _replacements(anchors, root) -> list[tuple[re.Pattern, str]]:
    pairs = [(str(Path(a).expanduser().resolve()), name) for a, name in (anchors or {}).items() if a]
    root = str(Path(root).resolve())
    pairs += [(root + os.sep, ""), (root, ".")]
    home = os.path.expanduser("~")
    if home and home != os.sep:
        pairs.append((home, "~"))
    # longest first, so an anchor inside the repository wins over the root; a
    # folder name matches only whole ("/work/main" not inside "/work/main2")
    pairs.sort(key=lambda p: -len(p[0]))
    return [(re.compile(re.escape(old) + ("" if old.endswith(os.sep) else r"(?![\w.-])")), new.replace("\\", "\\\\"))
            for old, new in pairs]


def scrub_text(text: str, anchors=None, root=REPO_ROOT) -> str:
    """`text` with the anchors, the repository root and the home folder replaced."""
    for pattern, new in _replacements(anchors, root):
        text = pattern.sub(new, text)
    return text


def _walk(value, pairs):
    if isinstance(value, str):
        for pattern, new in pairs:
            value = pattern.sub(new, value)
        return value
    if isinstance(value, list):
        return [_walk(v, pairs) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, pairs) for k, v in value.items()}
    return value


def scrub_notebook(path, anchors: dict | None = None, root=REPO_ROOT) -> Path:
    """Rewrite the notebook at `path` in place (atomically) without machine paths.

    anchors: `{absolute folder: placeholder}`, e.g. `{out: "<out>", data_dir: "<data-dir>"}`.
    """
    path = Path(path)
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path.name}: not a readable notebook ({err})") from None
    cleaned = _walk(notebook, _replacements(anchors, root))
    # the layout nbformat writes (so a scrubbed notebook diffs cleanly)
    return atomic_write_text(path, json.dumps(cleaned, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
