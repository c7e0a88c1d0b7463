import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

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
