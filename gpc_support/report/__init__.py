"""The study's reporting in one import (a façade over the modules that do the work).

- `gpc_support.report.results`: reading a results folder (`load_results`, `RunResult`);
- `gpc_support.report.tables`: per-run and per-variant tables (`summary_table`, `runs_table`);
- `gpc_support.report.estimators`: paired tests, intervals, Holm, verdicts (`mcnemar_exact`, ...);
- `gpc_support.report.comparisons`: those tests on the study's pairs of variants (`pair_tests`);
- `gpc_support.report.figure_style`: the shared look and files of figures (`figure_bytes`, ...);
- `gpc_support.report.run_figures`: one run's figures (`plot_history`, `plot_confusion`, ...);
- `gpc_support.report.summary_figures`: the figures comparing variants (`plot_curves_grid`, ...);
- `gpc_support.report.summary_text`: summary.md and the files (`write_summary`);
- `gpc_support.report.ablation`: the ablation's table, contrasts and figure;
- `gpc_support.report.fair_baseline`: gpc networks against thinner MobileNets at equal budget;
- `gpc_support.report.convergence`: the 15-epoch claims beside the converged (paper32) ones;
- `gpc_support.report.published_values`: the report's Table 6.1 and the authors' accuracies;
- `gpc_support.report.readme_sections`: the README's and docs/' generated sections, from the
  summary's CSVs (`render_answer`, ...; scripts/render_readme_results.py writes them).

Nothing here imports Keras or TensorFlow (`gpc_support.report.architecture_counts` does, for
the architecture counts).
"""

from __future__ import annotations

from .ablation import (
    ABLATION_VARIANTS,
    CONTRASTS,
    SECONDARY_INTRO,
    TABLE_COLUMNS,
    ablation_table,
    contrast_statements,
    contrast_tests,
    curve_variants,
    extra_sections,
    plot_ablation,
    split_ablation,
)
from .convergence import convergence_markdown, convergence_table, counterpart_dir
from .fair_baseline import (
    equal_budget,
    equal_budget_statements,
    equal_budget_table,
    fair_baseline_markdown,
    family_points,
    plot_pareto,
    points_table,
    split_widths,
)
from .figure_style import BEST_EPOCH_TEXT, ReportFigure, figure_bytes, variant_colors
from .published_values import AUTHORS_ACCURACY, JPEG_NOTE, REPORT_TABLE, report_row_sentence
from .results import (
    HISTORY_FIELDS,
    REQUIRED_METRICS,
    VARIANTS,
    RunResult,
    complete_runs,
    load_predictions,
    load_results,
    load_run,
    variant_label,
)
from .comparisons import pair_statements, pair_tests
from .estimators import mcnemar_exact, paired_bootstrap_ci
from .run_figures import confusion_counts, per_class_accuracy, plot_confusion, plot_history
from .summary_figures import (
    plot_curves_grid,
    plot_overlay,
    plot_reduction,
    plot_test_accuracy,
    plot_tradeoff,
    seed_band,
)
from .summary_text import (
    FIGURES,
    SummaryRefused,
    check_summary_allowed,
    computation_note,
    run_result_markdown,
    shown_path,
    summary_markdown,
    write_summary,
)
from .tables import accuracy_text, csv_text, format_markdown, runs_table, summary_table, tables_markdown

__all__ = [
    "ABLATION_VARIANTS", "CONTRASTS", "SECONDARY_INTRO", "TABLE_COLUMNS", "ablation_table", "contrast_statements", "contrast_tests",
    "curve_variants", "extra_sections", "plot_ablation", "split_ablation",
    "equal_budget", "equal_budget_statements", "equal_budget_table", "fair_baseline_markdown",
    "family_points", "plot_pareto", "points_table", "split_widths",
    "convergence_markdown", "convergence_table", "counterpart_dir",
    "AUTHORS_ACCURACY", "BEST_EPOCH_TEXT", "FIGURES", "HISTORY_FIELDS", "JPEG_NOTE", "REPORT_TABLE",
    "REQUIRED_METRICS", "VARIANTS", "ReportFigure", "RunResult", "SummaryRefused", "accuracy_text",
    "check_summary_allowed", "complete_runs", "computation_note", "confusion_counts", "run_result_markdown", "csv_text", "figure_bytes", "format_markdown",
    "load_predictions", "load_results", "load_run", "mcnemar_exact", "pair_statements",
    "pair_tests", "paired_bootstrap_ci", "per_class_accuracy", "plot_confusion",
    "plot_curves_grid", "plot_history", "plot_overlay", "plot_reduction", "plot_test_accuracy",
    "plot_tradeoff", "report_row_sentence", "runs_table", "seed_band", "shown_path", "summary_markdown",
    "summary_table", "tables_markdown", "variant_colors", "variant_label", "write_summary",
]
