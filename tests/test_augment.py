"""The paper augmentation layer against Keras' own ImageDataGenerator.

`keras.src.legacy.preprocessing.image.ImageDataGenerator.apply_transform`
(scipy-based, what the method authors' generator ran) is applied image by
image with the same drawn parameters; `RandomAffine.transform` must give the
same pixels to float32 rounding.
"""

import numpy as np
import pytest
import keras

from gpc_support.data.augment import AUGMENTATIONS, RandomAffine, set_inference_augmentation

scipy = pytest.importorskip("scipy", reason="the reference ImageDataGenerator needs scipy")
from keras.src.legacy.preprocessing.image import ImageDataGenerator  # noqa: E402


def _reference(images, params):
    gen = ImageDataGenerator(fill_mode="nearest", interpolation_order=1)
    out = []
    for i, image in enumerate(images):
        p = {k: float(v[i]) for k, v in params.items() if k != "flip"}
        p["flip_horizontal"] = bool(params["flip"][i] > 0.5)
        out.append(gen.apply_transform(image.astype("float64"), p))
    return np.stack(out)


@pytest.mark.parametrize("size", [(32, 32), (48, 40)])
def test_transform_equals_image_data_generator_with_same_parameters(size):
    rng = np.random.default_rng(0)
    h, w = size
    images = rng.random((6, h, w, 3)).astype("float32")
    # large parameters so every term of the affine map matters
    params = {
        "theta": rng.uniform(-40, 40, 6), "tx": rng.uniform(-0.3, 0.3, 6) * h,
        "ty": rng.uniform(-0.3, 0.3, 6) * w, "shear": rng.uniform(-30, 30, 6),
        "zx": rng.uniform(0.6, 1.4, 6), "zy": rng.uniform(0.6, 1.4, 6),
        "flip": np.array([0, 1, 0, 1, 1, 0], dtype="float32"),
    }
    params = {k: np.asarray(v, dtype="float32") for k, v in params.items()}
    ours = keras.ops.convert_to_numpy(RandomAffine.transform(images, params))
    theirs = _reference(images, params)
    assert np.abs(ours - theirs).max() < 2e-4


def test_each_parameter_alone_matches_the_reference():
    images = np.random.default_rng(1).random((1, 32, 32, 3)).astype("float32")
    base = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0, "flip": 0.0}
    for key, value in [("theta", 17.0), ("tx", 5.5), ("ty", -7.25), ("shear", 25.0),
                       ("zx", 1.3), ("zy", 0.7), ("flip", 1.0)]:
        params = {k: np.array([v], "float32") for k, v in {**base, key: value}.items()}
        ours = keras.ops.convert_to_numpy(RandomAffine.transform(images, params))
        assert np.abs(ours - _reference(images, params)).max() < 1e-4, key


def test_identity_parameters_return_the_image_exactly():
    images = np.random.default_rng(2).random((2, 32, 32, 3)).astype("float32")
    params = {k: np.full(2, v, "float32") for k, v in
              {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1, "flip": 0}.items()}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(RandomAffine.transform(images, params)),
                                  images)


def test_draws_follow_the_generator_ranges():
    layer = RandomAffine(**AUGMENTATIONS["paper"], seed=3)
    p = {k: keras.ops.convert_to_numpy(v) for k, v in layer.draw(4000, 224, 224).items()}
    assert np.abs(p["theta"]).max() <= 20 and np.abs(p["theta"]).max() > 19
    assert np.abs(p["tx"]).max() <= 0.3 * 224 and np.abs(p["ty"]).max() > 0.29 * 224
    assert np.abs(p["shear"]).max() <= 0.2
    assert 0.7 <= p["zx"].min() and p["zy"].max() <= 1.3
    assert abs(np.corrcoef(p["zx"], p["zy"])[0, 1]) < 0.1     # drawn independently
    assert 0.45 < p["flip"].mean() < 0.55


def test_inactive_at_inference_unless_the_validation_switch_is_on():
    images = np.random.default_rng(4).random((4, 32, 32, 3)).astype("float32")
    plain = RandomAffine(**AUGMENTATIONS["paper"], seed=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(plain(images)), images)
    assert not np.allclose(keras.ops.convert_to_numpy(plain(images, training=True)), images)

    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, RandomAffine(**AUGMENTATIONS["paper"], validation=True,
                                             seed=0)(inputs))
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)
    assert set_inference_augmentation(model, True) == 1
    assert not np.allclose(model.predict(images, verbose=0), images)
    set_inference_augmentation(model, False)
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)


def test_bad_settings_name_the_parameter():
    with pytest.raises(ValueError, match="rotation"):
        RandomAffine(rotation=-1)
    with pytest.raises(ValueError, match="zoom"):
        RandomAffine(zoom=1.5)


def test_saved_and_loaded_with_its_config(tmp_path):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, RandomAffine(**AUGMENTATIONS["paper"], validation=True,
                                             seed=5)(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    layer = loaded.layers[-1]
    assert isinstance(layer, RandomAffine)
    assert (layer.rotation, layer.shift, layer.shear, layer.zoom, layer.validation) == (
        20.0, 0.3, 0.2, 0.3, True)


def test_shifts_scale_with_their_own_axis_on_non_square_images():
    # vertical shifts (tx, rows) scale with the height, horizontal ones (ty) with the width
    layer = RandomAffine(rotation=0.0, shift=0.25, shear=0.0, zoom=0.0, flip=False, seed=5)
    p = {k: keras.ops.convert_to_numpy(v) for k, v in layer.draw(4000, 8, 64).items()}
    assert np.abs(p["tx"]).max() <= 0.25 * 8 + 1e-6 and np.abs(p["tx"]).max() > 0.24 * 8
    assert np.abs(p["ty"]).max() <= 0.25 * 64 + 1e-6 and np.abs(p["ty"]).max() > 0.24 * 64
    p = {k: keras.ops.convert_to_numpy(v) for k, v in layer.draw(4000, 64, 8).items()}
    assert np.abs(p["tx"]).max() > 0.24 * 64 and np.abs(p["ty"]).max() <= 0.25 * 8 + 1e-6
