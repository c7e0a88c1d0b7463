"""Write a results folder's summary into README.md and docs/results.md, between markers.

    python scripts/render_readme_results.py cpu            # results/cpu/summary -> both files
    python scripts/render_readme_results.py cpu --check    # exit 1 if either is out of date
    python scripts/render_readme_results.py paper32        # the converged claims

Each generated section sits between `<!-- <label>:start -->` and
`<!-- <label>:end -->` and is made by `gpc_support.report.readme_sections`
from `results/<profile>/summary/`'s CSVs, so the README says what the summary
says and is never typed by hand:

    answer:<profile>                the README's first-screen answer
    results:<profile>               the main table, paired tests and figures
    results:<profile>-ablation      the ablation and its contrasts
    results:<profile>-fair          the thinner MobileNets, equal-budget table
    results:<profile>-convergence   the converged claims beside the 15-epoch ones
    deploy:latency                  (results/deploy/README.md, docs/deployment.md)
                                    latency ratios from results/deploy/latency.csv

A file is rewritten where it holds any of these; a statement that says
"holds" for a claim whose verdict is not 'holds', or a table without
verdicts, stops the script (`RenderError`, exit 2).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpc_support.report.readme_sections import (RenderError, render_ablation_section,  # noqa: E402
                                                render_answer, render_convergence_section,
                                                render_deploy_latency, render_fair_section,
                                                render_section)


def markers(profile: str) -> tuple[str, str]:
    return f"<!-- results:{profile}:start -->", f"<!-- results:{profile}:end -->"


def rewrite(readme_text: str, profile: str, section: str, label: str | None = None) -> str:
    """`readme_text` with the section between the markers replaced: those of
    results:<profile>, or of `label` (e.g. 'answer:cpu') when given."""
    start, end = (f"<!-- {label}:start -->", f"<!-- {label}:end -->") if label else markers(profile)
    if readme_text.count(start) != 1 or readme_text.count(end) != 1:
        raise RenderError(f"the file must hold each of {start} and {end} exactly once")
    head, rest = readme_text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{section}{end}{tail}"


def render_file(text: str, profile: str, folder: Path, results_rel: str, docs_rel: str,
                deploy_dir: Path) -> str:
    """`text` with every generated section of `profile` it holds rewritten:
    answer:<profile> (the README's first screen), results:<profile>,
    results:<profile>-ablation, results:<profile>-fair and
    results:<profile>-convergence.  A file with none of them is an error."""
    makers = {
        f"answer:{profile}": lambda: render_answer(folder, results_rel, deploy_dir),
        f"results:{profile}": lambda: render_section(folder, results_rel, docs_rel),
        f"results:{profile}-ablation": lambda: render_ablation_section(folder, results_rel,
                                                                       docs_rel),
        f"results:{profile}-fair": lambda: render_fair_section(folder, results_rel, docs_rel),
        f"results:{profile}-convergence": lambda: render_convergence_section(folder, results_rel,
                                                                             docs_rel),
    }
    present = [name for name in makers if f"<!-- {name}:start -->" in text]
    if not present:
        raise RenderError(f"no generated section of profile {profile!r} (markers such as "
                          f"<!-- answer:{profile}:start -->)")
    for name in present:
        text = rewrite(text, name, makers[name](), label=name)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", help="the results folder under results/ (e.g. cpu)")
    parser.add_argument("--readme", default=str(ROOT / "README.md"), help="the README to rewrite")
    parser.add_argument("--docs", default=str(ROOT / "docs" / "results.md"),
                        help="the results page under docs/ to rewrite ('' for none)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when a generated section is out of date")
    args = parser.parse_args(argv)
    folder, deploy = ROOT / "results" / args.profile, ROOT / "results" / "deploy"
    targets = [(Path(args.readme), f"results/{args.profile}", "docs/")]
    if args.docs:
        targets.append((Path(args.docs), f"../results/{args.profile}", ""))
    stale = []
    try:
        updates = []
        for path, results_rel, docs_rel in targets:
            text = path.read_text(encoding="utf-8")
            new = render_file(text, args.profile, folder, results_rel, docs_rel, deploy)
            updates.append((path, text, new))
    except (RenderError, OSError) as err:
        print(f"render_readme_results: {err}", file=sys.stderr)
        return 2
    for page in (deploy / "README.md", ROOT / "docs" / "deployment.md"):
        if args.readme != str(ROOT / "README.md") or not page.is_file() \
                or not (deploy / "latency.csv").is_file():
            continue
        text = page.read_text(encoding="utf-8")
        if "<!-- deploy:latency:start -->" in text:
            try:
                new = rewrite(text, "", render_deploy_latency(deploy), label="deploy:latency")
            except (RenderError, OSError, KeyError) as err:
                print(f"render_readme_results: {page}: {err}", file=sys.stderr)
                return 2
            updates.append((page, text, new))
    for path, text, new in updates:
        shown = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        if new == text:
            print(f"{shown}: generated sections up to date")
            continue
        if args.check:
            stale.append(shown)
            continue
        with io.open(path, "w", encoding="utf-8", newline="") as f:
            f.write(new)
        print(f"{shown}: generated sections rewritten")
    if stale:
        print(f"{', '.join(stale)}: the {args.profile} sections are out of date; run "
              f"python scripts/render_readme_results.py {args.profile}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
