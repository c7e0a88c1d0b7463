"""optimizers: the Keras 2.6 RMSprop update against its formula, under TensorFlow and JAX.

Three steps on known gradients and learning rates, compared with
`v = 0.9 v + 0.1 g**2; w -= lr g / (sqrt(v) + 1e-7)` computed in float64.
The gradients include ones of 1e-4 and 2e-5, where Keras 3's
`w -= lr g / sqrt(v + 1e-7)` steps 10 to 50 times less far: the test checks
that Keras 3's RMSprop misses the expectation there, so it can tell the two
updates apart.  Then: serialization under the registered name, the profile
field, and a checkpoint saved and loaded mid-way continuing exactly.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from gpc_support.train.optimizers import RMSpropKeras2, make_optimizer, recorded_optimizer
from gpc_support.train.profiles import PROFILES, ProfileError, get_profile

ROOT = Path(__file__).resolve().parent.parent
W0 = np.array([0.5, -0.3, 0.2, 1.0, 0.7])
# one row per step; the columns: a large gradient, small ones (RMS 1e-4 and
# 2e-5, where the two updates differ), a zero one, one that changes sign
GRADIENTS = np.array([[1e-1, -1e-4, 2e-5, 0.0, 3e-3],
                      [2e-1, -1e-4, 3e-5, 0.0, -3e-3],
                      [-5e-2, 2e-4, 1e-5, 0.0, 1e-3]])
RATES = (1e-3, 4e-3, 2e-3)


def expected(keras2: bool, rho=0.9, eps=1e-7):
    """The weights after each step, in float64, by the formula."""
    w, v, out = W0.copy(), np.zeros_like(W0), []
    for g, lr in zip(GRADIENTS, RATES):
        v = rho * v + (1 - rho) * g ** 2
        w = w - lr * g / ((np.sqrt(v) + eps) if keras2 else np.sqrt(v + eps))
        out.append(w.copy())
    return np.array(out)


STEPS = """
import json, sys
import numpy as np
import keras
sys.path.insert(0, {root!r})
from gpc_support.train.optimizers import make_optimizer
record = {{"backend": keras.backend.backend()}}
for name in ("rmsprop-keras2", "rmsprop-keras3"):
    w = keras.Variable(np.array({w0}, dtype="float32"))
    opt = make_optimizer(name, {rates}[0])
    out = []
    for g, lr in zip({grads}, {rates}):
        opt.learning_rate.assign(lr)  # as the engine's schedule callback does
        opt.apply_gradients([(np.array(g, dtype="float32"), w)])
        out.append(keras.ops.convert_to_numpy(w).tolist())
    record[name] = out
print(json.dumps(record))
"""


def run_steps(backend: str) -> dict:
    """{optimizer name: the weights after each step} under `backend` (own process)."""
    code = STEPS.format(root=str(ROOT), w0=W0.tolist(), rates=list(RATES),
                        grads=GRADIENTS.tolist())
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record.pop("backend") == backend
    return {name: np.array(weights) for name, weights in record.items()}


def test_the_formulas_differ_where_the_gradient_is_small():
    keras2, keras3 = expected(True), expected(False)
    step2 = W0 - keras2[0]
    step3 = W0 - keras3[0]
    # first step: sqrt(v) = sqrt(0.1) |g|, so Keras 2.6 moves lr sqrt(10) sign(g)
    # unless |g| is near eps; Keras 3 moves lr g / sqrt(0.1 g**2 + 1e-7)
    assert step2[0] == pytest.approx(1e-3 * 0.1 / (np.sqrt(1e-3) + 1e-7))
    assert step2[1] == pytest.approx(-1e-3 * 1e-4 / (np.sqrt(1e-9) + 1e-7))
    assert step3[1] == pytest.approx(-1e-3 * 1e-4 / np.sqrt(1e-9 + 1e-7))
    assert step3[1] / step2[1] == pytest.approx(0.0997, abs=5e-4)   # 10 times shorter
    assert step3[2] / step2[2] == pytest.approx(0.0203, abs=5e-4)   # 49 times shorter
    assert step3[0] / step2[0] == pytest.approx(1.0, abs=1e-4)      # the same
    assert step2[3] == 0 and step3[3] == 0


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_keras2_rmsprop_follows_the_formula(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    got = run_steps(backend)
    # float32 weights near 1 carry ~6e-8 of rounding per step
    np.testing.assert_allclose(got["rmsprop-keras2"], expected(True), rtol=0, atol=3e-7)
    # Keras 3's update misses it by far more on the small gradients
    keras3 = got["rmsprop-keras3"]
    np.testing.assert_allclose(keras3, expected(False), rtol=0, atol=3e-7)
    assert np.abs(keras3 - expected(True))[:, 1:3].min() > 1e-4


def test_registered_and_serialized_with_its_settings():
    opt = RMSpropKeras2(learning_rate=0.004, rho=0.8, epsilon=1e-6)
    config = keras.optimizers.serialize(opt)
    assert config["registered_name"] == "gpc_study>RMSpropKeras2"
    back = keras.optimizers.deserialize(config)
    assert type(back) is RMSpropKeras2
    assert (back.rho, back.epsilon) == (0.8, 1e-6)
    assert float(back.learning_rate) == pytest.approx(0.004)
    assert type(make_optimizer("rmsprop-keras3", 0.001)) is keras.optimizers.RMSprop


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="rho must be a number in \\[0, 1\\), got 1.0"):
        RMSpropKeras2(rho=1.0)
    with pytest.raises(ValueError, match="epsilon must be a number >= 0"):
        RMSpropKeras2(epsilon=-1)
    with pytest.raises(ValueError, match="optimizer must be one of rmsprop-keras3, rmsprop-keras2"):
        make_optimizer("adam", 0.001)
    with pytest.raises(ProfileError, match="optimizer must be one of"):
        get_profile("cpu", optimizer="sgd")


def test_profiles_name_their_rmsprop_and_old_records_mean_keras3():
    assert {n: p.optimizer for n, p in PROFILES.items()} == {
        "paper": "rmsprop-keras2", "paper32": "rmsprop-keras2", "cpu": "rmsprop-keras3",
        "quick": "rmsprop-keras3", "smoke": "rmsprop-keras2"}
    # a config.json of a committed cpu run has no optimizer anywhere
    assert recorded_optimizer({"profile": {"name": "cpu", "epochs": 15}}) == "rmsprop-keras3"
    assert recorded_optimizer({"optimizer": "rmsprop-keras2"}) == "rmsprop-keras2"
    assert recorded_optimizer({"profile": {"optimizer": "rmsprop-keras2"}}) == "rmsprop-keras2"


def test_checkpoint_resumes_the_optimizer_exactly(tmp_path):
    """Two steps, save (.keras), load into a fresh model, two more: the same
    weights, bit for bit, as four steps without the break; the file also
    loads on its own with the optimizer's class."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 3)).astype("float32")
    y = rng.normal(size=(4, 8, 2)).astype("float32") * 1e-3   # small gradients too

    def model():
        keras.utils.set_random_seed(1)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        m.compile(optimizer=RMSpropKeras2(learning_rate=0.002), loss="mse")
        return m

    straight = model()
    for step in range(4):
        straight.train_on_batch(x[step], y[step])
    first = model()
    for step in range(2):
        first.train_on_batch(x[step], y[step])
    first.save(tmp_path / "ckpt.keras")
    second = model()
    second.optimizer.build(second.trainable_variables)
    second.load_weights(tmp_path / "ckpt.keras")
    assert int(second.optimizer.iterations) == 2
    for step in range(2, 4):
        second.train_on_batch(x[step], y[step])
    for a, b in zip(straight.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded = keras.models.load_model(tmp_path / "ckpt.keras")
    assert type(loaded.optimizer) is RMSpropKeras2
    np.testing.assert_array_equal(loaded.optimizer.variables[-1].numpy(),
                                  first.optimizer.variables[-1].numpy())
