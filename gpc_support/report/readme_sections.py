"""Markdown sections that README.md and docs/ show, made from a results folder's summary files.

Each `render_*` function reads the CSVs the summary wrote into
`<results>/summary/` (never the runs themselves), so what the README says is
what the summary says:

- `render_answer`: the README's first-screen answer (one row per gpc
  network: what it saves, its accuracy against MobileNet, MobileNet-swish and
  a thinner MobileNet-swish, with verdicts; latency from results/deploy);
- `render_section`: the main table, the paired tests and the figures;
- `render_ablation_section`: the ablation table and its contrasts;
- `render_fair_section`: the thinner MobileNets and the equal-budget table;
- `render_convergence_section`: the converged claims beside the 15-epoch ones;
- `render_deploy_latency`: the deployment latency ratios (results/deploy).

Every statement carries its claim's verdict; a statement that says "holds"
for a claim whose verdict is not 'holds', or a table that contradicts itself,
raises `RenderError` (`checked_statements`).  scripts/render_readme_results.py
writes these sections between their markers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..model.variants import short_name
from .ablation import GROUP_INTROS, contrast_statements, extra_sections
from .comparisons import pair_statements
from .convergence import convergence_section, converged_tested, outcome_of
from .estimators import ALPHA, FAMILY_COLUMNS, HOLDS
from .fair_baseline import FAIR_INTRO, FAMILY_LABELS, equal_budget_statements, equal_budget_table
from .headline import answer_sentences, headline_rows
from .published_values import JPEG_NOTE
from .summary_text import FIGURES, OLD_NETWORKS_TEXT
from .tables import format_markdown

__all__ = ["RenderError", "checked_statements", "render_answer", "render_section",
           "render_ablation_section", "render_fair_section", "render_convergence_section",
           "render_deploy_latency"]

README_FIGURES = ("fig_test_accuracy", "fig_accuracy", "fig_overlay_val_accuracy", "fig_reduction")


class RenderError(ValueError):
    """The README or the summary is not what the script needs; the message says which."""


def _read(summary_dir: Path, name: str, **kwargs) -> pd.DataFrame:
    path = summary_dir / name
    if not path.is_file():
        raise RenderError(f"{summary_dir.parent.name}/summary/{name}: no such file; build the "
                          "summary first (notebooks/summary.ipynb or "
                          "python -m gpc_support.run.summary_notebook)")
    return pd.read_csv(path, **kwargs)


def _pct(value) -> str:
    return "" if pd.isna(value) or value == 0 else f"{value:.2f}%"


def _millions(value) -> str:
    return "NA" if pd.isna(value) else f"{value:.2f}M"


def _epochs(value) -> str:
    """'15' for 15 or 15.0 (pandas reads a column of whole numbers as floats), '13, 15' as is."""
    if pd.isna(value):
        return "NA"
    if isinstance(value, (int, float)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _not_done(status) -> str:
    return "not run yet" if pd.isna(status) or str(status).startswith("missing") else str(status)


def _study_image_size(summary_dir: Path) -> str:
    """'32 px' when the main table's runs share one image size, else 'run size'."""
    path = summary_dir / "summary.csv"
    sizes = {int(s) for s in pd.read_csv(path)["Image size"].dropna()} if path.is_file() else set()
    return f"{sizes.pop()} px" if len(sizes) == 1 else "run size"


def _times_per_seed(table: pd.DataFrame, results_rel: str) -> list[str]:
    """'112.4, 31.6 min' per variant: the summary's per-seed training times
    (a mean would hide a run that shared the machine); NA without one."""
    column = "Training time per seed (min)"
    if column not in table.columns:
        raise RenderError(f"{results_rel}/summary/summary.csv has no '{column}' column: it was "
                          "built by older code; rebuild it (python -m gpc_support.run.summary_notebook "
                          f"{results_rel})")
    return [f"{t} min" if isinstance(t, str) and t else "NA" for t in table[column]]


def _require_verdicts(table: pd.DataFrame, name: str) -> None:
    """A table without the verdict columns was built by older code: refuse it."""
    missing = [c for c in FAMILY_COLUMNS if c not in table.columns]
    if missing:
        raise RenderError(f"{name} has no {', '.join(repr(c) for c in missing)} column: it was "
                          "built by older code; rebuild the summary (python -m "
                          "gpc_support.run.summary_notebook results/<profile>)")
    holds = table["verdict"] == HOLDS
    wrong = table[holds & ~(table["p_holm"] < ALPHA)]
    if len(wrong):
        raise RenderError(f"{name}: verdict 'holds' with a Holm-adjusted p-value not below "
                          f"{ALPHA:g} ({len(wrong)} rows): the table contradicts itself")


def checked_statements(statements: list[str], verdicts) -> list[str]:
    """`statements` unchanged, after checking that none says "holds" where its
    claim's verdict is not 'holds' (RenderError otherwise)."""
    statements, verdicts = list(statements), list(verdicts)
    if len(statements) != len(verdicts):
        raise RenderError(f"{len(statements)} statements for {len(verdicts)} verdicts")
    for line, word in zip(statements, verdicts):
        if word != HOLDS and re.search(r"\bholds\b", line):
            raise RenderError(f"a statement says 'holds' where the verdict is {word!r}: {line}")
    return statements


def render_section(results_dir, results_rel: str, docs_rel: str = "docs/") -> str:
    """The markdown that goes between the markers, from `<results_dir>/summary/`;
    `results_rel` is how the file links to that folder (e.g. "results/cpu"),
    `docs_rel` how it links to docs/ ("docs/" from the README, "" from docs/)."""
    summary_dir = Path(results_dir) / "summary"
    table = _read(summary_dir, "summary.csv", index_col=0)
    runs = _read(summary_dir, "runs.csv")
    pairs = _read(summary_dir, "pairs.csv")
    done = runs[runs["status"] == "complete"]
    if done.empty:
        raise RenderError(f"{results_rel}/summary/runs.csv lists no complete run: nothing to show")
    size = _study_image_size(summary_dir)
    shown = pd.DataFrame({
        "Architecture": table["Architecture"],
        "Parameters": [f"{int(p):,}" if not pd.isna(p) else "NA" for p in table["Parameters"]],
        "Reduction": [_pct(v) for v in table["Parameter reduction %"]],
        "Size (MiB)": [f"{v:.2f}" if not pd.isna(v) else "NA" for v in table["Parameter size (MiB)"]],
        f"MACs @ {size}": [_millions(v) for v in table["MACs (M)"]],
        "MAC reduction": [_pct(v) for v in table["MAC reduction %"]],
        f"Report-rule computation @ {size}": [_millions(v) for v in table["Report-rule computation (M)"]],
        "Report-rule reduction": [_pct(v) for v in table["Report-rule reduction %"]],
        "Best epoch": [_epochs(v) for v in table["Best epoch"]],
        "Test accuracy % (mean ± sd)": [f"**{v}**" if isinstance(v, str) and v != "NA" else
                                        _not_done(status)
                                        for v, status in zip(table["Test accuracy %"], table["status"])],
        "Per seed": table["Test accuracy per seed %"].fillna(""),
        "Training time (per seed)": _times_per_seed(table, results_rel),
    })
    lines = [f"<!-- generated by scripts/render_readme_results.py from {results_rel}/summary/; "
             "do not edit by hand -->", ""]
    old = done[done["Networks"].astype(str).str.startswith("before the fidelity fix")]
    if len(old):
        who = "All these runs were" if len(old) == len(done) else f"{len(old)} of these runs were"
        lines += [f"**{who} {OLD_NETWORKS_TEXT}.**", ""]
    if (done["Data"] == "image-folders").any():
        lines += [f"Data: {JPEG_NOTE}.", ""]
    shown_done = done[done["variant"].isin(table.index)]
    others = len(done) - len(shown_done)
    seeds = sorted({int(s) for s in shown_done["seed"].dropna()})
    lines += [f"{len(shown_done)} complete runs of the networks in this table, "
              f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
              + (f" (the folder's {others} other complete run{'s' if others > 1 else ''}: "
                 "see the ablation below)" if others else "")
              + "; test accuracy of "
              "the weights from the epoch with the highest validation accuracy, mean ± sd over "
              "seeds (sd with ddof=1; n=1: one seed). The report-rule computation counts grouped "
              "convolutions as zero, as the report's Table 6.1 did.", "",
              format_markdown(shown, list(shown.columns),
                              right=[c for c in shown.columns if c not in ("Architecture", "Per seed")]
                              ).rstrip(), ""]
    if len(pairs):
        _require_verdicts(pairs, f"{results_rel}/summary/pairs.csv")
        pairs["significant"] = pairs["significant"].astype(str).str.lower() == "true"
        lines += ["Which differences hold: each claim's verdict (*holds* or *not resolved*) comes "
                  "from a test of the mean difference over seeds that carries both the training "
                  "seeds and the test images, Holm-corrected over these pairs "
                  f"([docs/statistics.md]({docs_rel}statistics.md)); the exact McNemar test per "
                  "seed and the bootstrap over test images beside it measure one test set's "
                  "noise only. Differences are b - a, in pp:", ""]
        groups = pairs.groupby(["a", "b"], sort=False)
        verdicts = [g["verdict"].iloc[0] for _, g in groups]
        lines += [f"* {s}" for s in checked_statements(pair_statements(pairs), verdicts)]
        lines += [""]
    for stem in README_FIGURES:
        if (summary_dir / f"{stem}.png").is_file():
            lines += [f"![{FIGURES[stem]}]({results_rel}/summary/{stem}.png)", ""]
    lines += [f"The full summary: [`{results_rel}/summary/summary.md`]({results_rel}/summary/summary.md) "
              f"(also as [HTML]({results_rel}/summary/summary.html))."]
    return "\n".join(lines).rstrip() + "\n"


def render_ablation_section(results_dir, results_rel: str, docs_rel: str = "docs/") -> str:
    """The markdown of the ablation section, from `<results_dir>/summary/`."""
    summary_dir = Path(results_dir) / "summary"
    if not (summary_dir / "ablation.csv").is_file():
        return (f"<!-- generated by scripts/render_readme_results.py from {results_rel}/summary/; "
                "do not edit by hand -->\n\nNo ablation runs in "
                f"`{results_rel}/runs/` yet.\n")
    table = _read(summary_dir, "ablation.csv", index_col=0)
    contrasts = _read(summary_dir, "contrasts.csv", index_col=0)
    per_seed = _read(summary_dir, "contrasts_per_seed.csv")
    size = _study_image_size(summary_dir)
    shown = pd.DataFrame({
        "Variant": table["Architecture"],
        "Isolates": table["Isolates"],
        "Parameters": [f"{int(p):,}" if not pd.isna(p) else "NA" for p in table["Parameters"]],
        f"MACs @ {size}": [_millions(v) for v in table["MACs (M)"]],
        "Test accuracy % (mean ± sd)": [(f"**{v}**" if "(n=" in v else v) if isinstance(v, str)
                                        else "not run yet" for v in table["Test accuracy %"]],
        "Per seed": table["Test accuracy per seed %"].fillna(""),
    })
    lines = [f"<!-- generated by scripts/render_readme_results.py from {results_rel}/summary/; "
             "do not edit by hand -->", "",
             format_markdown(shown, list(shown.columns), right=["Parameters", f"MACs @ {size}",
                                                              "Test accuracy % (mean ± sd)"]
                             ).rstrip(), ""]
    if len(contrasts):
        _require_verdicts(contrasts, f"{results_rel}/summary/contrasts.csv")
        contrasts["same sign"] = contrasts["same sign"].astype(str).str.lower() == "true"
        lines += ["What each part adds (*with the part - without it*, in pp). Each claim's verdict "
                  "(*holds* or *not resolved*) comes from a test of the mean difference over "
                  "seeds that carries both the training seeds and the test images, "
                  "Holm-corrected over all the contrasts below "
                  f"([docs/statistics.md]({docs_rel}statistics.md)); the exact McNemar test per "
                  "seed and the bootstrap over test images measure one test set's noise only:",
                  ""]
        primary = contrasts[contrasts["primary"].astype(str).str.lower() == "true"]
        lines += [f"* {s}" for s in checked_statements(contrast_statements(per_seed, contrasts),
                                                       primary["verdict"])]
        lines += [""]
        for (intro, statements), group in zip(extra_sections(per_seed, contrasts),
                                              [g for g in GROUP_INTROS
                                               if (contrasts["group"] == g).any()]):
            verdicts = contrasts.loc[contrasts["group"] == group, "verdict"]
            lines += [intro, ""] + [f"* {s}" for s in checked_statements(statements, verdicts)]
            lines += [""]
    else:
        lines += ["No contrast has complete runs of both its variants yet.", ""]
    if (summary_dir / "fig_ablation.png").is_file():
        lines += [f"![{FIGURES['fig_ablation']}]({results_rel}/summary/fig_ablation.png)", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_fair_section(results_dir, results_rel: str, docs_rel: str = "docs/") -> str:
    """The fair baseline: every network's budget and accuracy, the equal-budget
    table with verdicts and fig_pareto, from `<results_dir>/summary/`."""
    summary_dir = Path(results_dir) / "summary"
    head = (f"<!-- generated by scripts/render_readme_results.py from {results_rel}/summary/; "
            "do not edit by hand -->")
    if not (summary_dir / "equal_budget.csv").is_file():
        return f"{head}\n\nNo thinner MobileNet has run in `{results_rel}/runs/` yet.\n"
    budget = _read(summary_dir, "equal_budget.csv")
    budget["lo"] = budget["lo"].where(budget["lo"].notna(), None)
    budget["hi"] = budget["hi"].where(budget["hi"].notna(), None)
    budget["note"] = budget["note"].astype(object).fillna("")
    _require_verdicts(budget[budget["diff pp (gpc - family)"].notna()],
                      f"{results_rel}/summary/equal_budget.csv")
    lines = [head, "", FAIR_INTRO.replace("docs/statistics.md",
                                          f"[docs/statistics.md]({docs_rel}statistics.md)"), ""]
    widths = _read(summary_dir, "fair_baseline.csv", index_col=0)
    order = {f: i for i, f in enumerate(FAMILY_LABELS)}
    widths = widths.assign(_o=widths["family"].map(order)).sort_values(["_o", "params"])
    shown = pd.DataFrame({
        "Network": [short_name(v) for v in widths.index],
        "Family": [FAMILY_LABELS[f] for f in widths["family"]],
        "Parameters": [f"{int(p):,}" for p in widths["params"]],
        f"MACs @ {_study_image_size(summary_dir)}": [f"{m / 1e6:.2f}M" for m in widths["macs"]],
        "Seeds": [int(n) for n in widths["seeds"]],
        "Test accuracy %": [f"{m:.2f}" + ("" if pd.isna(sd) else f" ± {sd:.2f}")
                            for m, sd in zip(widths["mean %"], widths["sd pp"])],
    })
    lines += [format_markdown(shown, list(shown.columns)).rstrip(), "",
              format_markdown(equal_budget_table(budget)).rstrip(), ""]
    tested = budget[budget["diff pp (gpc - family)"].notna()]
    statements = checked_statements(equal_budget_statements(tested), tested["verdict"])
    lines += [f"* {line}" for line in statements] + [""]
    if (summary_dir / "fig_pareto.png").is_file():
        lines += [f"![{FIGURES['fig_pareto']}]({results_rel}/summary/fig_pareto.png)", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_convergence_section(results_dir, results_rel: str, docs_rel: str = "docs/") -> str:
    """The converged folder's claims beside the 15-epoch ones: both orderings and
    each claim's outcome, from `<results_dir>/summary/convergence.csv` and
    `convergence_ordering.csv` (written by the summary of a `paper32` folder
    with `results/cpu` beside it)."""
    summary_dir = Path(results_dir) / "summary"
    head = (f"<!-- generated by scripts/render_readme_results.py from {results_rel}/summary/; "
            "do not edit by hand -->")
    if not (summary_dir / "convergence.csv").is_file():
        return (f"{head}\n\nNo converged run is committed yet (`{results_rel}/summary/"
                "convergence.csv` is written by the summary of its runs).\n")
    table = _read(summary_dir, "convergence.csv")
    orders = _read(summary_dir, "convergence_ordering.csv")
    expected = [outcome_of(r["15 epochs verdict"], r["15 epochs pp"], r["converged verdict"],
                           r["converged pp"], converged_tested(r["converged low pp"]))
                for _, r in table.iterrows()]
    if list(table["outcome"]) != expected:
        raise RenderError(f"{results_rel}/summary/convergence.csv: an outcome disagrees with "
                          "its two verdicts: the table contradicts itself")
    lines = [head, "", convergence_section(orders, table), "",
             f"Differences b - a in pp, mean over seeds, with each folder's verdict (its own "
             f"Holm family; [docs/statistics.md]({docs_rel}statistics.md)); intervals in "
             f"[`{results_rel}/summary/convergence.csv`]({results_rel}/summary/convergence.csv)."]
    return "\n".join(lines).rstrip() + "\n"


def _verdict_cell(mean, verdict, seeds) -> str:
    if pd.isna(mean):
        return "not run yet"
    tail = ", one seed" if seeds == 1 else ""
    return f"{mean:+.2f} pp, {verdict}{tail}"


def _latency(deploy_dir: Path) -> dict:
    """{variant: ratio to MobileNet} under LiteRT + XNNPACK at 224 px, 1 thread,
    the deployment form (grouped), from `results/deploy/latency.csv`."""
    path = deploy_dir / "latency.csv"
    if not path.is_file():
        return {}
    df = pd.read_csv(path)
    df = df[(df["runtime"] == "LiteRT+XNNPACK") & (df["image_size"] == 224)
            & (df["threads"] == 1) & (df["form"].isin(["grouped", "baseline"]))]
    return {r["variant"]: float(r["ratio_to_mobilenet"]) for _, r in df.iterrows()}


DEPLOY_FORMS = (("gpc16", "einsum"), ("gpc16", "grouped"), ("gpc32", "einsum"), ("gpc32", "grouped"),
                ("gpc64", "einsum"), ("gpc64", "grouped"), ("gpc128", "einsum"), ("gpc128", "grouped"))


def render_deploy_latency(deploy_dir: Path) -> str:
    """results/deploy/README.md's ratio table from latency.csv: per runtime, size
    and threads, MobileNet's median ms and each gpc form's ratio of medians to it
    (CPU-time ratio in brackets where measured), with the load it was measured under."""
    df = pd.read_csv(Path(deploy_dir) / "latency.csv").sort_values(
        ["runtime", "image_size", "threads"], ascending=[True, False, True], kind="stable")
    macs = df[df["variant"] != "mobilenet"].drop_duplicates("variant").set_index("variant")["mac_ratio"]
    notes = sorted(set(df["note"].dropna().astype(str)))
    header = "| runtime | px | threads | MobileNet ms | " + " | ".join(
        f"{v} {f}" for v, f in DEPLOY_FORMS) + " |"
    lines = ["MAC ratios: " + ", ".join(f"{v} {macs[v]:.3f}" for v, _ in DEPLOY_FORMS[::2] if v in macs) + ".",
             "", f"Measured under: {'; '.join(notes) or 'no note'} (`note` column of latency.csv).", "",
             header, "|---|---:|---:|---:|" + "---:|" * len(DEPLOY_FORMS)]

    def cell(row, value, cpu_value, cpu_label=""):
        """'0.60 (0.61)': the value and, where measured (1 thread), its CPU-time twin."""
        if row is None:
            return "NA"
        cpu = f" ({cpu_label}{row[cpu_value]:.2f})" if pd.notna(row.get(cpu_value)) else ""
        return f"{row[value]:.2f}{cpu}"

    for (runtime, size, threads), group in df.groupby(["runtime", "image_size", "threads"], sort=False):
        rows = {(r["variant"], r["form"]): r for _, r in group.iterrows()}
        base = rows.get(("mobilenet", "baseline"))
        cells = [cell(base, "median_ms", "cpu_median_ms", "CPU ")] + [
            cell(rows.get(key), "ratio_to_mobilenet", "cpu_ratio_to_mobilenet") for key in DEPLOY_FORMS]
        lines.append(f"| {runtime} | {size} | {threads} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_answer(results_dir, results_rel: str, deploy_dir) -> str:
    """The README's first-screen answer: one row per gpc network with what it
    saves (parameters, MACs, deployed latency) and its accuracy against
    MobileNet, MobileNet-swish and a thinner MobileNet-swish at the same
    parameters, each with its verdict; then the sentences that say it."""
    summary_dir = Path(results_dir) / "summary"
    table = _read(summary_dir, "summary.csv", index_col=0)
    pairs = _read(summary_dir, "pairs.csv")
    contrasts = _read(summary_dir, "contrasts.csv", index_col=0)
    _require_verdicts(pairs, f"{results_rel}/summary/pairs.csv")
    _require_verdicts(contrasts, f"{results_rel}/summary/contrasts.csv")
    budget = (_read(summary_dir, "equal_budget.csv") if (summary_dir / "equal_budget.csv").is_file()
              else None)
    rows = headline_rows(pairs, contrasts, budget)
    latency = _latency(Path(deploy_dir))
    size = _study_image_size(summary_dir)

    def cell(gpc, kind):
        mine = rows[(rows["gpc"] == gpc) & (rows["comparator"] == kind)]
        if mine.empty:
            return "not run yet"
        r = mine.iloc[0]
        return _verdict_cell(r["diff pp"], r["verdict"], r["seeds"])

    base = table.loc["mobilenet"] if "mobilenet" in table.index else None
    out = []
    for gpc in ("gpc16", "gpc32", "gpc64", "gpc128"):
        if gpc not in table.index:
            continue
        t = table.loc[gpc]
        out.append({
            "Network": f"gpcMobileNet {gpc[3:]}",
            "Parameters": f"{int(t['Parameters']):,} ({100 - t['Parameter reduction %']:.0f}%)",
            f"MACs @ {size}": f"{t['MACs (M)']:.2f}M ({100 - t['MAC reduction %']:.0f}%)",
            "Latency, LiteRT 224 px": (f"{latency[gpc]:.2f}x" if gpc in latency else "NA"),
            "Test accuracy %": t["Test accuracy %"],
            "vs MobileNet": cell(gpc, "mobilenet"),
            "vs MobileNet-swish": cell(gpc, "mobilenet-swish"),
            "vs thinner MobileNet-swish, same parameters": cell(gpc, "swish-params"),
        })
    shown = pd.DataFrame(out)
    lines = [f"<!-- generated by scripts/render_readme_results.py from {results_rel}/summary/ "
             "and results/deploy/; do not edit by hand -->", ""]
    if base is not None:
        lines += [f"MobileNet v1 (ReLU6, full width): {int(base['Parameters']):,} parameters, "
                  f"{base['MACs (M)']:.2f}M MACs per {size} image, test accuracy "
                  f"{base['Test accuracy %']}. Each gpc network's share of that in "
                  "brackets, its latency as a multiple of MobileNet's, and its accuracy "
                  "difference in pp (gpc - other) with the verdict of the test over seeds and "
                  "test images (Holm-corrected; *holds* or *not resolved*):", ""]
    lines += [format_markdown(shown, list(shown.columns)).rstrip(), ""]
    lines += [f"* {s}" for s in answer_sentences(rows, budget)]
    lines += ["", f"CIFAR-10 at {size}, 15 epochs (`cpu` profile), JPEG copy of the images; "
              "latency: batch 1, one thread, the deployment form "
              "([docs/deployment.md](docs/deployment.md)); everything in full: "
              "[docs/results.md](docs/results.md)."]
    return "\n".join(lines).rstrip() + "\n"
