"""The deployment form (native grouped Conv2D) and its LiteRT / ONNX export.

The deployment form must compute the trained (einsum) network's function for
every variant and option; the exported LiteRT file must compute the Keras
model's function.  The ONNX tests need requirements-deploy.txt and skip
without it.  No timing here (benchmarks/bench_deploy.py times).
"""

import collections
import csv
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import keras
from keras import layers

from gpc_support.deploy import (
    FoldedBatchNorm,
    GatherInterleave,
    deployment_model,
    onnx_available,
)
from gpc_support.deploy.opgroups import group_model, op_groups
from gpc_support.model.layers import ChannelInterleave, GroupedPointwiseConv2D, grouped_kernel_to_conv2d
from gpc_support.model.networks import REPORT_CHANNELS, STRIDE2_BLOCKS, block_table, build_model

ALL_VARIANTS = [None] + list(REPORT_CHANNELS)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_BACKEND = keras.backend.backend() == "tensorflow"
needs_tf = pytest.mark.skipif(not TF_BACKEND, reason="LiteRT export needs the TensorFlow backend")
needs_onnx = pytest.mark.skipif(
    not onnx_available(), reason="ONNX path needs tf2onnx, onnx and onnxruntime (pip install -r requirements-deploy.txt)")


def randomise(model, seed=0):
    """Random kernels (already) and BatchNorm statistics far from (0, 1), so that
    folding and copying them is tested, not a no-op."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.3, 2.0, var.shape)])
    return model


def pre_softmax(model):
    """The model up to its logits (the softmax would hide differences)."""
    return keras.Model(model.inputs, model.get_layer("reshape_2").output)


def images(n=4, size=32, seed=1):
    return np.random.default_rng(seed).random((n, size, size, 3), dtype=np.float32)


# ---------------------------------------------------------------------------
# The deployment form equals the einsum form (Keras only: runs in CI)


OPTIONS = {
    "grouped": {},
    "gather": {"interleave": "gather"},
    "foldbn": {"fold_batchnorm": True},
    "dense2": {"dense_max_groups": 2},
    "all": {"interleave": "gather", "fold_batchnorm": True, "dense_max_groups": 2},
}


@pytest.mark.parametrize("channels", ALL_VARIANTS, ids=lambda c: f"gpc{c}" if c else "mobilenet")
def test_deployment_form_equals_einsum_form(channels):
    model = randomise(build_model(channels, (32, 32, 3)), seed=7)
    x = images()
    want = np.asarray(pre_softmax(model)([x], training=False))
    assert np.abs(want).max() > 1e-2  # the logits are not all ~0
    for name, options in OPTIONS.items():
        deployed = deployment_model(model, **options)
        got = np.asarray(pre_softmax(deployed)([x], training=False))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max(), err_msg=name)
        # No einsum layer is left; grouped convolutions are Conv2D(groups=N).
        assert not any(isinstance(layer, GroupedPointwiseConv2D) for layer in deployed.layers)


def test_deployment_form_structure_gpc16():
    model = build_model(16, (32, 32, 3))
    deployed = deployment_model(model)
    grouped = [layer for layer in model.layers if isinstance(layer, GroupedPointwiseConv2D)]
    assert len(grouped) == 21
    for layer in grouped:
        conv = deployed.get_layer(layer.name)
        assert type(conv) is layers.Conv2D and conv.groups == layer.groups and not conv.use_bias
        np.testing.assert_array_equal(np.asarray(conv.kernel), np.asarray(grouped_kernel_to_conv2d(layer.kernel, layer.groups)))
    # Expected groups from the block table, computed independently of the layers.
    groups = [row["groups N"] for row in block_table(16)]
    assert [deployed.get_layer(f"conv_pw_{b}_K").groups for b in range(1, 14)] == groups
    interleaves = [layer for layer in deployed.layers if isinstance(layer, ChannelInterleave)]
    assert len(interleaves) == sum(row["interleave"] for row in block_table(16))


def test_dense_max_groups_makes_block_diagonal_dense_conv():
    model = randomise(build_model(16, (32, 32, 3)))
    deployed = deployment_model(model, dense_max_groups=2)
    grouped = model.get_layer("conv_pw_1_K")  # 32 -> 64 channels, 2 groups
    assert grouped.groups == 2
    dense = deployed.get_layer("conv_pw_1_K")
    assert dense.groups == 1
    kernel = np.asarray(dense.kernel)[0, 0]  # (32, 64)
    np.testing.assert_array_equal(kernel[:16, 32:], 0)
    np.testing.assert_array_equal(kernel[16:, :32], 0)
    np.testing.assert_array_equal(kernel[:16, :32], np.asarray(grouped.kernel)[0])
    np.testing.assert_array_equal(kernel[16:, 32:], np.asarray(grouped.kernel)[1])
    assert deployed.get_layer("conv_pw_2_K").groups == 4  # more than 2 groups stay grouped


def test_gather_interleave_is_the_slicing_definition():
    """docs/method.md: the interleave is concat(x[..., 0::S], ..., x[..., S-1::S])."""
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 24)).astype("float32")
    for groups in (2, 3, 4, 6, 8):
        step = 24 // groups
        want = np.concatenate([x[..., j::step] for j in range(step)], axis=-1)
        np.testing.assert_array_equal(np.asarray(GatherInterleave(groups)(x)), want)


def test_fold_batchnorm_removes_every_batchnorm_after_a_conv():
    model = randomise(build_model(32, (32, 32, 3)))
    deployed = deployment_model(model, fold_batchnorm=True)
    assert not any(isinstance(layer, layers.BatchNormalization) for layer in deployed.layers)
    folded = [layer for layer in deployed.layers if isinstance(layer, FoldedBatchNorm)]
    assert len(folded) == sum(isinstance(layer, layers.BatchNormalization) for layer in model.layers)
    conv = deployed.get_layer("conv_dw_3")
    assert conv.use_bias
    # Depthwise fold by hand: kernel * gamma / sqrt(var + eps), bias = beta - mean * that.
    bn = model.get_layer("conv_dw_3_bn")
    gamma, beta, mean, var = (np.asarray(w, dtype="float64") for w in bn.get_weights())
    scale = gamma / np.sqrt(var + bn.epsilon)
    np.testing.assert_allclose(np.asarray(conv.kernel),
                               np.asarray(model.get_layer("conv_dw_3").kernel) * scale[None, None, :, None],
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(conv.bias), beta - mean * scale, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kwargs,match", [
    ({"interleave": "shuffle"}, "interleave"),
    ({"fold_batchnorm": "yes"}, "fold_batchnorm"),
    ({"dense_max_groups": 0}, "dense_max_groups"),
    ({"dense_max_groups": True}, "dense_max_groups"),
])
def test_deployment_model_bad_parameters(kwargs, match):
    model = build_model(16, (32, 32, 3))
    with pytest.raises(ValueError, match=match):
        deployment_model(model, **kwargs)


def test_deployment_model_rejects_non_model():
    with pytest.raises(ValueError, match="model must be a keras.Model"):
        deployment_model("gpc16")


def test_gather_interleave_bad_groups():
    with pytest.raises(ValueError, match="groups"):
        GatherInterleave(0)
    with pytest.raises(ValueError, match="divisible"):
        GatherInterleave(5)(np.zeros((1, 2, 2, 12), "float32"))


# ---------------------------------------------------------------------------
# Operator groups (the profile's cut)


def test_op_groups_of_gpc16_match_the_block_table():
    deployed = deployment_model(build_model(16, (32, 32, 3)), fold_batchnorm=True)
    groups = op_groups(deployed)
    counts = collections.Counter(g.category for g in groups)
    table = block_table(16)
    assert counts["grouped 1x1"] == sum(1 + row["L"] for row in table)
    assert counts["swish"] == counts["grouped 1x1"]
    assert counts["interleave"] == sum(row["interleave"] for row in table)
    assert counts["add"] == sum(row["L"] for row in table)
    assert counts["depthwise 3x3"] == 13 and counts["stem"] == 1 and counts["head"] == 1
    assert counts["other"] == 0
    # Every layer of the model is in exactly one group.
    names = [layer.name for g in groups for layer in g.layers]
    assert sorted(names) == sorted(layer.name for layer in deployed.layers if not isinstance(layer, layers.InputLayer))


def test_op_group_model_computes_the_same_as_inside_the_network():
    deployed = deployment_model(randomise(build_model(16, (32, 32, 3))), fold_batchnorm=True)
    group = next(g for g in op_groups(deployed) if g.category == "add")
    sub = group_model(group, batch=2)
    assert len(sub.inputs) == 2
    add = deployed.get_layer(group.name)
    probe = keras.Model(deployed.inputs, [add.input[0], add.input[1], add.output])
    a, b, want = probe.predict(images(2), verbose=0)
    np.testing.assert_allclose(sub.predict([a, b], verbose=0), want, rtol=1e-6)


def test_ablated_models_keep_shapes_and_lose_exactly_the_removed_kind():
    from gpc_support.deploy.operator_removal import ABLATIONS, ablated_model

    deployed = deployment_model(build_model(16, (32, 32, 3)))
    x = images(1)
    full = set(type(layer).__name__ for layer in deployed.layers)
    assert {"ChannelInterleave", "Add", "DepthwiseConv2D"} <= full
    everything = ablated_model(deployed, ABLATIONS)
    names = [type(layer).__name__ for layer in everything.layers]
    for gone in ("ChannelInterleave", "Add", "ZeroPadding2D"):
        assert names.count(gone) == (1 if gone == "ZeroPadding2D" else 0), gone  # the stem's pad stays
    # Stride-1 depthwise convolutions are gone; the four stride-2 ones are 1x1 stand-ins.
    stand_ins = [layer for layer in everything.layers if isinstance(layer, layers.DepthwiseConv2D)]
    assert len(stand_ins) == len(STRIDE2_BLOCKS)
    assert all(tuple(layer.kernel_size) == (1, 1) and tuple(layer.strides) == (2, 2) for layer in stand_ins)
    assert not any(isinstance(layer, layers.Activation) and layer.get_config()["activation"] in ("swish", "silu")
                   for layer in everything.layers)
    assert np.asarray(everything([x])).shape == (1, 10)
    # Only the interleaves gone: the rest of the network is untouched (shared weights).
    no_interleave = ablated_model(deployed, ["interleave"])
    assert sum(isinstance(layer, ChannelInterleave) for layer in no_interleave.layers) == 0
    assert no_interleave.get_layer("conv_pw_3_L") is deployed.get_layer("conv_pw_3_L")
    with pytest.raises(ValueError, match="remove"):
        ablated_model(deployed, ["relu"])


# ---------------------------------------------------------------------------
# LiteRT export (tf.lite is part of TensorFlow: runs in CI)


@pytest.fixture(scope="module")
def trained_gpc16():
    return smoke_trained_gpc16()


def smoke_trained_gpc16(size=32, steps=12):
    """gpc16 after a few training steps on images whose class sets their colour,
    BatchNorm statistics then re-estimated on 64 of them (a few steps leave the
    moving averages near their start, and the softmax uniform), so that the
    weights and statistics are trained ones and the outputs differ by image."""
    keras.utils.set_random_seed(0)
    model = build_model(16, (size, size, 3))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 16 * steps)
    x = np.clip(labels[:, None, None, None] / 10.0 + rng.normal(0, 0.1, (len(labels), size, size, 3)), 0, 1)
    x = x.astype("float32")
    model.compile(optimizer=keras.optimizers.RMSprop(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, labels, batch_size=16, epochs=2, verbose=0)
    norms = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0  # the next training-mode call sets the moving statistics
    model(x[:64], training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    return model, x[:8]


@needs_tf
def test_litert_export_of_smoke_trained_gpc16_matches_keras(tmp_path, trained_gpc16):
    from gpc_support.deploy import LiteRTRunner, litert_op_counts, to_litert

    model, x = trained_gpc16
    deployed = deployment_model(model)
    want = model.predict(x, verbose=0)
    assert want.max(axis=1).mean() > 0.15  # trained: not the uniform 0.1 softmax
    assert want.std(axis=0).max() > 0.01  # and the output depends on the image
    flatbuffer = to_litert(deployed, tmp_path / "gpc16.tflite")
    assert (tmp_path / "gpc16.tflite").read_bytes() == flatbuffer
    runner = LiteRTRunner(flatbuffer, threads=1)
    got = np.concatenate([runner(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert (got.argmax(1) == want.argmax(1)).all()

    ops = litert_op_counts(flatbuffer)
    # 21 grouped 1x1 + stem + 1 classifier = 23 native convolutions, no einsum
    # remains, and BatchNorm is folded (no RSQRT / SUB left over).
    assert ops["CONV_2D"] == 23
    assert ops["DEPTHWISE_CONV_2D"] == 13
    assert ops["TRANSPOSE"] == 13  # one per interleave
    for op in ("BATCH_MATMUL", "RSQRT", "SUB", "GATHER", "FLEX_DELEGATE"):
        assert op not in ops
    assert runner.nodes()["DELEGATE"] == 1  # XNNPACK takes the whole graph


@needs_tf
def test_litert_export_of_einsum_form_matches_keras():
    from gpc_support.deploy import LiteRTRunner, litert_op_counts, to_litert

    model = randomise(build_model(16, (32, 32, 3)))
    x = images(2)
    flatbuffer = to_litert(model)
    runner = LiteRTRunner(flatbuffer, threads=1)
    got = np.concatenate([runner(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=2e-5)
    assert litert_op_counts(flatbuffer)["BATCH_MATMUL"] > 0  # the einsum form really is different


@needs_tf
def test_to_litert_bad_parameters():
    from gpc_support.deploy import to_litert

    with pytest.raises(ValueError, match="batch"):
        to_litert(build_model(16, (32, 32, 3)), batch=0)
    with pytest.raises(ValueError, match="model must be a keras.Model"):
        to_litert(object())


@needs_tf
def test_runner_rejects_wrong_input_shape():
    from gpc_support.deploy import LiteRTRunner, to_litert

    runner = LiteRTRunner(to_litert(build_model(None, (32, 32, 3))))
    with pytest.raises(ValueError, match="shape"):
        runner(np.zeros((1, 64, 64, 3), "float32"))
    with pytest.raises(ValueError, match="threads"):
        LiteRTRunner(b"", threads=0)


# ---------------------------------------------------------------------------
# ONNX (optional packages)


@needs_tf
@needs_onnx
def test_onnx_export_through_litert_matches_keras(tmp_path, trained_gpc16):
    import onnx

    from gpc_support.deploy import OnnxRunner, litert_to_onnx, to_litert

    model, x = trained_gpc16
    deployed = deployment_model(model)
    to_litert(deployed, tmp_path / "gpc16.tflite")
    path = litert_to_onnx(tmp_path / "gpc16.tflite", tmp_path / "gpc16.onnx")
    onnx.checker.check_model(str(path))
    runner = OnnxRunner(path, threads=1)
    got = np.concatenate([runner(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=2e-5)
    groups = sorted(
        next((a.i for a in node.attribute if a.name == "group"), 1)
        for node in onnx.load(str(path)).graph.node if node.op_type == "Conv")
    # stem + classifier are plain (group 1); every grouped 1x1 is one Conv with group = N;
    # the 13 depthwise convolutions are Convs with group = their channel count.
    grouped = [layer.groups for layer in model.layers if isinstance(layer, GroupedPointwiseConv2D)]
    depthwise = [deployed.get_layer(f"conv_dw_{b}").input.shape[-1] for b in range(1, 14)]
    want = [1, 1] + grouped + depthwise
    assert groups == sorted(want)


@needs_tf
@needs_onnx
def test_litert_to_onnx_missing_file(tmp_path):
    from gpc_support.deploy import litert_to_onnx

    with pytest.raises(ValueError, match="litert_path"):
        litert_to_onnx(tmp_path / "missing.tflite", tmp_path / "x.onnx")


# ---------------------------------------------------------------------------
# The benchmark script runs end to end (tiny setting; its numbers are not checked)


@needs_tf
def test_bench_deploy_runs_and_writes_its_tables(tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "bench_deploy.py"), "--out", str(tmp_path),
           "--variants", "mobilenet,gpc128", "--sizes", "32", "--threads", "1", "--runtimes", "litert",
           "--seconds", "0.05", "--min-rounds", "3", "--warmup", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "latency.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["variant"], r["form"]) for r in rows} == {
        ("mobilenet", "baseline"), ("gpc128", "einsum"), ("gpc128", "grouped")}
    for column in ("runtime", "form", "variant", "image_size", "threads", "median_ms", "ratio_to_mobilenet",
                   "q1_ms", "q3_ms", "min_ms", "max_ms", "macs", "mac_ratio"):
        assert column in rows[0]
    base = next(r for r in rows if r["variant"] == "mobilenet")
    assert float(base["ratio_to_mobilenet"]) == 1.0
    for r in rows:
        assert float(r["min_ms"]) <= float(r["q1_ms"]) <= float(r["median_ms"]) <= float(r["q3_ms"]) <= float(r["max_ms"])
        assert int(r["runs"]) >= 3
    gpc = next(r for r in rows if r["form"] == "grouped")
    assert abs(float(gpc["mac_ratio"]) - int(gpc["macs"]) / int(base["macs"])) < 1e-3
    for name in ("ops.csv", "ops.md", "latency_vs_macs.png", "latency_vs_macs.svg", "environment.json"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("args,match", [
    (["--forms", "dense"], "--forms"),
    (["--variants", "resnet"], "--variants"),
    (["--threads", "0"], "--threads"),
    (["--sizes", "16"], "32 px"),
    (["--only", "check"], "--check-runs"),
])
def test_bench_deploy_bad_arguments(args, match):
    spec = importlib.util.spec_from_file_location("bench_deploy", os.path.join(ROOT, "benchmarks", "bench_deploy.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with pytest.raises(SystemExit, match=match):
        bench.parse_args(args + ["--runtimes", "litert"])
