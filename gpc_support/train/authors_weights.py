"""The method authors' published gpcMobileNet files, checked against `build_model`.

The authors saved their trained networks (TensorFlow/Keras 2.6, full model in
HDF5: the model config, `model_weights/`, the optimizer) with their own layer
names: `conv_pw_N_bn_conv` is the grouped convolution K (`Conv2D(groups=N)`,
kernel (1, 1, C/N, F)), `conv_pw_N_bn_group_interconn_conv` is L,
`InterleaveChannels(step_size)` is the interleave.  Keras 3 cannot load those
files as they are (their DepthwiseConv2D configs carry a `groups` argument it
refuses, and `InterleaveChannels` is the authors' own class), so:

* `read_authors_model(path)` rebuilds THE AUTHORS' graph from the file's own
  model config, layer by layer, with stock Keras layers (grouped convolutions
  as `Conv2D(groups=N)`, the interleave as the authors define it: the
  concatenation of `x[..., k::step]` for k = 0..step-1) and loads the file's
  weights into it by layer name;
* `load_into_build_model(path)` builds `build_model(channels)` for the
  channel setting whose group counts match the file, and copies the same
  weights into it by the correspondence of names;
* `compare_outputs(path, images)` runs both on the same images (uint8, 32x32,
  nearest-resized to 224 and scaled to [0, 1], the authors' test-time
  preprocessing) and reports how far their softmax outputs are apart.

With the right wiring the two agree to float32 rounding; a network wired
differently from the authors' (for example swish after the stem and the
depthwise convolutions) disagrees on the argmax of many images.
`scripts/verify_authors_weights.py` is the command-line front end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from ..model.layers import GroupedPointwiseConv2D, conv2d_kernel_to_grouped, group_count
from ..model.networks import POINTWISE_FILTERS, REPORT_CHANNELS, build_model

__all__ = [
    "AuthorsFileError",
    "read_authors_model",
    "authors_channels",
    "load_into_build_model",
    "compare_outputs",
    "load_test_images",
]


class AuthorsFileError(ValueError):
    """The file is not one of the authors' gpcMobileNet HDF5 files."""


class _StridedInterleave(layers.Layer):
    """The authors' interleave: concatenate x[..., k::step] for k in 0..step-1."""

    def __init__(self, step_size=2, **kwargs):
        super().__init__(**kwargs)
        self.step_size = max(1, int(step_size))

    def call(self, x):
        return ops.concatenate([x[..., k::self.step_size] for k in range(self.step_size)],
                               axis=-1)


def _open(path):
    import h5py

    path = Path(path).expanduser()
    if not path.is_file():
        raise AuthorsFileError(f"path: no such file {str(path)!r}")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise AuthorsFileError(f"path: {str(path)!r} is not an HDF5 file ({err})") from None
    if "model_config" not in handle.attrs or "model_weights" not in handle:
        handle.close()
        raise AuthorsFileError(
            f"path: {str(path)!r} holds no full Keras model (model_config and model_weights)")
    return handle


def _make_layer(class_name: str, c: dict):
    name = c["name"]
    if class_name == "ZeroPadding2D":
        return layers.ZeroPadding2D(tuple(tuple(p) for p in c["padding"]), name=name)
    if class_name == "Conv2D":
        return layers.Conv2D(c["filters"], tuple(c["kernel_size"]), strides=tuple(c["strides"]),
                             padding=c["padding"], groups=c.get("groups", 1),
                             use_bias=c["use_bias"], activation=c.get("activation"), name=name)
    if class_name == "DepthwiseConv2D":
        return layers.DepthwiseConv2D(tuple(c["kernel_size"]), strides=tuple(c["strides"]),
                                      padding=c["padding"], use_bias=c["use_bias"],
                                      depth_multiplier=c.get("depth_multiplier", 1),
                                      activation=c.get("activation"), name=name)
    if class_name == "BatchNormalization":
        return layers.BatchNormalization(epsilon=c["epsilon"], momentum=c["momentum"],
                                         center=c["center"], scale=c["scale"], name=name)
    if class_name == "ReLU":
        return layers.ReLU(max_value=c.get("max_value"), name=name)
    if class_name == "Activation":
        return layers.Activation(c["activation"], name=name)
    if class_name == "InterleaveChannels":
        return _StridedInterleave(c["step_size"], name=name)
    if class_name == "Add":
        return layers.Add(name=name)
    if class_name == "GlobalAveragePooling2D":
        return layers.GlobalAveragePooling2D(keepdims=c.get("keepdims", False), name=name)
    if class_name == "Reshape":
        return layers.Reshape(tuple(c["target_shape"]), name=name)
    if class_name == "Dropout":
        return layers.Dropout(c["rate"], name=name)
    raise AuthorsFileError(f"unexpected layer class {class_name!r} ({name}) in the authors' file")


def _weights_by_layer(handle) -> dict[str, list[np.ndarray]]:
    group = handle["model_weights"]
    out = {}
    for name in group:
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in group[name].attrs.get("weight_names", [])]
        if names:
            out[name] = [np.asarray(group[name][n]) for n in names]
    return out


def read_authors_model(path, image_size: int = 224) -> keras.Model:
    """The authors' network as their file describes it, with their weights."""
    with _open(path) as handle:
        config = json.loads(handle.attrs["model_config"])
        weights = _weights_by_layer(handle)
    graph = config["config"]
    tensors = {}
    built = {}
    for spec in graph["layers"]:
        name, class_name = spec["config"]["name"], spec["class_name"]
        if class_name == "InputLayer":
            tensors[name] = keras.Input((image_size, image_size, 3), name=name)
            continue
        inbound = [tensors[node[0]] for node in spec["inbound_nodes"][0]]
        layer = _make_layer(class_name, spec["config"])
        tensors[name] = layer(inbound if len(inbound) > 1 else inbound[0])
        built[name] = layer
    inputs = [tensors[i[0]] for i in graph["input_layers"]]
    outputs = [tensors[o[0]] for o in graph["output_layers"]]
    model = keras.Model(inputs[0], outputs[0], name=graph.get("name", "authors"))
    for name, values in weights.items():
        if name not in built:
            raise AuthorsFileError(f"weights for unknown layer {name!r} in the authors' file")
        built[name].set_weights(values)
    missing = [n for n, layer in built.items() if layer.weights and n not in weights]
    if missing:
        raise AuthorsFileError(f"the authors' file has no weights for {', '.join(missing)}")
    return model


def _groups_per_block(path) -> dict[int, int]:
    with _open(path) as handle:
        config = json.loads(handle.attrs["model_config"])
    groups = {}
    for spec in config["config"]["layers"]:
        match = re.fullmatch(r"conv_pw_(\d+)_bn_conv", spec["config"]["name"])
        if match:
            groups[int(match.group(1))] = spec["config"].get("groups", 1)
    if sorted(groups) != list(range(1, 14)):
        raise AuthorsFileError("the file is not a 13-block gpcMobileNet (conv_pw_1..13_bn_conv)")
    return groups


def authors_channels(path, candidates=REPORT_CHANNELS) -> int:
    """The channels-per-group setting whose group counts match the file's."""
    groups = _groups_per_block(path)
    for channels in candidates:
        c_in, plan = 32, {}
        for block, filters in enumerate(POINTWISE_FILTERS, start=1):
            plan[block] = group_count(c_in, filters, channels)
            c_in = filters
        if plan == groups:
            return channels
    raise AuthorsFileError(
        f"no channels-per-group setting in {list(candidates)} gives the file's group counts "
        f"{[groups[b] for b in sorted(groups)]}")


def _our_name(theirs: str, ours: set[str]) -> str:
    for pattern, k_name, plain_name in (
        (r"conv_pw_(\d+)_bn_conv", "conv_pw_{}_K", "conv_pw_{}"),
        (r"conv_pw_(\d+)_bn_bn", "conv_pw_{}_K_bn", "conv_pw_{}_bn"),
        (r"conv_pw_(\d+)_bn_group_interconn_conv", "conv_pw_{}_L", None),
        (r"conv_pw_(\d+)_bn_group_interconn_bn", "conv_pw_{}_L_bn", None),
    ):
        match = re.fullmatch(pattern, theirs)
        if match:
            block = match.group(1)
            if k_name.format(block) in ours:
                return k_name.format(block)
            if plain_name and plain_name.format(block) in ours:
                return plain_name.format(block)
            raise AuthorsFileError(f"no layer of ours corresponds to the authors' {theirs!r}")
    if theirs in ours:
        return theirs
    raise AuthorsFileError(f"no layer of ours corresponds to the authors' {theirs!r}")


def load_into_build_model(path, image_size: int = 224) -> tuple[keras.Model, int]:
    """`build_model(channels)` with the authors' weights; returns (model, channels)."""
    channels = authors_channels(path)
    model = build_model(channels, input_shape=(image_size, image_size, 3))
    by_name = {layer.name: layer for layer in model.layers}
    with _open(path) as handle:
        weights = _weights_by_layer(handle)
    filled = set()
    for theirs, values in weights.items():
        name = _our_name(theirs, set(by_name))
        layer = by_name[name]
        if isinstance(layer, GroupedPointwiseConv2D):
            values = [ops.convert_to_numpy(conv2d_kernel_to_grouped(values[0], layer.groups))]
        layer.set_weights(values)
        filled.add(name)
    unfilled = [layer.name for layer in model.layers if layer.weights and layer.name not in filled]
    if unfilled:
        raise AuthorsFileError(f"the authors' file leaves {', '.join(unfilled)} without weights")
    return model, channels


def load_test_images(data_dir, count: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """`count` CIFAR-10 test images (uint8, 32x32) and labels, balanced over the
    classes, the first files of each class folder in name order."""
    from ..data.layouts import CLASS_NAMES, _image_files, _read_image
    from ..data.split import DataError

    if isinstance(count, bool) or not isinstance(count, int) or count < 10:
        raise ValueError(f"count must be an integer >= 10, got {count!r}")
    root = Path(data_dir).expanduser()
    test = root / "test"
    if not test.is_dir():
        raise DataError(f"data_dir: {str(root)!r} has no test/<class>/ image folders")
    files = _image_files(test)
    per_class = count // len(CLASS_NAMES)
    images, labels = [], []
    for label, name in enumerate(CLASS_NAMES):
        for path in sorted(files[name])[:per_class]:
            images.append(_read_image(path))
            labels.append(label)
    return np.stack(images), np.array(labels)


def compare_outputs(path, images: np.ndarray, labels: np.ndarray | None = None,
                    batch_size: int = 50) -> dict:
    """Run the authors' graph and `build_model` with the same weights on `images`.

    Returns channels, the number of images, the largest absolute difference
    of the softmax outputs, the fraction of images whose argmax agrees, and
    (with labels) each model's accuracy.
    """
    from ..data.input_pipeline import build_preprocessing

    theirs = read_authors_model(path)
    ours, channels = load_into_build_model(path)
    prep = build_preprocessing(224, augment="none")
    p_theirs, p_ours = [], []
    for start in range(0, len(images), batch_size):
        x = prep(images[start:start + batch_size])
        # predict_on_batch runs a traced function: called eagerly, TensorFlow
        # re-traces and re-compiles the authors' grouped convolutions per call
        p_theirs.append(np.asarray(theirs.predict_on_batch(x)))
        p_ours.append(np.asarray(ours.predict_on_batch(x)))
    p_theirs, p_ours = np.concatenate(p_theirs), np.concatenate(p_ours)
    result = {
        "file": Path(path).name,
        "channels": channels,
        "images": int(len(images)),
        "max_abs_diff": float(np.abs(p_theirs - p_ours).max()),
        "argmax_agreement": float((p_theirs.argmax(1) == p_ours.argmax(1)).mean()),
    }
    if labels is not None:
        result["authors_accuracy"] = float((p_theirs.argmax(1) == labels).mean())
        result["build_model_accuracy"] = float((p_ours.argmax(1) == labels).mean())
    return result
