"""Write the package tree into docs/layout.md: one line per module, its first docstring line.

    python scripts/render_layout.py           # rewrite the block between the markers
    python scripts/render_layout.py --check   # exit 1 when the block is out of date

The block between `<!-- package-tree:start -->` and `<!-- package-tree:end -->`
lists every module of gpc_support, subpackage by subpackage in the order
imports run (common, model, data, train, report, run, deploy), each with
the first line of its docstring, so the page cannot drift from the code.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gpc_support"
ORDER = ("", "common", "model", "data", "train", "report", "run", "deploy")
START, END = "<!-- package-tree:start -->", "<!-- package-tree:end -->"


def first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def package_tree() -> str:
    lines = ["```"]
    for sub in ORDER:
        folder = PACKAGE / sub if sub else PACKAGE
        lines.append(f"gpc_support/{sub + '/' if sub else ''}")
        for path in sorted(folder.glob("*.py")):
            lines.append(f"    {path.name:<24}{first_line(path)}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 when stale")
    args = parser.parse_args(argv)
    page = ROOT / "docs" / "layout.md"
    text = page.read_text(encoding="utf-8")
    if text.count(START) != 1 or text.count(END) != 1:
        print(f"render_layout: {page} must hold {START} and {END} once each", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    new = f"{head}{START}\n{package_tree()}{END}{rest.split(END, 1)[1]}"
    if new == text:
        print("docs/layout.md: package tree up to date")
        return 0
    if args.check:
        print("docs/layout.md: package tree out of date; run python scripts/render_layout.py",
              file=sys.stderr)
        return 1
    page.write_text(new, encoding="utf-8")
    print("docs/layout.md: package tree rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
