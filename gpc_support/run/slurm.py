"""Slurm through submitit: one array task per (variant, seed), then the summary as a job.

    run_all.sh ... --executor slurm ...   the array on the cluster, the summary job after it
                                          (afterany); returns once both are submitted
    run_all.sh ... --executor local       the same tasks through submitit's local executor
                                          on this host, waiting for them (what the tests run)

Each task is `tasks.slurm_task` (`run_one` of one spec); tasks on one node
start their kernels apart.  Submitting again skips complete runs and resumes
interrupted ones.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .tasks import run_spec, slurm_task, summary_left_out, summary_task, todo_jobs

__all__ = ["slurm_parameters", "jobs_folder", "sbatch_script", "run_submitit"]


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
    build = plan.get("summary", True)
    if plan["executor"] == "slurm":
        if build:
            _submit_summary(plan, summary_plan, jobs, task_jobs)
        else:
            print(f"  summary: {summary_left_out(plan)}", flush=True)
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
    if not build:
        print(f"[summary] {summary_left_out(plan)}", flush=True)
        return 1 if failed else 0
    job = _executor(plan, 1).submit(summary_task, summary_plan, jobs)
    try:
        print(f"[summary] {job.result()}", flush=True)
    except Exception as err:
        print(f"[summary] FAILED (job {job.job_id}): {_job_failure(job, err)}", file=sys.stderr,
              flush=True)
        return 1
    return 1 if failed else 0


def _submit_summary(plan: dict, summary_plan: dict, jobs, task_jobs) -> None:
    """The summary as a Slurm job that starts once the array has ended (afterany)."""
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
