"""Computation counts: analytic MACs against the TensorFlow profiler."""

import keras
import pytest
from keras import layers

from gpc_support.layers import GroupedPointwiseConv2D
from gpc_support.metrics import count_macs, profiler_flops
from gpc_support.models import build_model


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
