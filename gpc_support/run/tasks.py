"""What every way of running executes: one (variant, seed) run, and the summary after all.

`run_one` trains one run with the variant notebook exactly as the sequential
batch does (a complete run is skipped unless forced, an unfinished one
resumes); `build_summary` builds the summary notebook once every planned run
is complete.  The local pool (`run.pool`) and submitit / Slurm (`run.slurm`)
call these, so every executor writes the same files.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

from ..common.paths import VARIANT_NOTEBOOK
from ..common.run_folder import notebook_of, run_dir_of, run_status
from .notebooks import execute_notebook, path_anchors, scrub_paths
from .stopping import STATE, drop_stale_summary, install_stop_handlers

__all__ = ["STAGGER_S", "run_spec", "run_one", "slurm_task", "missing_runs", "todo_jobs",
           "build_summary", "summary_task", "summary_left_out"]

# Kernels started at the same moment can pick the same free ports: start them apart.
STAGGER_S = float(os.environ.get("GPC_KERNEL_STAGGER_S", "5"))


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


def summary_left_out(plan: dict) -> str:
    """What a batch run with --no-summary says where the summary would be built:
    the command that builds it later (from the caller's folder, as the user
    gave --out), and what became of the summary already in the folder."""
    out = Path(plan["out"])
    try:
        shown = os.path.relpath(out) if out.is_relative_to(Path.cwd()) else str(out)
    except (OSError, ValueError):
        shown = str(out)
    text = ("not built (--no-summary); build it when you want with\n"
            f"  python -m gpc_support.summary_notebook {shlex.quote(shown)}")
    stale = drop_stale_summary()  # a summary showing runs --force replaced
    if stale:
        return f"{text}\n  {stale}"
    if (out / "summary").is_dir():
        text += f"\n  {out / 'summary'} is the one built before this batch"
    return text


def summary_task(plan: dict, jobs) -> str:

    install_stop_handlers()
    result = build_summary(plan, jobs)
    print(f"[summary] {result}", flush=True)
    return result


def todo_jobs(plan: dict, jobs) -> list:

    return [job for job in jobs
            if plan["force"] or run_status(run_dir_of(plan["out"], job[1], job[2])) != "complete"]
