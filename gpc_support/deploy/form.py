"""The deployment form of a trained network: native grouped convolutions.

The study trains the grouped pointwise convolutions as `GroupedPointwiseConv2D`
(an einsum, fast to train on a CPU).  Mobile and edge runtimes have a native
grouped convolution instead, so a trained network is deployed in a different
but equal form:

* every `GroupedPointwiseConv2D` becomes `keras.layers.Conv2D(filters, 1,
  groups=N, use_bias=False)`, its kernel copied with
  `grouped_kernel_to_conv2d`; with `dense_max_groups=G`, one with at most G
  groups becomes a dense 1x1 convolution with the block-diagonal kernel
  instead (N times the multiply-accumulates, an ordinary convolution);
* every `ChannelInterleave` stays a reshape -> transpose -> reshape
  (`interleave="reshape"`) or becomes one fixed gather of the channels
  (`interleave="gather"`);
* BatchNorm is left for the converter to fold (`fold_batchnorm=False`), or
  folded here into the preceding convolution's kernel and a new bias
  (`fold_batchnorm=True`; the BatchNorm layer becomes a `FoldedBatchNorm`
  pass-through).

`deployment_model` does this to any built model: it walks the model's layers
(`keras.models.clone_model`) and rebuilds them, so `models.py` needs no
deployment switch and MobileNet goes through the same path.  Every option
computes the same function as the trained model, up to float32 rounding.
"""

from __future__ import annotations

import collections
import numbers

import numpy as np
import keras
from keras import layers, ops

from ..model.layers import ChannelInterleave, GroupedPointwiseConv2D, grouped_kernel_to_conv2d, interleave_permutation

__all__ = ["INTERLEAVES", "GatherInterleave", "FoldedBatchNorm", "deployment_model"]

INTERLEAVES = ("reshape", "gather")
_PACKAGE = "gpc_support"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GatherInterleave(layers.Layer):
    """`ChannelInterleave` as one fixed gather of the channel axis.

    Output channel `m` is input channel `interleave_permutation(C, N)[m]`.
    """

    def __init__(self, groups: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
            raise ValueError(f"groups must be a positive integer, got {groups!r}")
        self.groups = int(groups)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(
                f"{self.name}: input channels ({channels}) must be divisible by groups ({self.groups})"
            )
        self.permutation = np.asarray(interleave_permutation(int(channels), self.groups), dtype="int32")

    def call(self, inputs):
        return ops.take(inputs, self.permutation, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(groups=self.groups)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FoldedBatchNorm(layers.Layer):
    """Where a BatchNorm was before `deployment_model` folded it: passes its input on."""

    def call(self, inputs, training=None, mask=None):
        return inputs


# --------------------------------------------------------------------------
# The deployment form: rebuild a built model layer by layer.


def _is_plain_conv(layer) -> bool:
    return type(layer) in (layers.Conv2D, layers.DepthwiseConv2D)


def _inbound_layer(layer):
    """The layer whose output `layer` reads, or None (several inputs, or the Input)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1:
        return None
    parents = nodes[0].parent_nodes
    if len(parents) != 1:
        return None
    return parents[0].operation


def _consumers(model) -> collections.Counter:
    """How many layers read each layer's output."""
    count = collections.Counter()
    for layer in model.layers:
        for node in getattr(layer, "_inbound_nodes", []):
            for parent in node.parent_nodes:
                count[parent.operation.name] += 1
    return count


def _foldable_batchnorms(model) -> dict:
    """{batchnorm name: conv name} for every BatchNorm that reads only a convolution
    whose output nothing else reads."""
    consumers = _consumers(model)
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, layers.BatchNormalization):
            continue
        if layer.axis not in (-1, 3):  # channels last only
            continue
        parent = _inbound_layer(layer)
        if parent is None or consumers[parent.name] != 1:
            continue
        if isinstance(parent, GroupedPointwiseConv2D) or (
            _is_plain_conv(parent) and not parent.use_bias
        ):
            pairs[layer.name] = parent.name
    return pairs


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def deployment_model(
    model: keras.Model,
    interleave: str = "reshape",
    fold_batchnorm: bool = False,
    dense_max_groups: int = 1,
) -> keras.Model:
    """The deployment form of a built (trained) model: same function, native layers.

    Args:
        model: a functional model such as `build_model(...)` returns, with its
            weights (they are copied).
        interleave: "reshape" (reshape -> transpose -> reshape) or "gather".
        fold_batchnorm: fold every BatchNorm that follows a convolution into
            that convolution (kernel scaled, bias added, the BatchNorm removed);
            False leaves it to the converter.
        dense_max_groups: grouped convolutions with at most this many groups
            become dense 1x1 convolutions with the block-diagonal kernel
            (1 = none).

    A model without `GroupedPointwiseConv2D` / `ChannelInterleave` layers
    (MobileNet) comes back as an equal copy (BatchNorm folded if asked), so
    every variant goes through the same path.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    _check_choice("interleave", interleave, INTERLEAVES)
    if not isinstance(fold_batchnorm, bool):
        raise ValueError(f"fold_batchnorm must be True or False, got {fold_batchnorm!r}")
    if isinstance(dense_max_groups, bool) or not isinstance(dense_max_groups, numbers.Integral) or dense_max_groups < 1:
        raise ValueError(f"dense_max_groups must be a positive integer, got {dense_max_groups!r}")

    folded = _foldable_batchnorms(model) if fold_batchnorm else {}
    folded_convs = set(folded.values())

    def clone(layer):
        if isinstance(layer, GroupedPointwiseConv2D):
            dense = layer.groups <= dense_max_groups
            return layers.Conv2D(
                layer.filters, 1, groups=1 if dense else layer.groups,
                use_bias=layer.name in folded_convs, name=layer.name,
            )
        if isinstance(layer, ChannelInterleave):
            if interleave == "gather":
                return GatherInterleave(layer.groups, name=layer.name)
            return ChannelInterleave(layer.groups, name=layer.name)
        if layer.name in folded:
            return FoldedBatchNorm(name=layer.name)
        config = layer.get_config()
        if layer.name in folded_convs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    deployed = keras.models.clone_model(model, clone_function=clone)
    _copy_weights(model, deployed, folded)
    return deployed


def _conv2d_kernel(layer: GroupedPointwiseConv2D, dense: bool) -> np.ndarray:
    """The (1, 1, C/N, F) grouped kernel, or the (1, 1, C, F) block-diagonal one."""
    kernel = np.asarray(grouped_kernel_to_conv2d(layer.kernel, layer.groups))
    if not dense:
        return kernel
    n, f = layer.groups, layer.filters
    c = kernel.shape[2]
    full = np.zeros((1, 1, c * n, f), dtype=kernel.dtype)
    for g in range(n):
        full[0, 0, g * c:(g + 1) * c, g * (f // n):(g + 1) * (f // n)] = kernel[0, 0, :, g * (f // n):(g + 1) * (f // n)]
    return full


def _batchnorm_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) with bn(x) = x * scale + shift in inference mode."""
    gamma = np.asarray(bn.gamma) if bn.scale else 1.0
    beta = np.asarray(bn.beta) if bn.center else 0.0
    mean = np.asarray(bn.moving_mean, dtype="float64")
    var = np.asarray(bn.moving_variance, dtype="float64")
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale, beta - mean * scale


def _copy_weights(source: keras.Model, target: keras.Model, folded: dict) -> None:
    fold_into = {conv: source.get_layer(bn) for bn, conv in folded.items()}
    for layer in source.layers:
        if layer.name in folded or not layer.weights:
            continue
        other = target.get_layer(layer.name)
        if isinstance(layer, GroupedPointwiseConv2D):
            weights = [_conv2d_kernel(layer, dense=other.groups == 1)]
        else:
            weights = [np.asarray(w) for w in layer.get_weights()]
        if layer.name in fold_into:
            scale, shift = _batchnorm_affine(fold_into[layer.name])
            kernel = weights[0].astype("float64")
            if isinstance(other, layers.DepthwiseConv2D):
                # (kh, kw, C, multiplier): output channel c*multiplier + m.
                kh, kw, c, mult = kernel.shape
                kernel = kernel * scale.reshape(1, 1, c, mult)
            else:
                kernel = kernel * scale  # output channels on the last axis
            weights = [kernel.astype("float32"), np.asarray(shift, dtype="float32")]
        other.set_weights(weights)
