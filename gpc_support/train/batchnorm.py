"""BatchNorm re-estimation: moving statistics set to the average over clean training batches.

The report's protocol validates with BatchNorm moving averages; the short
profiles re-estimate them before each validation (`Profile.bn_recalibration`
batches) so that a 15-epoch run is not validated on statistics still
dominated by its first epochs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["recalibrate_batchnorm"]


def recalibrate_batchnorm(model, images: np.ndarray, batches: int, batch_size: int, seed: int = 0) -> None:
    """Set every BatchNorm's moving statistics to their average over `batches`.

    `model` is the training model (preprocessing + network); the images go
    through its preprocessing without augmentation and through the network in
    training mode, with each BatchNorm's momentum set to `i / (i + 1)` for the
    i-th batch, so that its moving mean and variance become the running
    average of the batch statistics.  The order of the images is fixed by
    `seed` (the same every epoch and on every resume).  The momentum is a
    variable during the passes, so under TensorFlow the forward pass is
    compiled once per model.
    """
    import keras

    preprocess, network = model.layers[-2], model.layers[-1]
    norms = [layer for layer in network._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms or batches < 1:
        return
    cache = getattr(model, "_gpc_recalibration", None)
    if cache is None:
        momentum = keras.Variable(0.0, trainable=False, name="recalibration_momentum")

        def forward(x):
            network(preprocess(x, training=False), training=True)
            return 0

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            forward = tf.function(forward, reduce_retracing=True)
        cache = (momentum, forward)
        object.__setattr__(model, "_gpc_recalibration", cache)  # untracked: never saved
    momentum, forward = cache
    order = np.random.default_rng(seed).permutation(len(images))
    saved = [bn.momentum for bn in norms]
    try:
        for bn in norms:
            # plain attribute write: Keras would refuse to track a new
            # variable on a built layer, and it must not be saved with it
            object.__setattr__(bn, "momentum", momentum)
        for i in range(min(batches, -(-len(images) // batch_size))):
            momentum.assign(i / (i + 1))
            forward(images[order[i * batch_size:(i + 1) * batch_size]])
    finally:
        for bn, value in zip(norms, saved):
            object.__setattr__(bn, "momentum", value)
