"""One training step of the engine's model under the backend KERAS_BACKEND names.

Run as a script, one process per backend (Keras reads KERAS_BACKEND once, at
import):

    KERAS_BACKEND=tensorflow python tests/backend_step.py --weights w.weights.h5 \
        --save-weights --out tf.json
    KERAS_BACKEND=jax python tests/backend_step.py --weights w.weights.h5 --out jax.json

It builds the training model of `training.build_training_model` (uint8
input, in-model preprocessing, gpcMobileNet) for the smoke profile without
augmentation, compiles it as the engine does (`engine.compile_model`: RMSprop,
categorical cross-entropy), loads the initial weights from `--weights` (or
writes them there first with `--save-weights`), and takes two training steps
on a batch fixed by numpy's seed; then the same two steps again from the
same weights with plain SGD.  The classifier's Dropout(0.001) is set
to rate 0: its random draw is backend-specific and would make the losses
differ by design, not by a fault.

The JSON written to `--out`: the backend, the loss of step 1 (the initial
weights' loss on the batch, with BatchNorm in training mode), the loss of
step 2 after one RMSprop update, and the same two losses with SGD (step 2
after one SGD update: the gradients included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="initial weights (.weights.h5)")
    parser.add_argument("--save-weights", action="store_true",
                        help="build fresh weights (seed 0) and save them to --weights first")
    parser.add_argument("--out", required=True, help="JSON file for the results")
    parser.add_argument("--channels", type=int, default=16, help="gpc channels (0 = MobileNet)")
    args = parser.parse_args(argv)

    import keras

    from gpc_support.train.profiles import get_profile
    from gpc_support.train.engine import build_training_model, compile_model

    profile = get_profile("smoke", augment="none")
    keras.utils.set_random_seed(0)
    model, network = build_training_model(args.channels or None, profile, seed=0)
    for layer in network._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    compile_model(model, profile)
    if args.save_weights:
        model.save_weights(args.weights)
    model.load_weights(args.weights)

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (profile.batch_size, 32, 32, 3), dtype=np.uint8)
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, profile.batch_size)]

    def two_steps():
        losses = []
        for _ in range(2):
            model.reset_metrics()  # the loss of this step alone, not a running mean
            losses.append(float(model.train_on_batch(x, y, return_dict=True)["loss"]))
        return losses

    rmsprop = two_steps()
    # The same from the same weights with plain SGD: its update is the
    # gradient times the rate, so the second loss checks the gradients.
    # (RMSprop's first update is about +-lr*sqrt(10) whatever the gradient's
    # size, so a gradient that is zero up to rounding moves its weight by
    # that much in a direction set by the rounding.)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.load_weights(args.weights)
    sgd = two_steps()
    result = {
        "backend": keras.backend.backend(),
        "loss_step1": rmsprop[0],
        "rmsprop_loss_step2": rmsprop[1],
        "sgd_loss_step1": sgd[0],
        "sgd_loss_step2": sgd[1],
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
