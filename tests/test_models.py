"""The five networks: exact counts, names, validation, saving, training."""

import numpy as np
import pytest
import keras

from gpc_support.model.counts import count_macs, count_params, macs_by_layer, param_size_mib
from gpc_support.model.networks import build_model, check_channels, variant_label, variant_name
from tests.gpc_reference import copy_weights, reference_gpc_block

SPEC_COUNTS = {
    None: (3_239_114, 3_217_226),
    16: (274_122, 244_298),
    32: (432_842, 403_018),
    64: (748_234, 718_410),
    128: (1_353_930, 1_324_362),
}


@pytest.mark.parametrize("channels", list(SPEC_COUNTS))
def test_parameter_counts_match_spec(channels):
    model = build_model(channels, input_shape=(32, 32, 3))
    assert count_params(model) == SPEC_COUNTS[channels]
    assert model.count_params() == SPEC_COUNTS[channels][0]


def test_baseline_matches_keras_applications_mobilenet():
    ours = build_model(None, input_shape=(224, 224, 3))
    theirs = keras.applications.MobileNet(weights=None, classes=10, input_shape=(224, 224, 3))
    assert ours.count_params() == theirs.count_params()
    assert count_macs(ours) == count_macs(theirs)


def test_counts_do_not_depend_on_input_size():
    assert count_params(build_model(16, (64, 48, 3))) == SPEC_COUNTS[16]


def test_baseline_macs_at_224_within_a_tenth_of_a_percent_of_report():
    macs = count_macs(build_model(None))
    assert abs(macs - 567.75e6) / 567.75e6 < 1e-3


def test_gpc16_macs_by_hand():
    # block 13 at 224 px: 7x7 pixels, C=F=1024, N=64 -> K and L each 49*1024*1024/64
    per_layer = macs_by_layer(build_model(16))
    assert per_layer["conv_pw_13_K"] == per_layer["conv_pw_13_L"] == 49 * 1024 * 1024 // 64
    assert per_layer["conv_dw_13"] == 49 * 9 * 1024
    assert per_layer["conv1"] == 112 * 112 * 27 * 32
    assert per_layer["conv_preds"] == 1024 * 10


def test_param_size_mib_as_report():
    assert round(param_size_mib(build_model(None, (32, 32, 3))), 2) == 12.36
    assert round(param_size_mib(build_model(16, (32, 32, 3))), 2) == 1.05


def test_names_say_the_variant_and_the_block():
    model = build_model(32, (32, 32, 3))
    assert model.name == "gpc_mobilenet_v1_32ch"
    names = {layer.name for layer in model.layers}
    assert {"conv_pw_7_K", "conv_pw_7_L", "conv_pw_7_interleave", "conv_pw_7_add"} <= names
    assert build_model(None, (32, 32, 3)).name == "mobilenet_v1"
    assert variant_name(None) == "mobilenet" and variant_name(64) == "gpc64"
    assert variant_label(16) == "gpcMobileNet 16 Channels" and variant_label(None) == "MobileNet"


def test_other_positive_channel_counts_follow_the_rule():
    model = build_model(48, (32, 32, 3))
    assert model.get_layer("conv_pw_7_K").groups == 8  # 512 // 48 = 10 -> largest divisor of 512 <= 10
    assert count_params(model)[0] > SPEC_COUNTS[32][0]


@pytest.mark.parametrize("bad", [0, -16, 7.5, "abc", "16", True, 2.0])
def test_bad_channels_raise_value_error_naming_channels(bad):
    with pytest.raises(ValueError, match="channels"):
        build_model(bad, (32, 32, 3))
    with pytest.raises(ValueError, match="channels"):
        check_channels(bad)


@pytest.mark.parametrize("shape", [(16, 16, 3), (32, 32), "abc"])
def test_bad_input_shape_raises(shape):
    with pytest.raises(ValueError, match="input_shape"):
        build_model(16, shape)


def test_full_model_equals_reference_model():
    fast = build_model(16, (32, 32, 3))
    ref = build_model(16, (32, 32, 3), pointwise_block=reference_gpc_block)
    copy_weights(ref, fast)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(ref(x)), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("channels", [None, 16])
def test_save_and_load_keras_file_gives_identical_outputs(channels, tmp_path):
    model = build_model(channels, (32, 32, 3))
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert loaded.name == model.name


@pytest.mark.parametrize("channels", list(SPEC_COUNTS))
def test_a_few_training_steps_lower_the_loss(channels):
    keras.utils.set_random_seed(0)
    model = build_model(channels, (32, 32, 3))
    # eager: a few steps run faster than tracing the graph (the maths is the same)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.random((16, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, 16), 10)
    before = float(model.evaluate(x, y, verbose=0))
    for _ in range(8):
        model.train_on_batch(x, y)
    after = float(model.evaluate(x, y, verbose=0))
    assert after < before


def _activation_kind(layer):
    if isinstance(layer, keras.layers.ReLU):
        return "relu6" if layer.max_value == 6.0 else "relu"
    if isinstance(layer, keras.layers.Activation):
        name = layer.activation.__name__
        return "swish" if name == "silu" else name  # keras names swish silu
    return None


@pytest.mark.parametrize("channels", list(SPEC_COUNTS))
def test_activation_of_every_stem_depthwise_and_pointwise_layer(channels):
    """ReLU6 after the stem and every depthwise convolution in all five
    networks (the method authors' conv1_relu / conv_dw_%d_relu); the gpc
    networks' pointwise D6 blocks use swish, the baseline's ReLU6."""
    model = build_model(channels, input_shape=(32, 32, 3))
    acts = {layer.name: _activation_kind(layer) for layer in model.layers
            if _activation_kind(layer)}
    assert acts.pop("conv1_relu") == "relu6"
    for block in range(1, 14):
        assert acts.pop(f"conv_dw_{block}_relu") == "relu6"
    pointwise = {name: kind for name, kind in acts.items() if name.startswith("conv_pw_")}
    expected = "relu6" if channels is None else "swish"
    # every block has at least one pointwise activation, all of one kind
    assert {int(name.split("_")[2]) for name in pointwise} == set(range(1, 14))
    assert set(pointwise.values()) == {expected}
    assert set(acts) - set(pointwise) == {"predictions"}
    assert acts["predictions"] == "softmax"
