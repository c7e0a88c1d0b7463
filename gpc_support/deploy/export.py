"""Export a Keras model to LiteRT (TFLite) and ONNX, and count the exported operators.

`to_litert` converts for a fixed batch of one with TensorFlow Lite's builtin
operators only (no TensorFlow fallback ops, which a plain LiteRT runtime
cannot run), weights frozen to constants so that the converter folds
BatchNorm into the preceding convolution and fuses ReLU6 into it.

`litert_to_onnx` converts the LiteRT file with tf2onnx (what `python -m
tf2onnx.convert --tflite` does).  The direct path, `model.export(path,
format="onnx")`, prints an error but writes an invalid file for a model with
`Conv2D(groups=N)` on the TensorFlow backend: Keras runs a grouped
convolution inside a jit-compiled function that tf2onnx cannot read.  From
the LiteRT file the grouped convolution becomes one ONNX `Conv` with `group=N`.

TensorFlow is needed for the LiteRT conversion; tf2onnx and onnx
(requirements-deploy.txt) only for the ONNX path.
"""

from __future__ import annotations

import collections
import numbers
from pathlib import Path

import keras

__all__ = ["to_litert", "litert_to_onnx", "litert_op_counts", "onnx_op_counts", "ONNX_OPSET"]

ONNX_OPSET = 17


def to_litert(model: keras.Model, path=None, batch: int = 1) -> bytes:
    """Convert `model` to a LiteRT flatbuffer for a fixed batch of `batch` images.

    float32, no quantisation.  A model with several inputs takes them in the
    order of `model.inputs`.  Also writes the bytes to `path` when given.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    specs = []
    for i, tensor in enumerate(model.inputs):
        shape = (int(batch),) + tuple(tensor.shape[1:])
        if any(d is None for d in shape):
            raise ValueError(f"model must have a fixed input size, got input shape {tensor.shape}")
        specs.append(tf.TensorSpec(shape, tf.float32, name="image" if len(model.inputs) == 1 else f"input_{i}"))
    single = len(specs) == 1
    function = tf.function(
        lambda *xs: model(xs[0] if single else list(xs), training=False)
    ).get_concrete_function(*specs)
    # Weights as constants: the converter then folds BatchNorm into the
    # convolutions and the model reads no variables.
    frozen = convert_variables_to_constants_v2(function)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    if path is not None:
        Path(path).write_bytes(flatbuffer)
    return flatbuffer


def litert_to_onnx(litert_path, onnx_path, opset: int = ONNX_OPSET) -> Path:
    """Convert a LiteRT file to an ONNX file with tf2onnx; return the ONNX path."""
    import tf2onnx

    litert_path = Path(litert_path)
    if not litert_path.is_file():
        raise ValueError(f"litert_path: no such file: {litert_path}")
    if isinstance(opset, bool) or not isinstance(opset, numbers.Integral) or opset < 13:
        raise ValueError(f"opset must be an integer >= 13, got {opset!r}")
    tf2onnx.convert.from_tflite(str(litert_path), opset=int(opset), output_path=str(onnx_path))
    return Path(onnx_path)


def litert_op_counts(flatbuffer: bytes) -> collections.Counter:
    """Operators of a LiteRT model by builtin name, as the converter wrote them
    (before any delegate takes them over)."""
    from .runtimes import _litert_interpreter

    interpreter_class, _ = _litert_interpreter()
    module = __import__(interpreter_class.__module__, fromlist=["OpResolverType"])
    interpreter = interpreter_class(
        model_content=flatbuffer,
        experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    return collections.Counter(op["op_name"] for op in interpreter._get_ops_details())


def onnx_op_counts(path) -> collections.Counter:
    """Nodes of an ONNX model's main graph by op type (as written, before
    ONNX Runtime's own graph optimisations)."""
    import onnx

    return collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node)
