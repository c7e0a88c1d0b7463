"""MobileNet v1 and gpcMobileNet (docs/method.md section 2), as plain Keras models.

`build_model(channels=None)` is the MobileNet v1 baseline (the layout of
`keras.applications.MobileNet(weights=None, classes=10)`);
`build_model(channels=16)` (32, 64, 128, or any positive integer) is
gpcMobileNet with that many input channels per group.  Named variants add
the ablation networks (`ABLATIONS`) and the thinner MobileNets of the fair
baseline, 'mobilenet-a0.5' / 'mobilenet-swish-a0.5' (width multiplier 0.5,
with the channel rounding of `keras.applications.MobileNet(alpha=...)`).
"""

from __future__ import annotations

import numbers

import keras
from keras import layers

from .layers import gpc_block
from .variants import (ABLATIONS, REPORT_CHANNELS, WIDTHS, Variant, check_channels,
                       parse_variant, variant_label, variant_name)

__all__ = [
    "ABLATIONS",
    "Variant",
    "parse_variant",
    "POINTWISE_FILTERS",
    "STRIDE2_BLOCKS",
    "REPORT_CHANNELS",
    "WIDTHS",
    "build_model",
    "check_channels",
    "variant_name",
    "variant_label",
    "block_table",
]

# Pointwise filters of the 13 depthwise separable blocks, and the (1-based)
# blocks that halve the resolution.
POINTWISE_FILTERS = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
STRIDE2_BLOCKS = frozenset({2, 4, 6, 12})
def _check_shape(input_shape):
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or any(not isinstance(d, numbers.Integral) or isinstance(d, bool) or d < 1 for d in input_shape)
    ):
        raise ValueError(
            f"input_shape must be (height, width, channels) of positive integers, got {input_shape!r}"
        )
    if min(input_shape[:2]) < 32:
        raise ValueError(
            f"input_shape must be at least 32x32 (five stride-2 stages), got {tuple(input_shape)}"
        )
    return tuple(int(d) for d in input_shape)


def build_model(
    channels=None,
    input_shape=(224, 224, 3),
    classes: int = 10,
    pointwise_block=gpc_block,
) -> keras.Model:
    """Build MobileNet v1 (`channels=None`) or gpcMobileNet `channels`.

    Args:
        channels: None for the baseline, otherwise the minimum number of input
            channels per group of every grouped pointwise convolution; or an
            ablation variant by name ('mobilenet-swish', 'gpc16-relu6',
            'gpc16-no-interleave', 'gpc16-no-sum', 'gpc16-k-only',
            'gpc16-k-interleave'; see `ABLATIONS`); or a thinner MobileNet,
            'mobilenet-a0.5' / 'mobilenet-swish-a0.5' (any width multiplier
            in (0, 1]).
        input_shape: image size the model takes, (H, W, 3).
        classes: number of output classes (softmax output, float32).
        pointwise_block: for the gpc variants, the function that builds a D6
            block, `(x, filters, channels_per_group, activation, name) -> y`;
            the tests and benchmarks pass the `Conv2D(groups=N)` reference.
    """
    variant = parse_variant(channels)
    input_shape = _check_shape(input_shape)
    if isinstance(classes, bool) or not isinstance(classes, numbers.Integral) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")

    baseline = variant.channels is None
    if not baseline and variant.ablation and pointwise_block is not gpc_block:
        raise ValueError("pointwise_block can only be replaced for the main gpc variants")
    # ReLU6 after the stem and after every depthwise convolution in ALL five
    # networks, as in the method authors' code that produced their numbers
    # (k-neural-api, branch development12, cai/mobilenet.py: conv1_relu and
    # conv_dw_%d_relu are ReLU(6.)); the gpc networks use swish only inside
    # their pointwise D6 blocks (docs/method.md section 2).
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="conv1_pad")(inputs)
    # Width as keras.applications.MobileNet(alpha=...): every layer's filters
    # int(filters * alpha), rounded down.
    def width(filters: int) -> int:
        return int(filters * variant.alpha)

    x = layers.Conv2D(width(32), 3, strides=2, padding="valid", use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)

    for block, filters in enumerate(POINTWISE_FILTERS, start=1):
        if block in STRIDE2_BLOCKS:
            x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block}")(x)
            x = layers.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False,
                                       name=f"conv_dw_{block}")(x)
        else:
            x = layers.DepthwiseConv2D(3, padding="same", use_bias=False,
                                       name=f"conv_dw_{block}")(x)
        x = layers.BatchNormalization(name=f"conv_dw_{block}_bn")(x)
        x = layers.ReLU(6.0, name=f"conv_dw_{block}_relu")(x)
        if baseline:
            x = layers.Conv2D(width(filters), 1, padding="same", use_bias=False,
                              name=f"conv_pw_{block}")(x)
            x = layers.BatchNormalization(name=f"conv_pw_{block}_bn")(x)
            if variant.activation == "relu6":
                x = layers.ReLU(6.0, name=f"conv_pw_{block}_relu")(x)
            else:
                x = layers.Activation(variant.activation, name=f"conv_pw_{block}_swish")(x)
        elif variant.ablation is None:
            x = pointwise_block(x, filters, variant.channels, activation="swish",
                                name=f"conv_pw_{block}")
        else:
            x = gpc_block(x, filters, variant.channels, activation=variant.activation,
                          name=f"conv_pw_{block}", interleave=variant.interleave,
                          second_conv=variant.second_conv, residual_sum=variant.residual_sum)

    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Reshape((1, 1, width(POINTWISE_FILTERS[-1])), name="reshape_1")(x)
    x = layers.Dropout(0.001, name="dropout")(x)
    x = layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
    x = layers.Reshape((classes,), name="reshape_2")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
    if variant.name == "mobilenet":
        name = "mobilenet_v1"
    elif variant.family == "gpc":
        name = f"gpc_mobilenet_v1_{variant.channels}ch"
    else:
        name = variant.name.replace("-", "_").replace(".", "_")
    return keras.Model(inputs, outputs, name=name)



def block_table(channels, input_size: int = 224) -> list[dict]:
    """The 13 pointwise layers of a variant: sizes, groups and parameters.

    One dict per block: block, stride, resolution (at `input_size`), C, F,
    groups N, whether the block has the interleave and the second grouped
    convolution L, and the pointwise parameters (convolutions + BatchNorm).
    """
    from .layers import gpc_block_plan

    variant = parse_variant(channels)
    rows = []
    c_in = int(32 * variant.alpha)
    size = (input_size + 1) // 2
    for block, filters in enumerate(POINTWISE_FILTERS, start=1):
        filters = int(filters * variant.alpha)
        if block in STRIDE2_BLOCKS:
            size = (size + 1) // 2
        if variant.channels is None:
            plan = dict(groups=1, interleave=False, second_conv=False,
                        params=c_in * filters + 4 * filters)
        else:
            plan = gpc_block_plan(c_in, filters, variant.channels,
                                  interleave=variant.interleave,
                                  second_conv=variant.second_conv)
        rows.append({
            "block": block, "stride": 2 if block in STRIDE2_BLOCKS else 1,
            "resolution": f"{size}x{size}", "C": c_in, "F": filters,
            "groups N": plan["groups"], "interleave": plan["interleave"],
            "L": plan["second_conv"], "pointwise params": plan["params"],
        })
        c_in = filters
    return rows
