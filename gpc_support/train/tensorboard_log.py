"""TensorBoard scalars of one run: one value per tag and epoch, across kills and resumes.

    <run>/tensorboard/train/       epoch_loss, epoch_accuracy, epoch_learning_rate,
                                   epoch_seconds
    <run>/tensorboard/validation/  epoch_loss, epoch_accuracy

The tags and the train/validation folders are the ones
`keras.callbacks.TensorBoard` writes, so the train and validation curves of a
tag share one chart; the step is the epoch number as in history.csv (1, 2,
...).  `tensorboard --logdir results/<profile>` shows every run of a results
folder (`runs/<variant>/seed<k>/tensorboard/...`).

Why not the Keras callback itself: it writes an epoch's scalars before the
epoch is committed (state.json), so a kill between the two, then a resume,
leaves that epoch twice in the event files.  Here the scalars are derived
from the committed history:

- `ScalarLog.append(row)` is called after state.json has committed the epoch;
- `ScalarLog.sync(history)` runs before training (a new run or a resume):
  event files holding anything else than the committed epochs (an epoch the
  resume redoes, a value twice, a record cut by a kill) are replaced by one
  file written from history.csv; committed epochs missing from them (a kill
  between the commit and the write) are added.

Only the TensorFlow backend writes them: the event format comes from
TensorFlow (its protocol buffers and record writer, no TensorFlow op runs),
and importing TensorFlow under another backend would cost seconds and, on a
GPU, the device's memory.  `open_scalar_log` says so in one line and returns
None there.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

__all__ = ["FOLDER", "TAGS", "ScalarLog", "open_scalar_log", "read_scalars"]

FOLDER = "tensorboard"
# subfolder -> ((tag, history.csv column), ...)
TAGS = {
    "train": (("epoch_loss", "loss"), ("epoch_accuracy", "accuracy"),
              ("epoch_learning_rate", "lr"), ("epoch_seconds", "seconds")),
    "validation": (("epoch_loss", "val_loss"), ("epoch_accuracy", "val_accuracy")),
}
_COUNTER = itertools.count()


def _event_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and "tfevents" in p.name)


def read_scalars(folder) -> tuple[dict, bool]:
    """({(tag, step): [values...]}, damaged) over the event files of one
    folder (e.g. `<run>/tensorboard/validation`); damaged when a file ends in
    a record a kill cut short or cannot be read."""
    import tensorflow as tf

    found, damaged = {}, False
    for path in _event_files(Path(folder)):
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                event = tf.compat.v1.Event.FromString(record.numpy())
                for value in event.summary.value:
                    found.setdefault((value.tag, int(event.step)), []).append(value.simple_value)
        except Exception:  # DataLossError (truncated record), a protobuf error, OSError
            damaged = True
    return found, damaged


def _float32(value) -> float:
    import numpy as np

    return float(np.float32(value))


class ScalarLog:
    """The event files of one run folder's `tensorboard/` (see the module doc)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._writers: dict = {}

    # -- writing -----------------------------------------------------------
    def _new_file(self, sub: str, temporary: bool = False):
        """(writer, path) of a new event file in `sub`; a temporary one has a
        name TensorBoard does not read (`.<name>.tmp`) until it is renamed."""
        import tensorflow as tf

        folder = self.folder / sub
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{time.time():.6f}.gpc.{os.getpid()}.{next(_COUNTER)}"
        path = folder / (f".{name}.tmp" if temporary else name)
        writer = tf.io.TFRecordWriter(str(path))
        writer.write(tf.compat.v1.Event(wall_time=time.time(),
                                        file_version="brain.Event:2").SerializeToString())
        return writer, path

    @staticmethod
    def _write_epoch(writer, sub: str, row: dict) -> None:
        import tensorflow as tf

        values = [tf.compat.v1.Summary.Value(tag=tag, simple_value=float(row[column]))
                  for tag, column in TAGS[sub]]
        event = tf.compat.v1.Event(wall_time=time.time(), step=int(row["epoch"]),
                                   summary=tf.compat.v1.Summary(value=values))
        writer.write(event.SerializeToString())

    def append(self, row: dict) -> None:
        """The scalars of one committed epoch (a history.csv row), flushed."""
        for sub in TAGS:
            if sub not in self._writers:
                self._writers[sub] = self._new_file(sub)[0]
            self._write_epoch(self._writers[sub], sub, row)
            self._writers[sub].flush()

    def callback(self, history: list[dict], say):
        """A Keras callback for after the epoch recorder (callbacks run in list
        order): at each epoch's end, the row the recorder has just committed
        (`history[-1]`).  A failure turns the log off with one line said."""
        import keras

        log = self

        class TensorBoardScalars(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if log.folder is None or not history or history[-1]["epoch"] != epoch + 1:
                    return
                try:
                    log.append(history[-1])
                except Exception as err:
                    log.close()
                    log.folder = None
                    say(f"TensorBoard logs: off for the rest of this run "
                        f"({type(err).__name__}: {err})")

            def on_train_end(self, logs=None):
                log.close()

        return TensorBoardScalars()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    # -- resume ------------------------------------------------------------
    def sync(self, history: list[dict]) -> str | None:
        """Make the event files hold exactly the epochs of `history` (the
        committed rows), one value per tag; returns a note when it replaced
        files, None otherwise."""
        rewritten = []
        for sub, tags in TAGS.items():
            for leftover in (self.folder / sub).glob(".*.tmp"):  # a rewrite a kill cut short
                leftover.unlink(missing_ok=True)
            expected = {(tag, row["epoch"]): _float32(row[column])
                        for row in history for tag, column in tags}
            found, damaged = read_scalars(self.folder / sub)
            clean = not damaged and all(
                key in expected and len(values) == 1 and values[0] == expected[key]
                for key, values in found.items())
            if clean:
                missing = sorted({step for (_, step) in expected} -
                                 {step for (_, step) in found})
                for row in history:
                    if row["epoch"] in missing:
                        if sub not in self._writers:
                            self._writers[sub] = self._new_file(sub)[0]
                        self._write_epoch(self._writers[sub], sub, row)
                if sub in self._writers:
                    self._writers[sub].flush()
                continue
            old = _event_files(self.folder / sub)
            writer, path = self._new_file(sub, temporary=True)
            try:
                for row in history:
                    self._write_epoch(writer, sub, row)
            finally:
                writer.close()
            os.replace(path, path.with_name(path.name[1:-len(".tmp")]))
            for stale in old:
                stale.unlink(missing_ok=True)
            rewritten.append(sub)
        if rewritten:
            return (f"TensorBoard: {', '.join(rewritten)} event files rewritten from history.csv "
                    f"(epochs 1..{len(history)}), one value per epoch")
        return None


def open_scalar_log(run_dir, history: list[dict], say) -> ScalarLog | None:
    """The run's ScalarLog, synced with its committed `history`; None (and one
    line said) when this backend cannot write TensorBoard files or they
    cannot be written.  Never raises: TensorBoard is never a reason to stop
    a run."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        say(f"TensorBoard logs: skipped (they need TensorFlow; this run uses the {backend} "
            "backend)")
        return None
    log = ScalarLog(Path(run_dir) / FOLDER)
    try:
        note = log.sync(history)
    except Exception as err:
        log.close()
        say(f"TensorBoard logs: off for this run ({type(err).__name__}: {err})")
        return None
    if note:
        say(f"note: {note}")
    return log
