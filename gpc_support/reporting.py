"""Tables and figures of the study: Table 6.1 and Figures 6.2/6.3 of the report.

Reads a results folder written by `gpc_support.training` (one folder per
variant under `<results_dir>/runs/`) and builds

- `summary_table(results)`: Table 6.1 with our numbers beside the report's;
- `plot_curves_grid(results)`: Figure 6.2 (accuracy) and 6.3 (loss) analogues;
- `plot_overlay`, `plot_tradeoff`, `plot_history`, `plot_confusion`;
- `write_summary(results, results_dir)`: `summary.md`, `summary.csv` and the
  figures (PNG + SVG) in `<results_dir>/summary/`, every file written
  atomically.

Nothing here imports Keras or TensorFlow.  Runs that are missing, unfinished
or damaged never stop the report: each variant gets a status and whatever can
be shown for it is shown.

Figures are `matplotlib.figure.Figure` objects made without pyplot (no global
figure state, no backend needed); they show themselves as PNG when they are
the last expression of a notebook cell or passed to `display()`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import re
import textwrap
import warnings
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from .files import atomic_write_bytes, atomic_write_text, read_json

__all__ = [
    "VARIANTS",
    "REPORT_TABLE",
    "HISTORY_FIELDS",
    "REQUIRED_METRICS",
    "FLOPS_NOTE",
    "RunResult",
    "variant_label",
    "variant_colors",
    "load_run",
    "load_results",
    "load_predictions",
    "status_table",
    "summary_table",
    "format_markdown",
    "tables_markdown",
    "summary_markdown",
    "plot_history",
    "plot_curves_grid",
    "plot_overlay",
    "plot_tradeoff",
    "plot_confusion",
    "per_class_accuracy",
    "figure_bytes",
    "write_summary",
]

VARIANTS = ("mobilenet", "gpc16", "gpc32", "gpc64", "gpc128")

# The report's Table 6.1.  None where the report says "NA".  Units: params
# and computation in millions, size in MB (MiB: params x 4 bytes / 2**20),
# percentages as printed.  "computation_m" is the TensorFlow profiler's FLOPs
# for one 224x224 image divided by 2 (SPEC.md section 3).
REPORT_TABLE: dict[str, dict] = {
    "mobilenet": dict(architecture="MobileNet", params_m=3.239, param_reduction_pct=None,
                      param_size_mb=12.36, computation_m=567.751,
                      computation_reduction_pct=None, test_accuracy_pct=92.35),
    "gpc16": dict(architecture="gpcMobileNet 16 Channels", params_m=0.274, param_reduction_pct=91.54,
                  param_size_mb=1.05, computation_m=32.122,
                  computation_reduction_pct=94.34, test_accuracy_pct=89.67),
    "gpc32": dict(architecture="gpcMobileNet 32 Channels", params_m=0.432, param_reduction_pct=86.66,
                  param_size_mb=1.65, computation_m=57.813,
                  computation_reduction_pct=89.81, test_accuracy_pct=90.82),
    "gpc64": dict(architecture="gpcMobileNet 64 Channels", params_m=0.748, param_reduction_pct=76.90,
                  param_size_mb=2.85, computation_m=83.503,
                  computation_reduction_pct=85.29, test_accuracy_pct=91.96),
    "gpc128": dict(architecture="gpcMobileNet 128 Channels", params_m=1.353, param_reduction_pct=58.22,
                   param_size_mb=5.16, computation_m=160.172,
                   computation_reduction_pct=71.78, test_accuracy_pct=92.69),
}
REPORT_IMAGE_SIZE = 224

# Same as gpc_support.training.HISTORY_FIELDS (not imported: that module
# imports Keras; tests/test_reporting.py checks the two agree).
HISTORY_FIELDS = ("epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")

# metrics.json fields the table needs; a file without one is "damaged".
# profiler_flops must be present but may be null.
REQUIRED_METRICS = ("params_total", "param_size_mib", "macs", "profiler_flops", "test_accuracy")

STATUSES = ("complete", "unfinished", "missing", "damaged")

FLOPS_NOTE = (
    "The report's \"Computation (FLOPS)\" column is the TensorFlow profiler's count of "
    "floating-point operations for one image, halved. The profiler does not measure anything: "
    "it adds up per-operation estimates, and an operation whose input or output shapes it "
    "cannot infer, or for which it has no FLOP rule, silently contributes zero. In gpcMobileNet "
    "each pointwise layer is a grouped convolution followed by a channel interleave made of "
    "reshapes, strided slices and a concatenation; these hide the tensor shapes from the "
    "profiler (and the grouped convolution has no rule it applies), so most of the pointwise "
    "work, which is most of the network's work, is left out. That is why the report gives "
    "32.1M for gpcMobileNet 16 Channels (a 94% reduction) and similarly low figures for the "
    "other gpc variants: they are not the real computation. The \"Computation MACs\" column "
    "here is counted from the layer shapes instead: the multiply-accumulates of every "
    "convolution, grouped convolution, depthwise convolution and dense layer for one image. "
    "The profiler's figure (FLOPs/2) is shown beside it only as a cross-check of the report's "
    "method."
)

DPI = 130
_GPC_RE = re.compile(r"^gpc(\d+)$")
_FIGURE_FILES = ("fig_accuracy", "fig_loss", "fig_overlay_val_accuracy", "fig_tradeoff")


# --------------------------------------------------------------------------- runs

@dataclasses.dataclass
class RunResult:
    """What one variant's folder holds.

    status: "complete" (metrics.json read and checked), "unfinished"
    (folder without metrics.json), "missing" (no folder) or "damaged" (a file
    that cannot be trusted; `problem` says which and why).  `history` and
    `metrics` hold whatever could be read and checked, whatever the status.
    """

    variant: str
    status: str
    problem: str | None = None
    history: pd.DataFrame | None = None
    metrics: dict | None = None
    run_dir: Path | None = None
    config: dict | None = None
    notes: list = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        if self.metrics and isinstance(self.metrics.get("label"), str):
            return self.metrics["label"]
        return variant_label(self.variant)

    @property
    def epochs_done(self) -> int:
        return 0 if self.history is None else len(self.history)

    @property
    def profile(self) -> dict | None:
        for source in (self.metrics, self.config):
            if source and isinstance(source.get("profile"), dict):
                return source["profile"]
        return None

    @property
    def planned_epochs(self) -> int | None:
        profile = self.profile
        value = profile.get("epochs") if profile else None
        return int(value) if _is_number(value) else None

    @property
    def predictions_path(self) -> Path | None:
        if self.run_dir is None:
            return None
        path = self.run_dir / "test_predictions.npz"
        return path if path.is_file() else None

    @property
    def status_text(self) -> str:
        """One line: 'complete', 'unfinished (2/3 epochs)', 'damaged: ...'."""
        if self.status == "unfinished":
            planned = self.planned_epochs
            return f"unfinished ({self.epochs_done}/{planned if planned else '?'} epochs)"
        if self.status == "damaged":
            return f"damaged: {self.problem}"
        return self.status


def _epochs_text(run: RunResult) -> str:
    """'2/3' (done / planned); '?' for done when the history could not be read."""
    done = "?" if run.status == "damaged" and run.history is None else str(run.epochs_done)
    planned = run.planned_epochs
    return f"{done}/{planned}" if planned else done


class _Damaged(ValueError):
    pass


def variant_label(variant: str) -> str:
    """'MobileNet' for 'mobilenet', 'gpcMobileNet 16 Channels' for 'gpc16'."""
    if variant == "mobilenet":
        return "MobileNet"
    match = _GPC_RE.match(variant)
    return f"gpcMobileNet {match.group(1)} Channels" if match else variant


def _short_name(variant: str) -> str:
    return "MobileNet" if variant == "mobilenet" else variant


def _variant_key(variant: str):
    if variant in VARIANTS:
        return (0, VARIANTS.index(variant), "")
    match = _GPC_RE.match(variant)
    return (1, int(match.group(1)), "") if match else (2, 0, variant)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _read_history(path: Path) -> pd.DataFrame:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise _Damaged("history.csv is not text") from None
    except OSError as err:
        raise _Damaged(f"history.csv cannot be read ({err.strerror or err})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise _Damaged("history.csv is empty (no header)")
    header = [h.strip() for h in next(csv.reader([lines[0]]))]
    lacking = [f for f in HISTORY_FIELDS if f not in header]
    if lacking:
        raise _Damaged(f"history.csv header lacks {', '.join(lacking)}")
    rows = []
    for number, row in enumerate(csv.reader(lines[1:]), start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise _Damaged(f"history.csv line {number} has {len(row)} of {len(header)} fields "
                           "(truncated?)")
        values = {}
        for key, cell in zip(header, row):
            try:
                values[key] = float(cell)
            except ValueError:
                raise _Damaged(f"history.csv line {number}: {key} = {cell!r} is not a number") from None
        rows.append(values)
    df = pd.DataFrame(rows, columns=header, dtype="float64")
    epochs = df["epoch"].to_numpy()
    if len(df) and not np.array_equal(epochs, np.arange(1, len(df) + 1)):
        raise _Damaged("history.csv epochs are not 1, 2, 3, ... in order")
    for key in ("accuracy", "val_accuracy"):
        values = df[key].dropna()
        if ((values < 0) | (values > 1)).any():
            raise _Damaged(f"history.csv {key} outside 0..1")
    df["epoch"] = df["epoch"].astype("int64")
    return df.reset_index(drop=True)


def _check_metrics(metrics: dict, variant: str) -> None:
    lacking = [k for k in REQUIRED_METRICS if k not in metrics]
    if lacking:
        raise _Damaged(f"metrics.json lacks {', '.join(lacking)}")
    for key in ("params_total", "param_size_mib", "macs", "test_accuracy"):
        value = metrics[key]
        if not _is_number(value) or not math.isfinite(value):
            raise _Damaged(f"metrics.json {key} = {value!r} is not a number")
    if metrics["params_total"] <= 0 or metrics["macs"] <= 0:
        raise _Damaged("metrics.json params_total and macs must be positive")
    if not 0 <= metrics["test_accuracy"] <= 1:
        raise _Damaged(f"metrics.json test_accuracy = {metrics['test_accuracy']!r} is not a fraction")
    flops = metrics["profiler_flops"]
    if flops is not None and (not _is_number(flops) or not math.isfinite(flops) or flops < 0):
        raise _Damaged(f"metrics.json profiler_flops = {flops!r} is neither null nor a count")
    named = metrics.get("variant")
    if named is not None and named != variant:
        raise _Damaged(f"metrics.json is for variant {named!r}, not {variant!r}")


def load_run(run_dir, variant: str | None = None) -> RunResult:
    """Read one variant's run folder (`<results_dir>/runs/<variant>`)."""
    run_dir = Path(run_dir)
    variant = variant or run_dir.name
    if not run_dir.is_dir():
        return RunResult(variant, "missing", f"no run folder {run_dir}", run_dir=run_dir)
    result = RunResult(variant, "unfinished", run_dir=run_dir)
    problems = []

    config_path = run_dir / "config.json"
    if config_path.is_file():
        try:
            result.config = read_json(config_path)
        except (ValueError, OSError):
            result.notes.append("config.json is unreadable (ignored)")

    history_path = run_dir / "history.csv"
    if history_path.is_file():
        try:
            result.history = _read_history(history_path)
        except _Damaged as err:
            problems.append(str(err))

    metrics_path = run_dir / "metrics.json"
    if metrics_path.exists():
        try:
            metrics = read_json(metrics_path)
            _check_metrics(metrics, variant)
            result.metrics = metrics
        except ValueError as err:
            problems.append(str(err) if isinstance(err, _Damaged) else "metrics.json is not valid JSON")
        except OSError as err:
            problems.append(f"metrics.json cannot be read ({err.strerror or err})")

    if result.metrics is not None and result.history is not None:
        recorded = result.metrics.get("epochs")
        if _is_number(recorded) and int(recorded) != len(result.history):
            problems.append(f"history.csv has {len(result.history)} epochs, "
                            f"metrics.json says {int(recorded)}")
    elif result.metrics is not None and not history_path.is_file():
        problems.append("history.csv is missing although metrics.json exists")

    state_path = run_dir / "state.json"
    if state_path.is_file() and result.history is not None:
        try:
            done = read_json(state_path).get("epochs_done")
        except (ValueError, OSError):
            result.notes.append("state.json is unreadable (ignored)")
        else:
            if _is_number(done) and int(done) > len(result.history):
                problems.append(f"history.csv has {len(result.history)} epochs, "
                                f"state.json says {int(done)} are done")

    if problems:
        result.status, result.problem = "damaged", "; ".join(problems)
    elif result.metrics is not None:
        result.status = "complete"
    else:
        result.status = "unfinished"
        result.problem = ("no finished epoch yet" if not result.epochs_done
                          else f"{result.epochs_done} epochs finished, no metrics.json yet")
    return result


def _runs_root(results_dir: Path) -> Path:
    runs = results_dir / "runs"
    if runs.is_dir():
        return runs
    if results_dir.is_dir() and any((results_dir / v).is_dir() for v in VARIANTS):
        return results_dir  # a folder holding the variant folders directly
    return runs


def load_results(results_dir) -> dict[str, RunResult]:
    """Every variant of `<results_dir>/runs/`: the five of the study always,
    plus any other gpc<N> folder found, in table order."""
    root = _runs_root(Path(results_dir))
    names = set(VARIANTS)
    if root.is_dir():
        names |= {p.name for p in root.iterdir() if p.is_dir() and _GPC_RE.match(p.name)}
    return {name: load_run(root / name, name) for name in sorted(names, key=_variant_key)}


def load_predictions(run_dir) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(true labels, predicted labels, class names) from `test_predictions.npz`.

    Raises ValueError naming the file if it is missing or not what it should be.
    """
    path = Path(run_dir) / "test_predictions.npz"
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            y_true = _labels(data["y_true"])
            y_pred = _labels(data["probabilities"])
            names = [str(n) for n in data["class_names"]]
    except (OSError, KeyError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: unreadable test predictions ({err})") from None
    if len(y_true) != len(y_pred):
        raise ValueError(f"{path}: {len(y_true)} labels but {len(y_pred)} predictions")
    return y_true, y_pred, names


# --------------------------------------------------------------------------- tables

def status_table(results: dict[str, RunResult]) -> pd.DataFrame:
    """One row per variant: architecture, status, epochs done / planned, notes."""
    rows = []
    for name, run in results.items():
        rows.append({
            "variant": name,
            "Architecture": run.label,
            "status": run.status,
            "Epochs": _epochs_text(run),
            "Problem": run.problem or "",
            "Notes": "; ".join(run.notes),
        })
    return pd.DataFrame(rows).set_index("variant")


def _reduction(value, base):
    if value is None or base is None or not np.isfinite(value) or not np.isfinite(base) or base <= 0:
        return np.nan
    return 100.0 * (1.0 - value / base)


def _nan(value):
    return np.nan if value is None else float(value)


OUR_COLUMNS = (
    "Architecture", "status", "Epochs", "Parameters", "Parameter reduction %",
    "Parameter size (MB)", "Computation MACs (M)", "MAC reduction %",
    "Profiler FLOPs/2 (M)", "Profiler reduction %", "Test accuracy %",
)
REPORT_COLUMNS = (
    "Architecture", "Parameters (M)", "Report params (M)", "Parameter reduction %",
    "Report parameter reduction %", "Computation MACs (M)", "Profiler FLOPs/2 (M)",
    "Report computation (M)", "MAC reduction %", "Profiler reduction %",
    "Report computation reduction %", "Test accuracy %", "Report accuracy %", "Δ accuracy (pp)",
)


def summary_table(results: dict[str, RunResult]) -> pd.DataFrame:
    """Table 6.1: our numbers and the report's, one row per variant (index: variant).

    Reductions are relative to our MobileNet baseline; without a readable
    baseline metrics.json they are NaN and `df.attrs["notes"]` says so.
    Computation: "Computation MACs (M)" counts every layer from its shapes;
    "Profiler FLOPs/2 (M)" is the report's method (TensorFlow profiler / 2).
    """
    notes = []
    base_run = results.get("mobilenet")
    base = base_run.metrics if base_run is not None else None
    if base is None:
        why = base_run.status_text if base_run is not None else "not in the results"
        notes.append(f"No usable MobileNet baseline ({why}): reductions are not computed (NaN).")
    base_params = base["params_total"] if base else None
    base_macs = base["macs"] if base else None
    base_flops = base.get("profiler_flops") if base else None

    rows = []
    for name, run in results.items():
        m = run.metrics or {}
        report = REPORT_TABLE.get(name, {})
        params = m.get("params_total")
        macs = m.get("macs")
        flops = m.get("profiler_flops")
        acc = m.get("test_accuracy")
        best_val = m.get("best_val_accuracy")
        if not _is_number(best_val) and run.history is not None and run.history["val_accuracy"].notna().any():
            best_val = float(run.history["val_accuracy"].max())
        row = {
            "variant": name,
            "Architecture": run.label,
            "status": run.status_text,
            "Epochs": _epochs_text(run),
            "Image size": _nan((run.profile or {}).get("image_size")),
            "Parameters": _nan(params),
            "Parameters (M)": _nan(params) / 1e6,
            "Parameter reduction %": _reduction(params, base_params),
            "Parameter size (MB)": _nan(m.get("param_size_mib")),
            "Computation MACs (M)": _nan(macs) / 1e6,
            "MAC reduction %": _reduction(macs, base_macs),
            "Profiler FLOPs/2 (M)": _nan(flops) / 2e6,
            "Profiler reduction %": _reduction(flops, base_flops),
            "Profiler ÷ MACs": (flops / 2 / macs) if flops is not None and macs else np.nan,
            "Test accuracy %": _nan(acc) * 100,
            "Best val accuracy %": _nan(best_val) * 100 if _is_number(best_val) else np.nan,
            "Report params (M)": _nan(report.get("params_m")),
            "Report parameter reduction %": _nan(report.get("param_reduction_pct")),
            "Report size (MB)": _nan(report.get("param_size_mb")),
            "Report computation (M)": _nan(report.get("computation_m")),
            "Report computation reduction %": _nan(report.get("computation_reduction_pct")),
            "Report accuracy %": _nan(report.get("test_accuracy_pct")),
        }
        row["Δ params (M)"] = row["Parameters (M)"] - row["Report params (M)"]
        row["Δ accuracy (pp)"] = row["Test accuracy %"] - row["Report accuracy %"]
        rows.append(row)
    columns = list(rows[0]) if rows else ["variant", *OUR_COLUMNS]
    df = pd.DataFrame(rows, columns=columns).set_index("variant")
    sizes = {int(s) for s in df["Image size"].dropna()} if "Image size" in df else set()
    if sizes and sizes != {REPORT_IMAGE_SIZE}:
        notes.append(
            f"Our MACs and profiler FLOPs are for {', '.join(f'{s}x{s}' for s in sorted(sizes))} "
            f"images, the report's computation for {REPORT_IMAGE_SIZE}x{REPORT_IMAGE_SIZE}; "
            "absolute values differ by the ratio of image areas, so compare the reduction "
            "percentages.")
    df.attrs["notes"] = notes
    return df


_FORMATS = {
    "Parameters": "{:,.0f}",
    "Image size": "{:.0f}",
    "Parameters (M)": "{:.3f}",
    "Report params (M)": "{:.3f}",
    "Δ params (M)": "{:+.3f}",
    "Parameter size (MB)": "{:.2f}",
    "Report size (MB)": "{:.2f}",
    "Computation MACs (M)": "{:.3f}",
    "Profiler FLOPs/2 (M)": "{:.3f}",
    "Report computation (M)": "{:.3f}",
    "Profiler ÷ MACs": "{:.2f}",
    "Δ accuracy (pp)": "{:+.2f}",
}


def _format_cell(value, column) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return "NA"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return _FORMATS.get(str(column), "{:.2f}").format(float(value))
    text = str(value).replace("\r", " ").replace("\n", " ")
    return text.replace("\\", "\\\\").replace("|", "\\|")


def format_markdown(df: pd.DataFrame, columns=None, index: bool = False,
                    rename: dict | None = None) -> str:
    """A GitHub-flavoured markdown table of `df` (no `tabulate` needed).

    columns: the columns to show (default all); index: show the index first;
    rename: header text for some columns.  NaN/None print as "NA"; numbers
    are right-aligned; "|" in text is escaped.
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
        numeric.append(pd.api.types.is_numeric_dtype(series.dtype)
                       and not pd.api.types.is_bool_dtype(series.dtype))
    esc = [h.replace("|", "\\|") for h in headers]
    lines = ["| " + " | ".join(esc) + " |",
             "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"]
    for r in range(len(df)):
        lines.append("| " + " | ".join(col[r] for col in cells) + " |")
    return "\n".join(lines) + "\n"


def tables_markdown(table: pd.DataFrame) -> str:
    """Our Table 6.1, then the comparison with the report, then the notes."""
    parts = [
        "**Table 6.1 reproduced** (reductions relative to our MobileNet; "
        "MACs counted from the layer shapes, profiler FLOPs/2 as the report computed them)\n",
        format_markdown(table, OUR_COLUMNS),
        "\n**Against the report's Table 6.1** (report computation = profiler FLOPs/2 at "
        "224x224; Δ accuracy = ours − report, in percentage points)\n",
        format_markdown(table, REPORT_COLUMNS),
    ]
    notes = list(table.attrs.get("notes") or [])
    notes.append("The report prints parameter counts cut to three decimals (432,842 as 0.432M, "
                 "1,353,930 as 1.353M) and some of its reductions differ from the exact counts' "
                 "by 0.02 pp: differences of that size are the report's rounding, not another model.")
    if notes:
        parts.append("\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- figures



class ReportFigure(Figure):
    """A Figure that shows itself as PNG in notebooks (no pyplot needed)."""

    def _repr_png_(self):
        return figure_bytes(self, "png")


def figure_bytes(fig, fmt: str = "png") -> bytes:
    """The figure as PNG/SVG bytes (reproducible: no dates, fixed SVG ids)."""
    buf = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None} if fmt in ("svg", "pdf") else None
    with mpl.rc_context({"svg.hashsalt": "gpc-study"}):
        fig.savefig(buf, format=fmt, dpi=DPI, facecolor="white", metadata=metadata)
    return buf.getvalue()


@contextlib.contextmanager
def _style():
    import seaborn as sns

    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.8)}
    rc.update({"figure.dpi": DPI, "savefig.dpi": DPI, "axes.titlesize": 10.5,
               "figure.titlesize": 12, "legend.fontsize": 8.5, "legend.framealpha": 0.9})
    with mpl.rc_context(rc):
        yield


def _figure(nrows, ncols, figsize, **kwargs):
    fig = ReportFigure(figsize=figsize, dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def variant_colors(variants) -> dict[str, tuple]:
    """A fixed colour per variant (the five of the study always the same)."""
    import seaborn as sns

    palette = sns.color_palette("colorblind", 10)
    fixed = {"mobilenet": palette[7], "gpc16": palette[0], "gpc32": palette[2],
             "gpc64": palette[1], "gpc128": palette[4]}
    spare = [palette[i] for i in (5, 9, 8, 3, 6)]
    colors, k = {}, 0
    for v in variants:
        if v in fixed:
            colors[v] = fixed[v]
        else:
            colors[v] = spare[k % len(spare)]
            k += 1
    return colors


_METRIC_TITLES = {
    "accuracy": "Training accuracy", "val_accuracy": "Validation accuracy",
    "loss": "Training loss", "val_loss": "Validation loss",
    "lr": "Learning rate", "seconds": "Seconds per epoch",
}


def _percent_axis(ax):
    # whole percents where the ticks allow it, one decimal where they do not
    ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(
        lambda v, _: f"{100 * v:.0f}%" if abs(100 * v - round(100 * v)) < 1e-6 else f"{100 * v:.1f}%"))


def _epoch_axis(ax):
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def _loss_scale(ax, values):
    values = np.asarray([v for v in values if np.isfinite(v) and v > 0])
    if len(values) and values.max() / values.min() > 25:
        ax.set_yscale("log")


def _best_epoch(history: pd.DataFrame):
    val = history["val_accuracy"]
    if not val.notna().any():
        return None, None
    i = int(val.idxmax())
    return int(history["epoch"].iloc[i]), float(val.iloc[i])


def _message(ax, text):
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 38)), ha="center", va="center",
            transform=ax.transAxes, fontsize=9, color="0.35")
    # not set_xticks([]): the axis may be shared with panels that need their ticks
    ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
    ax.grid(False)


def _draw_curves(ax, history, kind, color_train, color_val, legend=True):
    """Train (solid) and validation (dashed) `kind` curves; best val epoch marked."""
    epochs = history["epoch"]
    marker = "o" if len(history) <= 30 else None
    train_key, val_key = ("accuracy", "val_accuracy") if kind == "accuracy" else ("loss", "val_loss")
    ax.plot(epochs, history[train_key], color=color_train, lw=1.8, marker=marker, ms=3.5,
            label="training")
    ax.plot(epochs, history[val_key], color=color_val, lw=1.8, ls="--", marker=marker, ms=3.5,
            label="validation")
    best, best_val = _best_epoch(history)
    if best is not None:
        ax.axvline(best, color="0.45", lw=0.9, ls=":", zorder=0)
        y = best_val if kind == "accuracy" else float(history.loc[history["epoch"] == best, val_key].iloc[0])
        star = ax.plot([best], [y], marker="*", ms=11, color=color_val, mec="black", mew=0.6,
                       ls="none", label=f"best val. acc. (epoch {best}: {best_val:.1%})", zorder=5)[0]
        if not legend:  # grid panels: a one-entry legend placed where it hides no curve
            ax.legend(handles=[star], labels=[f"best val. acc. {best_val:.1%} (epoch {best})"],
                      loc="best", handlelength=1, fontsize=7.5)
    if kind == "accuracy":
        _percent_axis(ax)
        ax.set_ylabel("accuracy")
    else:
        _loss_scale(ax, list(history[train_key]) + list(history[val_key]))
        ax.set_ylabel("categorical cross-entropy")
    _epoch_axis(ax)
    if len(epochs) == 1:
        ax.set_xlim(0.5, 1.5)
    if legend:
        ax.legend(loc="best")


def plot_history(history_df: pd.DataFrame | None, title: str, color=None) -> Figure:
    """Accuracy and loss per epoch, training vs validation, best val epoch marked."""
    with _style():
        fig, axes = _figure(1, 2, (10, 3.8))
        ax_acc, ax_loss = axes[0]
        if history_df is None or len(history_df) == 0:
            for ax in (ax_acc, ax_loss):
                _message(ax, "no finished epoch")
        else:
            train_c, val_c = (color, color) if color is not None else ("#1f4e79", "#d9730d")
            _draw_curves(ax_acc, history_df, "accuracy", train_c, val_c)
            _draw_curves(ax_loss, history_df, "loss", train_c, val_c)
        ax_acc.set_title("Accuracy")
        ax_loss.set_title("Loss")
        fig.suptitle(title)
    return fig


def _panel_title(run: RunResult) -> str:
    title = run.label
    if run.status != "complete":
        title += "\n" + textwrap.shorten(run.status_text, 48, placeholder="…")
    return title


def _runs_subtitle(results) -> str:
    profiles = {}
    for run in results.values():
        p = run.profile
        if p:
            key = (p.get("name"), p.get("image_size"), p.get("epochs"))
            profiles.setdefault(key, []).append(run.variant)
    if not profiles:
        return ""
    return "; ".join(f"profile {n}: {s}x{s} images, {e} epochs" for (n, s, e) in profiles)


def _curve_legend_handles():
    from matplotlib.lines import Line2D

    return [Line2D([], [], color="0.35", lw=1.8, marker="o", ms=3.5, label="training"),
            Line2D([], [], color="0.35", lw=1.8, ls="--", marker="o", ms=3.5, label="validation"),
            Line2D([], [], color="0.6", marker="*", ms=11, mec="black", mew=0.6, ls="none",
                   label="epoch with the best validation accuracy (weights tested)")]


def plot_curves_grid(results: dict[str, RunResult]):
    """(accuracy figure, loss figure): one panel per variant, training solid,
    validation dashed, best validation epoch starred (cf. report Figures 6.2, 6.3)."""
    names = list(results)
    colors = variant_colors(names)
    n = max(len(names), 1)
    ncols = n if n <= 3 else 3
    nrows = math.ceil(n / ncols)
    subtitle = _runs_subtitle(results)
    figs = []
    for kind, title in (("accuracy", "Training and validation accuracy per epoch (cf. report Figure 6.2)"),
                        ("loss", "Training and validation loss per epoch (cf. report Figure 6.3)")):
        with _style():
            fig, axes = _figure(nrows, ncols, (4.2 * ncols, 3.4 * nrows + 0.5),
                                sharey=(kind == "accuracy"))
            flat = list(axes.flat)
            for ax, name in zip(flat, names):
                run = results[name]
                if run.history is not None and len(run.history):
                    c = colors[name]
                    _draw_curves(ax, run.history, kind, c, c, legend=False)
                    if kind == "accuracy":
                        ax.tick_params(labelleft=True)
                else:
                    reason = ("no finished epoch" if run.status == "unfinished" else
                              "no readable history" if run.status == "damaged" else "no run")
                    _message(ax, reason)
                ax.set_title(_panel_title(run))
            for ax in flat[len(names):]:
                ax.axis("off")
            if not names:
                _message(flat[0], "no runs")
            fig.legend(handles=_curve_legend_handles(), loc="outside lower center", ncols=3)
            fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""))
        figs.append(fig)
    return figs[0], figs[1]


def plot_overlay(results: dict[str, RunResult], metric: str = "val_accuracy") -> Figure:
    """One curve per variant of a history column (default validation accuracy)."""
    if metric not in HISTORY_FIELDS or metric == "epoch":
        raise ValueError(f"metric must be one of {', '.join(HISTORY_FIELDS[1:])}, got {metric!r}")
    colors = variant_colors(list(results))
    with _style():
        fig, axes = _figure(1, 1, (7.5, 4.5))
        ax = axes[0, 0]
        drawn, values = 0, []
        for name, run in results.items():
            h = run.history
            if h is None or not len(h) or not h[metric].notna().any():
                continue
            label = run.label if run.status == "complete" else f"{run.label} ({run.status})"
            ax.plot(h["epoch"], h[metric], color=colors[name], lw=1.9,
                    marker="o" if len(h) <= 30 else None, ms=3.5, label=label)
            values += list(h[metric])
            best = h[metric].idxmax() if "accuracy" in metric else h[metric].idxmin()
            if "accuracy" in metric or "loss" in metric:
                ax.plot([h["epoch"][best]], [h[metric][best]], marker="*", ms=11, color=colors[name],
                        mec="black", mew=0.6, ls="none")
            drawn += 1
        title = _METRIC_TITLES[metric]
        if drawn:
            if "accuracy" in metric:
                _percent_axis(ax)
            elif "loss" in metric:
                _loss_scale(ax, values)
            ax.set_ylabel(title.lower())
            _epoch_axis(ax)
            ax.legend(loc="best", title="★ best epoch" if ("accuracy" in metric or "loss" in metric) else None)
        else:
            _message(ax, "no run has a finished epoch")
        subtitle = _runs_subtitle(results)
        ax.set_title(f"{title} per epoch, all variants" + (f"\n{subtitle}" if subtitle else ""))
    return fig


def _eng_axis(ax):
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.EngFormatter(places=0, sep=""))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def plot_tradeoff(results: dict[str, RunResult]) -> Figure:
    """Test accuracy against parameters and against MACs (log x).

    Filled markers: our runs; hollow markers: the report's accuracy (at the
    report's parameter count, and at our MAC count since the report's
    computation column is not a MAC count).
    """
    colors = variant_colors(list(results))
    with _style():
        fig, axes = _figure(1, 2, (11, 4.4), sharey=True)
        ax_p, ax_m = axes[0]
        ours_any = False
        sizes = set()
        for name, run in results.items():
            m, c = run.metrics, colors[name]
            rep = REPORT_TABLE.get(name)
            short = _short_name(name)
            if rep:
                ax_p.plot([rep["params_m"] * 1e6], [rep["test_accuracy_pct"]], ls="none", marker="o",
                          ms=8, mfc="none", mec=c, mew=1.6)
            if not m:
                if rep:
                    ax_p.annotate(short, (rep["params_m"] * 1e6, rep["test_accuracy_pct"]),
                                  xytext=(8, 0), textcoords="offset points", fontsize=8, color=c,
                                  va="center")
                continue
            ours_any = True
            if run.status != "complete":
                short += f" ({run.status})"
            acc = 100 * m["test_accuracy"]
            if run.profile and run.profile.get("image_size"):
                sizes.add(int(run.profile["image_size"]))
            for ax, x in ((ax_p, m["params_total"]), (ax_m, m["macs"])):
                ax.plot([x], [acc], ls="none", marker="o", ms=8, color=c, mec="black", mew=0.5)
                ax.annotate(short, (x, acc), xytext=(8, 0), textcoords="offset points",
                            fontsize=8, color=c, va="center", fontweight="bold")
            if rep:
                ax_m.plot([m["macs"]], [rep["test_accuracy_pct"]], ls="none", marker="o", ms=8,
                          mfc="none", mec=c, mew=1.6)
                ax_p.plot([m["params_total"], rep["params_m"] * 1e6], [acc, rep["test_accuracy_pct"]],
                          color=c, lw=0.8, alpha=0.5)
                ax_m.plot([m["macs"]] * 2, [acc, rep["test_accuracy_pct"]], color=c, lw=0.8, alpha=0.5)
        _eng_axis(ax_p)
        ax_p.set_xlabel("parameters (log scale)")
        ax_p.set_ylabel("test accuracy")
        ax_p.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=0))
        ax_p.set_title("Accuracy vs parameters")
        size_text = ", ".join(f"{s}x{s}" for s in sorted(sizes)) or "?"
        if ours_any:
            _eng_axis(ax_m)
            ax_m.set_xlabel(f"multiply-accumulates per {size_text} image (analytic, log scale)")
        else:
            _message(ax_m, "no finished run: no MAC counts")
            ax_m.set_xlabel("multiply-accumulates per image")
        ax_m.set_title("Accuracy vs computation")
        from matplotlib.lines import Line2D

        for ax in (ax_p, ax_m):
            ax.margins(x=0.12, y=0.08)
        handles = [Line2D([], [], ls="none", marker="o", ms=8, color="0.4", mec="black", mew=0.5,
                          label="ours: test accuracy"),
                   Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec="0.4", mew=1.6,
                          label="report, Table 6.1 (right: drawn at our MAC count)")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2)
        subtitle = _runs_subtitle(results)
        fig.suptitle("Accuracy / size trade-off" + (f"\n{subtitle}" if subtitle else ""))
    return fig


def _labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2:
        return y.argmax(axis=1).astype("int64")
    if y.ndim != 1:
        raise ValueError(f"labels must be a vector or a (n, classes) array, got shape {y.shape}")
    return y.astype("int64")


def _confusion_counts(y_true, y_pred, n_classes):
    t, p = _labels(y_true), _labels(y_pred)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    if len(t) and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(y_true, y_pred, class_names) -> pd.DataFrame:
    """Per class: test images, correct predictions, accuracy %, and the class
    most often predicted instead.  y_true / y_pred: labels or (n, classes)
    one-hot / probability arrays."""
    names = [str(n) for n in class_names]
    counts = _confusion_counts(y_true, y_pred, len(names))
    images = counts.sum(axis=1)
    correct = np.diag(counts)
    off = counts.copy()
    np.fill_diagonal(off, -1)
    confused = [names[int(off[i].argmax())] if off[i].max() > 0 else "" for i in range(len(names))]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(images > 0, 100.0 * correct / np.maximum(images, 1), np.nan)
    return pd.DataFrame({"class": names, "images": images, "correct": correct,
                         "accuracy %": acc, "most confused with": confused})


def plot_confusion(y_true, y_pred, class_names, title: str | None = None) -> Figure:
    """Confusion matrix, rows normalised to % of the true class."""
    import seaborn as sns

    names = [str(n) for n in class_names]
    counts = _confusion_counts(y_true, y_pred, len(names))
    rows = counts.sum(axis=1, keepdims=True)
    percent = 100.0 * counts / np.maximum(rows, 1)
    total = int(counts.sum())
    accuracy = np.trace(counts) / total if total else float("nan")
    with _style():
        size = 1.1 + 0.62 * len(names)
        fig, axes = _figure(1, 1, (size + 1.4, size))
        ax = axes[0, 0]
        labels = np.where(counts > 0, np.char.mod("%.0f", percent), "")
        sns.heatmap(percent, ax=ax, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=100,
                    square=True, linewidths=0.4, linecolor="white",
                    xticklabels=names, yticklabels=names, annot_kws={"fontsize": 7.5},
                    cbar_kws={"label": "% of the true class", "shrink": 0.8})
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.tick_params(axis="x", rotation=45)
        ax.tick_params(axis="y", rotation=0)
        head = title or "Confusion matrix"
        ax.set_title(f"{head}\n{total:,} test images, accuracy {accuracy:.2%}")
    return fig


# --------------------------------------------------------------------------- summary files

def _profile_lines(results) -> list[str]:
    groups: dict[str, tuple[dict, list]] = {}
    for run in results.values():
        p = run.profile
        if not p:
            continue
        key = repr(sorted(p.items()))
        groups.setdefault(key, (p, []))[1].append(run.variant)
    lines = []
    for p, variants in groups.values():
        bits = [f"{p.get('image_size')}x{p.get('image_size')} images",
                f"batch {p.get('batch_size')}", f"{p.get('epochs')} epochs"]
        if p.get("train_limit"):
            bits.append(f"training images limited to {p['train_limit']:,} before the validation split")
        if p.get("test_limit"):
            bits.append(f"{p['test_limit']:,} test images")
        if "augment" in p:
            augment = p["augment"]
            if augment is True:
                augment = "paper"
            bits.append("no augmentation" if augment in (False, None, "none")
                        else f"{augment} augmentation")
        lines.append(f"- profile `{p.get('name')}`: {', '.join(bits)} "
                     f"(runs: {', '.join(variants)})")
    return lines


def _data_lines(results) -> list[str]:
    seen = {}
    for run in results.values():
        m = run.metrics or {}
        if "test_images" in m or "data_source" in m:
            key = (m.get("data_source"), m.get("train_images"), m.get("val_images"), m.get("test_images"))
            seen.setdefault(key, []).append(run.variant)
    out = []
    for (source, tr, va, te), variants in seen.items():
        out.append(f"- data: {source or 'unknown source'}; {tr} training / {va} validation / "
                   f"{te} test images (runs: {', '.join(variants)})")
    return out


def _profiler_sentence(results) -> str:
    parts = []
    for name, run in results.items():
        m = run.metrics
        if m and m.get("profiler_flops") is not None and m.get("macs"):
            parts.append(f"{_short_name(name)} {m['profiler_flops'] / 2 / m['macs']:.0%}")
    if not parts:
        return ""
    return ("In these runs the profiler's FLOPs/2 came to the following share of the analytic "
            "MACs: " + ", ".join(parts) + ".")


def summary_markdown(results: dict[str, RunResult], table: pd.DataFrame, results_dir=None,
                     figures=(), failures=()) -> str:
    """The text of summary.md."""
    lines = ["# Grouped pointwise convolutions on CIFAR-10: Table 6.1 reproduced", ""]
    if results_dir is not None:
        shown = Path(results_dir).resolve()
        repo = Path(__file__).resolve().parent.parent
        if shown.is_relative_to(repo):
            shown = shown.relative_to(repo)
        lines += [f"Results folder: `{shown}`", ""]
    lines += ["## Runs", ""]
    lines += _profile_lines(results) or ["- no run recorded its profile"]
    lines += _data_lines(results)
    lines += [""]
    incomplete = [r for r in results.values() if r.status != "complete"]
    if incomplete:
        lines += ["Not complete:", ""]
        lines += [f"- `{r.variant}` ({r.label}): {r.status_text}"
                  + (f" — {r.problem}" if r.status == "unfinished" and r.problem else "")
                  for r in incomplete]
    else:
        lines += [f"All {len(results)} runs are complete."]
    notes = [f"- `{r.variant}`: {n}" for r in results.values() for n in r.notes]
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines += ["", "## Table 6.1", "", tables_markdown(table),
              "## Why the report's computation for the gpc variants is too low", "", FLOPS_NOTE]
    sentence = _profiler_sentence(results)
    if sentence:
        lines += ["", sentence]
    if figures:
        lines += ["", "## Figures", ""]
        for stem in figures:
            lines += [f"![{stem}]({stem}.png)", ""]
    if failures:
        lines += ["", "## Not drawn", ""] + [f"- {f}" for f in failures]
    return "\n".join(lines).rstrip() + "\n"


def write_summary(results: dict[str, RunResult], results_dir) -> list[Path]:
    """Write summary.md, summary.csv and the figures (PNG + SVG) into
    `<results_dir>/summary/`, each atomically; return the paths written.

    Whatever can be drawn is drawn; a figure that fails is listed in
    summary.md under "Not drawn" (and warned about) instead of stopping the rest.
    """
    out = Path(results_dir) / "summary"
    written: list[Path] = []
    table = summary_table(results)
    drawn, failures = [], []

    def figures():
        try:
            fig_acc, fig_loss = plot_curves_grid(results)
        except Exception as err:  # noqa: BLE001
            yield "fig_accuracy", err
            yield "fig_loss", err
        else:
            yield "fig_accuracy", fig_acc
            yield "fig_loss", fig_loss
        for stem, make in (("fig_overlay_val_accuracy", lambda: plot_overlay(results, "val_accuracy")),
                           ("fig_tradeoff", lambda: plot_tradeoff(results))):
            try:
                yield stem, make()
            except Exception as err:  # noqa: BLE001
                yield stem, err

    for stem, fig in figures():
        try:
            if isinstance(fig, Exception):
                raise fig
            for fmt in ("png", "svg"):
                written.append(atomic_write_bytes(out / f"{stem}.{fmt}", figure_bytes(fig, fmt)))
            drawn.append(stem)
        except Exception as err:  # noqa: BLE001 - one bad figure must not stop the summary
            failures.append(f"{stem}: {type(err).__name__}: {err}")
            warnings.warn(f"write_summary: {stem} not drawn ({type(err).__name__}: {err})", stacklevel=2)
    written.append(atomic_write_text(out / "summary.csv", table.to_csv()))
    written.append(atomic_write_text(
        out / "summary.md", summary_markdown(results, table, results_dir, drawn, failures)))
    return written
