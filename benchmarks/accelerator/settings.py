"""The check's settings: the CHECK_* environment read into one dict, and the constants it needs.

`settings()` is called by the driver and again by each step's process, so
every process reads the same sizes from the same environment; a bad value
raises `CheckError`, whose message names the variable.
"""

from __future__ import annotations

import os
from pathlib import Path

# the repository root (this file is benchmarks/accelerator/settings.py)
ROOT = Path(__file__).resolve().parents[2]
ALL_VARIANTS = ("mobilenet", "gpc16", "gpc32", "gpc64", "gpc128")
# The method authors' logged training loss and accuracy of epochs 1, 2, 3 of
# the paper protocol (their executed kEffNetV1 notebooks, Keras' epoch
# averages, as our history.csv records them).
AUTHORS_LOG = {
    "mobilenet": {"loss": (1.798, 1.428, 1.150), "accuracy": (0.338, 0.486, 0.593)},
    "gpc16": {"loss": (1.829, 1.578, 1.359), "accuracy": (0.320, 0.429, 0.515)},
}
MODES = ("timing", "authors")


class CheckError(RuntimeError):
    """A setting or input the check cannot run with; the message names it."""


def _int_env(name: str, default: int | None, minimum: int = 1) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise CheckError(f"{name} must be an integer >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise CheckError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def _list_env(name: str, default: tuple, allowed: tuple) -> list[str]:
    text = os.environ.get(name, "").strip()
    items = [v.strip() for v in text.split(",") if v.strip()] if text else list(default)
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise CheckError(f"{name} must be a comma-separated list of {', '.join(allowed)}; "
                         f"got {text!r}")
    return items


def settings() -> dict:
    """The check's sizes and inputs from the environment (see accelerator_check.py's docstring)."""
    mode = os.environ.get("CHECK_MODE", "").strip() or "timing"
    if mode not in MODES:
        raise CheckError(f"CHECK_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    authors = mode == "authors"
    if authors:
        variants = _list_env("CHECK_VARIANTS", tuple(AUTHORS_LOG), tuple(AUTHORS_LOG))
    else:
        variants = _list_env("CHECK_VARIANTS", ALL_VARIANTS, ALL_VARIANTS)
    precision = os.environ.get("CHECK_PRECISION", "float32").strip() or "float32"
    if precision not in ("float32", "mixed"):
        raise CheckError(f"CHECK_PRECISION must be float32 or mixed, got {precision!r}")
    bench_sizes = os.environ.get("CHECK_BENCH_SIZES", "224:64").strip() or "224:64"
    for item in bench_sizes.split(","):
        parts = item.split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            raise CheckError(f"CHECK_BENCH_SIZES must be SIZE:BATCH[,SIZE:BATCH], got {bench_sizes!r}")
    return {
        "mode": mode,
        "backend": os.environ.get("KERAS_BACKEND", "jax"),
        "variants": variants,
        # authors' mode: None = the whole training set (no train_limit)
        "train_images": _int_env("CHECK_TRAIN_IMAGES", None if authors else 3000, minimum=20),
        "test_images": _int_env("CHECK_TEST_IMAGES", 1000 if authors else 500, minimum=10),
        "epochs": _int_env("CHECK_EPOCHS", 3 if authors else 2, minimum=1 if authors else 2),
        "image_size": _int_env("CHECK_IMAGE_SIZE", 224, minimum=32),
        "batch": _int_env("CHECK_BATCH", 64),
        "precision": precision,
        "bench_sizes": bench_sizes,
        "bench_precisions": _list_env("CHECK_BENCH_PRECISIONS", ("float32", "mixed"),
                                      ("float32", "mixed")),
        "bench_rounds": _int_env("CHECK_BENCH_ROUNDS", 3),
        "bench_steps": _int_env("CHECK_BENCH_STEPS", 8),
        "bench_variants": _list_env("CHECK_BENCH_VARIANTS", tuple(variants), ALL_VARIANTS),
        "skip_bench": authors or os.environ.get("CHECK_SKIP_BENCH", "") == "1",
        "budget_s": _int_env("CHECK_BUDGET_S", 450),
        "data": os.environ.get("CHECK_DATA", str(ROOT / ".whl" / "data" / "cifar10-jpeg.tar.gz")),
        "wheels": os.environ.get("CHECK_WHEELS", str(ROOT / ".whl")),
    }
