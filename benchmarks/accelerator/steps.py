"""What each step's own process does: the device record, one timed paper run, one run beside the authors' log.

The driver runs each step as `accelerator_check.py device|variant|authors`
in a process of its own, with the unpacked wheels and the repository on
PYTHONPATH; keras, the backend and gpc_support are imported inside these
functions, so importing this module starts nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from .results import compare_with_authors, summarise_run, write_json


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
    """Write out/device.json: backend, devices, versions, and nvidia-smi's line where there is one."""
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
    write_json(out / "device.json", info)
    print(json.dumps(info, indent=1))


def variant_step(variant: str, data_dir: Path, run_dir: Path, result_path: Path, cfg: dict) -> None:
    """One short paper run through train_variant with its validations timed; its record to `result_path`."""
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
    metrics, history, wall = _short_paper_run(variant, data_dir, run_dir, cfg)
    result = summarise_run(variant, history, val_seconds, metrics, cfg)
    result["wall_seconds"] = wall
    result.update(peak_device_memory())
    write_json(result_path, result)
    print(json.dumps(result, indent=1))


def _short_paper_run(variant: str, data_dir: Path, run_dir: Path, cfg: dict):
    """The paper profile with the check's sizes, from scratch: (metrics, the
    history's rows, wall seconds)."""
    from gpc_support.train import engine as training

    overrides = {"train_limit": cfg["train_images"], "test_limit": cfg["test_images"],
                 "epochs": cfg["epochs"], "image_size": cfg["image_size"],
                 "batch_size": cfg["batch"]}
    start = time.perf_counter()
    metrics = training.train_variant(variant, "paper", data_dir=str(data_dir), out_dir=run_dir,
                                     overrides=overrides, force=True, verbose=2,
                                     precision=cfg["precision"])
    wall = time.perf_counter() - start
    return metrics, training.read_history(run_dir / "history.csv"), wall


def authors_step(variant: str, data_dir: Path, run_dir: Path, result_path: Path,
                 cfg: dict) -> None:
    """The paper profile's first epochs on the training set; each epoch's
    training loss and accuracy beside the authors' logged ones."""
    metrics, history, wall = _short_paper_run(variant, data_dir, run_dir, cfg)
    result = compare_with_authors(variant, history, metrics, cfg)
    result["wall_seconds"] = wall
    write_json(result_path, result)
    print(json.dumps(result, indent=1))
