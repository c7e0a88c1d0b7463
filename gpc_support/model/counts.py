"""Model size and computation: parameters, MiB, analytic MACs, profiler FLOPs.

`count_macs` counts multiply-accumulates for one image from the layer shapes
(every convolution, grouped convolution, depthwise convolution and dense
layer); BatchNorm, activations, additions and pooling are not counted, as is
usual for MAC counts.

`profiler_flops` is what the TensorFlow profiler counts for one image, the
figure the report's "Computation (FLOPS)" column shows divided by 2.  The
report computed it with keras-flops 0.1.2, which cannot be used on this
stack: it fails to import on TensorFlow >= 2.13 (it registers profiler
statistics TensorFlow already has) and its `get_flops` fails on Keras 3 models
(it concatenates a list with Keras 3's tuple shapes).  The function here makes
the same profiler call keras-flops makes: freeze the model's inference graph
for a batch of one, then `tf.compat.v1.profiler.profile(cmd="scope")` with the
`float_operation` options.  The profiler skips operations it has no FLOP rule
or no full shape for, which is why it under-counts the GPC variants (docs/method.md
section 3).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from .layers import GroupedPointwiseConv2D

__all__ = [
    "count_params",
    "count_macs",
    "macs_by_layer",
    "report_flops",
    "report_flops_terms",
    "profiler_flops",
    "param_size_mib",
]


def _size(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


def count_params(model: keras.Model) -> tuple[int, int]:
    """(total, trainable) number of parameters, BatchNorm statistics included in total."""
    return _size(model.weights), _size(model.trainable_weights)


def param_size_mib(model: keras.Model, bytes_per_param: int = 4) -> float:
    """Parameter size as the report gives it: total params x 4 bytes, in MiB."""
    return count_params(model)[0] * bytes_per_param / 2**20


def _spatial(shape) -> int:
    dims = shape[1:-1]
    if any(d is None for d in dims):
        raise ValueError(
            f"count_macs needs a fixed input size; got a layer output of shape {shape}"
        )
    return math.prod(dims)


def _layer_macs(layer) -> int:
    if isinstance(layer, GroupedPointwiseConv2D):
        return _spatial(layer.output.shape) * layer.channels_in * layer.filters // layer.groups
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return _spatial(layer.output.shape) * kh * kw * layer.input.shape[-1] * layer.depth_multiplier
    if isinstance(layer, layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        out = _spatial(layer.output.shape)
        return out * (kh * kw * cin * layer.depth_multiplier + cin * layer.depth_multiplier * layer.filters)
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        return _spatial(layer.output.shape) * kh * kw * (cin // layer.groups) * layer.filters
    if isinstance(layer, layers.Dense):
        shape = layer.input.shape
        return math.prod(shape[1:-1]) * shape[-1] * layer.units
    return 0


def macs_by_layer(model: keras.Model) -> dict[str, int]:
    """Multiply-accumulates for one image, per layer (nested models flattened)."""
    out: dict[str, int] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            for name, macs in macs_by_layer(layer).items():
                out[f"{layer.name}/{name}"] = macs
            continue
        macs = _layer_macs(layer)
        if macs:
            out[layer.name] = macs
    return out


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass for one image."""
    return sum(macs_by_layer(model).values())


def _is_grouped(layer) -> bool:
    if isinstance(layer, GroupedPointwiseConv2D):
        return True
    return (isinstance(layer, layers.Conv2D)
            and not isinstance(layer, (layers.DepthwiseConv2D, layers.SeparableConv2D))
            and layer.groups > 1)


def _elements(shape) -> int:
    return math.prod(d for d in shape[1:])


def _flat_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


def report_flops_terms(model: keras.Model) -> dict[str, int]:
    """The four terms of the report's "Computation (FLOPS)" figure (docs/method.md section 3).

    - `ungrouped_macs`: multiply-accumulates of every layer except the grouped
      convolutions, which the report's profiler run counted as zero (Keras
      2.x after 2.6 runs `Conv2D(groups=N)` in a nested jit-compiled
      function the TensorFlow profiler does not enter);
    - `swish_elements`: one per output element of each swish activation
      (the D6 blocks' K and L activations; ReLU6 is not counted);
    - `pool_half`: half the elements entering the global average pool;
    - `classifier`: 3 per class (the classifier's bias and the softmax; 30
      for CIFAR-10).
    """
    ungrouped = swish = pool = 0
    classes = model.outputs[0].shape[-1]
    for layer in _flat_layers(model):
        if not _is_grouped(layer):
            ungrouped += _layer_macs(layer)
        if isinstance(layer, layers.Activation) and getattr(layer.activation, "__name__", "") in (
                "swish", "silu"):
            swish += _elements(layer.output.shape)
        if isinstance(layer, layers.GlobalAveragePooling2D):
            pool += _elements(layer.input.shape) // 2
    return {"ungrouped_macs": ungrouped, "swish_elements": swish, "pool_half": pool,
            "classifier": 3 * classes}


def report_flops(model: keras.Model) -> int:
    """The report's "Computation (FLOPS)" figure for `model`, reconstructed.

    The report's Table 6.1 values are the network's multiply-accumulates
    with every grouped convolution counted as ZERO, plus one per element of
    each pointwise swish, plus half the global pool's input, plus 30
    (`report_flops_terms`).  At 224x224 this gives 567,751,710 for MobileNet
    and 32,122,910 / 57,813,022 / 83,503,134 / 160,172,062 for gpcMobileNet
    16 / 32 / 64 / 128: the report's 567.751M / 32.122M / 57.813M / 83.503M /
    160.172M, every printed digit.  So the report's computation savings
    count grouped convolutions as free; `count_macs` is the honest count.
    """
    return sum(report_flops_terms(model).values())


def profiler_flops(model: keras.Model) -> int:
    """FLOPs the TensorFlow profiler counts for one image (inference graph).

    Needs the TensorFlow backend's TensorFlow; the report's "Computation"
    column is this number divided by 2.
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("profiler_flops needs TensorFlow: run with KERAS_BACKEND=tensorflow "
                           f"(the backend is {keras.backend.backend()}); count_macs works anywhere")
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2_as_graph,
    )

    specs = [tf.TensorSpec((1,) + tuple(t.shape[1:]), t.dtype) for t in model.inputs]
    inputs = specs[0] if len(specs) == 1 else specs

    @tf.function
    def forward(x):
        return model(x, training=False)

    concrete = forward.get_concrete_function(inputs)
    frozen, _ = convert_variables_to_constants_v2_as_graph(concrete)
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    # The profiler logs a deprecation warning per call; keep it quiet.
    verbosity = tf.get_logger().level
    tf.get_logger().setLevel("ERROR")
    try:
        info = tf.compat.v1.profiler.profile(
            graph=frozen.graph,
            run_meta=tf.compat.v1.RunMetadata(),
            cmd="scope",
            options=options,
        )
    finally:
        tf.get_logger().setLevel(verbosity)
    return int(info.total_float_ops)
