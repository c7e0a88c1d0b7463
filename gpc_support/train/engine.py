"""Train one variant for a profile into an output folder, resumably and exactly.

This module holds the run itself (the model, its random state, the epoch
callbacks, the test evaluation); the folder's configuration and --force are
in `run_claim`, the epoch records and resume reconciliation in
`epoch_records`, BatchNorm re-estimation in `batchnorm`.

    from gpc_support.train.engine import train_variant
    metrics = train_variant(16, profile="quick", data_dir="~/cifar10",
                            out_dir="results/quick/runs/gpc16/seed0", seed=0)

What lands in `out_dir` (every file written atomically: temporary file, then
rename, so a kill never leaves half a file):

- `config.json`    the run's configuration: variant, profile, optimizer
                   (the profile's RMSprop, "rmsprop-keras2" or
                   "rmsprop-keras3"), seed, split_seed, precision,
                   data_source (layout + fingerprint, never a path), code
                   (git commit, dirty); a later call with another
                   configuration refuses the folder.  A config.json written
                   before a profile field existed (the optimizer, the split)
                   is read with that field's default, which is what those
                   runs did (`profiles.profile_from_record`);
- `history.csv`    one row per finished epoch: epoch, lr, loss, accuracy,
                   val_loss, val_accuracy, seconds;
- `state.json`     the last finished epoch, the best one so far, and every
                   resume (when, after which epoch);
- `checkpoints/epoch_NNN.keras`  model + optimizer after the last finished
                   epoch; the epoch is in the name AND inside the file
                   (`gpc_epoch.json`), and both are checked before a resume;
- `best.weights.h5`  the network's weights (no optimizer state) from the
                   finished epoch with the best validation accuracy (the
                   epoch is stored in the file's `gpc_epoch` attribute); they
                   load into `model.networks.build_model(channels, input_shape)`.
                   Written as a candidate in checkpoints/ first and promoted
                   only once state.json has committed that epoch;
- `test_predictions.npz`  test labels and predicted probabilities of the best
                   weights (for per-class accuracy and the confusion matrix);
- `metrics.json`   written last: counts, test accuracy and loss, timings,
                   environment, seed, precision, optimizer, code, data
                   source, resumes.
                   Its presence marks the run complete.
- `tensorboard/train/`, `tensorboard/validation/`  TensorBoard scalars, one per
                   committed epoch and tag, step = epoch (TensorFlow backend
                   only; see `train.tensorboard_log`).
- `.lock`, `.lock.owner`  the folder's lock (see `common.run_lock`): one run per folder.

Exact resume.  A run stopped at any point (kill -9 included) and started
again ends with the same history and test predictions, values included, as a
run never stopped, on the same machine and software:

- epoch e's batch order is `numpy.random.default_rng([seed, e])` (see
  `data.array_feeder.ArrayFeeder`), whatever happened before;
- every `keras.random.SeedGenerator` of the model (augmentation, dropout,
  found by walking the model, whatever the layers are called) is reseeded at
  the start of each epoch from (seed, epoch, its position in the model):
  a `.keras` file does not save their states (checked with Keras 3.15);
- the weights and the optimizer's state come from the epoch's checkpoint;
  the learning rate is a function of the epoch;
- BatchNorm re-estimation uses the un-augmented training images in an order
  fixed by the seed.

`state.json` is the commit point of an epoch and is written after that
epoch's checkpoint and history row.  Before resuming, state.json,
history.csv and the checkpoint must agree; when they do not, the run resumes
from the newest epoch where the checkpoint and history.csv agree and says
so, or refuses naming the file.  It never trains from the weights of another
epoch and never drops a finished epoch without saying so.

Seeds.  `seed` changes the initial weights, the batch order and the
augmentation draws.  The validation split and the train/test subsets of the
short profiles do NOT change with it: they use `SPLIT_SEED` (0) for every
seed (the profile's `split` rule "authors" uses no seed at all), so that the runs of different seeds are validated and tested on the
same images and their accuracies can be compared pairwise (a paired test
per test image); the seeds then measure the spread due to training alone.

`force=True` starts the folder over but keeps the old run, moved aside into
`<out_dir>.previous/`, until the new run has committed its first epoch; if
the new run never gets there, the old one is put back (at the latest when
the folder is next used).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
from pathlib import Path

import numpy as np

from ..common.atomic_files import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from ..common.run_folder import HISTORY_FIELDS
from ..model.variants import variant_label, variant_name
from .batchnorm import recalibrate_batchnorm
from .epoch_records import (checkpoint_epoch, checkpoint_name, history_text, load_state,
                            read_history, save_best_candidate, save_checkpoint, settle_files)
from .profiles import Profile, learning_rate
from .run_claim import (PRECISIONS, SPLIT_SEED, RunError, check_data, check_precision,
                        check_writable, claim_folder, committed_epochs, has_run, load_run_data,
                        move_run, now_utc, previous_dir, recover_previous, remove_run_files,
                        run_config, validate_run_request)

__all__ = ["train_variant", "HISTORY_FIELDS", "read_history", "validate_run_request", "RunError",
           "PRECISIONS", "SPLIT_SEED", "check_precision", "seed_generators", "reseed_generators",
           "checkpoint_epoch", "load_run_data", "build_training_model", "recalibrate_batchnorm"]


# -- the model, its random state and the epoch callbacks -------------------------------------

def _set_precision(precision: str) -> None:
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if precision == "mixed" else "float32")


@contextlib.contextmanager
def _graph_optimizer(on: bool):
    """TensorFlow's graph optimizer (Grappler) on or off for the steps first
    run inside the block (`Profile.graph_optimizer`), then as it was: the
    setting is global to the process, and a notebook or test may train more
    than once.  Other backends have no such pass; nothing to do there."""
    import keras

    if on or keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": before.get("disable_meta_optimizer", False)})


def build_training_model(channels, profile: Profile, seed: int):
    """(full model: uint8 32x32 -> preprocessing -> network, the network alone)."""
    import keras

    from ..data.input_pipeline import build_preprocessing
    from ..model.networks import build_model

    network = build_model(channels, input_shape=(profile.image_size, profile.image_size, 3))
    inputs = keras.Input((32, 32, 3), dtype="uint8", name="cifar_uint8")
    x = build_preprocessing(profile.image_size, augment=profile.augment, seed=seed,
                            augment_validation=getattr(profile, "augment_validation", False))(inputs)
    outputs = network(x)
    return keras.Model(inputs, outputs, name=f"train_{network.name}"), network


def compile_model(model, profile: Profile) -> None:
    from .optimizers import make_optimizer

    model.compile(
        optimizer=make_optimizer(profile.optimizer, learning_rate(0, profile)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    # Built here rather than lazily inside the first traced train step: a
    # tf.function that creates variables while tracing is traced a second
    # time, which costs TensorFlow a whole extra trace of the step.
    model.optimizer.build(model.trainable_variables)


def seed_generators(model) -> list:
    """Every `keras.random.SeedGenerator` held by `model` or any layer in it,
    in a fixed order (the model's layer order), each once."""
    import keras

    found, seen = [], set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        candidates = list(getattr(layer, "_seed_generators", None) or [])
        candidates += [v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)]
        for generator in candidates:
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found


def reseed_generators(model, seed: int, epoch: int) -> int:
    """Set every SeedGenerator's state from (seed, epoch, its position); returns how many."""
    generators = seed_generators(model)
    for k, generator in enumerate(generators):
        value = np.random.default_rng([seed, epoch, k]).integers(1, 2**31 - 1)
        generator.state.assign(np.array([value, 0], dtype=generator.state.dtype))
    return len(generators)


def _epoch_recorder(out_dir: Path, profile: Profile, seed: int, state: dict, history: list,
                    network, feeders, steps_per_epoch: int, on_first_commit, say):
    """A Keras callback: sets each epoch's learning rate, order and random
    state at its start, commits it to disk at its end."""
    import keras

    ckpt_dir = out_dir / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)

    class EpochRecorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            lr = learning_rate(epoch, profile)
            self.model.optimizer.learning_rate.assign(lr)
            for feeder in feeders:
                feeder.set_epoch(epoch)
            reseed_generators(self.model, seed, epoch)
            self._lr = lr
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.perf_counter() - self._start
            done = epoch + 1
            row = {"epoch": done, "lr": self._lr, "seconds": seconds}
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                row[key] = float(logs.get(key, float("nan")))
            # 1. the epoch's checkpoint (model + optimizer) and best weights
            ckpt = ckpt_dir / checkpoint_name(done)
            save_checkpoint(self.model, ckpt, done, done * steps_per_epoch)
            improved = row["val_accuracy"] > state["best_val_accuracy"]
            candidate = ckpt_dir / f"best_epoch_{done:03d}.weights.h5"
            if improved:
                # The bare network: a compiled model's weights file would also
                # carry the optimizer's slots, doubling its size.
                save_best_candidate(network, candidate, done)
            # 2. the history with this row
            history.append(row)
            atomic_write_text(out_dir / "history.csv", history_text(history))
            # 3. the commit point
            state.update(epochs_done=done, checkpoint=ckpt.name,
                         training_seconds=state["training_seconds"] + seconds)
            if improved:
                state.update(best_val_accuracy=row["val_accuracy"], best_epoch=done,
                             best_pending=candidate.name)
            atomic_write_json(out_dir / "state.json", state)
            # 4. only a committed epoch's weights become best.weights.h5
            settle_files(out_dir, state)
            on_first_commit()

    return EpochRecorder()


def _validation_hooks(images, profile: Profile, seed: int):
    """Before each validation: BatchNorm re-estimation (clean images), then
    the validation-time augmentation switch on; after it: the switch off."""
    import keras

    from ..data.augment import set_inference_augmentation

    class ValidationHooks(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            if profile.bn_recalibration:
                recalibrate_batchnorm(self.model, images, profile.bn_recalibration,
                                      profile.batch_size, seed)
            if getattr(profile, "augment_validation", False):
                set_inference_augmentation(self.model, True)

        def on_test_end(self, logs=None):
            if getattr(profile, "augment_validation", False):
                set_inference_augmentation(self.model, False)

    return ValidationHooks()


# -- the run -------------------------------------------------------------------------------

def train_variant(
    channels=None,
    profile: str | Profile = "quick",
    data_dir=None,
    out_dir="results/run",
    seed: int = 0,
    overrides: dict | None = None,
    force: bool = False,
    verbose="auto",
    data=None,
    precision: str = "float32",
) -> dict:
    """Train `channels` (None = MobileNet) under `profile`; return the metrics.

    Args:
        channels: None, 16, 32, 64, 128 (or any positive integer).
        profile: "paper", "paper32", "cpu", "quick", "smoke" or a Profile.
        data_dir: None for `keras.datasets.cifar10`, or a folder with the
            python batches or train/ and test/ class folders.
        out_dir: the run's folder; an unfinished run there is resumed, a
            finished one is returned without training.  One process at a
            time: a folder in use by another run is refused at once
            (`common.run_lock.FolderLocked`, naming the holder).
        seed: seeds the initial weights, the batch order and the
            augmentation draws; the validation split and subsets use
            SPLIT_SEED whatever the seed (see the module doc).
        overrides: profile fields to replace, e.g. {"epochs": 5}.
        force: start over even if out_dir holds a run (the old run is kept
            aside until the new one has finished its first epoch).
        verbose: Keras verbosity; "auto" shows progress bars in a terminal
            and one line per epoch elsewhere (notebooks run by papermill).
        data: an already loaded `CifarData` (skips loading; it must be the
            split of SPLIT_SEED for exact comparisons between seeds).
        precision: "float32" (default) or "mixed" (mixed float16).
    """
    from ..common.run_lock import folder_lock

    channels, profile, out_dir = validate_run_request(
        channels, profile, data_dir, out_dir, seed, overrides, precision)
    check_writable(out_dir)

    def say(text):
        print(text, flush=True)

    with folder_lock(out_dir, f"training {variant_name(channels)} seed {seed}"):
        recover_previous(out_dir, say)
        config = run_config(channels, profile, seed, precision, data_dir)
        previous = None
        if force and has_run(out_dir):
            previous = previous_dir(out_dir)
            move_run(out_dir, previous)
        try:
            claim_folder(out_dir, config)
            with _graph_optimizer(profile.graph_optimizer):
                return _train_claimed(out_dir, channels, profile, data_dir, seed, precision,
                                      verbose, data, previous, say)
        except BaseException:
            if previous is not None and previous.is_dir() and committed_epochs(out_dir) < 1:
                remove_run_files(out_dir)
                move_run(previous, out_dir)
                shutil.rmtree(previous, ignore_errors=True)
                say(f"the forced restart of {out_dir} stopped before its first epoch; "
                    "the previous run is back in place")
            raise


def _train_claimed(out_dir, channels, profile, data_dir, seed, precision, verbose, data,
                   previous, say) -> dict:
    if (out_dir / "metrics.json").exists():
        try:
            return read_json(out_dir / "metrics.json")
        except ValueError:
            (out_dir / "metrics.json").unlink()

    import keras

    from ..data.input_pipeline import make_dataset
    from .provenance import code_version
    from .tensorboard_log import open_scalar_log

    if verbose == "auto":
        verbose = 1 if _is_terminal() else 2
    state, history = load_state(out_dir, say)
    if state["epochs_done"]:
        state.setdefault("resumes", []).append(
            {"at": now_utc(), "after_epoch": state["epochs_done"], "code": code_version()})
        atomic_write_json(out_dir / "state.json", state)
    if data is None:
        data = load_run_data(profile, data_dir)
    check_data(out_dir, data)
    _set_precision(precision)
    keras.utils.set_random_seed(seed)
    model, network = build_training_model(channels, profile, seed)
    compile_model(model, profile)
    train_feed = make_dataset(data.x_train, data.y_train, profile.batch_size, training=True,
                              seed=seed)
    val_feed = make_dataset(data.x_val, data.y_val, profile.batch_size, training=False)
    steps = len(train_feed)
    if state["epochs_done"]:
        # Restore weights and optimizer state (built by compile_model) from the checkpoint.
        ckpt = out_dir / "checkpoints" / state["checkpoint"]
        model.load_weights(ckpt)
        taken = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        if taken != state["epochs_done"] * steps:
            raise RunError(
                f"checkpoints/{ckpt.name} in {out_dir} holds {taken} optimizer steps, but "
                f"{state['epochs_done']} epoch(s) of {steps} batches make "
                f"{state['epochs_done'] * steps}: it is not this run's epoch "
                f"{state['epochs_done']}; pass force=True to start over")

    def first_commit():
        if previous is not None and previous.is_dir():
            shutil.rmtree(previous, ignore_errors=True)

    callbacks = [
        _validation_hooks(data.x_train, profile, seed),
        _epoch_recorder(out_dir, profile, seed, state, history, network, (train_feed,), steps,
                        first_commit, say),
    ]
    # TensorBoard scalars (tensorboard/ in the run folder), written after each
    # epoch's commit, so after the recorder; see tensorboard_log
    scalars = open_scalar_log(out_dir, history, say)
    if scalars is not None:
        callbacks.append(scalars.callback(history, say))
    if state["epochs_done"] < profile.epochs:
        if verbose:
            done = state["epochs_done"]
            say(f"{variant_label(channels)} (seed {seed}): epochs {done + 1}..{profile.epochs} "
                f"of {profile.epochs}" + (f" (resuming after epoch {done})" if done else ""))
        model.fit(train_feed, validation_data=val_feed, epochs=profile.epochs, shuffle=False,
                  initial_epoch=state["epochs_done"], callbacks=callbacks, verbose=verbose)
    elif verbose:
        say(f"{variant_label(channels)} (seed {seed}): all {profile.epochs} epochs done; "
            "evaluating the best weights on the test set")
    return _finish(out_dir, model, network, channels, profile, data, state, history, seed,
                   precision, data_dir)


def _is_terminal() -> bool:
    import sys

    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _finish(out_dir, model, network, channels, profile, data, state, history, seed, precision,
            data_dir) -> dict:
    """Evaluate the best weights on the test set and write metrics.json."""
    import keras

    from ..data.input_pipeline import make_dataset
    from ..common.environment import environment_info
    from ..model.counts import count_macs, count_params, param_size_mib, profiler_flops
    from .provenance import code_version

    network.load_weights(out_dir / "best.weights.h5")
    test_feed = make_dataset(data.x_test, data.y_test, profile.batch_size, training=False)
    test_loss, test_accuracy = model.evaluate(test_feed, verbose=0)
    probabilities = model.predict(test_feed, verbose=0)
    buf = io.BytesIO()
    np.savez_compressed(buf, y_true=data.y_test, probabilities=probabilities.astype("float32"),
                        class_names=np.array(data.class_names))
    atomic_write_bytes(out_dir / "test_predictions.npz", buf.getvalue())

    total, trainable = count_params(network)
    flops, flops_note = None, None
    if keras.backend.backend() != "tensorflow":
        flops_note = (f"not counted: the TensorFlow profiler needs KERAS_BACKEND=tensorflow "
                      f"(this run used {keras.backend.backend()}); 'macs' is the count")
    else:
        try:
            flops = profiler_flops(network)
        except Exception as err:  # a cross-check, never a reason to lose a run
            flops_note = f"not counted: the TensorFlow profiler failed ({type(err).__name__}: {err})"
    seconds = float(sum(row["seconds"] for row in history))
    # Throughput from the epochs after the first, which also builds and
    # compiles the training step.
    timed = history[1:] or history
    timed_seconds = sum(row["seconds"] for row in timed)
    images = len(data.x_train) * len(timed)
    try:
        config = read_json(out_dir / "config.json")
    except (OSError, ValueError):
        config = {}
    metrics = {
        "variant": variant_name(channels),
        "label": variant_label(channels),
        "channels": channels,
        "profile": profile.to_dict(),
        "seed": seed,
        "split_seed": SPLIT_SEED,
        "precision": precision,
        "optimizer": profile.optimizer,
        "params_total": total,
        "params_trainable": trainable,
        "param_size_mib": param_size_mib(network),
        "macs": count_macs(network),
        "profiler_flops": flops,
        "profiler_flops_note": flops_note,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "best_epoch": state["best_epoch"],
        "best_val_accuracy": state["best_val_accuracy"],
        "epochs": len(history),
        "training_seconds": seconds,
        "images_per_second": images / timed_seconds if timed_seconds else None,
        "mixed_precision": precision == "mixed",
        "train_images": int(len(data.x_train)),
        "val_images": int(len(data.x_val)),
        "test_images": int(len(data.x_test)),
        "data_source": config.get("data_source") or {"layout": None, "fingerprint": None},
        "code": code_version(),
        "code_at_start": config.get("code"),
        "resumes": state.get("resumes", []),
        "environment": environment_info(),
    }
    atomic_write_json(out_dir / "metrics.json", metrics)
    return metrics
