"""The JSON record of one paper run: its timing and projection, or its epochs beside the authors' log.

Pure arithmetic on a run's history.csv rows and metrics.json (no keras), so
the steps compute it in their own process and the tests can check it
without training; `write_json` writes every JSON file of the check.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .settings import AUTHORS_LOG, CheckError

# the paper profile on all of CIFAR-10: 50,000 training images, 10% validation
FULL_TRAIN, FULL_VAL, FULL_TEST, FULL_EPOCHS = 45_000, 5_000, 10_000, 50


def write_json(path: Path, obj) -> None:
    """Write `obj` as indented JSON through a temporary file, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def summarise_run(variant: str, history: list[dict], val_seconds: list[float], metrics: dict,
                  cfg: dict) -> dict:
    """ms/step, images/s and the projection from the timed epochs (all but the first)."""
    batch = cfg["batch"]
    train_n, val_n = metrics["train_images"], metrics["val_images"]
    train_steps, val_steps = math.ceil(train_n / batch), math.ceil(val_n / batch)
    if len(val_seconds) != len(history):
        raise CheckError(f"{variant}: {len(history)} epochs but {len(val_seconds)} validations timed")
    timed = list(zip(history, val_seconds))[1:]
    train_s = [row["seconds"] - v for row, v in timed]
    val_s = [v for _, v in timed]
    ms_step = 1000 * min(train_s) / train_steps
    val_ms_step = 1000 * min(val_s) / val_steps
    full_steps = math.ceil(FULL_TRAIN / batch)
    full_val_steps, full_test_steps = math.ceil(FULL_VAL / batch), math.ceil(FULL_TEST / batch)
    projected = (FULL_EPOCHS * (full_steps * ms_step + full_val_steps * val_ms_step)
                 + full_test_steps * val_ms_step) / 1000
    losses = [row["loss"] for row in history]
    return {
        "variant": variant,
        "image_size": cfg["image_size"], "batch": batch, "precision": cfg["precision"],
        "train_images": train_n, "val_images": val_n, "test_images": metrics["test_images"],
        "epochs": len(history), "timed_epochs": len(timed),
        "train_steps_per_epoch": train_steps, "val_steps_per_epoch": val_steps,
        "first_epoch_seconds": history[0]["seconds"],
        "ms_per_step": ms_step,
        "images_per_second": batch * 1000 / ms_step,
        "val_ms_per_step": val_ms_step,
        "losses": losses,
        "loss_fell": losses[-1] < losses[0],
        "val_accuracy": [row["val_accuracy"] for row in history],
        "test_accuracy": metrics["test_accuracy"],
        "projected_full_run_seconds": projected,
        "projected_full_run_hours": projected / 3600,
        "projection": (f"{FULL_EPOCHS} x ({full_steps} steps x ms_per_step + {full_val_steps} "
                       f"validation steps x val_ms_per_step) + {full_test_steps} test steps; "
                       "checkpoint writing not included"),
    }


def compare_with_authors(variant: str, history: list[dict], metrics: dict, cfg: dict) -> dict:
    """Our epochs and the authors' logged ones, row by row (None where they
    logged no such epoch); differences in loss and in accuracy points."""
    theirs = AUTHORS_LOG[variant]
    rows = []
    for row in history:
        k = row["epoch"] - 1
        loss = theirs["loss"][k] if k < len(theirs["loss"]) else None
        accuracy = theirs["accuracy"][k] if k < len(theirs["accuracy"]) else None
        rows.append({
            "epoch": row["epoch"], "lr": row["lr"], "seconds": row["seconds"],
            "loss": row["loss"], "authors_loss": loss,
            "loss_difference": None if loss is None else row["loss"] - loss,
            "accuracy": row["accuracy"], "authors_accuracy": accuracy,
            "accuracy_points_difference":
                None if accuracy is None else 100 * (row["accuracy"] - accuracy),
            "val_accuracy": row["val_accuracy"],
        })
    return {
        "variant": variant, "mode": "authors", "image_size": cfg["image_size"],
        "batch": cfg["batch"], "precision": cfg["precision"],
        "optimizer": metrics.get("optimizer"), "split": metrics["profile"].get("split"),
        "train_images": metrics["train_images"], "val_images": metrics["val_images"],
        "test_images": metrics["test_images"], "epochs": rows,
    }
