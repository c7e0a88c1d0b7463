"""The results folder's layout: where each run and its notebook live, and a run's state.

    <out>/runs/<variant>/seed<k>/         one run folder per (variant, seed)
    <out>/notebooks/<variant>-seed<k>.ipynb   its executed notebook
    <out>/notebooks/summary.ipynb, <out>/summary/   the summary over all runs

A run folder holds `config.json` (what was asked), `state.json` (the epochs
committed), `history.csv` (one row per epoch) and, once finished,
`metrics.json`; a run is complete exactly when `metrics.json` reads.
"""

from __future__ import annotations

from pathlib import Path

from .atomic_files import read_json

__all__ = ["HISTORY_FIELDS", "METRICS_FIELDS", "RUN_FILES", "SUMMARY_FILES", "PREVIOUS_SUFFIX",
           "run_dir_of", "notebook_of", "run_status", "epochs_done"]

# history.csv columns, one row per finished epoch
HISTORY_FIELDS = ("epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
# metrics.json fields, written when the run is finished
METRICS_FIELDS = (
    "variant", "label", "channels", "profile", "params_total", "params_trainable",
    "param_size_mib", "macs", "profiler_flops", "test_accuracy", "test_loss",
    "best_epoch", "best_val_accuracy", "epochs", "training_seconds",
    "images_per_second", "environment", "seed", "split_seed", "precision", "code",
    "data_source", "resumes",
)
# everything a run folder may hold (what --force moves aside)
RUN_FILES = ("config.json", "state.json", "history.csv", "metrics.json", "best.weights.h5",
             "test_predictions.npz", "checkpoints", "tensorboard")
# the files that make a folder a run folder when reading results
SUMMARY_FILES = ("config.json", "history.csv", "metrics.json", "state.json")
# a run kept aside by --force until the new one has an epoch: not a variant
PREVIOUS_SUFFIX = ".previous"


def run_dir_of(out, name: str, seed: int) -> Path:
    """`<out>/runs/<variant>/seed<k>`: the run folder of one (variant, seed)."""
    return Path(out) / "runs" / name / f"seed{seed}"


def notebook_of(out, name: str, seed: int) -> Path:
    """`<out>/notebooks/<variant>-seed<k>.ipynb`: its executed notebook."""
    return Path(out) / "notebooks" / f"{name}-seed{seed}.ipynb"


def run_status(run_dir: Path) -> str:
    """'complete', 'unfinished' or 'new' for a run folder."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.json"
    if metrics.exists():
        try:
            read_json(metrics)
            return "complete"
        except ValueError:
            return "unfinished"
    if (run_dir / "state.json").exists() or (run_dir / "history.csv").exists():
        return "unfinished"
    return "new"


def epochs_done(run_dir: Path) -> int:
    """The epochs a run folder has committed (0 when it has none or cannot be read)."""
    try:
        return int(read_json(Path(run_dir) / "state.json").get("epochs_done", 0))
    except (OSError, ValueError, TypeError):
        return 0
