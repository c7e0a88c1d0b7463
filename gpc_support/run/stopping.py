"""Stopping a batch cleanly on SIGINT / SIGTERM: stop the kernels, keep whole notebooks, say where.

`STATE` is the one record of what is in progress (the run, the notebook being
written, the results folder and the runs --force replaced); this module owns
it, and the code that starts a run or a notebook tells it through its methods.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
from pathlib import Path

from ..common.run_folder import epochs_done

__all__ = ["StopState", "STATE", "install_stop_handlers", "stop_handler", "stop_children",
           "drop_stale_summary", "settle_notebook"]


@dataclasses.dataclass
class StopState:
    """What a stop needs to know: the run and notebook in progress."""
    out: Path | None = None
    forced: list = dataclasses.field(default_factory=list)
    run_dir: Path | None = None
    name: str | None = None
    stage: str | None = None
    partial: Path | None = None
    output: Path | None = None
    initial_children: set = dataclasses.field(default_factory=set)

    def begin_batch(self, out: Path) -> None:
        self.out, self.forced = Path(out), []

    def begin_run(self, run_dir: Path, name: str, forced: bool = False) -> None:
        self.run_dir, self.name, self.stage = Path(run_dir), name, "train"
        if forced:
            self.forced.append(Path(run_dir))

    def end_run(self) -> None:
        self.run_dir = None

    def begin_summary(self) -> None:
        self.stage = "summary"

    def begin_notebook(self, partial: Path, output: Path) -> None:
        self.partial, self.output = partial, output

    def end_notebook(self) -> None:
        self.partial = self.output = None

    def clear(self) -> None:
        self.__init__()


STATE = StopState()


def settle_notebook(partial: Path, output: Path) -> bool:
    """Keep `partial` as `output` if it is a whole notebook (valid JSON), else
    delete it; True when `output` now holds the newer notebook."""
    if not partial.exists():
        return False
    try:
        with open(partial, encoding="utf-8") as f:
            json.load(f)
    except (OSError, ValueError):
        partial.unlink(missing_ok=True)
        return False
    try:
        os.replace(partial, output)
    except OSError:
        partial.unlink(missing_ok=True)
        return False
    return True


def drop_stale_summary(state: StopState = STATE) -> str | None:
    """After --force replaced a run (its first new epoch committed) and the
    batch ends before the summary is rebuilt, the old summary would show a
    run that is gone: remove it and say so."""
    replaced = [d for d in state.forced
                if epochs_done(d) >= 1 and not d.with_name(d.name + ".previous").exists()]
    summary = None if state.out is None else state.out / "summary"
    if not replaced or summary is None or not summary.is_dir():
        return None
    shutil.rmtree(summary, ignore_errors=True)
    return (f"removed {summary}: it showed runs that --force has replaced; "
            "the same command rebuilds it")


def stop_children(grace: float = 10.0, state: StopState = STATE) -> None:
    """Terminate, then kill, every process this batch started (the kernel),
    but not the ones that were there before it (run_all.sh's output filter)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a pinned requirement
        return
    me = psutil.Process()
    try:
        family = [p for p in me.children(recursive=True) if p.pid not in state.initial_children]
    except psutil.Error:
        return
    for p in family:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(family, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)


def stop_handler(signum, frame):  # noqa: ARG001
    """SIGINT / SIGTERM: stop the kernel (and anything else this batch started),
    keep a whole notebook, say where the run stopped, exit 128 + signal."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    stop_children()
    if STATE.partial is not None:
        settle_notebook(STATE.partial, STATE.output)
    if STATE.run_dir is not None:
        where = (f"stopped at epoch {epochs_done(STATE.run_dir)} of {STATE.name}; "
                 "run the same command to resume")
    elif STATE.stage == "summary":
        where = "stopped while building the summary; run the same command to build it"
    else:
        where = "stopped before any training; run the same command to start"
    stale = drop_stale_summary()
    if stale:
        where += "\n" + stale
    name = signal.Signals(signum).name
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        print(f"\nrun_all.sh: {name}: {where}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    os._exit(128 + signum)


def install_stop_handlers() -> None:
    """Stop on SIGINT / SIGTERM with `stop_handler`, sparing the processes that exist now."""
    try:
        import psutil

        STATE.initial_children = {p.pid for p in psutil.Process().children(recursive=True)}
    except Exception:
        STATE.initial_children = set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop_handler)
