"""Executed notebooks made fit to read: no machine paths, no log noise, how to re-run them.

papermill writes the parameters it injects, and its own metadata
(`input_path`, `output_path`), into the executed notebook; a notebook's
outputs may print paths too.  `scrub_notebook(path, anchors)` rewrites every
string in the notebook file (sources, outputs, metadata):

- each anchor (an absolute folder such as the results folder given with
  --out, or the data folder) becomes its placeholder, e.g. "<out>",
  "<data-dir>";
- the repository root becomes a relative path ("results/cpu/...");
- the home folder becomes "~".

It also tidies what papermill and TensorFlow leave behind:

- TensorFlow's and absl's C++ log lines (`quiet_startup.is_startup_noise`,
  e.g. "E0000 00:00:... util.cc:131] oneDNN ...", printed when an op first
  runs whatever TF_CPP_MIN_LOG_LEVEL says) are removed from stderr outputs,
  and an output left empty is dropped;
- the template's default parameters cell is dropped when papermill injected
  its own below it; the injected cell is tagged `parameters` instead, so the
  executed copy still takes parameters when papermill runs it again;
- a first markdown cell (tagged `rerun-note`) says that this is an executed
  copy, what the placeholders mean, and the command that re-runs it
  (`rerun_note`); tidying twice gives the same notebook.

`relative_to_repo(path)` is the path to pass to papermill instead, when the
folder lies inside the repository (the notebooks run with the repository
root as their working folder).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
from pathlib import Path

from ..common.atomic_files import atomic_write_text
from ..common.quiet_startup import is_startup_noise
from ..data.embedded import EMBEDDED_PROFILES

__all__ = ["REPO_ROOT", "relative_to_repo", "scrub_text", "scrub_notebook",
           "tidy_cells", "rerun_note"]

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
    # folder name matches only whole ("/a/b" not inside "/a/b2")
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
    # <out>/notebooks/<name>.ipynb: the results folder, as the re-run command names it
    out = relative_to_repo(path.resolve().parent.parent, root) if path.parent.name == "notebooks" else None
    out = None if out is None or Path(out).is_absolute() else out  # never a machine path
    cleaned["cells"] = tidy_cells(cleaned.get("cells", []), out)
    # the layout nbformat writes (so a scrubbed notebook diffs cleanly)
    return atomic_write_text(path, json.dumps(cleaned, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def _strip_logs(outputs: list) -> list:
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            lines = [line for line in text.splitlines(keepends=True) if not is_startup_noise(line.rstrip("\n"))]
            if not "".join(lines).strip():
                continue
            output = {**output, "text": "".join(lines)}
        kept.append(output)
    return kept


def _tags(cell: dict) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _assigned(source: str) -> dict:
    """name -> value of the literal assignments in a parameters cell."""
    values = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return values
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def rerun_note(parameters: dict, out: str | None = None, placeholders=()) -> str | None:
    """The first cell's text for an executed copy with these injected parameters:
    the variant notebook (it has `channels`) or the summary (`results_dir`).
    `out`: the results folder the copy lies in (for an `out_dir` shown as
    "<out>/..."); `placeholders`: those that appear in the notebook."""
    meaning = {"<data-dir>": "the CIFAR-10 folder given with `--data-dir`",
               "<out>": "the results folder", "<results>": "the results folder"}
    shown = [f"`{name}` is {text}" for name, text in meaning.items() if name in placeholders]
    head = "**An executed copy, for reading.** " + (
        "Paths of the machine it ran on are shown as placeholders: " + ", ".join(shown) + ". "
        if shown else "")
    if "results_dir" in parameters:
        command = f"python -m gpc_support.summary_notebook {shlex.quote(str(parameters['results_dir']))}"
        return (head + "It is rebuilt from the run folders, from the repository root, by\n\n"
                f"    {command}\n\n(the template with its code is `notebooks/summary.ipynb`).")
    if "channels" not in parameters or "profile" not in parameters:
        return None
    out_dir = str(parameters.get("out_dir") or "")
    parts = Path(out_dir).parts
    command = ["./run_all.sh", "--profile", str(parameters["profile"]),
               "--channels", str(parameters["channels"] if parameters["channels"] is not None else "base"),
               "--seeds", str(parameters.get("seed", 0))]
    if len(parts) >= 3 and parts[-3] == "runs":
        folder = Path(*parts[:-3]).as_posix() if parts[:-3] else "."
        command += ["--out", out if folder == "<out>" and out else folder]
    embedded = parameters["profile"] in EMBEDDED_PROFILES
    if parameters.get("data_dir") and not embedded:
        command += ["--data-dir", "YOUR_CIFAR10_FOLDER"]
    overrides = parameters.get("overrides") or {}
    for key, option in (("epochs", "--epochs"), ("batch_size", "--batch-size")):
        if key in overrides:
            command += [option, str(overrides[key])]
    if parameters.get("precision") not in (None, "float32"):
        command += ["--precision", str(parameters["precision"])]
    command.append("--force")
    if embedded:
        data = ("the profile's default data, the CIFAR-10 subset committed in embedded_data/ "
                "(add --data-dir if this run was given another folder)")
    elif parameters.get("data_dir"):
        data = ("the same data folder (the committed study used the JPEG copy of CIFAR-10 named in "
                "the README)")
    else:
        data = "the profile's default data"
    return (head + "To train this run again (it replaces the run folder once the new run has "
            "finished its first epoch), from the repository root, with " + data + ":\n\n"
            "    " + " ".join(command) + "\n\nor open `notebooks/gpc_mobilenet.ipynb` and give its "
            "parameters cell the values of the parameters cell below.")


def tidy_cells(cells: list, out: str | None = None) -> list:
    """The cells without log lines, with one parameters cell and the re-run note first
    (`out`: the results folder the notebook lies in, see `rerun_note`)."""
    cells = [c for c in cells if "rerun-note" not in _tags(c)]
    injected = next((i for i, c in enumerate(cells) if "injected-parameters" in _tags(c)), None)
    parameters = {}
    if injected is not None:
        cells[injected] = {**cells[injected], "metadata": {
            **cells[injected].get("metadata", {}),
            "tags": sorted(set(_tags(cells[injected])) | {"parameters"})}}
        parameters = _assigned(_source(cells[injected]))
        cells = [c for i, c in enumerate(cells)
                 if i >= injected or "parameters" not in _tags(c)]
    tidy = []
    for cell in cells:
        if cell.get("cell_type") == "code" and "outputs" in cell:
            cell = {**cell, "outputs": _strip_logs(cell["outputs"])}
        tidy.append(cell)
    text = json.dumps(tidy)
    placeholders = [name for name in ("<data-dir>", "<out>", "<results>") if name in text]
    note = rerun_note(parameters, out, placeholders) if parameters else None
    if note:
        tidy.insert(0, {"cell_type": "markdown", "id": "rerun-note",
                        "metadata": {"tags": ["rerun-note"]}, "source": note})
    return tidy
