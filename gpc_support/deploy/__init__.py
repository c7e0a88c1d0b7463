"""Deploying the trained networks: native grouped convolutions, LiteRT and ONNX.

* `form`: `deployment_model`, the trained network rebuilt with
  `Conv2D(groups=N)` and a reshape/transpose (or gather) interleave;
* `export`: `to_litert`, `litert_to_onnx`, operator counts of exported files;
* `runtimes`: `LiteRTRunner` (XNNPACK) and `OnnxRunner` (ONNX Runtime);
* `opgroups`: a network cut into operator groups, each its own model, for an
  operator-level latency profile;
* `ablation`: a network with one kind of operator taken out, to time what
  that kind costs in place.

`benchmarks/bench_deploy.py` measures latency with these; see its docstring.
"""

from .export import ONNX_OPSET, litert_op_counts, litert_to_onnx, onnx_op_counts, to_litert
from .form import INTERLEAVES, FoldedBatchNorm, GatherInterleave, deployment_model
from .runtimes import LiteRTRunner, OnnxRunner, cpu_model, litert_available, onnx_available, runtime_versions

__all__ = [
    "INTERLEAVES", "FoldedBatchNorm", "GatherInterleave", "deployment_model",
    "ONNX_OPSET", "to_litert", "litert_to_onnx", "litert_op_counts", "onnx_op_counts",
    "LiteRTRunner", "OnnxRunner", "cpu_model", "litert_available", "onnx_available", "runtime_versions",
]
