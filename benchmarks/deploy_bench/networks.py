"""The networks the benchmark measures: forms, building, export to LiteRT / ONNX, runners.

A variant ('mobilenet', 'gpcN' or a name of the variant registry) is built
at an image size with random weights, given BatchNorm statistics away from
(0, 1), turned into one of the FORMS, exported, and run by a LiteRT or ONNX
Runtime runner.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

FORMS = {
    # form name: deployment_model options (None: the trained einsum form as it is)
    "einsum": None,
    "grouped": {},
    "grouped-gather": {"interleave": "gather"},
    "grouped-dense2": {"dense_max_groups": 2},
    "grouped-foldbn": {"fold_batchnorm": True},
}
RUNTIMES = ("litert", "onnx")
BASELINE = "mobilenet"


def variant_channels(name):
    """'mobilenet' -> None, 'gpc16' -> 16; any other name must be known to
    gpc_support.model.networks.build_variant (returns the name itself then)."""
    if name == BASELINE:
        return None
    match = re.fullmatch(r"gpc(\d+)", name)
    if match and int(match.group(1)) >= 1:
        return int(match.group(1))
    from gpc_support.model import networks as models

    names = getattr(models, "VARIANT_NAMES", None)
    if hasattr(models, "build_variant") and (names is None or name in names):
        return name
    raise SystemExit(f"--variants: unknown variant {name!r}; use 'mobilenet', 'gpcN' (N channels per group)"
                     + (f" or one of {', '.join(names)}" if names else ""))


def build_variant(name, size):
    from gpc_support.model import networks as models

    channels = variant_channels(name)
    shape = (size, size, 3)
    if isinstance(channels, str):
        return models.build_variant(channels, input_shape=shape)
    return models.build_model(channels, shape)


def deployed(model, form):
    from gpc_support.deploy import deployment_model

    options = FORMS[form]
    return model if options is None else deployment_model(model, **options)


def randomise_batchnorm(model, seed=0):
    """BatchNorm statistics away from (0, 1), so that folding them is not trivial."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])



def make_runner(runtime, files, threads):
    from gpc_support.deploy import LiteRTRunner, OnnxRunner

    if runtime == "litert":
        return LiteRTRunner(files["litert_bytes"], threads)
    return OnnxRunner(files["onnx"], threads)


def export_all(models, workdir, runtimes, tag):
    """{key: {'litert_bytes', 'litert', 'onnx'}} for every (variant, form) model."""
    from gpc_support.deploy import litert_to_onnx, to_litert

    files = {}
    for key, model in models.items():
        stem = Path(workdir) / f"{tag}_{key[0]}_{key[1]}"
        t0 = time.perf_counter()
        entry = {"litert": stem.with_suffix(".tflite")}
        entry["litert_bytes"] = to_litert(model, entry["litert"])
        if "onnx" in runtimes:
            entry["onnx"] = litert_to_onnx(entry["litert"], stem.with_suffix(".onnx"))
        files[key] = entry
        print(f"  exported {key[0]:>9} {key[1]:<15} {tag}: {time.perf_counter() - t0:5.1f} s", flush=True)
    return files
