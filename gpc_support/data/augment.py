"""The method authors' training augmentation as one Keras layer, in `keras.ops`.

The authors trained with Keras' old `ImageDataGenerator` (rotation_range=20,
width/height_shift_range=0.3, shear_range=0.2, zoom_range=0.3,
horizontal_flip=True, fill_mode="nearest") on images that
`flow_from_directory` had ALREADY resized to 224x224.  For every image it
draws

    theta ~ U(-rotation, rotation)             degrees
    tx    ~ U(-shift, shift) * height          pixels, along the rows
    ty    ~ U(-shift, shift) * width           pixels, along the columns
    shear ~ U(-shear, shear)                   DEGREES (0.2 is almost nothing)
    zx, zy ~ U(1 - zoom, 1 + zoom)             independently
    flip  ~ U(0, 1) < 0.5

and applies rotation, shift, shear and zoom as ONE affine map about the image
centre, sampled with bilinear interpolation (`interpolation_order=1`) and
nearest fill (edge pixels repeated), then the horizontal flip
(docs/method.md section 4).

`RandomAffine` does the same on a batch inside the model, so it runs on the
accelerator under every Keras 3 backend.  `RandomAffine.transform(images,
params)` applies given parameters; the tests check it against Keras' own
(private, scipy-based) `ImageDataGenerator.apply_transform` with the same
parameters.  Draws come from a `keras.random.SeedGenerator`.

Validation: the authors' validation subset went through the same augmenting
generator.  A layer built with `validation=True` holds a switch
(`augment_inference`, a non-trainable 0/1 weight): while it is 1, calls with
`training=False` are augmented too; `set_inference_augmentation(model, on)`
flips it for every such layer of a model, and the training engine turns it
on only around the per-epoch validation, never for the test set.
"""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops

__all__ = ["RandomAffine", "AUGMENTATIONS", "set_inference_augmentation"]

_PACKAGE = "gpc_support"

# The report's ImageDataGenerator settings, and a lighter set for short runs
# at 32 px, where 30% shifts and zooms move most of a 32-pixel image out of
# the frame.
AUGMENTATIONS = {
    "paper": dict(rotation=20.0, shift=0.3, shear=0.2, zoom=0.3, flip=True),
    "light": dict(rotation=10.0, shift=0.1, shear=0.0, zoom=0.1, flip=True),
}


def _non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RandomAffine(keras.layers.Layer):
    """ImageDataGenerator's random affine transform + horizontal flip, batched.

    Args:
        rotation: maximum rotation in degrees.
        shift: maximum shift as a fraction of the height (rows) and width
            (columns), drawn independently.
        shear: maximum shear angle in DEGREES (ImageDataGenerator's unit).
        zoom: zoom factors are drawn from [1 - zoom, 1 + zoom], x and y
            independently (ImageDataGenerator's `zoom_range=zoom`).
        flip: random horizontal flip after the affine transform.
        validation: hold the `augment_inference` switch (see module doc).
        seed: seed of the layer's SeedGenerator.

    Input: float images (batch, height, width, channels).  Without
    `training=True` (and with the switch off) the input is returned as is.
    """

    def __init__(self, rotation=20.0, shift=0.3, shear=0.2, zoom=0.3, flip=True,
                 validation=False, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.rotation = _non_negative("rotation", rotation)
        self.shift = _non_negative("shift", shift)
        self.shear = _non_negative("shear", shear)
        self.zoom = _non_negative("zoom", zoom)
        if self.zoom >= 1:
            raise ValueError(f"zoom must be in [0, 1), got {zoom!r}")
        self.flip = bool(flip)
        self.validation = bool(validation)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        if self.validation:
            self.augment_inference = self.add_weight(
                name="augment_inference", shape=(), initializer="zeros", trainable=False)

    # -- drawing ---------------------------------------------------------------
    def draw(self, batch, height: int, width: int) -> dict:
        """One set of ImageDataGenerator parameters per image (tensors of shape (batch,))."""
        def uniform(low, high):
            return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

        return {
            "theta": uniform(-self.rotation, self.rotation),
            "tx": uniform(-self.shift, self.shift) * height,
            "ty": uniform(-self.shift, self.shift) * width,
            "shear": uniform(-self.shear, self.shear),
            "zx": uniform(1 - self.zoom, 1 + self.zoom),
            "zy": uniform(1 - self.zoom, 1 + self.zoom),
            "flip": ops.cast(uniform(0.0, 1.0) < 0.5, "float32") if self.flip
            else ops.zeros((batch,), "float32"),
        }

    # -- applying --------------------------------------------------------------
    @staticmethod
    def source_coordinates(params: dict, height: int, width: int):
        """(batch, height*width, 2) input (row, col) read by every output pixel.

        The map of `apply_affine_transform`: M = offset @ R @ T @ Sh @ Z @ reset
        in ImageDataGenerator's (x=row, y=col) convention, then used by
        `scipy.ndimage.affine_transform` as input = M[:2, :2] @ output + M[:2, 2]
        after its row/column swap.  Written out per entry here.
        """
        theta = params["theta"] * (math.pi / 180)
        shear = params["shear"] * (math.pi / 180)
        tx, ty, zx, zy = params["tx"], params["ty"], params["zx"], params["zy"]
        cos, sin = ops.cos(theta), ops.sin(theta)
        sh_s, sh_c = -ops.sin(shear), ops.cos(shear)
        # R @ T
        a02 = cos * tx - sin * ty
        a12 = sin * tx + cos * ty
        # (R @ T) @ Sh, Sh = [[1, sh_s, 0], [0, sh_c, 0], [0, 0, 1]]
        b00, b01 = cos, cos * sh_s - sin * sh_c
        b10, b11 = sin, sin * sh_s + cos * sh_c
        # @ Z
        m00, m01, m10, m11 = b00 * zx, b01 * zy, b10 * zx, b11 * zy
        # offset about the centre: o_x from the height, o_y from the width
        ox, oy = height / 2 - 0.5, width / 2 - 0.5
        m02 = a02 + ox - (m00 * ox + m01 * oy)
        m12 = a12 + oy - (m10 * ox + m11 * oy)
        # ImageDataGenerator swaps the two axes (M' = P M P) before scipy:
        # row source = m11*r + m10*c + m12,  col source = m01*r + m00*c + m02
        rows = ops.arange(height, dtype="float32")
        cols = ops.arange(width, dtype="float32")
        r = ops.reshape(ops.repeat(rows, width), (1, -1))
        c = ops.reshape(ops.tile(cols, (height,)), (1, -1))

        def col(v):
            return ops.reshape(v, (-1, 1))

        src_r = col(m11) * r + col(m10) * c + col(m12)
        src_c = col(m01) * r + col(m00) * c + col(m02)
        return ops.stack([src_r, src_c], axis=-1)

    @staticmethod
    def transform(images, params: dict):
        """Apply given parameters (see `draw`) to float images (b, h, w, c)."""
        images = ops.convert_to_tensor(images, dtype="float32")
        _, height, width, channels = images.shape
        coords = RandomAffine.source_coordinates(params, height, width)
        src_r, src_c = coords[..., 0], coords[..., 1]
        r0 = ops.floor(src_r)
        c0 = ops.floor(src_c)
        wr = src_r - r0
        wc = src_c - c0
        r0 = ops.cast(r0, "int32")
        c0 = ops.cast(c0, "int32")
        flat = ops.reshape(images, (-1, height * width, channels))

        def gather(ri, ci):
            # fill_mode="nearest": indices outside the image repeat the edge
            ri = ops.clip(ri, 0, height - 1)
            ci = ops.clip(ci, 0, width - 1)
            index = ops.expand_dims(ri * width + ci, -1)
            return ops.take_along_axis(flat, ops.repeat(index, channels, axis=-1), axis=1)

        wr = ops.expand_dims(wr, -1)
        wc = ops.expand_dims(wc, -1)
        top = gather(r0, c0) * (1 - wc) + gather(r0, c0 + 1) * wc
        bottom = gather(r0 + 1, c0) * (1 - wc) + gather(r0 + 1, c0 + 1) * wc
        out = ops.reshape(top * (1 - wr) + bottom * wr, (-1, height, width, channels))
        flip = ops.reshape(params["flip"], (-1, 1, 1, 1)) > 0.5
        return ops.where(flip, ops.flip(out, axis=2), out)

    def call(self, inputs, training=False):
        if not training and not self.validation:
            return inputs
        shape = ops.shape(inputs)
        height, width = inputs.shape[1], inputs.shape[2]
        params = self.draw(shape[0], height, width)
        if not training:
            # validation: augmented only while the switch is on
            on = self.augment_inference > 0.5
            identity = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0,
                        "zx": 1.0, "zy": 1.0, "flip": 0.0}
            params = {k: ops.where(on, v, identity[k]) for k, v in params.items()}
        return self.transform(inputs, params)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(rotation=self.rotation, shift=self.shift, shear=self.shear,
                      zoom=self.zoom, flip=self.flip, validation=self.validation,
                      seed=self.seed)
        return config


def set_inference_augmentation(model, on: bool) -> int:
    """Turn validation-time augmentation on/off in every RandomAffine built
    with `validation=True` inside `model`; returns how many were switched."""
    count = 0
    for layer in model._flatten_layers(include_self=True):
        if isinstance(layer, RandomAffine) and layer.validation:
            layer.augment_inference.assign(1.0 if on else 0.0)
            count += 1
    return count
