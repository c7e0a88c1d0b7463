"""This host's GPUs, or groups of its CPU cores: one run per slot at a time, then the summary.

    run_all.sh ... --gpus 0,1,2,3     one run per GPU (CUDA_VISIBLE_DEVICES)
    run_all.sh ... --cpus 0,1         one run per core group, pinned to its cores

Each run is a worker process (`python -m gpc_support.run.pool --run SPEC`)
that calls `tasks.run_one`; its output goes to `<out>/logs/`.  SIGINT /
SIGTERM stop every worker's kernel, keep whole notebooks and say where each
run stopped; the same command resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..common.paths import REPO_ROOT
from ..common.run_folder import epochs_done, notebook_of, run_dir_of, run_status
from .console import EXIT_LOCKED, fmt_duration, short_error
from .notebooks import remove_stale_partials
from .scale_options import cpus_text, usable_cpus
from .stopping import install_stop_handlers, stop_children
from .tasks import STAGGER_S, build_summary, run_one, run_spec, summary_left_out

__all__ = ["slots", "run_on_gpus"]


def slots(plan: dict) -> list[tuple[str, str, tuple[int, ...] | None]]:
    """(label, CUDA_VISIBLE_DEVICES, cores to pin to or None) per place a run can go:
    one per GPU of --gpus, or one per core group of --cpus (GPUs hidden there,
    so that the runs do not all land on one GPU)."""
    if plan.get("gpus"):
        return [(f"GPU {gpu}", gpu, None) for gpu in plan["gpus"]]
    return [(f"cores {cpus_text(group)}", "", tuple(group)) for group in plan["cpus"]]


class _Worker:
    def __init__(self, spec, slot, index, total, log):
        label, visible, cpus = slot
        self.spec, self.slot, self.index, self.total, self.log = spec, slot, index, total, log
        self.label = label
        self.head = f"[{index}/{total}] {spec['name'] + '/seed' + str(spec['seed']):<16}"
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": visible, "PYTHONUNBUFFERED": "1"}
        root = str(REPO_ROOT)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        log.parent.mkdir(parents=True, exist_ok=True)
        self.t0 = time.perf_counter()
        # pinned before the worker starts, so its kernel and every thread inherit the cores
        pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
        with open(log, "a", encoding="utf-8") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gpc_support.run.pool", "--run", json.dumps(spec)],
                stdout=f, stderr=subprocess.STDOUT, env=env, cwd=root, preexec_fn=pin)


def _result_of(spec: dict) -> str:
    from ..common.atomic_files import read_json

    try:
        metrics = read_json(run_dir_of(Path(spec["out"]), spec["name"], spec["seed"]) / "metrics.json")
        return f"test accuracy {100 * metrics['test_accuracy']:.2f}%"
    except (OSError, ValueError, KeyError, TypeError):
        return "complete"


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join("  | " + line for line in text[-lines:])


def run_on_gpus(plan: dict, jobs) -> int:
    from ..common.run_lock import FolderLocked, folder_lock

    out = Path(plan["out"])
    try:
        with folder_lock(out, "run_all.sh " + " ".join(sys.argv[1:])[:200]):
            return _run_on_gpus_locked(plan, jobs)
    except FolderLocked as err:
        print(f"run_all.sh: error: {err}", file=sys.stderr, flush=True)
        return EXIT_LOCKED


_RUNNING: dict = {}  # slot label -> _Worker, for the stop handler


def _stop_workers(signum, frame):  # noqa: ARG001
    """SIGINT / SIGTERM: each worker stops its kernel and keeps a whole notebook;
    say where every run in flight stopped; exit 128 + signal."""

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    workers = list(_RUNNING.values())
    for w in workers:
        try:
            w.proc.send_signal(signal.SIGTERM)
        except OSError:
            pass
    for w in workers:
        try:
            w.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    stop_children()
    where = "; ".join(
        f"stopped at epoch {epochs_done(run_dir_of(w.spec['out'], w.spec['name'], w.spec['seed']))}"
        f" of {w.spec['name']}/seed{w.spec['seed']}" for w in workers) or "stopped between runs"
    print(f"\nrun_all.sh: {signal.Signals(signum).name}: {where}; run the same command to resume",
          file=sys.stderr, flush=True)
    os._exit(128 + signum)


def _run_on_gpus_locked(plan: dict, jobs) -> int:

    out = Path(plan["out"])
    start = time.perf_counter()
    remove_stale_partials(out)
    free = slots(plan)
    previous = {sig: signal.signal(sig, _stop_workers) for sig in (signal.SIGINT, signal.SIGTERM)}
    queue = []
    for i, (ch, name, seed) in enumerate(jobs, start=1):
        status = run_status(run_dir_of(out, name, seed))
        if status == "complete" and not plan["force"]:
            print(f"[{i}/{len(jobs)}] {name + '/seed' + str(seed):<16} complete, skipped", flush=True)
        else:
            queue.append((i, run_spec(plan, ch, name, seed), status))
    if not queue:
        print(f"all {len(jobs)} runs complete, nothing to train: use --force to retrain or "
              "--out for a new folder", flush=True)
    failed = []
    last_start = None
    try:
        while queue or _RUNNING:
            for label, w in list(_RUNNING.items()):
                code = w.proc.poll()
                if code is None:
                    continue
                del _RUNNING[label]
                free.append(w.slot)
                took = fmt_duration(time.perf_counter() - w.t0)
                if code == 0:
                    print(f"{w.head} done on {label} in {took}: {_result_of(w.spec)}   "
                          f"(elapsed {fmt_duration(time.perf_counter() - start)})", flush=True)
                else:
                    failed.append(w)
                    nb = notebook_of(out, w.spec["name"], w.spec["seed"])
                    kept = f"\n  the executed notebook is kept for reading: {nb}" if nb.exists() else ""
                    print(f"{w.head} FAILED on {label} after {took} (exit {code}); "
                          f"log {w.log}:\n{_log_tail(w.log)}{kept}", file=sys.stderr, flush=True)
                    queue.clear()  # no new runs; the ones in flight finish
            ready = last_start is None or time.perf_counter() - last_start >= STAGGER_S
            if queue and free and ready:
                i, spec, status = queue.pop(0)
                slot = free.pop(0)
                action = "resuming" if status == "unfinished" and not plan["force"] else "training"
                log = out / "logs" / f"{spec['name']}-seed{spec['seed']}.log"
                _RUNNING[slot[0]] = w = _Worker(spec, slot, i, len(jobs), log)
                print(f"{w.head} {action} on {w.label} ...", flush=True)
                last_start = time.perf_counter()
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        print(f"run_all.sh: {len(failed)} run(s) failed; the summary is not built", file=sys.stderr,
              flush=True)
        return 1
    if not plan.get("summary", True):
        print(f"[summary]  {summary_left_out(plan)}", flush=True)
        return 0
    from ..report.summary_text import SummaryRefused

    print("[summary]  building table and figures ...", flush=True)
    try:
        result = build_summary(plan, jobs, lock=False)  # run_on_gpus holds the lock
    except SummaryRefused as err:
        print(f"[summary]  not rebuilt: {err}", flush=True)
        return 0
    except Exception as err:
        print(f"[summary] FAILED: {short_error(err)}", file=sys.stderr, flush=True)
        return 1
    print(f"[summary]  {result}   (total {fmt_duration(time.perf_counter() - start)})",
          flush=True)
    return 0


def _worker_main(spec_text: str) -> int:
    """`python -m gpc_support.run.pool --run SPEC`: one run on the GPU in
    CUDA_VISIBLE_DEVICES, or on the cores this process was pinned to."""

    install_stop_handlers()
    spec = json.loads(spec_text)
    print(f"{spec['name']}/seed{spec['seed']}: CUDA_VISIBLE_DEVICES="
          f"{os.environ.get('CUDA_VISIBLE_DEVICES', '')}, cores {cpus_text(usable_cpus())}",
          flush=True)
    try:
        result = run_one(spec)
    except Exception as err:
        print(f"{spec['name']}/seed{spec['seed']}: FAILED: {short_error(err)}", flush=True)
        return 1
    print(f"{spec['name']}/seed{spec['seed']}: {result}", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        sys.exit(_worker_main(sys.argv[2]))
    sys.exit("usage: python -m gpc_support.run.pool --run SPEC_JSON (started by run_all.sh --gpus/--cpus)")
