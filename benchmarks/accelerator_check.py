"""One short check of the paper profile on an accelerator (driver of accelerator_check.sh).

    CHECK_OUT=out KERAS_BACKEND=jax python benchmarks/accelerator_check.py

For a GPU node with JAX (or PyTorch), numpy, h5py and friends but no Keras,
no TensorFlow and no network: what is missing comes from the wheels that
`scripts/prepare_accelerator_bundle.sh` saved into `.whl/` (unpacked into a
temporary folder put on the path; nothing is installed into the system), the
CIFAR-10 JPEG copy from `.whl/data/cifar10-jpeg.tar.gz` (only the images the
check uses are unpacked).  Every step runs in its own process, so one
step's device memory and failure do not reach the others, and writes its
result as soon as it has one:

    $CHECK_OUT/device.json        backend, devices, versions (and nvidia-smi's line)
    $CHECK_OUT/runs/<variant>/    the train_variant folder of each short paper run
    $CHECK_OUT/variants/<variant>.json
                                  its ms/step, images/s, peak device memory, losses,
                                  and the projected time of the full 50-epoch run
    $CHECK_OUT/bench.json         bench_gpc.py (after the paper runs): train/inference
                                  seconds per batch and ratios to MobileNet, float32
                                  and mixed precision
    $CHECK_OUT/summary.json, summary.txt   all of it, and the totals
    $CHECK_OUT/check.log          what each step printed

Timing.  The paper runs go through `train_variant` (profile "paper" with
train_limit/test_limit/epochs replaced), with validation timed by a callback
that first waits for the device (it reads the optimizer's step counter back,
which the last training step wrote) and stops the clock only once the
validation's results are on the host.  The first epoch (compilation) is not
timed; the training time of an epoch is its time minus its validation time.
The projection of the full run: 50 x (704 training steps x ms/step + 79
validation steps x ms/step) + the 157-step test evaluation, for the 45,000 /
5,000 / 10,000 images of the paper profile at batch 64.  Checkpoint writing
(once per epoch) is not in it.

The authors' mode (CHECK_MODE=authors) instead trains the paper profile on
the full training set (45,000 images after the authors' split) for its
first CHECK_EPOCHS epochs, for MobileNet and gpc16, and prints each epoch's
training loss and accuracy beside the values the method authors' notebooks
logged for the same epochs (`AUTHORS_LOG`; their validation numbers swing
by 10-20 points between epochs and are no usable check).  No benchmark.
About 10 minutes on one GPU.  Its files: device.json, runs/<variant>/,
variants/<variant>.json (the epochs, ours beside theirs), summary.json,
summary.txt, check.log.

Sizes come from the environment (defaults: the check for one GPU):

    CHECK_MODE            timing (the default, above) or authors
    CHECK_VARIANTS        mobilenet,gpc16,gpc32,gpc64,gpc128 (authors: mobilenet,gpc16)
    CHECK_TRAIN_IMAGES    3000 (before the 10% validation split; authors: all 50,000)
    CHECK_TEST_IMAGES     500 (authors: 1000)
    CHECK_EPOCHS          2 (>= 2: the first one compiles; authors: 3, >= 1)
    CHECK_IMAGE_SIZE      224        CHECK_BATCH   64
    CHECK_PRECISION       float32 (the paper runs)
    CHECK_BENCH_SIZES     224:64     CHECK_BENCH_PRECISIONS  float32,mixed
    CHECK_BENCH_ROUNDS    3          CHECK_BENCH_STEPS       8
    CHECK_BENCH_VARIANTS  = CHECK_VARIANTS (mobilenet needed for ratios)
    CHECK_SKIP_BENCH      1 to skip the benchmark
    CHECK_BUDGET_S        450: a step is not started after this many seconds,
                          and the benchmark (last) is stopped there; what
                          it measured until then is kept
    CHECK_DATA            .whl/data/cifar10-jpeg.tar.gz, or a folder with
                          train/<class>/ and test/<class>/ images
    CHECK_WHEELS          .whl
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALL_VARIANTS = ("mobilenet", "gpc16", "gpc32", "gpc64", "gpc128")
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
# the paper profile on all of CIFAR-10: 50,000 training images, 10% validation
FULL_TRAIN, FULL_VAL, FULL_TEST, FULL_EPOCHS = 45_000, 5_000, 10_000, 50
# The method authors' logged training loss and accuracy of epochs 1, 2, 3 of
# the paper protocol (their executed kEffNetV1 notebooks, Keras' epoch
# averages, as our history.csv records them).
AUTHORS_LOG = {
    "mobilenet": {"loss": (1.798, 1.428, 1.150), "accuracy": (0.338, 0.486, 0.593)},
    "gpc16": {"loss": (1.829, 1.578, 1.359), "accuracy": (0.320, 0.429, 0.515)},
}
MODES = ("timing", "authors")
# (module imported, distribution name as in the wheel file name)
NEEDED = (("keras", "keras"), ("namex", "namex"), ("optree", "optree"),
          ("absl", "absl_py"), ("rich", "rich"), ("markdown_it", "markdown_it_py"),
          ("mdurl", "mdurl"), ("pygments", "pygments"), ("packaging", "packaging"),
          ("typing_extensions", "typing_extensions"), ("ml_dtypes", "ml_dtypes"),
          ("filelock", "filelock"), ("tqdm", "tqdm"), ("h5py", "h5py"))


class CheckError(RuntimeError):
    """A setting or input the check cannot run with; the message names it."""


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Wheels and data
# --------------------------------------------------------------------------


def _wheel_for(dist: str, folder: Path) -> Path | None:
    wanted = dist.lower().replace("-", "_")
    for wheel in sorted(folder.glob("*.whl")):
        if wheel.name.split("-")[0].lower() == wanted:
            return wheel
    return None


def unpack_missing_wheels(folder: Path, site: Path) -> dict:
    """Unpack the wheels of the modules this Python lacks into `site`.

    A wheel is a zip of what goes into site-packages, so unpacking it and
    putting the folder first on the path is an installation that touches
    nothing outside `site`.  Returns {module: wheel file name or "present"}.
    """
    done = {}
    missing = []
    for module, dist in NEEDED:
        if importlib.util.find_spec(module) is not None:
            done[module] = "present"
            continue
        wheel = _wheel_for(dist, folder) if folder.is_dir() else None
        if wheel is None:
            missing.append(f"{module} ({dist})")
            continue
        with zipfile.ZipFile(wheel) as z:
            z.extractall(site)
        done[module] = wheel.name
    if missing:
        raise CheckError(
            f"CHECK_WHEELS: {folder} has no wheel for {', '.join(missing)}, which this Python "
            "lacks; run scripts/prepare_accelerator_bundle.sh on a machine with internet first")
    return done


def _jpeg_member(name: str):
    """('train'|'test', class, index) of an archive member like train/cat/0012.jpg."""
    parts = name.lstrip("./").split("/")
    if len(parts) != 3 or parts[0] not in ("train", "test") or parts[1] not in CLASS_NAMES:
        return None
    stem = parts[2].rsplit(".", 1)
    if len(stem) != 2 or stem[1].lower() not in ("jpg", "jpeg", "png") or not stem[0].isdigit():
        return None
    return parts[0], parts[1], int(stem[0])


def unpack_data(source: Path, dest: Path, train_images: int | None, test_images: int) -> Path:
    """train/ and test/ class folders with the first ceil(n/10) images per class
    (train_images None: all 5,000 of each class).

    `source` is the CIFAR-10 JPEG archive (.tar.gz) or a folder of that
    layout; only the images the check uses are unpacked or linked."""
    per_class = {"train": 5000 if train_images is None else math.ceil(train_images / 10),
                 "test": math.ceil(test_images / 10)}
    if source.is_dir():
        for split in ("train", "test"):
            for name in CLASS_NAMES:
                src_dir = source / split / name
                if not src_dir.is_dir():
                    raise CheckError(f"CHECK_DATA: {source} has no {split}/{name}/ folder")
                files = sorted(p for p in src_dir.iterdir() if _jpeg_member(f"{split}/{name}/{p.name}"))
                if len(files) < per_class[split]:
                    raise CheckError(f"CHECK_DATA: {src_dir} holds {len(files)} images, "
                                     f"fewer than the {per_class[split]} needed")
                (dest / split / name).mkdir(parents=True, exist_ok=True)
                for path in files[:per_class[split]]:
                    os.symlink(path.resolve(), dest / split / name / path.name)
        return dest
    if not source.is_file():
        raise CheckError(f"CHECK_DATA: {source} is neither the CIFAR-10 JPEG archive nor a folder "
                         "(run scripts/prepare_accelerator_bundle.sh, or set CHECK_DATA)")
    counts = {(s, c): 0 for s in per_class for c in CLASS_NAMES}
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                key = _jpeg_member(member.name) if member.isfile() else None
                if key is None:
                    continue
                split, name, _ = key
                if counts[(split, name)] >= per_class[split]:
                    continue
                target = dest / split / name / Path(member.name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                counts[(split, name)] += 1
    except (tarfile.TarError, OSError) as err:
        raise CheckError(f"CHECK_DATA: {source} cannot be read as a tar archive ({err})") from None
    short = {k: v for k, v in counts.items() if v < per_class[k[0]]}
    if short:
        (split, name), n = next(iter(short.items()))
        raise CheckError(f"CHECK_DATA: {source} holds {n} {split}/{name} images, fewer than the "
                         f"{per_class[split]} needed (is it the CIFAR-10 JPEG copy?)")
    return dest


# --------------------------------------------------------------------------
# Steps that run in their own process
# --------------------------------------------------------------------------


def _sync(model) -> None:
    """Wait until the device has run every step dispatched so far."""
    import keras

    keras.ops.convert_to_numpy(model.optimizer.iterations)


def peak_device_memory() -> dict:
    """Peak device memory of this process, where the backend can tell."""
    import resource

    import keras

    out = {"device_peak_bytes": None, "device_note": None,
           "host_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            stats = jax.local_devices()[0].memory_stats()
            if stats and "peak_bytes_in_use" in stats:
                out["device_peak_bytes"] = int(stats["peak_bytes_in_use"])
            else:
                out["device_note"] = f"jax {jax.local_devices()[0].platform} device has no memory_stats"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                out["device_peak_bytes"] = int(torch.cuda.max_memory_allocated())
            else:
                out["device_note"] = "torch: no CUDA device"
        elif backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                out["device_peak_bytes"] = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
            else:
                out["device_note"] = "tensorflow: no GPU"
    except Exception as err:  # a measurement, never a reason to lose the run's results
        out["device_note"] = f"{type(err).__name__}: {err}"
    return out


def device_step(out: Path) -> None:
    import platform

    import keras
    import numpy

    from gpc_support.common.environment import environment_info

    info = {"environment": environment_info(), "numpy": numpy.__version__,
            "keras": keras.__version__, "python": platform.python_version()}
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        info["devices"] = [str(d) for d in jax.devices()]
        info["device_kinds"] = [d.device_kind for d in jax.devices()]
        info["default_backend"] = jax.default_backend()
        info["jax"] = jax.__version__
        try:
            import jaxlib

            info["jaxlib"] = jaxlib.__version__
        except (ImportError, AttributeError):
            pass
    elif backend == "torch":
        import torch

        info["torch"] = torch.__version__
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True)
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    _write_json(out / "device.json", info)
    print(json.dumps(info, indent=1))


def variant_step(variant: str, data_dir: Path, run_dir: Path, result_path: Path, cfg: dict) -> None:
    import keras

    from gpc_support.train import engine as training

    val_seconds = []
    original = training._validation_hooks

    def timed_hooks(images, profile, seed):
        inner = original(images, profile, seed)

        class TimedValidation(keras.callbacks.Callback):
            def set_model(self, model):
                super().set_model(model)
                inner.set_model(model)

            def on_test_begin(self, logs=None):
                _sync(self.model)  # the epoch's training steps are done
                self._start = time.perf_counter()
                inner.on_test_begin(logs)

            def on_test_end(self, logs=None):
                inner.on_test_end(logs)
                for value in (logs or {}).values():  # the results are on the host
                    float(keras.ops.convert_to_numpy(value))
                val_seconds.append(time.perf_counter() - self._start)

        return TimedValidation()

    training._validation_hooks = timed_hooks
    overrides = {"train_limit": cfg["train_images"], "test_limit": cfg["test_images"],
                 "epochs": cfg["epochs"], "image_size": cfg["image_size"],
                 "batch_size": cfg["batch"]}
    start = time.perf_counter()
    metrics = training.train_variant(variant, "paper", data_dir=str(data_dir), out_dir=run_dir,
                                     overrides=overrides, force=True, verbose=2,
                                     precision=cfg["precision"])
    wall = time.perf_counter() - start
    history = training.read_history(run_dir / "history.csv")
    result = summarise_run(variant, history, val_seconds, metrics, cfg)
    result["wall_seconds"] = wall
    result.update(peak_device_memory())
    _write_json(result_path, result)
    print(json.dumps(result, indent=1))


def authors_step(variant: str, data_dir: Path, run_dir: Path, result_path: Path,
                 cfg: dict) -> None:
    """The paper profile's first epochs on the training set; each epoch's
    training loss and accuracy beside the authors' logged ones."""
    from gpc_support.train import engine as training

    overrides = {"train_limit": cfg["train_images"], "test_limit": cfg["test_images"],
                 "epochs": cfg["epochs"], "image_size": cfg["image_size"],
                 "batch_size": cfg["batch"]}
    start = time.perf_counter()
    metrics = training.train_variant(variant, "paper", data_dir=str(data_dir), out_dir=run_dir,
                                     overrides=overrides, force=True, verbose=2,
                                     precision=cfg["precision"])
    history = training.read_history(run_dir / "history.csv")
    result = compare_with_authors(variant, history, metrics, cfg)
    result["wall_seconds"] = time.perf_counter() - start
    _write_json(result_path, result)
    print(json.dumps(result, indent=1))


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


def authors_lines(variant: str, r: dict) -> list[str]:
    """The per-epoch comparison of one variant as text lines."""
    if "epochs" not in r:
        return [f"paper run {variant}: {r.get('status')}"]
    lines = [f"{variant}: paper profile, {r['train_images']:,} training images, "
             f"{r['image_size']} px, batch {r['batch']}, {r['optimizer']}, split {r['split']}",
             "  epoch   loss  authors   accuracy  authors   seconds"]
    for e in r["epochs"]:
        loss = "    -" if e["authors_loss"] is None else f"{e['authors_loss']:.3f}"
        acc = "    -" if e["authors_accuracy"] is None else f"{100 * e['authors_accuracy']:.1f}%"
        lines.append(f"  {e['epoch']:5d}  {e['loss']:.3f}  {loss:>7}   {100 * e['accuracy']:7.1f}%"
                     f"  {acc:>7}  {e['seconds']:8.1f}")
    return lines


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


# --------------------------------------------------------------------------
# The whole check (this process never starts the backend itself)
# --------------------------------------------------------------------------


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def _step(args: list[str], env: dict, log, label: str, timeout: float | None = None) -> dict:
    print(f"== {label}", flush=True)
    log.write(f"\n== {label}\n$ {' '.join(args)}\n")
    log.flush()
    start = time.perf_counter()
    try:
        proc = subprocess.run(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout, cwd=ROOT)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        code = "timeout"
    seconds = time.perf_counter() - start
    status = "ok" if code == 0 else f"failed ({code}; see check.log)"
    print(f"   {status} in {seconds:.1f} s", flush=True)
    return {"step": label, "status": status, "seconds": seconds}


def summary_text(summary: dict) -> str:
    lines = [f"accelerator check: backend {summary['settings']['backend']}, "
             f"device {summary.get('device', {}).get('environment', {}).get('device')}"]
    if summary["settings"].get("mode") == "authors":
        lines.append("training loss and accuracy per epoch, ours beside the method authors' "
                     "logged values")
        for variant, r in summary.get("variants", {}).items():
            lines += authors_lines(variant, r)
        lines.append(f"check wall time: {summary['wall_seconds']:.0f} s")
        return "\n".join(lines) + "\n"
    bench = summary.get("bench") or {}
    for run in bench.get("runs", []):
        lines.append(f"bench {run['size']} px, batch {run['batch']}, {run['precision']}:")
        for name, m in run["models"].items():
            ratio = "" if m["train_ratio"] is None else \
                f"  ratio to MobileNet train {m['train_ratio']:.2f} infer {m['infer_ratio']:.2f}"
            lines.append(f"  {name:<10} train {1000 * m['train_s_per_batch']:8.1f} ms/batch  "
                         f"infer {1000 * m['infer_s_per_batch']:8.1f} ms/batch{ratio}")
    total = 0.0
    for variant, r in summary.get("variants", {}).items():
        if "ms_per_step" not in r:
            lines.append(f"paper run {variant}: {r.get('status')}")
            continue
        total += r["projected_full_run_hours"]
        peak = r.get("device_peak_bytes")
        lines.append(
            f"paper run {variant}: {r['ms_per_step']:.1f} ms/step, {r['images_per_second']:.3g} img/s, "
            f"peak {'n/a' if peak is None else f'{peak / 2**30:.2f} GiB'}, loss "
            f"{r['losses'][0]:.3f} -> {r['losses'][-1]:.3f} ({'falls' if r['loss_fell'] else 'does NOT fall'}), "
            f"full 50-epoch run ~{r['projected_full_run_hours']:.2f} h")
    base = summary.get("variants", {}).get("mobilenet", {}).get("ms_per_step")
    if base:
        ratios = ", ".join(f"{v} {r['ms_per_step'] / base:.2f}"
                           for v, r in summary["variants"].items() if "ms_per_step" in r)
        lines.append(f"paper-run training step relative to MobileNet: {ratios}")
    if summary.get("variants"):
        lines.append(f"projected paper profile, these variants together: {total:.2f} h")
    lines.append(f"check wall time: {summary['wall_seconds']:.0f} s")
    return "\n".join(lines) + "\n"


def run_check(out: Path) -> dict:
    cfg = settings()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="gpc-check-"))
    summary = {"settings": cfg, "steps": [], "variants": {}}
    try:
        site = work / "site"
        site.mkdir()
        summary["wheels"] = unpack_missing_wheels(Path(cfg["wheels"]).resolve(), site)
        data_dir = unpack_data(Path(cfg["data"]).resolve(), work / "cifar10", cfg["train_images"],
                               cfg["test_images"])
        env = {**os.environ, "KERAS_BACKEND": cfg["backend"], "PYTHONUNBUFFERED": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3", "GPC_CACHE_DIR": str(work / "cache"),
               "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)] + (
                   [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
        me = [sys.executable, str(Path(__file__).resolve())]

        def left() -> float:
            return cfg["budget_s"] - (time.perf_counter() - start)

        with open(out / "check.log", "a") as log:
            summary["steps"].append(_step(me + ["device", "--out", str(out)], env, log, "device"))
            if (out / "device.json").exists():
                summary["device"] = json.loads((out / "device.json").read_text())
            # the paper runs first: they carry the projection (and a ratio of
            # their own); the benchmark gets what is left of the budget
            for variant in cfg["variants"]:
                result_path = out / "variants" / f"{variant}.json"
                result_path.unlink(missing_ok=True)
                if left() <= 0:
                    summary["steps"].append({"step": f"paper run {variant}", "seconds": 0.0,
                                             "status": "skipped (CHECK_BUDGET_S spent)"})
                    summary["variants"][variant] = {"status": "skipped (CHECK_BUDGET_S spent)"}
                    continue
                step = _step(me + [("authors" if cfg["mode"] == "authors" else "variant"),
                                   variant, "--data", str(data_dir),
                                   "--run-dir", str(out / "runs" / variant),
                                   "--result", str(result_path)], env, log, f"paper run {variant}")
                summary["steps"].append(step)
                summary["variants"][variant] = (json.loads(result_path.read_text())
                                                if result_path.exists() else {"status": step["status"]})
                summary["wall_seconds"] = time.perf_counter() - start
                _write_json(out / "summary.json", summary)
            if cfg["skip_bench"]:
                pass
            elif left() <= 30:
                summary["steps"].append({"step": "bench_gpc", "seconds": 0.0,
                                         "status": "skipped (CHECK_BUDGET_S spent)"})
            else:
                summary["steps"].append(_step(
                    [sys.executable, str(ROOT / "benchmarks" / "bench_gpc.py"),
                     "--sizes", cfg["bench_sizes"], "--precisions", ",".join(cfg["bench_precisions"]),
                     "--variants", ",".join(cfg["bench_variants"]), "--no-reference",
                     "--rounds", str(cfg["bench_rounds"]), "--steps", str(cfg["bench_steps"]),
                     "--json", str(out / "bench.json")], env, log, "bench_gpc", timeout=left()))
                if (out / "bench.json").exists():  # written after each size and precision
                    summary["bench"] = json.loads((out / "bench.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["wall_seconds"] = time.perf_counter() - start
    _write_json(out / "summary.json", summary)
    text = summary_text(summary)
    (out / "summary.txt").write_text(text)
    print(text, end="")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    device = sub.add_parser("device", help="(internal) write device.json")
    device.add_argument("--out", required=True)
    variant = sub.add_parser("variant", help="(internal) one short paper run")
    variant.add_argument("name", choices=ALL_VARIANTS)
    variant.add_argument("--data", required=True)
    variant.add_argument("--run-dir", required=True)
    variant.add_argument("--result", required=True)
    authors = sub.add_parser("authors", help="(internal) one paper run beside the authors' log")
    authors.add_argument("name", choices=tuple(AUTHORS_LOG))
    authors.add_argument("--data", required=True)
    authors.add_argument("--run-dir", required=True)
    authors.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "device":
            device_step(Path(args.out))
        elif args.command == "variant":
            variant_step(args.name, Path(args.data), Path(args.run_dir), Path(args.result),
                         settings())
        elif args.command == "authors":
            authors_step(args.name, Path(args.data), Path(args.run_dir), Path(args.result),
                         settings())
        else:
            summary = run_check(Path(os.environ.get("CHECK_OUT", "accelerator_check_out")))
            failed = [s["step"] for s in summary["steps"] if s["status"] != "ok"]
            if failed:
                print(f"failed steps: {', '.join(failed)} (see check.log)", file=sys.stderr)
                return 1
    except CheckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
