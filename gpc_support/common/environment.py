"""What a run ran on: backend, device, versions (for metrics files and benchmarks)."""

from __future__ import annotations

import os
import platform
import sys

# glibc malloc settings for training processes.  By default glibc hands any
# block above its mmap threshold (128 KiB, rising to at most 32 MiB) back to
# the system on free, trims the heap's free top, and gives each thread its own
# arena, whose heaps are at most 64 MiB (a larger block is always mapped anew).
# So every training step maps, page-faults in and unmaps its big temporaries
# again: a `cpu` run pinned to one core spent 43-55% of its time in the kernel
# at 110,000-160,000 minor faults a second.  Fixed 1 GiB thresholds and one
# arena keep those blocks in the heap for reuse (measured on the same run:
# ~6,000 faults a second, 2% in the kernel; benchmarks/bench_malloc.py).
# glibc reads them once, when a process starts: `training_environment` puts
# them into the environment the run's children (kernels, workers) inherit.
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_TOP_PAD_": str(64 << 20),
    "MALLOC_ARENA_MAX": "1",
}

# TensorFlow's oneDNN CPU kernels.  Its Linux x86 wheels turn them on by default
# only on CPUs with AVX-512 VNNI/BF16 or AMX; on others (an AVX2-only AMD EPYC,
# for one) TensorFlow's Eigen kernels run instead, and a MobileNet trains at
# about half the speed (benchmarks/bench_onednn.py).  Read once, when
# TensorFlow is imported; every run records which kernels it used.
ONEDNN_ENV = {"TF_ENABLE_ONEDNN_OPTS": "1"}


def training_environment(environ=None) -> dict:
    """Set MALLOC_ENV's and ONEDNN_ENV's variables in `environ` (default
    os.environ) where they are not set, for the processes started from it.

    A value the user already exported wins.  Returns what was added."""
    environ = os.environ if environ is None else environ
    added = {name: value for name, value in {**MALLOC_ENV, **ONEDNN_ENV}.items()
             if name not in environ}
    environ.update(added)
    return added



def shell_exports(environ=None) -> str:
    """`export NAME=value` lines for the variables `training_environment` would
    add to `environ` (default os.environ): for a shell script that starts
    processes which train (scripts/start_jupyter.sh), so they get the same."""
    import shlex

    added = training_environment(dict(os.environ if environ is None else environ))
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in added.items())


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process; None
    under another Keras backend or where TensorFlow cannot say."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def accelerator_names() -> list[str]:
    """Names of the GPUs the active Keras backend can use (empty on a CPU machine)."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            names = []
            for gpu in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(gpu)
                names.append(details.get("device_name", gpu.name))
            return names
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver must not stop a CPU run
        return []
    return []


def usable_cpu_set() -> set[int]:
    """The cores this process may run on (taskset, cgroups' cpusets, Slurm's
    binding): fewer than the machine's when it was pinned; all of
    os.cpu_count() where the platform cannot say."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return set(range(os.cpu_count() or 1))


def usable_cpus() -> int:
    """How many cores this process may run on (see `usable_cpu_set`)."""
    return len(usable_cpu_set())


def device_description() -> str:
    """'GPU: NVIDIA H200', 'CPU: 2 cores (x86_64)', or, for a process pinned
    to fewer cores than the machine has, 'CPU: 1 of 2 cores (x86_64)'."""
    gpus = accelerator_names()
    if gpus:
        return "GPU: " + ", ".join(gpus)
    total, usable = os.cpu_count(), usable_cpus()
    cores = f"{total} cores" if usable == total else f"{usable} of {total} cores"
    return f"CPU: {cores} ({platform.machine()})"


def environment_info() -> dict:
    """Python, Keras, backend and framework versions and the device, as a dict."""
    import keras

    info = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "device": device_description(),
        "platform": platform.platform(),
    }
    # The GPU(s) a scheduler gave this run (run_all.sh --gpus, Slurm, submitit), when set.
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        info["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    # Only the frameworks this process has loaded (the backend's own among
    # them): importing TensorFlow here under JAX would cost seconds and, on a
    # GPU, claim the device's memory.
    for module in ("tensorflow", "jax", "jaxlib", "torch"):
        loaded = sys.modules.get(module)
        if loaded is not None and getattr(loaded, "__version__", None):
            info[module] = loaded.__version__
    if "tensorflow" in sys.modules:
        info["tensorflow_onednn"] = onednn_enabled()
    return info
