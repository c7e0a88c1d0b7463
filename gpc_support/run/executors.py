"""Scale-out of run_all.sh: the (variant, seed) runs spread over GPUs or a cluster.

Three ways to run the same study (`gpc_support.run.cli` dispatches here):

    run_all.sh ...                          one run after another (run/sequential.py)
    run_all.sh ... --gpus 0,1,2,3           this host: one run per GPU at a time
    run_all.sh ... --cpus 0,1               this host: one run per CPU group at a time,
                                            each pinned to its cores
    run_all.sh ... --executor slurm ...     a Slurm array (submitit), one GPU per task,
                                            then the summary as a job after the array
    run_all.sh ... --executor local         the same array through submitit's local
                                            executor (on this host; what the tests run)

Every run goes through `run_one`, which executes the variant notebook with
the same parameters the sequential batch uses; the training resumes an
unfinished run folder and its folder lock refuses a second process on it,
so submitting again skips complete runs and resumes interrupted ones.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..common.environment import usable_cpu_set as usable_cpus  # the cores --cpus may name
from ..common.paths import REPO_ROOT, VARIANT_NOTEBOOK
from ..common.run_folder import epochs_done, notebook_of, run_dir_of, run_status
from .console import EXIT_LOCKED, UsageError, fmt_duration, int_option, short_error
from .notebooks import execute_notebook, path_anchors, remove_stale_partials, scrub_paths
from .stopping import STATE, install_stop_handlers, stop_children

EXECUTORS = ("local", "slurm")
# Kernels started at the same moment can pick the same free ports: start them apart.
STAGGER_S = float(os.environ.get("GPC_KERNEL_STAGGER_S", "5"))
DEFAULT_SLURM_TIME = "24:00:00"
# sbatch options the array needs for itself; --slurm-extra may not replace them.
_RESERVED_SBATCH = {"array", "output", "error", "open-mode", "dependency", "signal", "job-name"}


# -- options ---------------------------------------------------------------------------------

def add_options(parser) -> None:
    """The scale-out options of run_all.sh."""
    group = parser.add_argument_group("scale-out (see README: sequential, several GPUs, Slurm)")
    group.add_argument("--gpus", default=None,
                       help="this host's GPUs, comma-separated (e.g. 0,1,2,3): one run per GPU "
                            "at a time (CUDA_VISIBLE_DEVICES), the summary after all")
    group.add_argument("--cpus", default=None,
                       help="this host's CPU cores in groups, comma between groups (e.g. 0,1: "
                            "two runs at a time, one core each; 0-3,4-7: two runs of four "
                            "cores each): one run per group at a time, pinned to its cores")
    group.add_argument("--executor", default=None,
                       help="slurm: one array task per (variant, seed) through submitit, the "
                            "summary as a job after the array; local: the same through "
                            "submitit's local executor on this host")
    group.add_argument("--slurm-partition", default=None, help="Slurm partition")
    group.add_argument("--slurm-time", default=None,
                       help=f"time limit per task: minutes, HH:MM:SS or D-HH:MM:SS "
                            f"(default {DEFAULT_SLURM_TIME})")
    group.add_argument("--slurm-gpus-per-task", default=None, help="GPUs per task (default 1)")
    group.add_argument("--slurm-cpus-per-task", default=None, help="CPU cores per task")
    group.add_argument("--slurm-extra", action="append", default=[], metavar="KEY=VALUE",
                       help="any other sbatch option, repeatable (e.g. --slurm-extra account=me "
                            "--slurm-extra constraint=a100 --slurm-extra exclusive)")


def _usage(message: str):
    return UsageError(message)


def parse_gpus(text) -> list[str] | None:
    """'0,1' -> ['0', '1'] (integers >= 0 or GPU-/MIG- UUIDs); UsageError naming --gpus."""
    if text is None:
        return None
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise _usage("--gpus: give at least one GPU, e.g. --gpus 0,1")
    gpus: list[str] = []
    for item in items:
        if not item:
            raise _usage(f"--gpus: expected comma-separated GPU indices (0,1,...), got {text!r}")
        if item.isdigit():
            item = str(int(item))
        elif not re.fullmatch(r"(GPU|MIG)-[0-9A-Za-z/-]+", item):
            raise _usage(f"--gpus: {item!r} is not a GPU; use indices >= 0 as nvidia-smi numbers "
                         "them (e.g. --gpus 0,1) or GPU-/MIG- UUIDs")
        if item in gpus:
            raise _usage(f"--gpus: GPU {item} is given twice")
        gpus.append(item)
    return gpus


def _cpu_group(item: str, text) -> tuple[int, ...]:
    cpus: list[int] = []
    for part in item.split("+"):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            raise _usage(f"--cpus: {item!r} is not a group of CPU cores; give core numbers, "
                         f"ranges a-b or a+b+c, groups separated by commas (got {text!r})")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first:
            raise _usage(f"--cpus: the range {part.strip()!r} runs backwards")
        cpus += range(first, last + 1)
    return tuple(cpus)


def parse_cpus(text) -> list[tuple[int, ...]] | None:
    """'0,1' -> [(0,), (1,)]; '0-1,2-3' -> [(0, 1), (2, 3)]; '0+2,1+3' -> [(0, 2), (1, 3)].

    Every core must be one this process may use and in one group only;
    UsageError naming --cpus otherwise."""
    if text is None:
        return None
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise _usage("--cpus: give at least one group of cores, e.g. --cpus 0,1")
    groups: list[tuple[int, ...]] = []
    seen: set[int] = set()
    usable = usable_cpus()
    for item in items:
        if not item:
            raise _usage(f"--cpus: an empty group in {text!r}; separate groups by one comma")
        group = _cpu_group(item, text)
        for cpu in group:
            if cpu in seen:
                raise _usage(f"--cpus: core {cpu} is in two groups; each core may serve one run")
            if cpu not in usable:
                raise _usage(f"--cpus: core {cpu} is not one this process may use (usable: "
                             f"{_cpus_text(sorted(usable))})")
            seen.add(cpu)
        groups.append(group)
    return groups


def _cpus_text(cpus) -> str:
    """(0, 1, 2, 5) -> '0-2,5'."""
    cpus, parts = sorted(cpus), []
    start = prev = None
    for cpu in cpus + [None]:
        if prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    return ",".join(parts)


def parse_time(text) -> int:
    """'90', '1:30:00', '2-00:00:00', '30:00' -> minutes; UsageError naming --slurm-time."""
    text = str(text).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise _usage(f"--slurm-time: expected minutes, HH:MM:SS or D-HH:MM:SS, got {text!r}")
    days, a, b, c = m.groups()
    if days is None and b is None:
        minutes = int(a)  # plain minutes
    elif c is None and b is not None and days is None:
        minutes = int(a) + (int(b) + 59) // 60  # MM:SS, Slurm's reading
    else:
        hours, mins, secs = int(a), int(b or 0), int(c or 0)
        minutes = int(days or 0) * 1440 + hours * 60 + mins + (1 if secs else 0)
    if minutes < 1:
        raise _usage(f"--slurm-time: must be at least one minute, got {text!r}")
    return minutes


def parse_extra(items) -> dict:
    """['account=me', 'exclusive'] -> {'account': 'me', 'exclusive': True}."""
    extra: dict = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip().lstrip("-").replace("_", "-")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise _usage(f"--slurm-extra: expected KEY=VALUE with an sbatch option name as KEY "
                         f"(e.g. account=me), got {item!r}")
        if key in _RESERVED_SBATCH:
            raise _usage(f"--slurm-extra: {key} is set by run_all.sh itself for the array; "
                         "leave it out")
        if sep and not value.strip():
            raise _usage(f"--slurm-extra: {key}= has no value; give KEY=VALUE, or KEY alone "
                         "for a flag such as exclusive")
        extra[key] = value.strip() if sep else True
    return extra


def options_from_args(args) -> dict:
    """The scale-out part of the plan (checked); UsageError naming the option."""
    gpus = parse_gpus(args.gpus)
    cpus = parse_cpus(getattr(args, "cpus", None))
    executor = args.executor
    if executor is not None and executor not in EXECUTORS:
        raise _usage(f"--executor: must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    if gpus and executor:
        raise _usage("--gpus and --executor: choose one; with --executor each task gets its "
                     "GPU from the scheduler (--slurm-gpus-per-task)")
    if cpus and (gpus or executor):
        raise _usage("--cpus and " + ("--gpus" if gpus else "--executor") + ": choose one; "
                     "--cpus runs on this host's CPU cores only")
    slurm_given = {name: value for name, value in (
        ("--slurm-partition", args.slurm_partition), ("--slurm-time", args.slurm_time),
        ("--slurm-gpus-per-task", args.slurm_gpus_per_task),
        ("--slurm-cpus-per-task", args.slurm_cpus_per_task),
        ("--slurm-extra", args.slurm_extra or None)) if value is not None}
    if slurm_given and executor != "slurm":
        raise _usage(f"{next(iter(slurm_given))}: only with --executor slurm")
    slurm = {
        "partition": args.slurm_partition,
        "time_min": parse_time(args.slurm_time or DEFAULT_SLURM_TIME),
        "gpus_per_task": int_option("--slurm-gpus-per-task", args.slurm_gpus_per_task, 1) or 1,
        "cpus_per_task": int_option("--slurm-cpus-per-task", args.slurm_cpus_per_task, 1),
        "extra": parse_extra(args.slurm_extra),
    }
    if args.slurm_partition is not None and not str(args.slurm_partition).strip():
        raise _usage("--slurm-partition: give a partition name")
    return {"gpus": gpus, "cpus": cpus, "executor": executor, "slurm": slurm}


# -- one run: the code path every way shares ----------------------------------------------

def run_spec(plan: dict, ch, name: str, seed: int) -> dict:
    """What one (variant, seed) run needs, JSON-friendly (for a worker or a Slurm task)."""
    return {"channels": ch, "name": name, "seed": seed, "profile": plan["profile"],
            "out": str(plan["out"]), "out_param": str(plan.get("out_param") or plan["out"]),
            "data_dir": plan.get("data_dir_param", plan["data_dir"]),
            "overrides": plan["overrides"], "force": plan["force"],
            "precision": plan.get("precision", "float32")}


def run_one(spec: dict) -> str:
    """Train one (variant, seed) with the variant notebook, as the sequential batch
    does: skipped when complete (unless forced), resumed when unfinished.  Returns
    'complete, skipped' or 'test accuracy NN.NN%'; raises on a failure."""
    from ..common.atomic_files import read_json

    out, name, seed = Path(spec["out"]), spec["name"], spec["seed"]
    run_dir = run_dir_of(out, name, seed)
    if not spec["force"] and run_status(run_dir) == "complete":
        return "complete, skipped"
    params = {"channels": spec["channels"], "profile": spec["profile"],
              "data_dir": spec["data_dir"],
              "out_dir": str(run_dir_of(Path(spec["out_param"]), name, seed)),
              "seed": seed, "overrides": spec["overrides"], "force": spec["force"],
              "precision": spec["precision"]}
    STATE.begin_run(run_dir, f"{name}/seed{seed}")
    try:
        execute_notebook(VARIANT_NOTEBOOK, notebook_of(out, name, seed), params)
    finally:
        STATE.end_run()
        # as the sequential batch: no machine path in the executed notebook, failed or not
        scrub_paths(notebook_of(out, name, seed),
                    path_anchors({"out": out, "data_dir": spec["data_dir"]}))
    try:
        metrics = read_json(run_dir / "metrics.json")
        return f"test accuracy {100 * metrics['test_accuracy']:.2f}%"
    except (OSError, ValueError, KeyError, TypeError):
        raise RuntimeError(f"the notebook ended but {run_dir / 'metrics.json'} is missing "
                           "or unreadable") from None


def slurm_task(spec: dict, index: int) -> str:
    """One array task (Slurm or submitit-local): `run_one`, kernels started apart
    when several tasks share a node, a stop (SIGTERM / SIGINT) stops the kernel."""

    install_stop_handlers()
    time.sleep(STAGGER_S * (index % 8))
    result = run_one(spec)
    print(f"{spec['name']}/seed{spec['seed']}: {result}", flush=True)
    return result


def missing_runs(plan: dict, jobs) -> list[str]:

    return [f"{name}/seed{seed}" for _, name, seed in jobs
            if run_status(run_dir_of(plan["out"], name, seed)) != "complete"]


def build_summary(plan: dict, jobs, lock: bool = True) -> str:
    """The summary notebook over all runs (`summary_notebook.build_summary`, as every
    way of running builds it), under the results folder's lock (taken here unless
    the caller holds it); refuses (RuntimeError) while a planned run is not
    complete, and SummaryRefused when it would replace a fuller summary."""
    import contextlib

    from ..common.run_lock import folder_lock
    from .summary_notebook import build_summary as build_summary_notebook

    out = Path(plan["out"])
    missing = missing_runs(plan, jobs)
    if missing:
        raise RuntimeError(f"not built: {len(missing)} run(s) not complete ({', '.join(missing)}); "
                           "run the same command again to resume them")
    with folder_lock(out, "run_all.sh summary") if lock else contextlib.nullcontext():
        # notebooks half-written by killed tasks (their runs are complete now)
        for _, name, seed in jobs:
            notebook = notebook_of(out, name, seed)
            for stale in notebook.parent.glob(f".{notebook.name}.*.partial.ipynb"):
                stale.unlink(missing_ok=True)
        build_summary_notebook(out, force=plan["force"],
                               results_param=str(plan.get("out_param") or out),
                               anchors=path_anchors(plan))
    return f"written to {out / 'summary'}"


def summary_task(plan: dict, jobs) -> str:

    install_stop_handlers()
    result = build_summary(plan, jobs)
    print(f"[summary] {result}", flush=True)
    return result


# -- dispatch ----------------------------------------------------------------------------------

def run_scaled(plan: dict, jobs) -> int:
    """run_all.sh with --gpus, --cpus or --executor (the plan is checked)."""

    if plan["check"]:
        for _, name, seed in jobs:
            print(f"  {name}/seed{seed}: {run_status(run_dir_of(plan['out'], name, seed))}")
        if plan.get("executor") == "slurm":
            print(f"\nsbatch script of the array ({len(todo_jobs(plan, jobs)) or len(jobs)} "
                  "task(s); not submitted):\n")
            print(sbatch_script(plan, len(todo_jobs(plan, jobs)) or len(jobs)))
        elif plan.get("gpus") or plan.get("cpus"):
            slots = _slots(plan)
            print(f"  on {', '.join(label for label, _, _ in slots)}: {len(slots)} run(s) at a time")
        return 0
    if plan.get("gpus") or plan.get("cpus"):
        return run_on_gpus(plan, jobs)
    return run_submitit(plan, jobs)


def todo_jobs(plan: dict, jobs) -> list:

    return [job for job in jobs
            if plan["force"] or run_status(run_dir_of(plan["out"], job[1], job[2])) != "complete"]


# -- several GPUs, or groups of CPU cores, on this host ---------------------------------------

def _slots(plan: dict) -> list[tuple[str, str, tuple[int, ...] | None]]:
    """(label, CUDA_VISIBLE_DEVICES, cores to pin to or None) per place a run can go:
    one per GPU of --gpus, or one per core group of --cpus (GPUs hidden there,
    so that the runs do not all land on one GPU)."""
    if plan.get("gpus"):
        return [(f"GPU {gpu}", gpu, None) for gpu in plan["gpus"]]
    return [(f"cores {_cpus_text(group)}", "", tuple(group)) for group in plan["cpus"]]


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
                [sys.executable, "-m", "gpc_support.run.executors", "--run", json.dumps(spec)],
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
    free = _slots(plan)
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
    """`python -m gpc_support.run.executors --run SPEC`: one run on the GPU in
    CUDA_VISIBLE_DEVICES, or on the cores this process was pinned to."""

    install_stop_handlers()
    spec = json.loads(spec_text)
    print(f"{spec['name']}/seed{spec['seed']}: CUDA_VISIBLE_DEVICES="
          f"{os.environ.get('CUDA_VISIBLE_DEVICES', '')}, cores {_cpus_text(usable_cpus())}",
          flush=True)
    try:
        result = run_one(spec)
    except Exception as err:
        print(f"{spec['name']}/seed{spec['seed']}: FAILED: {short_error(err)}", flush=True)
        return 1
    print(f"{spec['name']}/seed{spec['seed']}: {result}", flush=True)
    return 0


# -- submitit: Slurm, or its local executor ---------------------------------------------------

def slurm_parameters(plan: dict, tasks: int) -> dict:
    """The SlurmExecutor's parameters for the array (also what --check renders)."""
    s = plan["slurm"]
    params = {"job_name": "gpc-study", "time": s["time_min"], "nodes": 1, "ntasks_per_node": 1,
              "gpus_per_task": s["gpus_per_task"], "array_parallelism": max(1, tasks),
              "signal_delay_s": 120}
    if s.get("partition"):
        params["partition"] = s["partition"]
    if s.get("cpus_per_task"):
        params["cpus_per_task"] = s["cpus_per_task"]
    if s.get("extra"):
        params["additional_parameters"] = dict(s["extra"])
    return params


def jobs_folder(plan: dict) -> Path:
    """Where submitit keeps its pickles and logs: inside the shared results folder."""
    return Path(plan["out"]) / "jobs" / "%j"


def _submitit():
    """submitit, imported without its logging.config.dictConfig (which closes
    every logging handler already installed, e.g. pytest's or papermill's)."""
    os.environ.setdefault("SUBMITIT_LOG_LEVEL", "NOCONFIG")
    import submitit

    return submitit


def sbatch_script(plan: dict, tasks: int) -> str:
    """The sbatch script submitit writes for the array of `tasks` runs."""
    import shlex

    _submitit()
    from submitit.slurm.slurm import _make_sbatch_string

    folder = jobs_folder(plan)
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit",
                        shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=folder, map_count=tasks,
                               **slurm_parameters(plan, tasks))


def _executor(plan: dict, tasks: int):
    submitit = _submitit()
    folder = jobs_folder(plan)
    if plan["executor"] == "slurm":
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**slurm_parameters(plan, tasks))
    else:
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=plan["slurm"]["time_min"], gpus_per_node=0)
    return executor


def run_submitit(plan: dict, jobs) -> int:
    """Submit one array task per (variant, seed) still to do, then the summary.

    Slurm: the summary job depends on the array (afterany) and this returns
    once both are submitted.  Local: waits for the tasks, then the summary."""
    todo = todo_jobs(plan, jobs)
    for ch, name, seed in jobs:
        if (ch, name, seed) not in todo:
            print(f"  {name}/seed{seed}: complete, skipped", flush=True)
    executor = _executor(plan, len(todo))
    task_jobs = []
    if todo:
        with executor.batch():
            for index, (ch, name, seed) in enumerate(todo):
                task_jobs.append(executor.submit(slurm_task, run_spec(plan, ch, name, seed), index))
    names = [f"{name}/seed{seed}" for _, name, seed in todo]
    for job, name in zip(task_jobs, names):
        print(f"  {name}: submitted as job {job.job_id}", flush=True)
    summary_plan = {k: plan[k] for k in ("out", "out_param", "force")}
    if plan["executor"] == "slurm":
        summary_ex = _executor(plan, 1)
        params = {"gpus_per_task": None}
        params["additional_parameters"] = dict(plan["slurm"]["extra"])
        if task_jobs:
            array_id = str(task_jobs[0].job_id).split("_")[0]
            params["additional_parameters"]["dependency"] = f"afterany:{array_id}"
        summary_ex.update_parameters(job_name="gpc-study-summary", time=60, **params)
        job = summary_ex.submit(summary_task, summary_plan, jobs)
        print(f"  summary: submitted as job {job.job_id}"
              + (f" (after the array {array_id} ends)" if task_jobs else ""), flush=True)
        print(f"logs in {Path(plan['out']) / 'jobs'}; submit the same command again to resume "
              "what did not finish", flush=True)
        return 0
    failed = []
    for job, name in zip(task_jobs, names):
        try:
            result = job.result()
            print(f"  {name}: {result}", flush=True)
        except Exception as err:
            failed.append(name)
            print(f"  {name}: FAILED (job {job.job_id}): {_job_failure(job, err)}",
                  file=sys.stderr, flush=True)
    job = _executor(plan, 1).submit(summary_task, summary_plan, jobs)
    try:
        print(f"[summary] {job.result()}", flush=True)
    except Exception as err:
        print(f"[summary] FAILED (job {job.job_id}): {_job_failure(job, err)}", file=sys.stderr,
              flush=True)
        return 1
    return 1 if failed else 0


def _job_failure(job, err: Exception) -> str:
    """What went wrong in a submitit job, in one line, and where its log is."""
    text = str(err)
    try:
        log = f"; log: {job.paths.stderr}"
    except Exception:
        log = ""
    if "has not produced any output" in text:
        return f"ended without a result (killed, or out of time){log}"
    # the task's traceback: its last line names the exception
    trace = text.split("You can check full logs")[0]
    lines = [line.strip() for line in trace.splitlines()
             if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Locked|Interrupt)\b", line.strip())]
    return (lines[-1] if lines else type(err).__name__) + log


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        sys.exit(_worker_main(sys.argv[2]))
    sys.exit("usage: python -m gpc_support.run.executors --run SPEC_JSON (started by run_all.sh --gpus)")
