"""Results folders as gpc_support.train.engine writes them, for the reporting tests.

Plausible numbers: the parameter counts of docs/method.md section 2, the MAC counts
of the real models at 32x32 and their report-rule figures.  Test predictions
are made so that the accuracy of each run is known exactly.  No Keras or
TensorFlow is imported here.
"""

from __future__ import annotations

import io
import json

import numpy as np

from gpc_support.report.results import variant_label

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]

# (params_total, params_trainable, macs, report_flops) of the real models at 32x32
COUNTS = {
    "mobilenet": (3_239_114, 3_217_226, 11_596_288, 11_596_830),
    "gpc16": (274_122, 244_298, 1_847_808, 665_630),
    "gpc32": (432_842, 403_018, 3_109_376, 1_189_918),
    "gpc64": (748_234, 718_410, 5_108_224, 1_714_206),
    "gpc128": (1_353_930, 1_324_362, 7_533_056, 3_278_878),
}
FINAL_ACC = {"mobilenet": 0.62, "gpc16": 0.55, "gpc32": 0.57, "gpc64": 0.59, "gpc128": 0.61}
PROFILE = {"name": "quick", "image_size": 32, "batch_size": 64, "epochs": 3,
           "train_limit": 5000, "test_limit": 1000, "validation_fraction": 0.1, "augment": "light",
           "lr_base": 0.001, "lr_peak": 0.004, "lr_warmup": 1, "lr_decay": 0.5, "lr_cycle": 3}
HEADER = "epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds"
TEST_IMAGES = 1000


def history_rows(variant, epochs, seed=0):
    final = FINAL_ACC.get(variant, 0.5) + 0.002 * seed
    rows = []
    for e in range(1, epochs + 1):
        acc = final * (1 - 0.55 ** e)
        val = acc - 0.03 + 0.02 * (e % 2)
        rows.append((e, 0.001 * (1 + 0.5 * (e - 1)), 2.3 - 1.2 * acc, acc,
                     2.4 - 1.2 * val, val, 20.0 + e))
    return rows


def history_text(variant, epochs, seed=0):
    lines = [HEADER] + [",".join(repr(float(v)) if i else str(v) for i, v in enumerate(row))
                        for row in history_rows(variant, epochs, seed)]
    return "\n".join(lines) + "\n"


def predictions(correct: np.ndarray) -> bytes:
    """test_predictions.npz bytes where exactly the images marked in `correct` are right."""
    n = len(correct)
    y_true = np.arange(n) % 10
    y_pred = np.where(correct, y_true, (y_true + 1) % 10)
    probs = np.full((n, 10), 0.01, np.float32)
    probs[np.arange(n), y_pred] = 0.91
    buf = io.BytesIO()
    np.savez_compressed(buf, y_true=y_true, probabilities=probs, class_names=np.array(CLASS_NAMES))
    return buf.getvalue()


def correct_mask(accuracy: float, seed: int, variant: str) -> np.ndarray:
    """Exactly round(accuracy * n) right answers, at positions fixed by (variant, seed)."""
    rng = np.random.default_rng([seed, sum(map(ord, variant))])
    mask = np.zeros(TEST_IMAGES, bool)
    mask[rng.permutation(TEST_IMAGES)[: int(round(accuracy * TEST_IMAGES))]] = True
    return mask


def make_run(runs, variant, epochs=3, complete=True, seed=0, layout="seeds", accuracy=None,
             correct=None, code=True, data_source=None):
    """A run folder as gpc_support.train.engine leaves it (finished or not).

    layout "seeds": runs/<variant>/seed<k>/; "old": runs/<variant>/ (seed in config.json).
    accuracy: the test accuracy (default FINAL_ACC - 0.01 + 0.002 * seed);
    correct: the per-image right/wrong mask (default: drawn for that accuracy).
    code: False for a run made before the fidelity fix (no "code" in config.json).
    """
    folder = runs / variant / f"seed{seed}" if layout == "seeds" else runs / variant
    folder.mkdir(parents=True, exist_ok=True)
    channels = None if variant == "mobilenet" else int(variant[3:]) if variant[3:].isdigit() else 16
    label = variant_label(variant)
    source = data_source or {"layout": "python-batches", "fingerprint": "ab12cd34"}
    config = {"variant": variant, "label": label, "channels": channels, "profile": dict(PROFILE),
              "seed": seed, "split_seed": 0, "precision": "float32", "data_source": source}
    if code:
        config["code"] = {"commit": "0123456789abcdef0123", "dirty": False}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "history.csv").write_text(history_text(variant, epochs, seed))
    rows = history_rows(variant, epochs, seed)
    best = max(rows, key=lambda r: r[5])
    (folder / "state.json").write_text(json.dumps(
        {"epochs_done": epochs, "best_val_accuracy": best[5], "best_epoch": best[0]}))
    if not complete:
        return folder
    if accuracy is None:
        accuracy = FINAL_ACC.get(variant, 0.5) - 0.01 + 0.002 * seed
    if correct is None:
        correct = correct_mask(accuracy, seed, variant)
    accuracy = float(np.mean(correct))
    (folder / "test_predictions.npz").write_bytes(predictions(correct))
    total, trainable, macs, rule = COUNTS.get(variant, (500_000, 480_000, 4_000_000, 3_000_000))
    metrics = {
        "variant": variant, "label": label, "channels": channels, "profile": dict(PROFILE),
        "params_total": total, "params_trainable": trainable,
        "param_size_mib": total * 4 / 2**20, "macs": macs, "report_flops": rule,
        "profiler_flops": None, "test_accuracy": accuracy, "test_loss": 1.3,
        "best_epoch": best[0], "best_val_accuracy": best[5], "epochs": epochs,
        "training_seconds": 66.0 + seed, "images_per_second": 204.5, "mixed_precision": False,
        "train_images": 4500, "val_images": 500, "test_images": TEST_IMAGES,
        "data_source": source, "seed": seed, "environment": {"python": "3.x"},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return folder
