"""Reading a results folder: one `RunResult` per (variant, seed).

Layouts read (both may appear in one folder):

- `<results>/runs/<variant>/seed<k>/`: one folder per seed (the current one);
- `<results>/runs/<variant>/`: one run whose files sit directly in the
  variant folder (the layout before seeds were an axis); its seed is the one
  its `config.json` records.

`load_results(results_dir)` returns `{variant: [RunResult, ...]}` in table
order: the five variants of the study first (always present, "missing" when
there is no folder), then any other folder under `runs/` (gpc<N> by N, then
other names such as ablations alphabetically, labelled by their name).

Nothing here imports Keras or TensorFlow.  A run that is missing, unfinished
or damaged never stops the reading: it gets a status and whatever could be
read and checked.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..common.atomic_files import read_json
from ..common.run_folder import HISTORY_FIELDS, PREVIOUS_SUFFIX, SUMMARY_FILES
from ..model.variants import STUDY_VARIANTS, short_name, variant_sort_key
from ..model.variants import table_label as variant_label

__all__ = [
    "VARIANTS",
    "HISTORY_FIELDS",
    "REQUIRED_METRICS",
    "RunResult",
    "variant_label",
    "short_name",
    "runs_phrase",
    "variant_sort_key",
    "load_run",
    "load_results",
    "load_predictions",
    "complete_runs",
    "outcomes_by_seed",
    "labels_of",
]

VARIANTS = STUDY_VARIANTS  # the five of the report's Table 6.1, in order


# metrics.json fields the tables need; a file without one is "damaged".
REQUIRED_METRICS = ("params_total", "param_size_mib", "macs", "test_accuracy")

STATUSES = ("complete", "unfinished", "missing", "damaged")

_GPC_RE = re.compile(r"^gpc(\d+)$")
_SEED_RE = re.compile(r"^seed(\d+)$")
_RUN_FILES = SUMMARY_FILES
ASIDE_SUFFIX = PREVIOUS_SUFFIX  # a run --force keeps aside: not a variant


# --------------------------------------------------------------------------- names

def runs_phrase(runs) -> str:
    """Runs named per variant, seeds together, in the order given:
    'MobileNet (seeds 0, 1, 2), gpc16 (seed 0)'; a run without a seed is
    named by its variant alone."""
    seeds: dict[str, list] = {}
    for run in runs:
        seeds.setdefault(short_name(run.variant), []).append(run.seed)
    parts = []
    for name, values in seeds.items():
        known = [str(s) for s in values if s is not None]
        if not known:
            parts.append(name)
        else:
            word = "seed" if len(known) == 1 else "seeds"
            parts.append(f"{name} ({word} {', '.join(known)})")
    return ", ".join(parts)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- one run

@dataclasses.dataclass
class RunResult:
    """What one run folder holds.

    status: "complete" (metrics.json read and checked), "unfinished"
    (folder without metrics.json), "missing" (no folder) or "damaged" (a file
    that cannot be trusted; `problem` says which and why).  `history` and
    `metrics` hold whatever could be read and checked, whatever the status.
    `seed` is None when no file says it.
    """

    variant: str
    status: str
    problem: str | None = None
    history: pd.DataFrame | None = None
    metrics: dict | None = None
    run_dir: Path | None = None
    config: dict | None = None
    seed: int | None = None
    notes: list = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        if self.variant in VARIANTS or _GPC_RE.match(self.variant):
            return variant_label(self.variant)
        for source in (self.metrics, self.config):
            if source and isinstance(source.get("label"), str):
                return source["label"]
        return self.variant

    @property
    def name(self) -> str:
        """'gpc16 seed 0' (or just 'gpc16' when the seed is unknown)."""
        return short_name(self.variant) + ("" if self.seed is None else f" seed {self.seed}")

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
    def image_size(self) -> int | None:
        value = (self.profile or {}).get("image_size")
        return int(value) if _is_number(value) else None

    @property
    def predictions_path(self) -> Path | None:
        if self.run_dir is None:
            return None
        path = self.run_dir / "test_predictions.npz"
        return path if path.is_file() else None

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the highest validation accuracy (its weights were tested)."""
        value = (self.metrics or {}).get("best_epoch")
        if _is_number(value):
            return int(value)
        if self.history is not None and self.history["val_accuracy"].notna().any():
            return int(self.history["epoch"].iloc[int(self.history["val_accuracy"].idxmax())])
        return None

    @property
    def training_seconds(self) -> float | None:
        value = (self.metrics or {}).get("training_seconds")
        return float(value) if _is_number(value) else None

    @property
    def before_fidelity_fix(self) -> bool:
        """True for a run whose config.json has no "code" record: made before
        the fidelity fix, with the earlier all-swish gpc networks."""
        return self.config is not None and "code" not in self.config

    @property
    def code(self) -> dict | None:
        value = (self.config or {}).get("code")
        return value if isinstance(value, dict) else None

    @property
    def kernels_text(self) -> str:
        """'oneDNN' or 'Eigen': TensorFlow's CPU kernels the run recorded
        (config.json, else metrics.json's environment); '' when not recorded."""
        value = ((self.config or {}).get("kernels") or {}).get("tensorflow_onednn")
        if value is None:
            value = ((self.metrics or {}).get("environment") or {}).get("tensorflow_onednn")
        return {True: "oneDNN", False: "Eigen"}.get(value, "")

    @property
    def data_layout(self) -> str | None:
        """The data source's layout ('image-folders', 'python-batches', 'keras', ...)."""
        for source in (self.metrics, self.config):
            value = (source or {}).get("data_source")
            if isinstance(value, dict) and isinstance(value.get("layout"), str):
                return value["layout"]
            if isinstance(value, str) and value:
                # the older form "layout:/path/to/folder"; the path is not kept
                return value.split(":", 1)[0]
        return None

    @property
    def data_fingerprint(self) -> str | None:
        for source in (self.metrics, self.config):
            value = (source or {}).get("data_source")
            if isinstance(value, dict) and value.get("fingerprint"):
                return str(value["fingerprint"])
        return None

    @property
    def status_text(self) -> str:
        """One line: 'complete', 'unfinished (2/3 epochs)', 'damaged: ...'."""
        if self.status == "unfinished":
            planned = self.planned_epochs
            return f"unfinished ({self.epochs_done}/{planned if planned else '?'} epochs)"
        if self.status == "damaged":
            return f"damaged: {self.problem}"
        return self.status

    @property
    def epochs_text(self) -> str:
        """'2/3' (done / planned); '?' for done when the history could not be read."""
        done = "?" if self.status == "damaged" and self.history is None else str(self.epochs_done)
        planned = self.planned_epochs
        return f"{done}/{planned}" if planned else done


class _Damaged(ValueError):
    pass


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
    if len(df) and not np.array_equal(df["epoch"].to_numpy(), np.arange(1, len(df) + 1)):
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
    for key in REQUIRED_METRICS:
        value = metrics[key]
        if not _is_number(value) or not math.isfinite(value):
            raise _Damaged(f"metrics.json {key} = {value!r} is not a number")
    if metrics["params_total"] <= 0 or metrics["macs"] <= 0:
        raise _Damaged("metrics.json params_total and macs must be positive")
    if not 0 <= metrics["test_accuracy"] <= 1:
        raise _Damaged(f"metrics.json test_accuracy = {metrics['test_accuracy']!r} is not a fraction")
    for key in ("profiler_flops", "report_flops"):
        value = metrics.get(key)
        if value is not None and (not _is_number(value) or not math.isfinite(value) or value < 0):
            raise _Damaged(f"metrics.json {key} = {value!r} is neither null nor a count")
    named = metrics.get("variant")
    if named is not None and named != variant:
        raise _Damaged(f"metrics.json is for variant {named!r}, not {variant!r}")


def load_run(run_dir, variant: str | None = None, seed: int | None = None) -> RunResult:
    """Read one run folder (`runs/<variant>/seed<k>` or the older `runs/<variant>`).

    `seed`: the seed the folder name says; None to take it from config.json.
    A config.json seed that contradicts the folder name damages the run.
    """
    run_dir = Path(run_dir)
    if variant is None:
        variant = run_dir.parent.name if _SEED_RE.match(run_dir.name) else run_dir.name
        if seed is None and _SEED_RE.match(run_dir.name):
            seed = int(_SEED_RE.match(run_dir.name).group(1))
    if not run_dir.is_dir():
        return RunResult(variant, "missing", f"no run folder {run_dir.name}", run_dir=run_dir, seed=seed)
    result = RunResult(variant, "unfinished", run_dir=run_dir, seed=seed)
    problems = []

    config_path = run_dir / "config.json"
    if config_path.is_file():
        try:
            result.config = read_json(config_path)
        except (ValueError, OSError):
            result.notes.append("config.json is unreadable (ignored)")
    recorded = (result.config or {}).get("seed")
    if _is_number(recorded):
        if seed is None:
            result.seed = int(recorded)
        elif int(recorded) != seed:
            problems.append(f"config.json says seed {int(recorded)}, the folder seed{seed}")

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
        epochs = result.metrics.get("epochs")
        if _is_number(epochs) and int(epochs) != len(result.history):
            problems.append(f"history.csv has {len(result.history)} epochs, "
                            f"metrics.json says {int(epochs)}")
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
        result.problem = ("no finished epoch yet" if not result.epochs_done
                          else f"{result.epochs_done} epochs finished, no metrics.json yet")
    return result


# --------------------------------------------------------------------------- a results folder

def _runs_root(results_dir: Path) -> Path:
    runs = results_dir / "runs"
    if runs.is_dir():
        return runs
    if results_dir.is_dir() and any((results_dir / v).is_dir() for v in VARIANTS):
        return results_dir  # a folder holding the variant folders directly
    return runs


def _variant_runs(folder: Path, variant: str) -> list[RunResult]:
    """The runs of one variant folder: one per seed<k>/ subfolder, plus the
    older layout's run (files directly in the folder) unless a seed folder
    holds the same seed, which supersedes it (a rerun in the new layout)."""
    seeds = sorted((int(_SEED_RE.match(p.name).group(1)), p) for p in folder.iterdir()
                   if p.is_dir() and _SEED_RE.match(p.name))
    runs = [load_run(path, variant, seed) for seed, path in seeds]
    if not seeds or any((folder / f).exists() for f in _RUN_FILES):
        old = load_run(folder, variant)  # the older layout: one run, seed from config.json
        newer = next((r for r in runs if old.seed is not None and r.seed == old.seed), None)
        if newer is None:
            runs.append(old)
        else:
            newer.notes.append(f"supersedes the older run of seed {old.seed} whose files sit "
                               f"directly in runs/{variant}/ (not counted)")
    return sorted(runs, key=lambda r: (r.seed is None, r.seed if r.seed is not None else 0))


def load_results(results_dir) -> dict[str, list[RunResult]]:
    """Every run of `<results_dir>/runs/`, `{variant: [run per seed]}` in table order.

    The five variants of the study are always there (one "missing" run each
    when there is no folder); any other folder under runs/ is a variant too.
    """
    root = _runs_root(Path(results_dir))
    names = set(VARIANTS)
    if root.is_dir():
        names |= {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and not p.name.endswith(ASIDE_SUFFIX)}
    results = {}
    for name in sorted(names, key=variant_sort_key):
        folder = root / name
        results[name] = (_variant_runs(folder, name) if folder.is_dir()
                         else [load_run(folder, name)])
    return results


def complete_runs(results: dict[str, list[RunResult]]) -> list[RunResult]:
    """The complete runs, in table order."""
    return [run for runs in results.values() for run in runs if run.status == "complete"]


def outcomes_by_seed(runs) -> dict:
    """{seed: (labels, correct)} for the complete runs of one variant whose
    test predictions can be read: what the paired tests compare."""
    out = {}
    for run in runs:
        if run.status != "complete" or run.seed is None:
            continue
        try:
            y_true, y_pred, _ = load_predictions(run.run_dir)
        except ValueError:
            continue
        out[run.seed] = (y_true, y_pred == y_true)
    return out


def labels_of(y) -> np.ndarray:
    """Class indices from labels or (n, classes) one-hot / probability arrays."""
    y = np.asarray(y)
    if y.ndim == 2:
        return y.argmax(axis=1).astype("int64")
    if y.ndim != 1:
        raise ValueError(f"labels must be a vector or a (n, classes) array, got shape {y.shape}")
    return y.astype("int64")


def load_predictions(run_dir) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(true labels, predicted labels, class names) from `test_predictions.npz`.

    Raises ValueError naming the file if it is missing or not what it should be.
    """
    path = Path(run_dir) / "test_predictions.npz"
    if not path.is_file():
        raise ValueError(f"{path.parent.name}/{path.name}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            y_true = labels_of(data["y_true"])
            y_pred = labels_of(data["probabilities"])
            names = [str(n) for n in data["class_names"]]
    except (OSError, KeyError, ValueError, EOFError) as err:
        raise ValueError(f"{path.parent.name}/{path.name}: unreadable test predictions ({err})") from None
    if len(y_true) != len(y_pred):
        raise ValueError(f"{path.parent.name}/{path.name}: {len(y_true)} labels but "
                         f"{len(y_pred)} predictions")
    return y_true, y_pred, names
