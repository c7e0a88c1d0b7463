"""A network cut into operator groups, each a model of its own, for a latency profile.

LiteRT's Python interpreter times only a whole model, and with XNNPACK the
whole model is one delegate node, so an operator-level profile is taken here
by cutting the network into the groups of layers that become one fused
operator (or one kind of operator) after conversion, making each group a
model with fresh inputs of the right shape, and timing those models.

A group is a convolution together with the BatchNorm and ReLU that the
converter folds and fuses into it (and the ZeroPadding2D in front of it), or
any other single layer (a swish, an interleave, an add, ...); everything from
the global average pool on is one group, "head".  Each group has a category:

    stem             the 3x3 stride-2 input convolution (+ BN + ReLU6)
    depthwise 3x3    a depthwise convolution (+ padding, BN, ReLU6)
    dense 1x1        an ordinary pointwise convolution (+ BN, + ReLU6 in MobileNet)
    grouped 1x1      a grouped pointwise convolution, K or L (+ BN)
    swish            a swish activation (LOGISTIC + MUL in LiteRT)
    interleave       the channel interleave (reshape/transpose/reshape or gather)
    add              the L + K addition
    head             global pool, classifier, softmax
    other            anything else

The sum of the groups' times is close to, not equal to, the whole model's
time (each group also pays a call's fixed cost and starts with cold caches);
the benchmark reports both.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import keras
from keras import layers

from ..model.layers import ChannelInterleave, GroupedPointwiseConv2D
from .form import FoldedBatchNorm, GatherInterleave

__all__ = ["CATEGORIES", "OpGroup", "op_groups", "group_model"]

CATEGORIES = ("stem", "depthwise 3x3", "dense 1x1", "grouped 1x1", "swish", "interleave", "add", "head", "other")

_CONVS = (layers.Conv2D, layers.DepthwiseConv2D, GroupedPointwiseConv2D)
_FOLLOWERS = (layers.BatchNormalization, FoldedBatchNorm, layers.ReLU)


@dataclass
class OpGroup:
    """Consecutive layers of a model that run as one operator group."""

    name: str
    category: str
    layers: list = field(default_factory=list)


def _parents(layer) -> list:
    nodes = getattr(layer, "_inbound_nodes", [])
    return [p.operation for p in nodes[0].parent_nodes] if nodes else []


def _consumer_counts(model) -> collections.Counter:
    count = collections.Counter()
    for layer in model.layers:
        for parent in _parents(layer):
            count[parent.name] += 1
    return count


def _category(layer) -> str:
    if isinstance(layer, GroupedPointwiseConv2D):
        return "grouped 1x1"
    if isinstance(layer, layers.DepthwiseConv2D):
        return "depthwise 3x3"
    if isinstance(layer, layers.Conv2D):
        if tuple(layer.kernel_size) != (1, 1):
            return "stem"
        return "grouped 1x1" if layer.groups > 1 else "dense 1x1"
    if isinstance(layer, (ChannelInterleave, GatherInterleave)):
        return "interleave"
    if isinstance(layer, layers.Add):
        return "add"
    if isinstance(layer, layers.Activation) and str(layer.get_config().get("activation")) in ("swish", "silu"):
        return "swish"
    return "other"


def op_groups(model: keras.Model) -> list[OpGroup]:
    """`model`'s layers (topological order, input layer left out) cut into groups."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    consumers = _consumer_counts(model)
    groups: list[OpGroup] = []
    head = None
    pending_pad = None
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        if head is not None or isinstance(layer, layers.GlobalAveragePooling2D):
            if head is None:
                head = OpGroup(layer.name, "head")
                groups.append(head)
            head.layers.append(layer)
            continue
        if isinstance(layer, layers.ZeroPadding2D):
            pending_pad = layer
            continue
        last = groups[-1].layers[-1] if groups else None
        joins = (
            isinstance(layer, _FOLLOWERS)
            and last is not None
            and groups[-1].category in ("stem", "depthwise 3x3", "dense 1x1", "grouped 1x1")
            and _parents(layer) == [last]
            and consumers[last.name] == 1
        )
        if joins:
            groups[-1].layers.append(layer)
            continue
        group = OpGroup(layer.name, _category(layer))
        if pending_pad is not None and _parents(layer) == [pending_pad]:
            group.layers.append(pending_pad)
        elif pending_pad is not None:
            groups.append(OpGroup(pending_pad.name, "other", [pending_pad]))
        pending_pad = None
        group.layers.append(layer)
        groups.append(group)
    return groups


def group_model(group: OpGroup, batch: int = 1) -> keras.Model:
    """`group`'s layers (shared with the source model, weights included) as a model
    whose inputs are the tensors the group reads from outside itself."""
    produced = {}
    inputs = []
    for layer in group.layers:
        args = []
        sources = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        for tensor in sources:
            key = id(tensor)
            if key not in produced:
                fresh = keras.Input(batch_shape=(batch,) + tuple(tensor.shape[1:]), dtype=tensor.dtype)
                produced[key] = fresh
                inputs.append(fresh)
            args.append(produced[key])
        out = layer(args if isinstance(layer.input, (list, tuple)) else args[0])
        produced[id(layer.output)] = out
    return keras.Model(inputs, out, name=f"group_{group.name}")
