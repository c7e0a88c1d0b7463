"""The GPC block's mathematics: grouped conv, interleave, group rule, block."""

import numpy as np
import pytest
import keras
from keras import layers

from gpc_support.model.layers import (
    ChannelInterleave,
    GroupedPointwiseConv2D,
    conv2d_kernel_to_grouped,
    gpc_block,
    gpc_block_plan,
    group_count,
    grouped_kernel_to_conv2d,
    interleave_permutation,
)
from tests.gpc_reference import copy_weights, reference_gpc_block

RNG = np.random.default_rng(1234)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def block_diagonal(kernel):
    """Dense (C, F) kernel with the N group blocks of a (N, c, f) kernel on its diagonal."""
    n, c, f = kernel.shape
    dense = np.zeros((n * c, n * f), dtype=kernel.dtype)
    for g in range(n):
        dense[g * c:(g + 1) * c, g * f:(g + 1) * f] = kernel[g]
    return dense


@pytest.mark.parametrize("c_in,filters,groups", [(32, 64, 2), (64, 64, 4), (96, 160, 4), (128, 256, 8), (48, 24, 3)])
def test_grouped_pointwise_equals_block_diagonal_dense_conv(c_in, filters, groups):
    x = RNG.standard_normal((3, 5, 7, c_in)).astype("float32")
    layer = GroupedPointwiseConv2D(filters, groups)
    layer.build(x.shape)
    kernel = RNG.standard_normal((groups, c_in // groups, filters // groups)).astype("float32")
    layer.set_weights([kernel])
    got = np.asarray(layer(x))
    dense = layers.Conv2D(filters, 1, use_bias=False)
    dense.build(x.shape)
    dense.set_weights([block_diagonal(kernel)[None, None]])
    want = np.asarray(dense(x))
    assert got.shape == (3, 5, 7, filters)
    assert rel_err(got, want) < 1e-5
    # and with float64 numpy as the judge
    want64 = np.einsum("bhwc,cf->bhwf", x.astype("float64"), block_diagonal(kernel).astype("float64"))
    assert rel_err(got, want64) < 1e-5


def test_grouped_pointwise_equals_conv2d_groups_with_converted_kernel():
    x = RNG.standard_normal((2, 4, 4, 64)).astype("float32")
    conv = layers.Conv2D(128, 1, groups=8, use_bias=False)
    conv.build(x.shape)
    layer = GroupedPointwiseConv2D(128, 8)
    layer.build(x.shape)
    layer.set_weights([np.asarray(conv2d_kernel_to_grouped(conv.get_weights()[0], 8))])
    assert rel_err(np.asarray(layer(x)), np.asarray(conv(x))) < 1e-5
    back = np.asarray(grouped_kernel_to_conv2d(layer.get_weights()[0], 8))
    np.testing.assert_array_equal(back, conv.get_weights()[0])


def test_grouped_pointwise_initialiser_matches_conv2d_groups_distribution():
    # glorot_uniform over Conv2D(groups=N)'s kernel: limit sqrt(6 / (C/N + F)).
    layer = GroupedPointwiseConv2D(512, 32)
    layer.build((None, 2, 2, 512))
    w = layer.get_weights()[0]
    limit = np.sqrt(6.0 / (512 // 32 + 512))
    assert w.shape == (32, 16, 16)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.9 * limit


@pytest.mark.parametrize("channels,groups", [(8, 2), (12, 3), (64, 4), (96, 4), (128, 32), (6, 6)])
def test_interleave_equals_slice_definition(channels, groups):
    step = channels // groups
    x = RNG.standard_normal((2, 3, 3, channels)).astype("float32")
    want = np.concatenate([x[..., j::step] for j in range(step)], axis=-1)
    got = np.asarray(ChannelInterleave(groups)(x))
    np.testing.assert_array_equal(got, want)
    perm = interleave_permutation(channels, groups)
    np.testing.assert_array_equal(x[..., perm], want)
    # SPEC: output channel j*N + i is input channel i*S + j
    for i in range(groups):
        for j in range(step):
            assert perm[j * groups + i] == i * step + j
    assert sorted(perm) == list(range(channels))


def test_interleave_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="divisible"):
        ChannelInterleave(5)(np.zeros((1, 1, 1, 12), "float32"))


@pytest.mark.parametrize(
    "c_in,filters,ch,expected",
    [
        (32, 64, 16, 2), (64, 128, 16, 4), (512, 512, 16, 32), (1024, 1024, 16, 64),
        (32, 64, 32, 1), (512, 1024, 128, 4), (96, 160, 16, 4), (100, 60, 16, 5),
        (7, 7, 16, 1), (30, 45, 8, 3), (64, 96, 16, 4),
    ],
)
def test_group_count_rule(c_in, filters, ch, expected):
    n = group_count(c_in, filters, ch)
    assert n == expected
    # brute force the definition
    best = max([k for k in range(1, max(c_in // ch, 1) + 1) if c_in % k == 0 and filters % k == 0])
    assert n == best


@pytest.mark.parametrize("bad", [0, -16, 7.5, "abc", None, True])
def test_group_count_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="channels_per_group"):
        group_count(64, 64, bad)


def _block_model(c_in, filters, ch, block_fn, size=4):
    inputs = keras.Input((size, size, c_in))
    return keras.Model(inputs, block_fn(inputs, filters, ch, activation="swish", name="pw"))


def _randomise(model):
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            w.assign(RNG.uniform(0.5, 2.0, shape).astype("float32"))
        else:
            w.assign(RNG.standard_normal(shape).astype("float32") * 0.5)


@pytest.mark.parametrize(
    "c_in,filters,ch,second",
    [(64, 64, 16, True), (96, 160, 16, False), (32, 64, 16, False), (512, 512, 16, True), (128, 64, 16, True)],
)
def test_fast_block_equals_conv2d_groups_reference(c_in, filters, ch, second):
    fast = _block_model(c_in, filters, ch, gpc_block)
    ref = _block_model(c_in, filters, ch, reference_gpc_block)
    _randomise(ref)
    copy_weights(ref, fast)
    names = {layer.name for layer in fast.layers}
    assert ("pw_L" in names) == second
    assert gpc_block_plan(c_in, filters, ch)["second_conv"] == second
    x = RNG.standard_normal((2, 4, 4, c_in)).astype("float32")
    for training in (False, True):
        assert rel_err(np.asarray(fast(x, training=training)), np.asarray(ref(x, training=training))) < 1e-5
    assert fast.count_params() == ref.count_params() == gpc_block_plan(c_in, filters, ch)["params"]


def test_expanding_block_has_no_second_convolution():
    model = _block_model(32, 64, 16, gpc_block)
    names = [layer.name for layer in model.layers]
    assert "pw_K" in names and "pw_interleave" in names
    assert "pw_L" not in names and "pw_add" not in names
    assert model.get_layer("pw_K").groups == 2


def test_one_group_falls_back_to_plain_pointwise_convolution():
    model = _block_model(24, 48, 16, gpc_block)  # 24 // 16 = 1 group
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "GroupedPointwiseConv2D" not in kinds and "ChannelInterleave" not in kinds
    assert model.get_layer("pw").kernel.shape == (1, 1, 24, 48)


def test_block_parameter_formula():
    # grouped conv params: F*C/N; BatchNorm: 4F (2F trainable)
    model = _block_model(512, 512, 16, gpc_block, size=2)
    assert model.get_layer("pw_K").count_params() == 512 * 512 // 32
    assert model.get_layer("pw_L").count_params() == 512 * 512 // 32
    assert model.count_params() == 2 * (512 * 16 + 4 * 512)


def test_layers_serialise_through_config():
    layer = GroupedPointwiseConv2D(64, 4, name="g")
    clone = GroupedPointwiseConv2D.from_config(layer.get_config())
    assert (clone.filters, clone.groups) == (64, 4)
    inter = ChannelInterleave.from_config(ChannelInterleave(4, name="i").get_config())
    assert inter.groups == 4


@pytest.mark.parametrize("c_in,filters,ch", [(34, 35, 16), (48, 35, 16), (64, 35, 16), (99, 64, 32)])
def test_group_count_falls_to_one_group_from_two_or_more(c_in, filters, ch):
    # c_in // ch >= 2 groups to start from, but no count above 1 divides both
    assert c_in // ch >= 2
    assert group_count(c_in, filters, ch) == 1
