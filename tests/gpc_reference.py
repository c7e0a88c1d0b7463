"""The straightforward D6 block: `Conv2D(groups=N)` + slicing interleave.

This is the reference the fast block in `gpc_support.model.layers` must equal; it
is used by the tests and by `benchmarks/bench_gpc.py`, never by the study.
Layer names match `gpc_support.model.layers.gpc_block`, so weights can be copied
between the two models layer by layer.
"""

import keras
from keras import layers

import numpy as np

from gpc_support.model.layers import (
    GroupedPointwiseConv2D,
    conv2d_kernel_to_grouped,
    group_count,
    grouped_kernel_to_conv2d,
)


def slice_interleave(x, groups, name):
    """Concatenate x[..., 0::S], x[..., 1::S], ..., x[..., S-1::S] (docs/method.md)."""
    step = x.shape[-1] // groups
    parts = [
        layers.Lambda(lambda t, j=j: t[..., j::step], name=f"{name}_slice{j}")(x)
        for j in range(step)
    ]
    return layers.Concatenate(name=name)(parts)


def reference_gpc_block(x, filters, channels_per_group, activation="swish", name="gpc"):
    channels_in = x.shape[-1]
    n = group_count(channels_in, filters, channels_per_group)
    if n == 1:
        y = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=name)(x)
        y = layers.BatchNormalization(name=f"{name}_bn")(y)
        return layers.Activation(activation, name=f"{name}_act")(y)
    k = layers.Conv2D(filters, 1, groups=n, use_bias=False, name=f"{name}_K")(x)
    k = layers.BatchNormalization(name=f"{name}_K_bn")(k)
    k = layers.Activation(activation, name=f"{name}_K_act")(k)
    shuffled = k
    if filters // n > 1:
        shuffled = slice_interleave(k, n, f"{name}_interleave")
    if channels_in < filters:
        return shuffled
    y = layers.Conv2D(filters, 1, groups=n, use_bias=False, name=f"{name}_L")(shuffled)
    y = layers.BatchNormalization(name=f"{name}_L_bn")(y)
    y = layers.Activation(activation, name=f"{name}_L_act")(y)
    return layers.Add(name=f"{name}_add")([y, k])


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy weights layer by layer between models with the same layer names.

    Grouped kernels are converted between the Conv2D(groups=N) layout and the
    GroupedPointwiseConv2D layout where the two layers differ.
    """
    for layer in source.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        other = target.get_layer(layer.name)
        if isinstance(other, GroupedPointwiseConv2D) and not isinstance(layer, GroupedPointwiseConv2D):
            weights = [np.asarray(conv2d_kernel_to_grouped(weights[0], other.groups))]
        elif isinstance(layer, GroupedPointwiseConv2D) and not isinstance(other, GroupedPointwiseConv2D):
            weights = [np.asarray(grouped_kernel_to_conv2d(weights[0], layer.groups))]
        other.set_weights(weights)
