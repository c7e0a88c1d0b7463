"""The package's shape: subpackages imported one way, no cycle, short modules, every subpackage installed."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gpc_support"
SUBPACKAGES = ("common", "model", "data", "train", "report", "run", "deploy")
# what each subpackage may import (besides itself); nothing imports run
ALLOWED = {
    "common": set(),
    "model": {"common"},
    "data": {"common"},
    "train": {"common", "model", "data"},
    "report": {"common", "model"},
    "run": {"common", "model", "data", "train", "report"},
    "deploy": {"model"},
}
MAX_LINES = 500
# the top-level forwarding modules of the old entry points, and the package itself
TOP_LEVEL = {"gpc_support", "gpc_support.batch", "gpc_support.summary_notebook"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The gpc_support modules `path` imports (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gpc_support")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not base.startswith("gpc_support"):
                continue
            for alias in node.names:  # `from . import figures`: a module, else a name of base
                if (PACKAGE.parent / (base.replace(".", "/") + "/" + alias.name + ".py")).exists():
                    found.add(f"{base}.{alias.name}")
                else:
                    found.add(base)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(p) if m in modules and m != name}
            for name, p in modules.items()}


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else None


def test_every_module_is_in_a_subpackage():
    loose = sorted(n for n in _graph() if _subpackage(n) is None and n not in TOP_LEVEL)
    assert loose == []


def test_imports_run_one_way():
    wrong = []
    for name, targets in _graph().items():
        here = _subpackage(name)
        if here is None:
            continue
        for target in targets:
            there = _subpackage(target)
            if there is not None and there != here and there not in ALLOWED[here]:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else nxt)
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, long


def test_every_module_says_its_job_first():
    silent = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
              if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert silent == []


def test_packaging_finds_every_subpackage():
    setuptools = pytest.importorskip("setuptools")
    found = set(setuptools.find_packages(str(ROOT), include=["gpc_support", "gpc_support.*"]))
    assert found == {"gpc_support"} | {f"gpc_support.{s}" for s in SUBPACKAGES}
    text = (ROOT / "pyproject.toml").read_text()
    assert 'include = ["gpc_support", "gpc_support.*"]' in text


@pytest.mark.slow
def test_wheel_holds_every_subpackage(tmp_path):
    """Build the wheel (setuptools, offline: no build isolation) and list it."""
    import subprocess
    import sys

    pytest.importorskip("setuptools")
    pytest.importorskip("wheel", reason="the wheel package builds wheels offline")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"no wheel build here: {done.stderr.strip().splitlines()[-1:]}")
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for sub in SUBPACKAGES:
        assert f"gpc_support/{sub}/__init__.py" in names
    assert "gpc_support/deploy/operator_removal.py" in names


def test_old_names_resolve_or_say_where_they_went():
    import importlib

    from gpc_support.model import layers

    assert importlib.import_module("gpc_support.layers") is layers
    with pytest.raises(ImportError, match="gpc_support.run.executors"):
        importlib.import_module("gpc_support.scaleout")


def test_docs_layout_lists_every_module():
    """docs/layout.md's package tree is the one scripts/render_layout.py makes from the code."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_layout.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
