"""What `run_all.sh` shows while a variant trains: epoch N of M, accuracies, time and ETAs.

Each line: epoch N of M, the last validation accuracy, the best so far,
time per epoch and two ETAs.

The batch driver (`run.sequential`, `run.pool`) executes each variant's notebook in a separate
kernel; it does not talk to that kernel.  While the notebook runs, a thread
of the driver reads the run folder's state.json (the commit point of an
epoch) every `interval` seconds, and history.csv when state.json changed, so
the training process is never slowed nor coupled to this display:

- in a terminal: one tqdm bar per run, redrawn in place (its elapsed time
  ticks every poll, so a slow run is told from a hung one);
- otherwise (CI logs, `> file`): one plain line per finished epoch, e.g.

      gpc16/seed0  epoch 3/15  val_accuracy 45.12%  best 45.12% (epoch 3)  61.8 s/epoch  ETA 0:12:21 this run, 1:34:05 all

ETAs count training epochs only (not data loading, the test evaluation or
the summary).  Time per epoch: the mean over the epochs this run trained in
this batch, without the first one (it also builds and compiles the training
step) once there are others.  "this run": its remaining epochs x its time
per epoch; "all": that plus the remaining epochs of every (variant, seed)
still to train x the mean epoch time measured so far in this batch, plus,
for each of those runs not started yet, what a first epoch took longer than
the others so far.  A resumed run starts from the epochs already done.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from ..common.atomic_files import read_json

__all__ = ["BatchProgress", "format_duration"]


def format_duration(seconds) -> str:
    """'1:02:03'; '?' when unknown."""
    if seconds is None:
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _steady(seconds: list[float]) -> list[float]:
    """Epoch times without the first (compilation), when there are others."""
    return seconds[1:] or seconds


def _mean(values):
    return sum(values) / len(values) if values else None


class BatchProgress:
    """Progress of a batch of runs: `plan` every run to train, then `watch`
    each while its notebook executes."""

    def __init__(self, stream=None, interval: float = 1.0, terminal: bool | None = None):
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self.stream = sys.stdout if stream is None else stream
        self.terminal = _is_terminal(self.stream) if terminal is None else terminal
        self.interval = interval
        self._lock = threading.Lock()
        self._runs: dict = {}  # label -> {"total": M, "done": d, "seconds": [this batch's epochs]}
        self._positions: set = set()

    def plan(self, label: str, total_epochs: int, done_epochs: int = 0) -> None:
        """A run this batch will train (for the whole-run ETA)."""
        self._runs[label] = {"total": int(total_epochs), "done": int(done_epochs), "seconds": []}

    def watch(self, label: str, run_dir, total_epochs: int | None = None, fresh: bool = False):
        """Context manager: shows the run's progress while the block runs.
        `fresh`: the run starts over (--force); the state.json found at the
        start belongs to the old run and is not shown."""
        if label not in self._runs:
            if total_epochs is None:
                raise ValueError(f"watch({label!r}): plan it first or give total_epochs")
            self.plan(label, total_epochs)
        elif total_epochs is not None:
            self._runs[label]["total"] = int(total_epochs)
        return _RunWatcher(self, label, Path(run_dir), fresh)

    # -- estimates ---------------------------------------------------------
    def estimates(self, label: str) -> tuple:
        """(seconds per epoch of this run, ETA of this run, ETA of the batch);
        None where nothing has been measured yet."""
        with self._lock:
            run = self._runs[label]
            own = _mean(_steady(run["seconds"]))
            measured = [s for r in self._runs.values() for s in _steady(r["seconds"])]
            mean = _mean(measured)
            per_epoch = own if own is not None else mean
            left = max(0, run["total"] - run["done"])
            eta_run = None if per_epoch is None else left * per_epoch
            pending = [r for key, r in self._runs.items()
                       if key != label and r["total"] > r["done"]]
            others = sum(r["total"] - r["done"] for r in pending)
            # a run's first epoch also builds and compiles: what that added so far
            overhead = _mean([max(0.0, r["seconds"][0] - _mean(r["seconds"][1:]))
                              for r in self._runs.values() if len(r["seconds"]) >= 2]) or 0.0
            starts = sum(1 for r in pending if not r["seconds"])
            if eta_run is None or (others and mean is None):
                eta_all = None
            else:
                eta_all = eta_run + others * (mean or 0.0) + starts * overhead
        return per_epoch, eta_run, eta_all

    def _write_line(self, text: str) -> None:
        with self._lock:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


class _RunWatcher:
    def __init__(self, batch: BatchProgress, label: str, run_dir: Path, fresh: bool):
        self.batch, self.label, self.run_dir, self.fresh = batch, label, run_dir, fresh
        self.shown = 0
        self.bar = None
        self._stop = threading.Event()
        self._thread = None
        self._stamp = None
        self._baseline = self._stat() if fresh else None

    # -- the files ---------------------------------------------------------
    def _stat(self):
        try:
            st = os.stat(self.run_dir / "state.json")
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _read(self):
        """(epochs done, history rows) from the committed files; None when
        they cannot be read now (a later poll reads them again)."""
        from ..train.engine import read_history

        try:
            done = int(read_json(self.run_dir / "state.json").get("epochs_done", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            return None
        if done == 0:
            return 0, []
        try:
            rows = read_history(self.run_dir / "history.csv")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if len(rows) < done:
            return None
        return done, rows[:done]

    # -- display -----------------------------------------------------------
    def _describe(self, epoch: int, rows: list) -> str:
        run = self.batch._runs[self.label]
        best = max(rows[:epoch], key=lambda r: r["val_accuracy"])
        per_epoch, eta_run, eta_all = self.batch.estimates(self.label)
        speed = "? s/epoch" if per_epoch is None else f"{per_epoch:.1f} s/epoch"
        return (f"epoch {epoch}/{run['total']}  "
                f"val_accuracy {100 * rows[epoch - 1]['val_accuracy']:.2f}%  "
                f"best {100 * best['val_accuracy']:.2f}% (epoch {best['epoch']})  {speed}  "
                f"ETA {format_duration(eta_run)} this run, {format_duration(eta_all)} all")

    def _open_bar(self, done: int, resumed: str | None) -> None:
        from tqdm import tqdm

        with self.batch._lock:
            position = 0
            while position in self.batch._positions:
                position += 1
            self.batch._positions.add(position)
            self._position = position
        # fitted to the terminal's size, or a fixed one when it has none (a
        # pty of size 0x0, as `script` or some CI runners give: tqdm would
        # draw nothing)
        try:
            size = os.get_terminal_size(self.batch.stream.fileno())
            fitted = size.columns > 0 and size.lines > 0
        except (AttributeError, ValueError, OSError):
            fitted = False
        self.bar = tqdm(total=self.batch._runs[self.label]["total"], initial=done,
                        desc=f"  {self.label}", unit="epoch", file=self.batch.stream,
                        position=position, leave=True, dynamic_ncols=fitted,
                        ncols=None if fitted else 200, nrows=None if fitted else 50,
                        mininterval=0,
                        bar_format="{desc} {n_fmt}/{total_fmt} epochs |{bar:20}| "
                                   "{elapsed}{postfix}")
        self.bar.set_postfix_str(resumed or "waiting for the first epoch (loading data, "
                                 "building the model)", refresh=True)

    def _update(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp or (self.fresh and stamp == self._baseline):
            if self.bar is not None:
                self.bar.refresh()  # the elapsed time ticks
            return
        read = self._read()
        if read is None:
            return
        self._stamp = stamp
        done, rows = read
        run = self.batch._runs[self.label]
        if done < self.shown:  # a resume that redoes epochs whose files disagreed
            self.shown = run["done"] = done
            if self.bar is not None:
                self.bar.n = done
                self.bar.set_postfix_str(f"back to epoch {done}", refresh=True)
            else:
                self.batch._write_line(f"  {self.label}  back to epoch {done}: the later "
                                       "epochs are redone")
            return
        for epoch in range(self.shown + 1, done + 1):
            with self.batch._lock:
                run["seconds"].append(float(rows[epoch - 1]["seconds"]))
                run["done"] = epoch
            text = self._describe(epoch, rows)
            if self.bar is not None:
                self.bar.set_postfix_str(text.split("  ", 1)[1], refresh=False)
                self.bar.update(1)
            else:
                self.batch._write_line(f"  {self.label}  {text}")
        self.shown = done

    def _loop(self) -> None:
        while not self._stop.wait(self.batch.interval):
            try:
                self._update()
            except Exception:  # the display must never stop the batch
                pass

    # -- context manager -----------------------------------------------------
    def __enter__(self):
        run = self.batch._runs[self.label]
        read = None if self.fresh else self._read()
        if read is not None and read[0]:
            done, rows = read
            self._stamp = self._stat()
            self.shown = run["done"] = done
            best = max(rows, key=lambda r: r["val_accuracy"])
            resumed = (f"resuming after epoch {done}/{run['total']}  best "
                       f"{100 * best['val_accuracy']:.2f}% (epoch {best['epoch']})")
        else:
            done, resumed = 0, None
            if self.fresh:
                run["done"] = 0
        if self.batch.terminal:
            self._open_bar(done, resumed)
        elif resumed:
            self.batch._write_line(f"  {self.label}  {resumed}")
        self._thread = threading.Thread(target=self._loop, name=f"progress {self.label}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        try:
            self._update()  # the last epoch, if it ended after the last poll
        except Exception:
            pass
        if self.bar is not None:
            self.bar.close()
            with self.batch._lock:
                self.batch._positions.discard(self._position)
        return False
