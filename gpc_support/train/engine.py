"""Train one variant for a profile into an output folder, resumably and exactly.

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
                   load into `models.build_model(channels, input_shape)`.
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
                   only; see `tensorboard_log`).
- `.lock`, `.lock.owner`  the folder's lock (see `runlock`): one run per folder.

Exact resume.  A run stopped at any point (kill -9 included) and started
again ends with the same history and test predictions, values included, as a
run never stopped, on the same machine and software:

- epoch e's batch order is `numpy.random.default_rng([seed, e])` (see
  `feeding.ArrayFeeder`), whatever happened before;
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

import csv
import datetime
import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

from ..common.atomic_files import (atomic_write_bytes, atomic_write_json, atomic_write_text, read_json,
                    temporary_path, write_error)
from ..common.run_folder import HISTORY_FIELDS, PREVIOUS_SUFFIX, RUN_FILES
from ..model.variants import check_channels, variant_label, variant_name
from .profiles import Profile, get_profile, learning_rate, profile_from_record

__all__ = ["train_variant", "HISTORY_FIELDS", "read_history", "validate_run_request", "RunError",
           "PRECISIONS", "SPLIT_SEED", "check_precision", "seed_generators", "reseed_generators",
           "checkpoint_epoch", "load_run_data"]

# config.json keys that must match for a folder to be resumed
CONFIG_COMPARED = ("variant", "channels", "profile", "seed", "split_seed", "precision",
                   "data_layout")
PRECISIONS = ("float32", "mixed")
SPLIT_SEED = 0
CHECKPOINT_MEMBER = "gpc_epoch.json"  # inside each epoch_NNN.keras


class RunError(ValueError):
    """A run that cannot start: bad folder, or a folder holding another run."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------
# history.csv
# --------------------------------------------------------------------------


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


def _history_prefix(path: Path) -> tuple[list[dict], list[str]]:
    """The rows of epochs 1, 2, ... in order, and what was wrong after them.

    A row repeated with the same values is dropped (with a note); a row
    that breaks the sequence ends the usable part (with a note)."""
    if not path.exists():
        return [], []
    try:
        rows = read_history(path)
    except (ValueError, KeyError, TypeError, OSError) as err:
        return [], [f"{path.name} cannot be read ({err})"]
    usable, notes = [], []
    for line, row in enumerate(rows, start=2):
        if set(row) != set(HISTORY_FIELDS) or any(v is None for v in row.values()):
            notes.append(f"{path.name} line {line} does not have the columns "
                         f"{', '.join(HISTORY_FIELDS)}; it and the rows after it are ignored")
            break
        if usable and row["epoch"] == usable[-1]["epoch"]:
            same = all(row[k] == usable[-1][k] for k in HISTORY_FIELDS if k != "seconds")
            if same:
                notes.append(f"{path.name} line {line} repeats epoch {row['epoch']}; the copy is dropped")
                continue
            notes.append(f"{path.name} line {line} holds epoch {row['epoch']} a second time with "
                         "other values; it and the rows after it are ignored")
            break
        if row["epoch"] != len(usable) + 1:
            notes.append(f"{path.name} line {line} holds epoch {row['epoch']} where epoch "
                         f"{len(usable) + 1} was expected; it and the rows after it are ignored")
            break
        usable.append(row)
    return usable, notes


# --------------------------------------------------------------------------
# Parameters and configuration
# --------------------------------------------------------------------------


def check_precision(precision) -> str:
    """'float32' (default everywhere) or 'mixed' (mixed float16, only when asked)."""
    if precision not in PRECISIONS:
        raise RunError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, "
                       f"got {precision!r}")
    return precision


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = temporary_path(out_dir / "write-test")
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise RunError(f"out_dir {str(out_dir)!r} cannot be written: {err.strerror or err}") from None


def validate_run_request(channels, profile, data_dir, out_dir, seed, overrides,
                         precision: str = "float32") -> tuple:
    """Check every parameter of a run, cheaply, before any data or model.

    Returns (channels, Profile, Path out_dir).  Raises ValueError subclasses
    naming the bad parameter.
    """
    from ..data.layouts import validate_data_dir

    channels = check_channels(channels)
    profile = get_profile(profile, **(overrides or {}))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunError(f"seed must be a non-negative integer, got {seed!r}")
    check_precision(precision)
    if out_dir is None or str(out_dir).strip() == "":
        raise RunError("out_dir must be a folder path")
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"out_dir {str(out_dir)!r} exists and is not a folder")
    if data_dir is not None:
        validate_data_dir(data_dir)
    return channels, profile, out_dir


def _run_config(channels, profile: Profile, seed: int, precision: str, data_dir) -> dict:
    from .provenance import code_version, data_layout

    return {
        "variant": variant_name(channels),
        "label": variant_label(channels),
        "channels": channels,
        "profile": profile.to_dict(),
        "optimizer": profile.optimizer,
        "seed": seed,
        "split_seed": SPLIT_SEED,
        "precision": precision,
        # the fingerprint is added once the data are loaded (_check_data)
        "data_source": {"layout": data_layout(data_dir), "fingerprint": None},
        "code": code_version(),
        "created": _now(),
    }


def load_run_data(profile: Profile, data_dir=None):
    """The `CifarData` every run of `profile` on `data_dir` trains, validates
    and tests on, whatever its seed: subsets and split drawn with SPLIT_SEED
    (or, for the "authors" split, by file order)."""
    from ..data.sources import load_cifar10

    return load_cifar10(data_dir, validation_fraction=profile.validation_fraction,
                        seed=SPLIT_SEED, train_limit=profile.train_limit,
                        test_limit=profile.test_limit, split=profile.split)


def _has_run(out_dir: Path) -> bool:
    return any((out_dir / name).exists() for name in RUN_FILES)


def _claim_folder(out_dir: Path, config: dict) -> None:
    """Write config.json, or check it matches the one already there."""
    path = out_dir / "config.json"
    if path.exists():
        try:
            old = read_json(path)
        except (ValueError, OSError):
            old = None
        differ = None if old is None else [k for k in CONFIG_COMPARED
                                           if _config_value(old, k) != _config_value(config, k)]
        if old is None or differ:
            differ = ("config.json cannot be read" if old is None else "differs in " + ", ".join(differ))
            raise RunError(
                f"out_dir {str(out_dir)!r} holds a run with another configuration "
                f"({differ}); choose another out_dir or pass force=True to start over")
        return
    atomic_write_json(path, config)


def _config_value(config: dict, key: str):
    if key == "data_layout":
        source = config.get("data_source")
        return source.get("layout") if isinstance(source, dict) else None
    if key == "profile":
        return json.loads(json.dumps(profile_from_record(config.get(key))))
    return json.loads(json.dumps(config.get(key)))


def _check_data(out_dir: Path, cifar) -> None:
    """Record the loaded data's fingerprint in config.json, or check it is the
    one the run started with (a resumed run must see the same images)."""
    from .provenance import arrays_fingerprint

    path = out_dir / "config.json"
    config = read_json(path)
    source = config.get("data_source") if isinstance(config.get("data_source"), dict) else {}
    fingerprint = arrays_fingerprint(cifar)
    if source.get("fingerprint") is None:
        config["data_source"] = {**source, "fingerprint": fingerprint}
        atomic_write_json(path, config)
    elif source["fingerprint"] != fingerprint:
        raise RunError(
            f"data_dir: the data differ from those the run in {str(out_dir)!r} started with "
            f"(fingerprint {fingerprint}, config.json records {source['fingerprint']}); "
            "use the same data, another out_dir, or force=True to start over")


# --------------------------------------------------------------------------
# --force: keep the old run until the new one has committed an epoch
# --------------------------------------------------------------------------


def _previous_dir(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + PREVIOUS_SUFFIX)


def _move_run(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (src / name).exists():
            os.replace(src / name, dst / name)


def _remove_run_files(folder: Path) -> None:
    for name in RUN_FILES:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _committed_epochs(out_dir: Path) -> int:
    try:
        return int(read_json(out_dir / "state.json").get("epochs_done", 0))
    except (OSError, ValueError, TypeError):
        return 0


def _recover_previous(out_dir: Path, say) -> None:
    """A `.previous` left by a forced start that was interrupted: put it back
    if the new run never committed an epoch, else drop it."""
    previous = _previous_dir(out_dir)
    if not previous.is_dir():
        return
    if _committed_epochs(out_dir) >= 1:
        shutil.rmtree(previous)
        return
    _remove_run_files(out_dir)
    _move_run(previous, out_dir)
    shutil.rmtree(previous)
    say(f"restored the run that a forced restart had moved aside into {previous.name} "
        "(the restart never finished an epoch)")


# --------------------------------------------------------------------------
# Model, random state, checkpoints
# --------------------------------------------------------------------------


def _set_precision(precision: str) -> None:
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if precision == "mixed" else "float32")


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


def _compile(model, profile: Profile) -> None:
    from .optimizers import make_optimizer

    model.compile(
        optimizer=make_optimizer(profile.optimizer, learning_rate(0, profile)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )


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


def checkpoint_epoch(path) -> int | None:
    """The epoch recorded inside a checkpoint (None when it records none)."""
    try:
        with zipfile.ZipFile(path) as z:
            return int(json.loads(z.read(CHECKPOINT_MEMBER))["epoch"])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None


def _checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.keras"


def _save_checkpoint(model, path: Path, epoch: int, steps: int) -> None:
    """model.save into a temporary file unique to this process, record the
    epoch inside it, then rename; a failure names the file, removes the temp."""
    def write(tmp):
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(CHECKPOINT_MEMBER, json.dumps({"epoch": epoch, "optimizer_steps": steps}))

    _write_through_temp(path, ".tmp.keras", write)


def _write_through_temp(path: Path, suffix: str, write) -> None:
    """`write(tmp)` into a temporary file unique to this process, then rename
    it to `path`; a failure names the file and removes the temporary."""
    tmp = temporary_path(path, suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise write_error(path, err) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _save_best_candidate(network, path: Path, epoch: int) -> None:
    import h5py

    def write(tmp):
        network.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs["gpc_epoch"] = epoch

    _write_through_temp(path, ".tmp.weights.h5", write)


def _weights_epoch(path: Path) -> int | None:
    """The epoch stored in a best-weights file; None when unknown."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return int(f.attrs["gpc_epoch"]) if "gpc_epoch" in f.attrs else None
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _settle_files(out_dir: Path, state: dict) -> None:
    """Finish what a committed state.json says: promote the best weights,
    remove checkpoints, candidates and temporary files it no longer refers to."""
    ckpt_dir = out_dir / "checkpoints"
    pending = state.get("best_pending")
    if pending and (ckpt_dir / pending).exists():
        os.replace(ckpt_dir / pending, out_dir / "best.weights.h5")
    if ckpt_dir.is_dir():
        for old in ckpt_dir.iterdir():
            if old.name != state.get("checkpoint"):
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)
    for leftover in out_dir.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


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
            ckpt = ckpt_dir / _checkpoint_name(done)
            _save_checkpoint(self.model, ckpt, done, done * steps_per_epoch)
            improved = row["val_accuracy"] > state["best_val_accuracy"]
            candidate = ckpt_dir / f"best_epoch_{done:03d}.weights.h5"
            if improved:
                # The bare network: a compiled model's weights file would also
                # carry the optimizer's slots, doubling its size.
                _save_best_candidate(network, candidate, done)
            # 2. the history with this row
            history.append(row)
            atomic_write_text(out_dir / "history.csv", _history_text(history))
            # 3. the commit point
            state.update(epochs_done=done, checkpoint=ckpt.name,
                         training_seconds=state["training_seconds"] + seconds)
            if improved:
                state.update(best_val_accuracy=row["val_accuracy"], best_epoch=done,
                             best_pending=candidate.name)
            atomic_write_json(out_dir / "state.json", state)
            # 4. only a committed epoch's weights become best.weights.h5
            _settle_files(out_dir, state)
            on_first_commit()

    return EpochRecorder()


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


# --------------------------------------------------------------------------
# Resume: state.json, history.csv and the checkpoint must agree
# --------------------------------------------------------------------------


def _fresh_state() -> dict:
    return {"epochs_done": 0, "checkpoint": None, "best_val_accuracy": -1.0, "best_epoch": 0,
            "training_seconds": 0.0, "best_pending": None, "resumes": []}


def _checkpoints(ckpt_dir: Path) -> tuple[dict, list[str]]:
    """{epoch: path} of the checkpoints whose recorded epoch matches their name."""
    found, notes = {}, []
    if not ckpt_dir.is_dir():
        return found, notes
    for path in sorted(ckpt_dir.glob("epoch_*.keras")):
        try:
            named = int(path.name[len("epoch_"):-len(".keras")])
        except ValueError:
            continue
        recorded = checkpoint_epoch(path)
        if recorded == named:
            found[named] = path
        else:
            notes.append(f"checkpoints/{path.name} " + (
                "records no epoch (damaged or not written by this engine)" if recorded is None
                else f"records epoch {recorded}, not {named}") + "; it is not used")
    return found, notes


def _best_weights_available(out_dir: Path, state: dict) -> bool:
    best = state.get("best_epoch", 0)
    if best < 1:
        return True
    pending = state.get("best_pending")
    if pending and (out_dir / "checkpoints" / pending).exists() and \
            _weights_epoch(out_dir / "checkpoints" / pending) in (best, None):
        return True
    path = out_dir / "best.weights.h5"
    return path.exists() and _weights_epoch(path) in (best, None)


def _best_of(history: list[dict]) -> tuple[int, float]:
    best_epoch, best = 0, -1.0
    for row in history:
        if row["val_accuracy"] > best:
            best_epoch, best = row["epoch"], row["val_accuracy"]
    return best_epoch, best


def _load_state(out_dir: Path, say=print) -> tuple[dict, list]:
    """(state, history) to resume from; RunError when no consistent point
    exists although epochs were finished.  Every repair is said."""
    fresh = _fresh_state()
    state_path, history_path = out_dir / "state.json", out_dir / "history.csv"
    ckpts, ckpt_notes = _checkpoints(out_dir / "checkpoints")
    history, history_notes = _history_prefix(history_path)
    state, state_note = None, None
    if state_path.exists():
        try:
            state = {**fresh, **read_json(state_path)}
            int(state["epochs_done"])
        except (ValueError, OSError, TypeError) as err:
            state, state_note = None, f"state.json cannot be read ({err})"
    if state is None and not history and not ckpts and not state_note:
        return fresh, []  # a new run
    done = int(state["epochs_done"]) if state else None
    if state is not None and done == 0 and not ckpts:
        if history:
            say(f"note: {history_path.name} holds {len(history)} row(s) that state.json never "
                "committed; they are redone")
        return {**fresh, "resumes": state.get("resumes", [])}, []
    # the normal case: state.json's checkpoint exists and history has its rows
    if (state is not None and done >= 1 and ckpts.get(done) is not None
            and state.get("checkpoint") == _checkpoint_name(done) and len(history) >= done
            and _best_weights_available(out_dir, state)):
        for note in history_notes:
            say(f"note: {note}")
        if len(history) > done:
            say(f"note: {history_path.name} holds {len(history) - done} row(s) after epoch "
                f"{done} that state.json never committed (stopped during the commit); "
                "they are redone")
        _settle_files(out_dir, state)
        return state, history[:done]
    # disagreement: the newest epoch where a checkpoint and history.csv agree
    problems = ([state_note] if state_note else []) + history_notes + ckpt_notes
    if state is not None:
        problems.append(f"state.json says {done} epoch(s) are done (checkpoint "
                        f"{state.get('checkpoint')!r}, best epoch {state.get('best_epoch')})")
    problems.append(f"history.csv has {len(history)} usable row(s); checkpoints hold epoch(s) "
                    f"{sorted(ckpts) or 'none'}")
    agree = [k for k in ckpts if k <= len(history)]
    resume_at = max(agree) if agree else 0
    candidate = dict(fresh)
    if resume_at:
        best_epoch, best_val = _best_of(history[:resume_at])
        candidate.update(epochs_done=resume_at, checkpoint=_checkpoint_name(resume_at),
                         best_epoch=best_epoch, best_val_accuracy=best_val,
                         training_seconds=float(sum(r["seconds"] for r in history[:resume_at])),
                         resumes=(state or {}).get("resumes", []))
        pending = f"best_epoch_{best_epoch:03d}.weights.h5"
        if (out_dir / "checkpoints" / pending).exists() and \
                _weights_epoch(out_dir / "checkpoints" / pending) == best_epoch:
            candidate["best_pending"] = pending
        elif _weights_epoch(out_dir / "best.weights.h5") != best_epoch:
            raise RunError(
                f"out_dir {str(out_dir)!r} cannot be resumed: best.weights.h5 does not hold "
                f"epoch {best_epoch}, the best of the {resume_at} epoch(s) that "
                f"checkpoints/{_checkpoint_name(resume_at)} and history.csv agree on "
                f"({'; '.join(problems)}); pass force=True to start over")
    elif not history and not ckpts and state is not None and done == 0:
        return fresh, []
    if not resume_at:
        raise RunError(
            f"out_dir {str(out_dir)!r} cannot be resumed: no checkpoint agrees with "
            f"history.csv ({'; '.join(problems)}); the finished epochs cannot be continued "
            "exactly. Pass force=True to start over (the old files are kept until the new "
            "run commits its first epoch)")
    say(f"note: {'; '.join(problems)}: checkpoints/{_checkpoint_name(resume_at)} and "
        f"history.csv agree on epoch {resume_at}; resuming from there")
    if len(history) > resume_at:
        say(f"note: history.csv rows {resume_at + 1}..{len(history)} have no checkpoint; "
            "those epochs are redone")
    atomic_write_text(history_path, _history_text(history[:resume_at]))
    atomic_write_json(state_path, candidate)
    _settle_files(out_dir, candidate)
    return candidate, history[:resume_at]


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


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
            (`runlock.FolderLocked`, naming the holder).
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
    _check_writable(out_dir)

    def say(text):
        print(text, flush=True)

    with folder_lock(out_dir, f"training {variant_name(channels)} seed {seed}"):
        _recover_previous(out_dir, say)
        config = _run_config(channels, profile, seed, precision, data_dir)
        previous = None
        if force and _has_run(out_dir):
            previous = _previous_dir(out_dir)
            _move_run(out_dir, previous)
        try:
            _claim_folder(out_dir, config)
            return _train_claimed(out_dir, channels, profile, data_dir, seed, precision, verbose,
                                  data, previous, say)
        except BaseException:
            if previous is not None and previous.is_dir() and _committed_epochs(out_dir) < 1:
                _remove_run_files(out_dir)
                _move_run(previous, out_dir)
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
    state, history = _load_state(out_dir, say)
    if state["epochs_done"]:
        state.setdefault("resumes", []).append(
            {"at": _now(), "after_epoch": state["epochs_done"], "code": code_version()})
        atomic_write_json(out_dir / "state.json", state)
    if data is None:
        data = load_run_data(profile, data_dir)
    _check_data(out_dir, data)
    _set_precision(precision)
    keras.utils.set_random_seed(seed)
    model, network = build_training_model(channels, profile, seed)
    _compile(model, profile)
    train_feed = make_dataset(data.x_train, data.y_train, profile.batch_size, training=True,
                              seed=seed)
    val_feed = make_dataset(data.x_val, data.y_val, profile.batch_size, training=False)
    steps = len(train_feed)
    if state["epochs_done"]:
        # Rebuild, then restore weights and optimizer state from the checkpoint.
        ckpt = out_dir / "checkpoints" / state["checkpoint"]
        model.optimizer.build(model.trainable_variables)
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
