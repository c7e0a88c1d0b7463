"""Feeding a model: batches from in-memory arrays and the preprocessing that runs inside the model.

The input pipeline is split in two on purpose:

* `make_dataset` only batches in-memory uint8 arrays and one-hot encodes the
  labels (cheap host work, no augmentation, no resize);
* `build_preprocessing` is a `keras.Sequential` that goes *inside* the model:
  rescale to [0, 1], augment (only when ``training=True``), resize.  It runs
  batched on the model's device, which is much faster than per-image
  augmentation in Python (``ImageDataGenerator``).
"""

from __future__ import annotations

import keras
import numpy as np

from ..common.checks import positive_int
from .augment import AUGMENTATIONS, RandomAffine
from .layouts import IMAGE_SHAPE

__all__ = [
    "make_dataset",
    "check_augmentation",
    "build_preprocessing",
]


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    num_classes: int = 10,
):
    """Batches of (uint8 images (b, 32, 32, 3), one-hot float32 labels (b, C)).

    A backend-neutral `feeding.ArrayFeeder` (a `keras.utils.PyDataset`, no
    tf.data): `training=True` orders each epoch by
    `numpy.random.default_rng([seed, epoch]).permutation(n)`, where the
    epoch is set with `set_epoch(epoch)` (the training engine does it at the
    start of every epoch); `training=False` keeps the arrays' order.  The
    last batch may be smaller.  No augmentation or resizing here: that is
    `build_preprocessing`'s job, inside the model.  With `Model.fit`, pass
    `shuffle=False` (the feeder orders itself).
    """
    from .array_feeder import ArrayFeeder

    return ArrayFeeder(x, y, batch_size, shuffle=bool(training), seed=seed,
                       num_classes=num_classes)


def check_augmentation(augment) -> str | None:
    """Normalise `augment`: True -> "paper", False/None/"none" -> None."""
    if augment is True:
        return "paper"
    if augment is False or augment is None or augment == "none":
        return None
    if augment in AUGMENTATIONS:
        return augment
    raise ValueError(
        f"augment must be one of {', '.join(AUGMENTATIONS)}, 'none', True or False; got {augment!r}"
    )


def build_preprocessing(
    image_size: int, *, augment="paper", seed: int = 0, augment_validation: bool = False,
    name: str = "preprocess",
) -> keras.Sequential:
    """In-model preprocessing: uint8 (None, 32, 32, 3) -> float32 in [0, 1].

    In the method authors' order (docs/method.md section 4): Rescaling(1/255), a
    nearest-neighbour Resizing to `image_size` (when it is not 32; their
    `flow_from_directory` resized first), THEN the augmentation at the
    training resolution: `augment.RandomAffine` (rotation, shifts, shear,
    independent x/y zoom as one bilinear affine map with nearest fill, then
    the horizontal flip), active only with training=True, or also at
    inference while its validation switch is on (`augment_validation=True`,
    see `augment.set_inference_augmentation`).  "paper" is the report's
    ImageDataGenerator setting, "light" a milder one for short 32 px runs.
    All layers run in float32 whatever the global dtype policy.
    """
    image_size = positive_int("image_size", image_size)
    if image_size < 32:
        raise ValueError(f"image_size must be an int >= 32, got {image_size!r}")
    stack = [
        keras.Input(shape=IMAGE_SHAPE, dtype="uint8", name=f"{name}_input"),
        keras.layers.Rescaling(1.0 / 255, dtype="float32", name=f"{name}_rescale"),
    ]
    if image_size != 32:
        stack.append(
            keras.layers.Resizing(
                image_size, image_size, interpolation="nearest", dtype="float32",
                name=f"{name}_resize",
            )
        )
    strength = check_augmentation(augment)
    if strength:
        stack.append(RandomAffine(**AUGMENTATIONS[strength], validation=bool(augment_validation),
                                  seed=seed, name=f"{name}_augment"))
    return keras.Sequential(stack, name=name)
