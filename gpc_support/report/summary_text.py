"""The written summary of a results folder, and the files it is written to.

- `summary_markdown(...)`: the text of `summary.md`: what was run (profile,
  data, networks, seeds), Table 6.1 with mean +- sd, every seed's result, which
  differences hold (paired tests, one verdict per claim), what the report's
  computation counts;
- `write_summary(results, results_dir, ...)`: `summary.md`, `summary.csv`,
  `runs.csv`, `pairs.csv` (with the ablation `ablation.csv`, `contrasts.csv`,
  `contrasts_per_seed.csv`) and the figures (PNG + SVG) in
  `<results_dir>/summary/`, each written atomically; it writes NOTHING when
  the folder holds no run, or fewer complete runs than the summary already
  there (`SummaryRefused` says why), so a summary is never replaced by an
  emptier one.

Paths in the text are relative to the repository (or just the folder name).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from . import ablation as abl
from . import convergence as cv
from . import fair_baseline as fb
from . import headline
from . import summary_figures as figs
from ..common.atomic_files import atomic_write_bytes, atomic_write_text
from .figure_style import figure_bytes
from .published_values import JPEG_NOTE, REPORT_EPOCHS, REPORT_IMAGE_SIZE, report_row_sentence
from .results import RunResult, complete_runs, load_results, runs_phrase, short_name
from .comparisons import pair_statements, pair_tests
from .estimators import ALPHA
from .tables import csv_text, format_markdown, runs_table, summary_table, tables_markdown

__all__ = ["FIGURES", "OLD_NETWORKS_TEXT", "SummaryRefused", "shown_path", "computation_note",
           "summary_markdown", "check_summary_allowed", "write_summary", "run_result_markdown"]

from ..common.paths import REPO_ROOT

# stem -> what it shows (in the order summary.md lists them)
FIGURES = {
    "fig_accuracy": "training and validation accuracy per epoch, one panel per variant "
                    "(mean over seeds, band from the lowest to the highest seed)",
    "fig_loss": "training and validation loss per epoch, one panel per variant "
                "(mean over seeds, band from the lowest to the highest seed)",
    "fig_overlay_val_accuracy": "validation accuracy of all variants on one axis (mean over seeds)",
    "fig_overlay_val_loss": "validation loss of all variants on one axis (mean over seeds)",
    "fig_test_accuracy": "test accuracy of every seed and the mean ± sd per variant",
    "fig_tradeoff": "test accuracy against parameters and MACs, and the report's in its own panel",
    "fig_reduction": "parameters, MACs and the report's computation rule as % of MobileNet",
    "fig_ablation": "ablation: test accuracy per variant and what each part of the D6 block adds",
    "fig_pareto": "fair baseline: test accuracy against parameters and MACs, a line per family",
    "fig_headline": "each gpc network against the MobileNets it could replace, with verdicts",
}

OLD_NETWORKS_TEXT = (
    "made before the fidelity fix (all-swish gpc networks): their config.json has no \"code\" "
    "record; the gpc networks then used swish everywhere instead of ReLU6 outside the D6 blocks, "
    "so they are not the networks the method authors trained. They stand until these runs are "
    "made again")


class SummaryRefused(RuntimeError):
    """write_summary would replace a summary with an emptier one (or write one of nothing)."""


def shown_path(path, parts: int = 1) -> str:
    """`path` relative to the repository when inside it, else "…/" and its last
    `parts` names (never a machine's absolute path)."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(REPO_ROOT):
        return resolved.relative_to(REPO_ROOT).as_posix() or "."
    return "…/" + "/".join(resolved.parts[-parts:])


def _profile_lines(results) -> list[str]:
    groups: dict[str, tuple[dict, list]] = {}
    for run in (r for runs in results.values() for r in runs):
        p = run.profile
        if p:
            groups.setdefault(repr(sorted(p.items())), (p, []))[1].append(run.name)
    lines = []
    for p, names in groups.values():
        bits = [f"{p.get('image_size')}x{p.get('image_size')} images",
                f"batch {p.get('batch_size')}", f"{p.get('epochs')} epochs"]
        if p.get("train_limit"):
            bits.append(f"training images limited to {p['train_limit']:,} before the validation split")
        if p.get("test_limit"):
            bits.append(f"{p['test_limit']:,} test images")
        if p.get("lr_decay") is not None:
            bits.append(f"learning-rate decay x{p['lr_decay']} per epoch after the peak")
        if "augment" in p:
            augment = "paper" if p["augment"] is True else p["augment"]
            bits.append("no augmentation" if augment in (False, None, "none") else f"{augment} augmentation")
        lines.append(f"- profile `{p.get('name')}`: {', '.join(bits)} ({len(names)} runs)")
    return lines


def _data_lines(results) -> list[str]:
    """One line per data source (layout and image counts), each naming its
    fingerprints and, when there is more than one, which runs had which."""
    seen: dict = {}
    for run in complete_runs(results):
        m = run.metrics
        key = (run.data_layout, m.get("train_images"), m.get("val_images"), m.get("test_images"))
        seen.setdefault(key, {}).setdefault(run.data_fingerprint, []).append(run)
    lines = []
    for (layout, tr, va, te), by_fingerprint in seen.items():
        if layout == "image-folders":
            what = JPEG_NOTE
        elif layout:
            what = f"layout {layout}"
        else:
            what = "source not recorded"
        counts = (f"{tr:,} training / {va:,} validation / {te:,} test images"
                  if all(isinstance(v, int) for v in (tr, va, te)) else "image counts not recorded")
        groups = []
        for fingerprint, runs in by_fingerprint.items():
            which = f"{len(runs)} run" + ("" if len(runs) == 1 else "s")
            if len(by_fingerprint) > 1 or len(seen) > 1:
                which += ": " + runs_phrase(runs)
            groups.append((f"fingerprint {fingerprint}" if fingerprint else "no fingerprint")
                          + f" ({which})")
        line = f"- data: {what}; {counts}; {'; '.join(groups)}"
        if layout == "image-folders" and len([f for f in by_fingerprint if f]) > 1:
            line += (". Runs made before commit e92fcf1 fingerprinted an image folder by its "
                     "file listing (paths and sizes), later runs by the loaded arrays, so one "
                     "folder has a fingerprint of each kind")
        lines.append(line)
    return lines


def _seed_line(results) -> str:
    seeds = sorted({r.seed for r in complete_runs(results) if r.seed is not None})
    if not seeds:
        return "- seeds: none recorded"
    per_variant = {short_name(v): sum(r.status == "complete" for r in runs) for v, runs in results.items()}
    counts = ", ".join(f"{v} {n}" for v, n in per_variant.items())
    return (f"- seeds: {', '.join(map(str, seeds))} (complete runs per variant: {counts}); a seed "
            "sets the initial weights, the batch order and the augmentation draws")


def _network_lines(results) -> list[str]:
    runs = complete_runs(results)
    old = [r.name for r in runs if r.before_fidelity_fix]
    if not old:
        commits = sorted({(r.code or {}).get("commit", "?")[:10] for r in runs if r.code})
        dirty = [r.name for r in runs if (r.code or {}).get("dirty")]
        line = ("- networks: the corrected ones (ReLU6 outside the D6 blocks, swish inside), code "
                + (f"commit {', '.join(commits)}" if commits else "commit not recorded"))
        if dirty:
            line += f"; made from a tree with uncommitted changes: {', '.join(dirty)}"
        return [line] if runs else []
    everyone = len(old) == len(runs)
    return [f"- **networks: {'all these runs were' if everyone else ', '.join(old) + ' were'} "
            f"{OLD_NETWORKS_TEXT}.**"]


def computation_note(counts_224: dict | None) -> str:
    """What the report's "Computation (FLOPS)" counts, with the numbers when known."""
    text = ("The report's \"Computation (FLOPS)\" column counts every grouped convolution as free: "
            "it is the multiply-accumulates of the layers that are not grouped convolutions, plus "
            "one operation per element of each swish activation, plus half the global average "
            "pool's input, plus 30 (`gpc_support.model.counts.report_flops`, which reproduces the "
            "report's 567.751M, 32.122M, 57.813M, 83.503M and 160.172M at 224x224 to the digit). "
            "So the report's computation savings count the grouped convolutions, most of a gpc "
            "network's work, as zero. The MACs columns count every layer from its shapes.")
    base = (counts_224 or {}).get("mobilenet")
    gpc16 = (counts_224 or {}).get("gpc16")
    if base and gpc16:
        text += (f" At 224x224 gpcMobileNet 16 needs {100 * gpc16['macs'] / base['macs']:.1f}% of "
                 f"MobileNet's multiply-accumulates (a {100 * (1 - gpc16['macs'] / base['macs']):.1f}% "
                 f"saving), where the report's rule says {100 * gpc16['report_flops'] / base['report_flops']:.1f}% "
                 f"(a {100 * (1 - gpc16['report_flops'] / base['report_flops']):.2f}% saving).")
    text += (" The TensorFlow profiler's count on this study's einsum implementation is kept only "
             "as a cross-check, in the last column of summary.csv.")
    return text


def summary_markdown(results: dict[str, list[RunResult]], table: pd.DataFrame, runs_df: pd.DataFrame,
                     tests: pd.DataFrame, results_dir=None, figures=(), failures=(), notes=(),
                     counts_224: dict | None = None, ablation_text: str = "",
                     fair_text: str = "", convergence_text: str = "") -> str:
    """The text of summary.md."""
    lines = ["# Grouped pointwise convolutions on CIFAR-10: Table 6.1 reproduced", ""]
    if results_dir is not None:
        lines += [f"Results folder: `{shown_path(results_dir)}`", ""]
    lines += ["## Runs", ""]
    lines += _profile_lines(results) or ["- no run recorded its profile"]
    lines += _data_lines(results) + _network_lines(results) + [_seed_line(results), ""]
    incomplete = [r for runs in results.values() for r in runs if r.status != "complete"]
    if incomplete:
        lines += ["Not complete:", ""]
        lines += [f"- `{r.name}` ({r.label}): {r.status_text}"
                  + (f" — {r.problem}" if r.status == "unfinished" and r.problem else "")
                  for r in incomplete]
    else:
        lines += [f"All {len(runs_df)} runs are complete."]
    all_notes = [f"- `{r.name}`: {n}" for runs in results.values() for r in runs for n in r.notes]
    all_notes += [f"- {n}" for n in notes]
    if all_notes:
        lines += ["", "Notes:", "", *all_notes]
    lines += ["", "## Table 6.1", "", tables_markdown(table)]
    lines += ["## Every run", "", "Test accuracy of the weights from the epoch with the highest "
              "validation accuracy (the best epoch); training time is the sum of the epochs' "
              "wall time.", "",
              format_markdown(runs_df, ["variant", "seed", "status", "Best epoch",
                                        "Test accuracy %", "Training time (min)", "Networks",
                                        "Commit"]), ""]
    lines += ["## Which differences hold", ""]
    statements = pair_statements(tests) if len(tests) else []
    if statements:
        lines += [f"Paired tests on the {int(tests['images'].iloc[0]):,} test images, for each pair "
                  "of adjacent variants and each gpc variant against MobileNet, between runs with "
                  "the same seed. Differences are later minus earlier variant (b - a), in "
                  "percentage points (pp). Each claim gets one verdict, *holds* or *not "
                  "resolved*, from a test of the mean difference over seeds that carries both "
                  "sources of variation, the training seeds and the test images (seed-to-seed "
                  "variance pooled over these pairs, plus the test-image variance; "
                  "docs/statistics.md), with Holm's correction over these pairs (one family) at "
                  f"{tests.attrs.get('alpha', ALPHA):g}; the interval is the unadjusted 95% "
                  "interval of that test. Where a difference is not resolved, the number of "
                  "seeds that would resolve a difference of its size and spread (power 0.8). "
                  "Beside it, the measurement noise of one test set: the exact McNemar test per "
                  "seed (scipy.stats.binomtest of the images only one of the two networks gets "
                  "right) and a 95% bootstrap interval of the mean difference that resamples "
                  "test images only (each image with its outcomes in every seed).", ""]
        lines += [f"- {s}" for s in statements]
    else:
        lines += ["No pair of variants has complete runs with the same seed and saved test "
                  "predictions: nothing to test."]
    lines += [f"- {n}" for n in tests.attrs.get("notes", [])]
    if ablation_text:
        lines += ["", ablation_text.rstrip()]
    if fair_text:
        lines += ["", fair_text.rstrip()]
    if convergence_text:
        lines += ["", convergence_text.rstrip()]
    lines += ["", "## Computation: what the report's figure counts", "", computation_note(counts_224)]
    if figures:
        lines += ["", "## Figures", ""]
        for stem in figures:
            lines += [f"![{FIGURES.get(stem, stem)}]({stem}.png)", ""]
    if failures:
        lines += ["", "## Not drawn", ""] + [f"- {f}" for f in failures]
    return "\n".join(lines).rstrip() + "\n"


def ablation_markdown(ablation_df: pd.DataFrame, per_seed: pd.DataFrame,
                      contrasts: pd.DataFrame) -> str:
    """The summary's ablation section: the table, each contrast in words."""
    lines = ["## Ablation: which part of the D6 block does what", "",
             "Each variant takes one part from gpcMobileNet 16 (or adds swish to MobileNet); "
             "each contrast is *with the part - without it*, between runs with the same seed, "
             "on the same test images. Each gets one verdict, *holds* or *not resolved*, from a "
             "test of the mean difference over seeds that carries the training seeds and the "
             "test images (seed-to-seed variance pooled over all the contrasts; "
             "docs/statistics.md), Holm-corrected over all the contrasts (one family); beside "
             "it, the measurement noise of one test set: the exact McNemar test per seed and a "
             "95% bootstrap interval of the mean difference that resamples test images only.",
             "", format_markdown(ablation_df.reset_index(), abl.TABLE_COLUMNS), ""]
    statements = abl.contrast_statements(per_seed, contrasts)
    lines += [f"- {s}" for s in statements] or ["No contrast has complete runs of both variants."]
    lines += [f"- {n}" for n in contrasts.attrs.get("notes", [])]
    for intro, statements in abl.extra_sections(per_seed, contrasts):
        lines += ["", intro, ""] + [f"- {s}" for s in statements]
    return "\n".join(lines) + "\n"


def _existing_complete(out: Path) -> int:
    """Complete runs the summary already in `out` was made from (0 when none)."""
    for name, column in (("runs.csv", "status"), ("summary.csv", "status")):
        path = out / name
        if path.is_file():
            try:
                df = pd.read_csv(path)
            except (ValueError, OSError, pd.errors.ParserError):
                continue
            if column in df:
                return int((df[column].astype(str) == "complete").sum())
    return 0


def check_summary_allowed(results: dict[str, list[RunResult]], results_dir, force: bool = False) -> None:
    """Raise SummaryRefused when writing would leave an emptier summary than the one there."""
    runs_dir = shown_path(Path(results_dir) / "runs")
    found = [r for runs in results.values() for r in runs if r.status != "missing"]
    if not found:
        raise SummaryRefused(
            f"no runs in {runs_dir}/: runs are expected as {runs_dir}/<variant>/seed<k>/ (or the "
            f"older {runs_dir}/<variant>/), as run_all.sh writes them; nothing was written")
    done = len(complete_runs(results))
    before = _existing_complete(Path(results_dir) / "summary")
    if done < before and not force:
        raise SummaryRefused(
            f"{shown_path(Path(results_dir) / 'summary')} was made from {before} complete runs, "
            f"{runs_dir}/ now holds {done}: not replacing it with an emptier summary (pass "
            "force=True to do it anyway); nothing was written")


def write_summary(results: dict[str, list[RunResult]], results_dir, counts_224: dict | None = None,
                  notes=(), force: bool = False) -> list[Path]:
    """Write the summary files into `<results_dir>/summary/`; return the paths written.

    Raises SummaryRefused (writing nothing) when there is no run, or when
    the summary there was made from more complete runs (unless `force`).
    counts_224: architecture counts at 224x224 for the comparison with the
    report and for fig_reduction (`gpc_support.report.architecture_counts.architecture_counts`);
    without them fig_reduction uses the runs' own counts.  A figure that
    fails is listed under "Not drawn" (and warned about), never stops the rest.
    """
    check_summary_allowed(results, results_dir, force)
    out = Path(results_dir) / "summary"
    runs_df = runs_table(results)
    all_results = results
    results, ablation = abl.split_ablation(results)  # the main study; the ablation apart
    table = summary_table(results, counts_224)
    tests = pair_tests(results)
    reduction_counts, reduction_size = counts_224, 224
    if not reduction_counts:
        reduction_counts = {v: runs[0].metrics for v, runs in results.items()
                            if runs[0].metrics is not None}
        sizes = {r.image_size for r in complete_runs(results)}
        reduction_size = sizes.pop() if len(sizes) == 1 else None
    curves = abl.curve_variants(all_results)  # Table 6.1's; without a D6 ablation network, all
    makers = {
        "fig_accuracy": None, "fig_loss": None,
        "fig_overlay_val_accuracy": lambda: figs.plot_overlay(curves, "val_accuracy"),
        "fig_overlay_val_loss": lambda: figs.plot_overlay(curves, "val_loss"),
        "fig_test_accuracy": lambda: figs.plot_test_accuracy(results),
        "fig_tradeoff": lambda: figs.plot_tradeoff(results),
        "fig_reduction": lambda: figs.plot_reduction(reduction_counts, reduction_size),
    }
    try:
        grid = figs.plot_curves_grid(curves)
    except Exception as err:  # noqa: BLE001
        grid = (err, err)
    written, drawn, failures = [], [], []

    def draw(stem, make, first=False):
        """Write figure `stem` as PNG and SVG; a failing figure is listed, never fatal."""
        try:
            fig = make()
            if isinstance(fig, Exception):
                raise fig
            written.append(atomic_write_bytes(out / f"{stem}.png", figure_bytes(fig, "png")))
            # the SVG keeps the layout the PNG was drawn with: laying the
            # figure out again would cost as much as drawing it
            fig.set_layout_engine("none")
            written.append(atomic_write_bytes(out / f"{stem}.svg", figure_bytes(fig, "svg")))
            drawn.insert(0 if first else len(drawn), stem)
        except Exception as err:  # noqa: BLE001 - one bad figure must not stop the summary
            failures.append(f"{stem}: {type(err).__name__}: {err}")
            warnings.warn(f"write_summary: {stem} not drawn ({type(err).__name__}: {err})",
                          stacklevel=3)

    for stem, make in makers.items():
        draw(stem, make or (lambda stem=stem: {"fig_accuracy": grid[0], "fig_loss": grid[1]}[stem]))
    ablation_text = ""
    if ablation:
        ablation_df = abl.ablation_table(ablation)
        per_seed, contrasts = abl.contrast_tests(ablation, others=results)
        draw("fig_ablation", lambda: abl.plot_ablation(ablation, per_seed, contrasts))
        written.append(atomic_write_text(out / "ablation.csv", csv_text(ablation_df)))
        written.append(atomic_write_text(out / "contrasts.csv", csv_text(contrasts)))
        written.append(atomic_write_text(out / "contrasts_per_seed.csv",
                                         csv_text(per_seed, index=False)))
        ablation_text = ablation_markdown(ablation_df, per_seed, contrasts)
    fair_text = ""
    if fb.split_widths(all_results)[1]:  # the fair baseline, once a thinner MobileNet ran
        points, budget_table = fb.family_points(all_results), fb.equal_budget(all_results)
        draw("fig_pareto", lambda: fb.plot_pareto(all_results))
        written.append(atomic_write_text(out / "fair_baseline.csv", csv_text(
            points.drop(columns=["per seed %"]))))
        written.append(atomic_write_text(out / "equal_budget.csv",
                                         csv_text(budget_table, index=False)))
        fair_text = fb.fair_baseline_markdown(points, budget_table)
    else:
        budget_table = None
    convergence_text = ""
    short_dir = cv.counterpart_dir(results_dir)
    if short_dir is not None:  # converged runs: set their claims beside the 15-epoch ones
        short = load_results(short_dir)
        conv, orders = cv.convergence_table(short, all_results), cv.orderings(short, all_results)
        written.append(atomic_write_text(out / "convergence.csv", csv_text(conv, index=False)))
        written.append(atomic_write_text(out / "convergence_ordering.csv",
                                         csv_text(orders, index=False)))
        convergence_text = "\n".join([
            "## 15 epochs against convergence", "",
            f"The same claims tested in the 15-epoch runs of `{shown_path(short_dir)}` and in "
            "these converged ones (each folder its own family of tests; differences b - a in pp, "
            "mean over seeds):", "", cv.convergence_section(orders, conv)])
    # the headline: each gpc network against the MobileNets it could replace
    rows = headline.headline_rows(tests, contrasts if ablation else None, budget_table)
    if len(rows):
        draw("fig_headline", lambda: headline.plot_headline(rows), first=True)
    written.append(atomic_write_text(out / "summary.csv", csv_text(table)))
    written.append(atomic_write_text(out / "runs.csv", csv_text(runs_df, index=False)))
    written.append(atomic_write_text(out / "pairs.csv", csv_text(tests, index=False)))
    written.append(atomic_write_text(out / "summary.md", summary_markdown(
        results, table, runs_df, tests, results_dir, drawn, failures, notes, counts_224,
        ablation_text, fair_text, convergence_text)))
    return written


def run_result_markdown(run: RunResult) -> str:
    """A variant notebook's closing paragraph: the run's result beside the report's row."""
    if run.status != "complete" or not run.metrics:
        return f"**{run.label}**: {run.status_text}; no test result yet."
    m, p = run.metrics, run.profile or {}
    size = p.get("image_size")
    seed = "" if run.seed is None else f", seed {run.seed}"
    best_val = m.get("best_val_accuracy")
    text = (f"**Result.** {run.label}, profile `{p.get('name')}` ({size}x{size} px, "
            f"{run.epochs_done} epochs{seed}): **{100 * m['test_accuracy']:.2f}%** test accuracy"
            + (f" on {m['test_images']:,} test images" if isinstance(m.get("test_images"), int) else "")
            + f", with the weights of epoch {run.best_epoch} (the highest validation accuracy"
            + (f", {100 * best_val:.2f}%" if isinstance(best_val, (int, float)) else "")
            + f"); {m['params_total']:,} parameters, {m['macs'] / 1e6:.2f}M multiply-accumulates "
              "per image.")
    row = report_row_sentence(run.variant)
    if row:
        text += (f" {row} That is another protocol ({REPORT_IMAGE_SIZE} px, {REPORT_EPOCHS} epochs, "
                 "lossless data): compare the ordering of the variants, not the level.")
    if run.data_layout == "image-folders":
        text += f" Data: {JPEG_NOTE}."
    if run.before_fidelity_fix:
        text += f" **This run was {OLD_NETWORKS_TEXT}.**"
    return text
