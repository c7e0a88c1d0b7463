"""Computation counts: analytic MACs against the TensorFlow profiler."""

import keras
import pytest
from keras import layers

from gpc_support.model.layers import GroupedPointwiseConv2D
from gpc_support.model.counts import count_macs, profiler_flops
from gpc_support.model.networks import build_model


def test_count_macs_for_each_layer_kind():
    inputs = keras.Input((8, 8, 16))
    x = layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)          # 64*9*16*32
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)              # 16*9*32
    x = GroupedPointwiseConv2D(64, 4)(x)                                     # 16*32*64/4
    x = layers.Conv2D(64, 1, groups=2)(x)                                    # 16*32*64
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10)(x)                                            # 64*10
    model = keras.Model(inputs, outputs)
    assert count_macs(model) == 64 * 9 * 16 * 32 + 16 * 9 * 32 + 16 * 32 * 64 // 4 + 16 * 32 * 64 + 640


def test_profiler_counts_conv_flops_as_two_per_mac():
    inputs = keras.Input((8, 8, 16))
    outputs = layers.Conv2D(32, 1, use_bias=False)(inputs)
    model = keras.Model(inputs, outputs)
    assert profiler_flops(model) == 2 * count_macs(model)


@pytest.mark.parametrize("channels", [None, 16])
def test_profiler_flops_against_analytic_macs(channels):
    model = build_model(channels, (64, 64, 3))
    flops, macs = profiler_flops(model), count_macs(model)
    if channels is None:
        # the profiler adds BatchNorm and activation FLOPs on top of 2 per MAC
        assert 2 * macs <= flops < 2.1 * macs
    else:
        # it cannot see through the grouped convolutions' reshapes: under-count
        assert flops < 2 * macs


# The report's Table 6.1 "Computation (FLOPS)" at 224x224, every printed digit.
REPORT_FLOPS = {None: 567_751_710, 16: 32_122_910, 32: 57_813_022, 64: 83_503_134,
                128: 160_172_062}
REPORT_PRINTED = {None: "567.751M", 16: "32.122M", 32: "57.813M", 64: "83.503M",
                  128: "160.172M"}


@pytest.mark.parametrize("channels", list(REPORT_FLOPS))
def test_report_flops_reconstructs_table_6_1(channels):
    from gpc_support.model.counts import report_flops

    value = report_flops(build_model(channels))
    assert value == REPORT_FLOPS[channels]
    # the report prints millions truncated to three decimals
    assert f"{value // 1000 / 1000:.3f}M" == REPORT_PRINTED[channels]


def test_report_flops_counts_grouped_convolutions_as_zero():
    from gpc_support.model.counts import report_flops_terms

    inputs = keras.Input((4, 4, 16))
    x = layers.Conv2D(32, 1, use_bias=False)(inputs)                   # 16*16*32 counted
    x = GroupedPointwiseConv2D(32, 4)(x)                                # not counted
    x = layers.Conv2D(32, 1, groups=2, use_bias=False)(x)               # not counted
    x = layers.Activation("swish")(x)                                   # 16*32 elements
    x = layers.GlobalAveragePooling2D()(x)                              # 16*32/2
    outputs = layers.Dense(10, activation="softmax")(x)                 # 32*10 counted, +30
    terms = report_flops_terms(keras.Model(inputs, outputs))
    assert terms == {"ungrouped_macs": 16 * 16 * 32 + 320, "swish_elements": 16 * 32,
                     "pool_half": 16 * 32 // 2, "classifier": 30}
