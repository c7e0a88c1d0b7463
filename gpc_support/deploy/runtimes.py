"""Run exported models: LiteRT with XNNPACK, and ONNX Runtime (CPU).

Both runners have the same small interface: `runner(x)` returns the output for
the input array `x`; `runner.set_input(x)` then `runner.invoke()` runs again on
the input already set (what a latency benchmark times).  `threads` is the
runtime's number of intra-op threads (None: the runtime's default).

LiteRT comes from ai-edge-litert when it is installed (the runtime mobile
apps ship), else from TensorFlow's `tf.lite.Interpreter`; both apply the
XNNPACK delegate by default.  ONNX Runtime needs onnxruntime
(requirements-deploy.txt).
"""

from __future__ import annotations

import collections
import numbers
import platform

import numpy as np

__all__ = ["LiteRTRunner", "OnnxRunner", "litert_available", "onnx_available", "runtime_versions", "cpu_model"]


def _check_threads(threads):
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(f"threads must be None or a positive integer, got {threads!r}")
    return int(threads)


def _litert_interpreter():
    """(Interpreter class, runtime name): ai-edge-litert if installed, else tf.lite."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"


def litert_available() -> bool:
    try:
        _litert_interpreter()
        return True
    except ImportError:
        return False


def onnx_available() -> bool:
    """True when the ONNX path can run: tf2onnx, onnx and onnxruntime importable."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime", "tf2onnx"))


def _as_inputs(x, shapes) -> list:
    """`x` (one array, or a list of arrays) as float32 arrays of the expected shapes."""
    arrays = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(arrays) != len(shapes):
        raise ValueError(f"x must be {len(shapes)} array(s), got {len(arrays)}")
    out = []
    for array, shape in zip(arrays, shapes):
        array = np.ascontiguousarray(array, dtype=np.float32)
        if tuple(array.shape) != tuple(shape):
            raise ValueError(f"x must have shape {tuple(shape)}, got {array.shape}")
        out.append(array)
    return out


class LiteRTRunner:
    """A LiteRT flatbuffer in an interpreter with the XNNPACK delegate (the default)."""

    def __init__(self, flatbuffer: bytes, threads: int | None = None):
        interpreter_class, self.runtime = _litert_interpreter()
        self.interpreter = interpreter_class(model_content=flatbuffer, num_threads=_check_threads(threads))
        self.interpreter.allocate_tensors()
        self._inputs = self.interpreter.get_input_details()
        self._output = self.interpreter.get_output_details()[0]["index"]

    def set_input(self, x) -> None:
        """Set the input array `x` (a list of arrays for a model with several inputs)."""
        for detail, array in zip(self._inputs, _as_inputs(x, [tuple(d["shape"]) for d in self._inputs])):
            self.interpreter.set_tensor(detail["index"], array)

    def invoke(self) -> None:
        self.interpreter.invoke()

    def __call__(self, x) -> np.ndarray:
        self.set_input(x)
        self.invoke()
        return np.array(self.interpreter.get_tensor(self._output))

    def nodes(self) -> collections.Counter:
        """The interpreter's nodes by name: the model's operators, plus one
        'DELEGATE' node per XNNPACK partition (the operators a partition took
        over stay listed)."""
        return collections.Counter(op["op_name"] for op in self.interpreter._get_ops_details())


class OnnxRunner:
    """An ONNX file in an ONNX Runtime CPU session (all graph optimisations on)."""

    def __init__(self, path, threads: int | None = None):
        import onnxruntime as ort

        threads = _check_threads(threads)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.runtime = "onnxruntime"
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = self.session.get_inputs()
        self._feed = None

    def set_input(self, x) -> None:
        """Set the input array `x` (a list of arrays for a model with several inputs)."""
        arrays = _as_inputs(x, [tuple(i.shape) for i in self._inputs])
        self._feed = {i.name: a for i, a in zip(self._inputs, arrays)}

    def invoke(self):
        return self.session.run(None, self._feed)

    def __call__(self, x) -> np.ndarray:
        self.set_input(x)
        return np.asarray(self.invoke()[0])


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def runtime_versions() -> dict:
    """Versions of everything the deployment path uses (None where not installed)."""
    return {name: _version(name) for name in (
        "tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert", "onnxruntime", "onnx", "tf2onnx", "numpy",
    ) if _version(name)}


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux) and its logical core count."""
    import os

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores"
