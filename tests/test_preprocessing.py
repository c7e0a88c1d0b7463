"""The input pipeline's preprocessing: resize, augmentation in training and
(only where asked) in validation, inside model.fit, and the decode cache's
file mode.
"""

import os

import keras
import numpy as np
import pytest

from gpc_support.data.input_pipeline import build_preprocessing, make_dataset


def smooth_batch(n=8):
    hh, ww = np.mgrid[0:32, 0:32]
    image = np.stack([hh * 8, ww * 8, (hh + ww) * 4], -1).astype(np.uint8)
    return np.stack([image] * n)


def test_preprocessing_train_vs_inference():
    x = smooth_batch()
    prep = build_preprocessing(32, augment=True, seed=1)
    inference = prep(x, training=False).numpy()
    np.testing.assert_allclose(inference, x.astype(np.float32) / 255, rtol=1e-6)
    trained = prep(x, training=True).numpy()
    assert trained.shape == (8, 32, 32, 3) and trained.dtype == np.float32
    assert not np.allclose(trained, inference)
    assert trained.min() >= 0 and trained.max() <= 1


def test_preprocessing_resize():
    x = smooth_batch(4)
    out = build_preprocessing(64, augment=False)(x, training=True).numpy()
    assert out.shape == (4, 64, 64, 3)
    # Nearest-neighbour upscaling by 2 repeats every pixel.
    np.testing.assert_allclose(out[:, ::2, ::2], x / 255, rtol=1e-6)
    assert build_preprocessing(64, augment=True)(x, training=True).shape == (4, 64, 64, 3)
    assert not any(isinstance(l, keras.layers.Resizing) for l in build_preprocessing(32).layers)


@pytest.mark.parametrize("image_size", [16, 0, -32, 64.0, "64", None])
def test_preprocessing_bad_image_size(image_size):
    with pytest.raises(ValueError, match="image_size"):
        build_preprocessing(image_size)


def test_preprocessing_trains_inside_model_fit():
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    h = build_preprocessing(48, augment=True)(inputs)
    h = keras.layers.Conv2D(4, 3, strides=2)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    history = model.fit(make_dataset(x, np.arange(16) % 10, 8, training=True),
                        epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(x, verbose=0).shape == (16, 10)


def test_paper_augmentation_runs_after_the_resize_at_the_training_resolution():
    from gpc_support.data.augment import RandomAffine

    prep = build_preprocessing(64, augment="paper", seed=0)
    kinds = [type(layer) for layer in prep.layers]
    assert kinds.index(keras.layers.Resizing) < kinds.index(RandomAffine)
    layer = prep.layers[kinds.index(RandomAffine)]
    assert (layer.rotation, layer.shift, layer.shear, layer.zoom, layer.flip) == (
        20.0, 0.3, 0.2, 0.3, True)
    out = prep(smooth_batch(4), training=True).numpy()
    assert out.shape == (4, 64, 64, 3)
    # a sub-pixel affine map at 64 px with bilinear sampling: the output is no
    # longer made of 2x2 blocks of equal pixels, as an upscaled-after image is
    assert not np.allclose(out[:, ::2, ::2], out[:, 1::2, 1::2])


def test_validation_augmentation_only_where_asked():
    from gpc_support.data.augment import set_inference_augmentation

    x = smooth_batch(4)
    for flag in (False, True):
        prep = build_preprocessing(32, augment="light", seed=0, augment_validation=flag)
        assert set_inference_augmentation(prep, True) == int(flag)
        changed = not np.allclose(prep(x, training=False).numpy(), x / 255, atol=1e-6)
        assert changed == flag


def test_decode_cache_respects_the_umask(tmp_path, monkeypatch):
    from gpc_support.data import sources as data_module

    old = os.umask(0o022)
    try:
        target = tmp_path / "cache.npz"
        arrays = (np.zeros((1, 32, 32, 3), np.uint8), np.zeros(1, np.int64),
                  np.zeros((1, 32, 32, 3), np.uint8), np.zeros(1, np.int64))
        data_module._write_cache(target, "k", arrays)
        assert (target.stat().st_mode & 0o777) == 0o644
        assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]   # no temp left
    finally:
        os.umask(old)
