"""Networks with one kind of operator taken out, to time what that kind costs in place.

Timing operator groups as separate models (`opgroups`) overstates the
memory-bound ones (each starts with cold caches).  Here the whole network is
timed instead, once as it is and once with a kind of operator removed; the
difference is what that kind costs inside the network, caches and all.  The
ablated networks compute a different function: they exist only to be timed.

Kinds (`ABLATIONS`):

    interleave   every channel interleave becomes a pass-through
    swish        every swish becomes the identity (then nothing is left of it)
    add          every L + K addition keeps only L's output
    depthwise    every stride-1 depthwise convolution (with its BatchNorm and
                 ReLU6) becomes a pass-through, every stride-2 one (with its
                 zero padding, BatchNorm and ReLU6) a 1x1 stride-2 depthwise
                 convolution (same output shape; it still reads and writes
                 the tensor once, so a little of the cost stays)
"""

from __future__ import annotations

import keras
from keras import layers

from ..model.layers import ChannelInterleave
from .form import FoldedBatchNorm, GatherInterleave

__all__ = ["ABLATIONS", "ablated_model"]

ABLATIONS = ("interleave", "swish", "add", "depthwise")


class _PassThrough(layers.Layer):
    def call(self, inputs, training=None, mask=None):
        return inputs


class _TakeFirst(layers.Layer):
    def call(self, inputs, training=None, mask=None):
        return inputs[0]

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def _is_swish(layer) -> bool:
    return isinstance(layer, layers.Activation) and str(layer.get_config().get("activation")) in ("swish", "silu")


def _depthwise_pads(model) -> set:
    """Names of the ZeroPadding2D layers whose output a depthwise convolution reads."""
    names = set()
    for layer in model.layers:
        nodes = getattr(layer, "_inbound_nodes", [])
        if isinstance(layer, layers.DepthwiseConv2D) and nodes and nodes[0].parent_nodes:
            parent = nodes[0].parent_nodes[0].operation
            if isinstance(parent, layers.ZeroPadding2D):
                names.add(parent.name)
    return names


def _depthwise_followers(model) -> set:
    """Names of the BatchNorm / ReLU layers right after a depthwise convolution."""
    names = set()
    for layer in model.layers:
        nodes = getattr(layer, "_inbound_nodes", [])
        if not nodes or not isinstance(layer, (layers.BatchNormalization, FoldedBatchNorm, layers.ReLU)):
            continue
        parent = nodes[0].parent_nodes[0].operation if nodes[0].parent_nodes else None
        while parent is not None and parent.name in names:
            grand = getattr(parent, "_inbound_nodes", [])
            parent = grand[0].parent_nodes[0].operation if grand and grand[0].parent_nodes else None
        if isinstance(parent, layers.DepthwiseConv2D):
            names.add(layer.name)
    return names


def ablated_model(model: keras.Model, remove) -> keras.Model:
    """`model` with the kinds of operator in `remove` (a collection of ABLATIONS) taken out.

    The weights of the layers that stay are shared with `model`.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    remove = set([remove] if isinstance(remove, str) else remove)
    unknown = remove - set(ABLATIONS)
    if unknown:
        raise ValueError(f"remove: unknown {', '.join(sorted(unknown))}; allowed: {', '.join(ABLATIONS)}")
    followers = _depthwise_followers(model) | _depthwise_pads(model) if "depthwise" in remove else set()

    def clone(layer):
        if "interleave" in remove and isinstance(layer, (ChannelInterleave, GatherInterleave)):
            return _PassThrough(name=layer.name)
        if "swish" in remove and _is_swish(layer):
            return _PassThrough(name=layer.name)
        if "add" in remove and isinstance(layer, layers.Add):
            return _TakeFirst(name=layer.name)
        if "depthwise" in remove and isinstance(layer, layers.DepthwiseConv2D):
            if tuple(layer.strides) == (1, 1):
                return _PassThrough(name=layer.name)
            # A 1x1 stride-2 depthwise convolution of the unpadded input: same
            # output shape, 1/9 of the multiply-accumulates, an operator
            # XNNPACK runs (a stride-2 slice would leave the XNNPACK graph).
            return layers.DepthwiseConv2D(1, strides=2, padding="valid", use_bias=False,
                                          depthwise_initializer="ones", name=layer.name)
        if layer.name in followers:
            return _PassThrough(name=layer.name)
        return layer  # shared, weights included

    return keras.models.clone_model(model, clone_function=clone)
