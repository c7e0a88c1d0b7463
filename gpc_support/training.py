"""Train one variant for a profile into an output folder, resumably.

    from gpc_support.training import train_variant
    metrics = train_variant(16, profile="quick", data_dir="~/cifar10", out_dir="results/quick/gpc16")

What lands in `out_dir` (every file written atomically: temporary file, then
rename, so a kill never leaves half a file):

- `config.json`    the run's configuration (variant, profile, seed); a later
                   call with a different configuration refuses the folder;
- `history.csv`    one row per finished epoch: epoch, lr, loss, accuracy,
                   val_loss, val_accuracy, seconds;
- `state.json`     the last finished epoch and the best one so far;
- `checkpoints/epoch_NNN.keras`  model + optimizer after the last finished epoch;
- `best.weights.h5`  the network's weights (no optimizer state) from the
                   finished epoch with the best validation accuracy; they load
                   into `models.build_model(channels, input_shape)`.  Written as
                   a candidate in checkpoints/ first and promoted only once
                   state.json has committed that epoch;
- `test_predictions.npz`  test labels and predicted probabilities of the best
                   weights (for per-class accuracy and the confusion matrix);
- `metrics.json`   written last: counts, test accuracy and loss, timings,
                   environment.  Its presence marks the run complete.

A run killed at any point and started again with the same folder continues
after its last finished epoch: `state.json` is the commit point of an epoch
and is written after that epoch's checkpoint and history row.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from .models import check_channels, variant_label, variant_name
from .profiles import Profile, get_profile, learning_rate

__all__ = ["train_variant", "HISTORY_FIELDS", "read_history", "validate_run_request", "RunError"]

HISTORY_FIELDS = ("epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
METRICS_FIELDS = (
    "variant", "label", "channels", "profile", "params_total", "params_trainable",
    "param_size_mib", "macs", "profiler_flops", "test_accuracy", "test_loss",
    "best_epoch", "best_val_accuracy", "epochs", "training_seconds",
    "images_per_second", "environment",
)


class RunError(ValueError):
    """A run that cannot start: bad folder, or a folder holding another run."""


def read_history(path) -> list[dict]:
    """History rows from `history.csv` as dicts of numbers (epoch as int)."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()})
    return rows


def _history_text(rows) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in HISTORY_FIELDS})
    return out.getvalue()


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise RunError(f"out_dir {str(out_dir)!r} cannot be written: {err.strerror or err}") from None


def validate_run_request(channels, profile, data_dir, out_dir, seed, overrides) -> tuple:
    """Check every parameter of a run, cheaply, before any data or model.

    Returns (channels, Profile, Path out_dir).  Raises ValueError subclasses
    naming the bad parameter.
    """
    from .data import validate_data_dir

    channels = check_channels(channels)
    profile = get_profile(profile, **(overrides or {}))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunError(f"seed must be a non-negative integer, got {seed!r}")
    if out_dir is None or str(out_dir).strip() == "":
        raise RunError("out_dir must be a folder path")
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"out_dir {str(out_dir)!r} exists and is not a folder")
    if data_dir is not None:
        validate_data_dir(data_dir)
    return channels, profile, out_dir


def _run_config(channels, profile: Profile, seed: int, data_dir) -> dict:
    return {
        "variant": variant_name(channels),
        "label": variant_label(channels),
        "channels": channels,
        "profile": profile.to_dict(),
        "seed": seed,
        "data_dir": None if data_dir is None else str(Path(data_dir).expanduser().resolve()),
    }


def _claim_folder(out_dir: Path, config: dict, force: bool) -> None:
    """Write config.json, or check it matches the one already there."""
    path = out_dir / "config.json"
    if path.exists() and not force:
        try:
            old = read_json(path)
        except ValueError:
            old = None
        same = old is not None and {k: old.get(k) for k in config if k != "data_dir"} == {
            k: v for k, v in config.items() if k != "data_dir"}
        if not same:
            raise RunError(
                f"out_dir {str(out_dir)!r} holds a run with another configuration "
                f"(see its config.json); choose another out_dir or pass force=True to start over"
            )
        return
    if force:
        _clear_run(out_dir)
    atomic_write_json(path, config)


def _clear_run(out_dir: Path) -> None:
    for name in ("metrics.json", "state.json", "history.csv", "best.weights.h5",
                 "test_predictions.npz", "config.json"):
        (out_dir / name).unlink(missing_ok=True)
    ckpt = out_dir / "checkpoints"
    if ckpt.is_dir():
        for f in ckpt.iterdir():
            f.unlink()


def _use_mixed_precision_if_gpu() -> bool:
    import keras

    from .environment import accelerator_names

    if accelerator_names():
        keras.mixed_precision.set_global_policy("mixed_float16")
        return True
    keras.mixed_precision.set_global_policy("float32")
    return False


def build_training_model(channels, profile: Profile, seed: int):
    """(full model: uint8 32x32 -> preprocessing -> network, the network alone)."""
    import keras

    from .data import build_preprocessing
    from .models import build_model

    network = build_model(channels, input_shape=(profile.image_size, profile.image_size, 3))
    inputs = keras.Input((32, 32, 3), dtype="uint8", name="cifar_uint8")
    x = build_preprocessing(profile.image_size, augment=profile.augment, seed=seed)(inputs)
    outputs = network(x)
    return keras.Model(inputs, outputs, name=f"train_{network.name}"), network


def _compile(model, profile: Profile) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate(0, profile)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )


def _epoch_recorder(out_dir: Path, profile: Profile, state: dict, history: list, network):
    """A Keras callback that commits every finished epoch to disk."""
    import keras

    ckpt_dir = out_dir / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)

    class EpochRecorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            lr = learning_rate(epoch, profile)
            self.model.optimizer.learning_rate.assign(lr)
            self._lr = lr
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.perf_counter() - self._start
            row = {"epoch": epoch + 1, "lr": self._lr, "seconds": seconds}
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                row[key] = float(logs.get(key, float("nan")))
            # 1. the epoch's checkpoint (model + optimizer) and best weights
            ckpt = ckpt_dir / f"epoch_{epoch + 1:03d}.keras"
            tmp = ckpt.with_name(ckpt.name + ".tmp.keras")
            self.model.save(tmp)
            os.replace(tmp, ckpt)
            improved = row["val_accuracy"] > state["best_val_accuracy"]
            candidate = ckpt_dir / f"best_epoch_{epoch + 1:03d}.weights.h5"
            if improved:
                # The bare network: a compiled model's weights file would also
                # carry the optimizer's slots, doubling its size.
                tmp = ckpt_dir / "best.tmp.weights.h5"
                network.save_weights(tmp)
                os.replace(tmp, candidate)
            # 2. the history with this row
            history.append(row)
            atomic_write_text(out_dir / "history.csv", _history_text(history))
            # 3. the commit point
            state.update(
                epochs_done=epoch + 1,
                checkpoint=ckpt.name,
                training_seconds=state["training_seconds"] + seconds,
            )
            if improved:
                state.update(best_val_accuracy=row["val_accuracy"], best_epoch=epoch + 1,
                             best_pending=candidate.name)
            atomic_write_json(out_dir / "state.json", state)
            # 4. only a committed epoch's weights become best.weights.h5
            _settle_files(out_dir, state)

    return EpochRecorder()


def _settle_files(out_dir: Path, state: dict) -> None:
    """Finish what a committed state.json says: promote the best weights,
    remove checkpoints and best-weight candidates it no longer refers to."""
    ckpt_dir = out_dir / "checkpoints"
    pending = state.get("best_pending")
    if pending and (ckpt_dir / pending).exists():
        os.replace(ckpt_dir / pending, out_dir / "best.weights.h5")
    if ckpt_dir.is_dir():
        for old in ckpt_dir.iterdir():
            if old.name != state.get("checkpoint"):
                old.unlink(missing_ok=True)


def recalibrate_batchnorm(model, images: np.ndarray, batches: int, batch_size: int, seed: int = 0) -> None:
    """Set every BatchNorm's moving statistics to their average over `batches`.

    `model` is the training model (preprocessing + network); the images go
    through its preprocessing without augmentation and through the network in
    training mode, with each BatchNorm's momentum set to `i / (i + 1)` for the
    i-th batch, so that its moving mean and variance become the running
    average of the batch statistics.  The momentum is a variable during the
    passes, so under TensorFlow the forward pass is compiled once per model.
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


def _batchnorm_recalibrator(images, profile: Profile, seed: int):
    import keras

    class BatchNormRecalibration(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            recalibrate_batchnorm(self.model, images, profile.bn_recalibration,
                                  profile.batch_size, seed)

    return BatchNormRecalibration()


def _load_state(out_dir: Path) -> tuple[dict, list]:
    fresh = {"epochs_done": 0, "checkpoint": None, "best_val_accuracy": -1.0,
             "best_epoch": 0, "training_seconds": 0.0}
    path = out_dir / "state.json"
    if not path.exists():
        return fresh, []
    try:
        state = {**fresh, **read_json(path)}
    except ValueError:
        return fresh, []
    if state["epochs_done"] and not (out_dir / "checkpoints" / str(state["checkpoint"])).exists():
        return fresh, []
    history = []
    if (out_dir / "history.csv").exists():
        try:
            history = read_history(out_dir / "history.csv")
        except (ValueError, KeyError, TypeError):
            history = []
    history = [row for row in history if row["epoch"] <= state["epochs_done"]]
    if len(history) != state["epochs_done"]:
        return fresh, []
    _settle_files(out_dir, state)
    return state, history


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
) -> dict:
    """Train `channels` (None = MobileNet) under `profile`; return the metrics.

    Args:
        channels: None, 16, 32, 64, 128 (or any positive integer).
        profile: "paper", "cpu", "quick", "smoke" or a Profile.
        data_dir: None for `keras.datasets.cifar10`, or a folder with the
            python batches or train/ and test/ class folders.
        out_dir: the run's folder; an unfinished run there is resumed, a
            finished one is returned without training.
        seed: seeds the split, the shuffling, augmentation and weights.
        overrides: profile fields to replace, e.g. {"epochs": 5}.
        force: start over even if out_dir holds a run.
        verbose: Keras verbosity; "auto" shows progress bars in a terminal
            and one line per epoch elsewhere (notebooks run by papermill).
        data: an already loaded `CifarData` (skips loading).
    """
    channels, profile, out_dir = validate_run_request(
        channels, profile, data_dir, out_dir, seed, overrides)
    _check_writable(out_dir)
    config = _run_config(channels, profile, seed, data_dir)
    _claim_folder(out_dir, config, force)
    if (out_dir / "metrics.json").exists():
        try:
            return read_json(out_dir / "metrics.json")
        except ValueError:
            (out_dir / "metrics.json").unlink()

    import keras

    from .data import load_cifar10, make_dataset

    if verbose == "auto":
        verbose = 1 if _is_terminal() else 2
    state, history = _load_state(out_dir)
    keras.utils.set_random_seed(seed)
    if data is None:
        data = load_cifar10(data_dir, validation_fraction=profile.validation_fraction, seed=seed,
                            train_limit=profile.train_limit, test_limit=profile.test_limit)
    mixed = _use_mixed_precision_if_gpu()
    model, network = build_training_model(channels, profile, seed)
    _compile(model, profile)
    if state["epochs_done"]:
        # Rebuild, then restore weights and optimizer state from the checkpoint.
        model.optimizer.build(model.trainable_variables)
        model.load_weights(out_dir / "checkpoints" / state["checkpoint"])

    train_ds = make_dataset(data.x_train, data.y_train, profile.batch_size, training=True, seed=seed)
    val_ds = make_dataset(data.x_val, data.y_val, profile.batch_size, training=False)
    callbacks = [_epoch_recorder(out_dir, profile, state, history, network)]
    if profile.bn_recalibration:
        callbacks.insert(0, _batchnorm_recalibrator(data.x_train, profile, seed))
    if state["epochs_done"] < profile.epochs:
        if verbose:
            done = state["epochs_done"]
            print(f"{variant_label(channels)}: epochs {done + 1}..{profile.epochs} of {profile.epochs}"
                  + (f" (resuming after epoch {done})" if done else ""), flush=True)
        model.fit(train_ds, validation_data=val_ds, epochs=profile.epochs, shuffle=False,
                  initial_epoch=state["epochs_done"], callbacks=callbacks, verbose=verbose)

    return _finish(out_dir, model, network, channels, profile, data, state, history, mixed)


def _is_terminal() -> bool:
    import sys

    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _finish(out_dir, model, network, channels, profile, data, state, history, mixed) -> dict:
    """Evaluate the best weights on the test set and write metrics.json."""
    import keras

    from .data import make_dataset
    from .environment import environment_info
    from .metrics import count_macs, count_params, param_size_mib, profiler_flops

    network.load_weights(out_dir / "best.weights.h5")
    test_ds = make_dataset(data.x_test, data.y_test, profile.batch_size, training=False)
    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    probabilities = model.predict(test_ds, verbose=0)
    buf = io.BytesIO()
    np.savez_compressed(buf, y_true=data.y_test, probabilities=probabilities.astype("float32"),
                        class_names=np.array(data.class_names))
    atomic_write_bytes(out_dir / "test_predictions.npz", buf.getvalue())

    total, trainable = count_params(network)
    try:
        flops = profiler_flops(network) if keras.backend.backend() == "tensorflow" else None
    except Exception:  # the profiler is a cross-check, never a reason to lose a run
        flops = None
    seconds = float(sum(row["seconds"] for row in history))
    # Throughput from the epochs after the first, which also builds and
    # compiles the training step.
    timed = history[1:] or history
    timed_seconds = sum(row["seconds"] for row in timed)
    images = len(data.x_train) * len(timed)
    metrics = {
        "variant": variant_name(channels),
        "label": variant_label(channels),
        "channels": channels,
        "profile": profile.to_dict(),
        "params_total": total,
        "params_trainable": trainable,
        "param_size_mib": param_size_mib(network),
        "macs": count_macs(network),
        "profiler_flops": flops,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "best_epoch": state["best_epoch"],
        "best_val_accuracy": state["best_val_accuracy"],
        "epochs": len(history),
        "training_seconds": seconds,
        "images_per_second": images / timed_seconds if timed_seconds else None,
        "mixed_precision": mixed,
        "train_images": int(len(data.x_train)),
        "val_images": int(len(data.x_val)),
        "test_images": int(len(data.x_test)),
        "data_source": data.source,
        "environment": environment_info(),
    }
    atomic_write_json(out_dir / "metrics.json", metrics)
    return metrics
