import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from gpc_support.common.environment import training_environment  # noqa: E402

# the malloc settings run_all.sh gives its kernels and workers, for every process
# the tests start (xdist workers, kernels, subprocesses): same results, less time
training_environment()

import pickle

import numpy as np
import pytest


def write_cifar_batches(folder, per_batch=40, test_images=40, seed=0):
    """Write a tiny CIFAR-10 in the original python-batches format.

    Images carry a class-dependent colour plus noise, so a network can learn
    something in a few steps.  Returns the folder.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def batch(n, name):
        labels = rng.integers(0, 10, n)
        base = (labels[:, None] * 25).astype(np.int64)
        data = np.clip(base + rng.integers(-20, 20, (n, 3072)), 0, 255).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels.tolist(),
                         b"data": data, b"filenames": [b"x.png"] * n}, f)

    for i in range(1, 6):
        batch(per_batch, f"data_batch_{i}")
    batch(test_images, "test_batch")
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in (
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck")]}, f)
    return folder


@pytest.fixture(scope="session")
def cifar_batches_dir(tmp_path_factory):
    return write_cifar_batches(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GPC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


# -- the `slow` marker (pytest.ini): real training, subprocess runs, papermill -------------
# A test is slow when its file is one of these, or its own code trains a
# network, starts a process or executes a notebook; `./run_tests.sh -m "not
# slow"` is the fast loop, CI runs everything.
SLOW_FILES = {"test_notebooks.py", "test_run_all.py", "test_resume.py", "test_engine_backends.py",
              "test_accelerator_check.py", "test_backends.py"}
_SLOW_CALLS = ("subprocess.", "train_variant(", "papermill", "run_all.sh", "execute_notebook(",
               "build_summary(")


def pytest_collection_modifyitems(config, items):
    import inspect

    for item in items:
        if item.get_closest_marker("slow"):
            continue
        slow = item.path.name in SLOW_FILES
        if not slow and getattr(item, "function", None) is not None:
            try:
                source = inspect.getsource(item.function)
            except (OSError, TypeError):
                source = ""
            slow = any(call in source for call in _SLOW_CALLS)
        if slow:
            item.add_marker(pytest.mark.slow)
