"""Tables of the study: per run, per variant (mean +- sd over seeds), and beside the report's.

The per-variant table is Table 6.1 with mean +- sd over seeds; the comparison
puts it beside the report's Table 6.1.

- `runs_table(results)`: one row per (variant, seed): status, epochs, best
  epoch, test accuracy, training time, code/data provenance;
- `summary_table(results, counts_224=None)`: one row per variant: size,
  computation (MACs counted from the layer shapes and the report's rule),
  best epochs, training time, test accuracy mean +- sd over seeds, and the
  report's values beside them;
- `format_markdown`, `tables_markdown`: GitHub-flavoured markdown;
- `csv_text(df)`: CSV with integers as integers and floats rounded.

Reductions are relative to MobileNet's count (the same for every seed).
Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .published_values import REPORT_IMAGE_SIZE, REPORT_TABLE
from .results import RunResult

__all__ = [
    "MAIN_COLUMNS",
    "REPORT_COLUMNS",
    "RUN_COLUMNS",
    "runs_table",
    "summary_table",
    "accuracy_text",
    "format_markdown",
    "tables_markdown",
    "csv_text",
]

# columns of the main table (markdown), in order
MAIN_COLUMNS = (
    "Architecture", "Seeds", "Parameters", "Parameter reduction %", "Parameter size (MiB)",
    "MACs (M)", "MAC reduction %", "Report-rule computation (M)", "Report-rule reduction %",
    "Best epoch", "Training time per seed (min)", "Test accuracy %",
)
# columns of the comparison with the report (markdown)
REPORT_COLUMNS = (
    "Architecture", "Parameters (M)", "Report params (M)", "Parameter reduction %",
    "Report parameter reduction %", "MACs @224 (M)", "MAC reduction @224 %",
    "Report-rule computation @224 (M)", "Report computation (M)", "Report-rule reduction @224 %",
    "Report computation reduction %", "Test accuracy mean %", "Report accuracy %",
)
RUN_COLUMNS = (
    "variant", "seed", "Architecture", "status", "Epochs", "Best epoch", "Best val accuracy %",
    "Test accuracy %", "Training time (min)", "Images per second", "Kernels", "Networks", "Data",
    "Commit",
)

# decimals per column in CSV and markdown (integer columns are Int64, printed whole)
_DECIMALS = {
    "Parameters (M)": 3, "Report params (M)": 3, "Δ params (M)": 3,
    "Parameter size (MiB)": 2, "Report size (MiB)": 2,
    "MACs (M)": 3, "MACs @224 (M)": 3, "Report-rule computation (M)": 3,
    "Report-rule computation @224 (M)": 6, "Report computation (M)": 3,
    "Profiler FLOPs/2 (M), cross-check only": 3,
    "Training time (min)": 1, "Images per second": 0,
}
_INTEGER_COLUMNS = ("Parameters", "Seeds", "Image size", "seed", "Best epoch", "images",
                    "only_a", "only_b", "seeds needed")


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _nan(value) -> float:
    return float(value) if _is_number(value) else np.nan


def _reduction(value, base) -> float:
    if not (_is_number(value) and _is_number(base)) or not base > 0 or not np.isfinite(value):
        return np.nan
    return 100.0 * (1.0 - value / base)


def accuracy_text(values) -> str:
    """'71.03 ± 0.40 (n=3)' from test accuracies in %; '71.03 (n=1)'; 'NA'."""
    values = [v for v in values if _is_number(v) and math.isfinite(v)]
    if not values:
        return "NA"
    if len(values) == 1:
        return f"{values[0]:.2f} (n=1)"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f} (n={len(values)})"


def _status_summary(runs: list[RunResult]) -> str:
    """'complete' for one complete run; '3 complete'; '2 complete, 1 unfinished (2/3 epochs)'."""
    if len(runs) == 1:
        return runs[0].status_text
    done = sum(r.status == "complete" for r in runs)
    others = [f"{r.name}: {r.status_text}" for r in runs if r.status != "complete"]
    return "; ".join([f"{done} complete"] + others)


def _computation_metric(run: RunResult, key: str):
    return (run.metrics or {}).get(key)


def runs_table(results: dict[str, list[RunResult]]) -> pd.DataFrame:
    """One row per run (variant, seed): what it is, how far it got, what it scored."""
    rows = []
    for runs in results.values():
        for run in runs:
            m = run.metrics or {}
            seconds = run.training_seconds
            code = run.code or {}
            commit = code.get("commit")
            rows.append({
                "variant": run.variant,
                "seed": run.seed,
                "Architecture": run.label,
                "status": run.status_text,
                "Epochs": run.epochs_text,
                "Best epoch": run.best_epoch if run.status == "complete" else None,
                "Best val accuracy %": 100 * _nan(m.get("best_val_accuracy")),
                "Test accuracy %": 100 * _nan(m.get("test_accuracy")),
                "Training time (min)": seconds / 60 if seconds is not None else np.nan,
                "Images per second": _nan(m.get("images_per_second")),
                # TensorFlow's CPU kernels: they round differently, so a run records them
                "Kernels": run.kernels_text,
                "Networks": ("" if run.config is None else
                             "before the fidelity fix (all-swish gpc networks)"
                             if run.before_fidelity_fix else "corrected"),
                "Data": run.data_layout or "",
                "Commit": "" if not commit else str(commit)[:10] + (" (dirty)" if code.get("dirty") else ""),
            })
    df = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    for column in ("seed", "Best epoch"):
        df[column] = pd.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else int(v)
                               for v in df[column]], dtype="Int64")
    return df


def _first(runs: list[RunResult], key: str):
    """A count that does not depend on the seed: the first complete run's."""
    for run in runs:
        value = (run.metrics or {}).get(key)
        if _is_number(value):
            return value
    return None


def summary_table(results: dict[str, list[RunResult]], counts_224: dict | None = None) -> pd.DataFrame:
    """Table 6.1, one row per variant (index: variant), over all complete seeds.

    Our counts come from the runs' metrics.json (MACs and, where recorded or
    filled in by `gpc_support.report.architecture_counts.fill_report_flops`, the report's
    computation rule at the runs' image size).  `counts_224`: optional
    `{variant: {"macs": ..., "report_flops": ...}}` at 224x224
    (`gpc_support.report.architecture_counts.architecture_counts(224)`), to set the report's
    computation column beside its reconstruction.
    `df.attrs["notes"]` says what a reader must know to read the table.
    """
    notes = []
    counts_224 = counts_224 or {}
    base_runs = results.get("mobilenet", [])
    base = {k: _first(base_runs, k) for k in ("params_total", "macs", "report_flops", "profiler_flops")}
    if base["params_total"] is None:
        why = _status_summary(base_runs) if base_runs else "not in the results"
        notes.append(f"No usable MobileNet baseline ({why}): reductions are not computed (NaN).")
    base224 = counts_224.get("mobilenet", {})

    rows = []
    for name, runs in results.items():
        done = [r for r in runs if r.status == "complete"]
        accuracies = [100 * r.metrics["test_accuracy"] for r in done]
        params = _first(runs, "params_total")
        macs = _first(runs, "macs")
        rule = _first(runs, "report_flops")
        flops = _first(runs, "profiler_flops")
        sizes = sorted({r.image_size for r in runs if r.image_size})
        best_epochs = [r.best_epoch for r in done if r.best_epoch is not None]
        times = [r.training_seconds / 60 for r in done if r.training_seconds is not None]
        report = REPORT_TABLE.get(name, {})
        c224 = counts_224.get(name, {})
        row = {
            "variant": name,
            "Architecture": runs[0].label,
            "status": _status_summary(runs),
            "Seeds": len(done),
            "Image size": sizes[0] if len(sizes) == 1 else None,
            "Parameters": params,
            "Parameters (M)": _nan(params) / 1e6,
            "Parameter reduction %": _reduction(params, base["params_total"]),
            "Parameter size (MiB)": _nan(_first(runs, "param_size_mib")),
            "MACs (M)": _nan(macs) / 1e6,
            "MAC reduction %": _reduction(macs, base["macs"]),
            "Report-rule computation (M)": _nan(rule) / 1e6,
            "Report-rule reduction %": _reduction(rule, base["report_flops"]),
            "Best epoch": (best_epochs[0] if len(best_epochs) == 1
                           else ", ".join(map(str, best_epochs)) if best_epochs else None),
            "Training time (min)": float(np.mean(times)) if times else np.nan,
            # each seed's time in the markdown: a run that shared the machine hides in a mean
            "Training time per seed (min)": ", ".join(f"{t:.1f}" for t in times) or None,
            "Test accuracy mean %": float(np.mean(accuracies)) if accuracies else np.nan,
            "Test accuracy sd (pp)": (float(np.std(accuracies, ddof=1)) if len(accuracies) > 1
                                      else np.nan),
            "Test accuracy %": accuracy_text(accuracies),
            "Test accuracy per seed %": ", ".join(
                f"{r.seed if r.seed is not None else '?'}: {100 * r.metrics['test_accuracy']:.2f}"
                for r in done),
            "MACs @224 (M)": _nan(c224.get("macs")) / 1e6,
            "Report-rule computation @224 (M)": _nan(c224.get("report_flops")) / 1e6,
            "Report params (M)": _nan(report.get("params_m")),
            "Report parameter reduction %": _nan(report.get("param_reduction_pct")),
            "Report size (MiB)": _nan(report.get("param_size_mb")),
            "Report computation (M)": _nan(report.get("computation_m")),
            "Report computation reduction %": _nan(report.get("computation_reduction_pct")),
            "Report accuracy %": _nan(report.get("test_accuracy_pct")),
            "Profiler FLOPs/2 (M), cross-check only": _nan(flops) / 2e6,
        }
        row["MAC reduction @224 %"] = _reduction(c224.get("macs"), base224.get("macs"))
        row["Report-rule reduction @224 %"] = _reduction(c224.get("report_flops"),
                                                          base224.get("report_flops"))
        rows.append(row)
    df = pd.DataFrame(rows).set_index("variant") if rows else pd.DataFrame(
        columns=["variant", *MAIN_COLUMNS]).set_index("variant")
    for column in ("Seeds", "Image size", "Parameters"):
        if column in df:
            df[column] = pd.array([None if pd.isna(v) else int(v) for v in df[column]], dtype="Int64")
    sizes = {int(s) for s in df["Image size"].dropna()} if "Image size" in df else set()
    if sizes and sizes != {REPORT_IMAGE_SIZE}:
        notes.append(
            f"MACs and the report-rule computation in the main table are for "
            f"{', '.join(f'{s}x{s}' for s in sorted(sizes))} images, the report's for "
            f"{REPORT_IMAGE_SIZE}x{REPORT_IMAGE_SIZE}: compare the reduction percentages.")
    df.attrs["notes"] = notes
    return df


def _format_cell(value, column) -> str:
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return "NA"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if column not in ("seed", "Best epoch", "Image size") else str(int(value))
    if isinstance(value, (float, np.floating)):
        decimals = _DECIMALS.get(str(column), 2)
        return f"{float(value):,.{decimals}f}" if decimals == 0 else f"{float(value):.{decimals}f}"
    text = str(value).replace("\r", " ").replace("\n", " ")
    return text.replace("\\", "\\\\").replace("|", "\\|")


def format_markdown(df: pd.DataFrame, columns=None, index: bool = False,
                    rename: dict | None = None, right=()) -> str:
    """A GitHub-flavoured markdown table of `df` (no `tabulate` needed).

    columns: the columns to show (default all; absent ones are skipped);
    index: show the index first; rename: header text for some columns.
    NaN/None print as "NA"; numbers are right-aligned; "|" in text is escaped.
    """
    columns = [c for c in (columns if columns is not None else df.columns) if c in df.columns]
    rename = {"status": "Status", **(rename or {})}
    headers, cells, numeric = [], [], []
    if index:
        headers.append(str(df.index.name or ""))
        cells.append([_format_cell(v, None) for v in df.index])
        numeric.append(False)
    for column in columns:
        series = df[column]
        headers.append(rename.get(column, str(column)))
        cells.append([_format_cell(v, column) for v in series.tolist()])
        numeric.append((pd.api.types.is_numeric_dtype(series.dtype)
                        and not pd.api.types.is_bool_dtype(series.dtype))
                       or column in ("Test accuracy %", "Best epoch",
                                     "Training time per seed (min)", *right))
    esc = [h.replace("|", "\\|") for h in headers]
    lines = ["| " + " | ".join(esc) + " |",
             "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"]
    for r in range(len(df)):
        lines.append("| " + " | ".join(col[r] for col in cells) + " |")
    return "\n".join(lines) + "\n"


def tables_markdown(table: pd.DataFrame) -> str:
    """The main table, the comparison with the report's Table 6.1, then the notes."""
    sizes = sorted({int(s) for s in table["Image size"].dropna()}) if "Image size" in table else []
    size_text = " and ".join(f"{s}x{s}" for s in sizes) or "the runs' image size"
    parts = [
        f"**Table 6.1 reproduced** (reductions relative to MobileNet; MACs and the report-rule "
        f"computation per {size_text} image; test accuracy: mean ± sd over seeds, sd with "
        "ddof=1)\n",
        format_markdown(table, MAIN_COLUMNS),
    ]
    report_columns = [c for c in REPORT_COLUMNS if c in table.columns and table[c].notna().any()]
    parts += ["\n**Against the report's Table 6.1** (224x224; the report-rule computation "
              "counts every grouped convolution as zero; accuracies come from different "
              "protocols and are not comparable)\n",
              format_markdown(table, report_columns)]
    notes = list(table.attrs.get("notes") or [])
    notes.append("The report prints parameter counts cut to three decimals (432,842 as 0.432M, "
                 "1,353,930 as 1.353M) and some of its reductions differ from the exact counts' "
                 "by 0.02 pp: differences of that size are the report's rounding.")
    parts.append("\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    return "\n".join(parts)


def csv_text(df: pd.DataFrame, index: bool = True) -> str:
    """CSV of `df`: integer columns as integers, floats rounded per column
    (percentages to 2 decimals, millions to 3, minutes to 1)."""
    out = df.copy()
    for column in out.columns:
        if column in _INTEGER_COLUMNS and pd.api.types.is_numeric_dtype(out[column].dtype):
            out[column] = pd.array([None if pd.isna(v) else int(v) for v in out[column]], dtype="Int64")
        elif column in ("p", "seed_p", "p_holm"):  # p-values: three significant digits
            out[column] = [v if pd.isna(v) else float(f"{v:.3g}") for v in out[column]]
        elif pd.api.types.is_float_dtype(out[column].dtype):
            decimals = _DECIMALS.get(str(column), 2)
            out[column] = out[column].round(decimals)
            if decimals == 0:
                out[column] = pd.array([None if pd.isna(v) else int(v) for v in out[column]],
                                       dtype="Int64")
    return out.to_csv(index=index, lineterminator="\n")
