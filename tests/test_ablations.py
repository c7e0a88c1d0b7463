"""The ablation variants of the D6 block: names, exact parameter counts, wiring, training."""

import numpy as np
import pytest
import keras

from gpc_support.model.layers import ChannelInterleave, GroupedPointwiseConv2D, group_count
from gpc_support.model.counts import count_macs, count_params
from gpc_support.model.networks import (POINTWISE_FILTERS, block_table, build_model, check_channels,
                                parse_variant, variant_label, variant_name)

ABLATION_NAMES = ["mobilenet-swish", "gpc16-relu6", "gpc16-no-interleave", "gpc16-no-sum",
                  "gpc16-k-only"]


def _l_weights(channels):
    """Weights of every L (conv F*F/N + BatchNorm 4F) of gpcMobileNet `channels`."""
    total, c_in = 0, 32
    for f in POINTWISE_FILTERS:
        n = group_count(c_in, f, channels)
        if n > 1 and c_in >= f:
            total += f * f // n + 4 * f
        c_in = f
    return total


def _layers_of(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def _activations(model, prefix="conv_pw_"):
    kinds = set()
    for layer in model.layers:
        if layer.name.startswith(prefix):
            if isinstance(layer, keras.layers.ReLU):
                kinds.add(f"relu{layer.max_value:g}")
            elif isinstance(layer, keras.layers.Activation):
                kinds.add(layer.activation.__name__)
    return kinds


def test_names_round_trip_and_bad_names_are_refused():
    for name in ABLATION_NAMES:
        assert check_channels(name) == name
        assert variant_name(name) == name
    assert check_channels("gpc16") == 16 and check_channels("MobileNet") is None
    assert variant_label("gpc16-no-sum") == "gpcMobileNet 16 Channels (no-sum)"
    assert variant_label("mobilenet-swish") == "MobileNet-swish"
    for bad in ("gpc16-fast", "resnet", "gpc0", "gpc-relu6"):
        with pytest.raises(ValueError, match="channels must be .*mobilenet-swish"):
            check_channels(bad)


@pytest.mark.parametrize("name, expected", [
    ("mobilenet-swish", 3_239_114),                     # activations have no weights
    ("gpc16-relu6", 274_122),
    ("gpc16-no-interleave", 274_122),                   # the interleave has no weights
    ("gpc16-no-sum", 274_122),                          # the sum has no weights
    ("gpc16-k-only", 274_122 - _l_weights(16)),
])
def test_parameter_counts_by_formula(name, expected):
    model = build_model(name, (32, 32, 3))
    assert count_params(model)[0] == expected
    # block_table's pointwise parameters differ from the reference's by as much
    reference = None if name.startswith("mobilenet") else 16
    ref_total = count_params(build_model(reference, (32, 32, 3)))[0]
    pointwise = sum(row["pointwise params"] for row in block_table(name))
    ref_pointwise = sum(row["pointwise params"] for row in block_table(reference))
    assert pointwise - ref_pointwise == expected - ref_total


def test_gpc16_k_only_has_neither_l_nor_interleave_nor_sum():
    model = build_model("gpc16-k-only", (32, 32, 3))
    assert not [l for l in model.layers if l.name.endswith("_L")]
    assert not _layers_of(model, ChannelInterleave)
    assert not _layers_of(model, keras.layers.Add)


def test_wiring_of_each_variant():
    swish = build_model("mobilenet-swish", (32, 32, 3))
    assert _activations(swish) == {"silu"}
    assert _activations(swish, "conv_dw_") == {"relu6"}
    assert not _layers_of(swish, GroupedPointwiseConv2D)

    relu6 = build_model("gpc16-relu6", (32, 32, 3))
    assert _activations(relu6) == {"relu6"}

    no_interleave = build_model("gpc16-no-interleave", (32, 32, 3))
    assert not _layers_of(no_interleave, ChannelInterleave)
    for add in _layers_of(no_interleave, keras.layers.Add):
        block = add.name[:-len("_add")]
        # L reads K's activation directly, and the sum adds K's activation
        assert no_interleave.get_layer(f"{block}_L").input is no_interleave.get_layer(
            f"{block}_K_act").output

    no_sum = build_model("gpc16-no-sum", (32, 32, 3))
    assert not _layers_of(no_sum, keras.layers.Add)
    assert len(_layers_of(no_sum, ChannelInterleave)) == len(
        _layers_of(build_model(16, (32, 32, 3)), ChannelInterleave))
    assert len([l for l in no_sum.layers if l.name.endswith("_L")]) == 8


def test_no_sum_block_feeds_l_alone_to_the_next_block():
    no_sum = build_model("gpc16-no-sum", (32, 32, 3))
    full = build_model(16, (32, 32, 3))
    # block 3 is the first with L; block 4's padding reads its output
    assert no_sum.get_layer("conv_pad_4").input is no_sum.get_layer("conv_pw_3_L_act").output
    assert full.get_layer("conv_pad_4").input is full.get_layer("conv_pw_3_add").output
    # and L still reads the interleaved K
    assert no_sum.get_layer("conv_pw_3_L").input is no_sum.get_layer(
        "conv_pw_3_interleave").output


def test_macs_of_ablations():
    base16 = count_macs(build_model(16))
    assert count_macs(build_model("gpc16-relu6")) == base16
    assert count_macs(build_model("gpc16-no-interleave")) == base16
    assert count_macs(build_model("gpc16-no-sum")) == base16
    assert count_macs(build_model("gpc16-k-only")) < base16
    assert count_macs(build_model("mobilenet-swish")) == count_macs(build_model(None))


@pytest.mark.parametrize("name", ABLATION_NAMES)
def test_each_variant_trains_a_few_steps(name):
    model = build_model(name, (32, 32, 3))
    model.compile(keras.optimizers.RMSprop(1e-3), "categorical_crossentropy",
                  run_eagerly=True)  # a few steps: faster than tracing the graph
    rng = np.random.default_rng(0)
    x = rng.random((32, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, 32), 10)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert parse_variant(name).name == name


def test_run_all_accepts_ablation_names():
    from gpc_support.run.cli import parse_channels
    from gpc_support.run.console import UsageError

    assert parse_channels("base,16,gpc16-relu6,mobilenet-swish,GPC16-K-ONLY") == [
        None, 16, "gpc16-relu6", "mobilenet-swish", "gpc16-k-only"]
    assert parse_channels("gpc16,16") == [16]
    with pytest.raises(UsageError, match="--channels: 'gpc16-fast' is not a variant"):
        parse_channels("gpc16-fast")
