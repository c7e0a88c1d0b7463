"""The layers and models under Keras' other backends, where one is installed.

The model code uses `keras.ops` only (no TensorFlow import), so a JAX or
PyTorch installation with Keras 3 runs it; this test runs a subprocess per
installed backend and is skipped for the others.
"""

import importlib.util
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
from gpc_support.layers import GroupedPointwiseConv2D, ChannelInterleave
from gpc_support.models import build_model
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
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok {backend}" in result.stdout
