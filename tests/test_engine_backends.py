"""The training engine under Keras' JAX (and PyTorch) backend, without TensorFlow.

Each run is a subprocess with KERAS_BACKEND set (Keras reads it once, at
import) and TensorFlow made unimportable, as on a GPU node that has JAX but
no TensorFlow: a smoke run of `train_variant` (feeder, in-model
augmentation, schedule, BatchNorm re-estimation, checkpoints, best weights,
test predictions, metrics), and a run killed with SIGKILL after its first
committed epoch and resumed, which must end with the same history VALUES and
test predictions as the run never stopped (as tests/test_resume.py checks
under TensorFlow).  A backend whose package is not installed is skipped.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpc_support.train.engine import HISTORY_FIELDS, read_history
from tests.test_resume import epochs_done, kill_when, values

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 2
BACKENDS = ("jax", "torch")

SCRIPT = """
import importlib.abc
import sys


class NoTensorFlow(importlib.abc.MetaPathFinder):  # as on a GPU node without TensorFlow
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, NoTensorFlow())
sys.path.insert(0, {root!r})
import keras
assert keras.backend.backend() == {backend!r}, keras.backend.backend()
from gpc_support.train.engine import train_variant
train_variant(16, "smoke", data_dir={data!r}, out_dir={out!r}, overrides={{"epochs": {epochs}}},
              verbose=2)
assert "tensorflow" not in sys.modules
print("finished under", keras.backend.backend())
"""


def require(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (requirements-dev.txt pins jax for CI; "
                    "torch is not pinned: its Linux wheels pull several GB of CUDA libraries)")


def start(backend, out, data):
    code = SCRIPT.format(root=str(ROOT), backend=backend, data=str(data), out=str(out),
                         epochs=EPOCHS)
    # JAX compiles the same steps in the straight, the killed and the resumed
    # run: its persistent cache (beside the data) lets the later two reuse them
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONUNBUFFERED": "1",
           "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(Path(data).parent / "jax-cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(backend, out, data):
    proc = start(backend, out, data)
    output, _ = proc.communicate(timeout=1800)
    assert proc.returncode == 0, output
    assert f"finished under {backend}" in output
    return output


@pytest.fixture(scope="module", params=BACKENDS)
def straight(request, tmp_path_factory, cifar_batches_dir):
    """(backend, folder of an uninterrupted smoke run under it)."""
    require(request.param)
    out = tmp_path_factory.mktemp(f"engine-{request.param}") / "straight"
    finish(request.param, out, cifar_batches_dir)
    return request.param, out


def test_smoke_run_without_tensorflow(straight):
    backend, out = straight
    rows = read_history(out / "history.csv")
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    assert all(math.isfinite(r[k]) for r in rows for k in HISTORY_FIELDS)
    assert all(0.0 <= r["val_accuracy"] <= 1.0 for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["environment"]["backend"] == backend
    assert "tensorflow" not in metrics["environment"]
    assert metrics["epochs"] == EPOCHS and metrics["params_total"] == 274122
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and math.isfinite(metrics["test_loss"])
    # the TensorFlow profiler count is absent, and says why
    assert metrics["profiler_flops"] is None
    assert "KERAS_BACKEND=tensorflow" in metrics["profiler_flops_note"]
    assert metrics["macs"] > 0
    predictions = np.load(out / "test_predictions.npz")
    assert predictions["probabilities"].shape == (metrics["test_images"], 10)
    np.testing.assert_allclose(predictions["probabilities"].sum(axis=1), 1.0, rtol=1e-4)
    assert (out / "best.weights.h5").exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [f"epoch_{EPOCHS:03d}.keras"]


def test_sigkill_after_first_epoch_resumes_exactly(straight, tmp_path, cifar_batches_dir):
    backend, reference = straight
    out = tmp_path / "killed"
    proc = start(backend, out, cifar_batches_dir)
    assert kill_when(proc, lambda: epochs_done(out) >= 1 and not
                     (out / "checkpoints" / "epoch_002.keras").exists(), timeout=1800), \
        proc.stdout.read()
    assert epochs_done(out) == 1 and not (out / "metrics.json").exists()
    output = finish(backend, out, cifar_batches_dir)
    assert "resuming after epoch 1" in output
    a, b = read_history(reference / "history.csv"), read_history(out / "history.csv")
    assert [r["epoch"] for r in b] == list(range(1, EPOCHS + 1))
    np.testing.assert_array_equal(values(a), values(b))  # exact, every value
    pa, pb = np.load(reference / "test_predictions.npz"), np.load(out / "test_predictions.npz")
    np.testing.assert_array_equal(pa["probabilities"], pb["probabilities"])
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (reference, out))
    for key in ("test_accuracy", "test_loss", "best_epoch", "best_val_accuracy"):
        assert ma[key] == mb[key], key
    assert [r["after_epoch"] for r in mb["resumes"]] == [1]
