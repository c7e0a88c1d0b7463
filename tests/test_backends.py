"""The layers and models under Keras' other backends, where one is installed.

The model code uses `keras.ops` only (no TensorFlow import), so a JAX or
PyTorch installation with Keras 3 runs it; these tests run a subprocess per
installed backend and are skipped for the others.  One training step of the
engine's model from the same initial weights on the same batch gives the
same loss under every backend as under TensorFlow (tests/backend_step.py).
The training engine itself under JAX: tests/test_engine_backends.py.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import sys
import numpy as np
import keras
sys.path.insert(0, {root!r})
from gpc_support.model.layers import GroupedPointwiseConv2D, ChannelInterleave
from gpc_support.model.networks import build_model
assert keras.backend.backend() == {backend!r}
assert "tensorflow" not in sys.modules, "the model code imported TensorFlow"
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 3, 64)).astype("float32")
layer = GroupedPointwiseConv2D(32, 4)
layer.build(x.shape)
k = layer.get_weights()[0]
dense = np.zeros((64, 32), "float32")
for g in range(4):
    dense[g * 16:(g + 1) * 16, g * 8:(g + 1) * 8] = k[g]
got = keras.ops.convert_to_numpy(layer(x))
assert np.allclose(got, x @ dense, rtol=1e-4, atol=1e-5)
perm = keras.ops.convert_to_numpy(ChannelInterleave(4)(x))
assert np.array_equal(perm, np.concatenate([x[..., j::16] for j in range(16)], axis=-1))
model = build_model(16, (32, 32, 3))
assert model.count_params() == 274122
model.compile(optimizer="adam", loss="categorical_crossentropy")
y = np.eye(10, dtype="float32")[rng.integers(0, 10, 8)]
xb = rng.random((8, 32, 32, 3)).astype("float32")
first = float(model.train_on_batch(xb, y))
for _ in range(5):
    last = float(model.train_on_batch(xb, y))
assert last < first
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend,module", [("jax", "jax"), ("torch", "torch")])
def test_model_code_runs_under_other_backends(backend, module):
    python = os.environ.get(f"GPC_{backend.upper()}_PYTHON", sys.executable)
    if python == sys.executable and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([python, "-c", SCRIPT.format(root=str(ROOT), backend=backend)],
                            capture_output=True, text=True, env=env, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok {backend}" in result.stdout


STEP = ROOT / "tests" / "backend_step.py"


def run_step(backend, weights, out, save=False):
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [sys.executable, str(STEP), "--weights", str(weights), "--out", str(out)]
    result = subprocess.run(args + (["--save-weights"] if save else []), env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def tensorflow_step(tmp_path_factory):
    """The initial weights (written under TensorFlow) and TensorFlow's losses."""
    folder = tmp_path_factory.mktemp("step")
    weights = folder / "initial.weights.h5"
    return weights, run_step("tensorflow", weights, folder / "tensorflow.json", save=True)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_one_training_step_gives_the_same_loss_as_tensorflow(backend, tensorflow_step, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    weights, reference = tensorflow_step
    got = run_step(backend, weights, tmp_path / f"{backend}.json")
    assert got["backend"] == backend and reference["backend"] == "tensorflow"
    # the initial weights' loss on the batch (BatchNorm in training mode)
    assert got["loss_step1"] == pytest.approx(reference["loss_step1"], rel=1e-5)
    assert got["sgd_loss_step1"] == pytest.approx(reference["sgd_loss_step1"], rel=1e-5)
    # After one SGD update (rate 0.05): close, not equal to rounding (measured
    # on a 2-core CPU, TF 2.21 vs JAX 0.10.2: 2.1013 vs 2.1061, 0.23% apart).
    assert got["sgd_loss_step2"] == pytest.approx(reference["sgd_loss_step2"], rel=1e-2)
    assert got["sgd_loss_step2"] < got["sgd_loss_step1"]
    # After one RMSprop update only roughly: its first step moves each weight
    # by about +-lr*sqrt(10) whatever the gradient's size, so a weight whose
    # gradient is zero up to rounding moves in a direction the rounding picks
    # (measured: 1.3% apart in the loss; the weights that differ are at most
    # twice that step apart).
    assert got["rmsprop_loss_step2"] == pytest.approx(reference["rmsprop_loss_step2"], rel=0.05)
