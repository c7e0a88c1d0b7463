"""Scale-out of run_all.sh: which executor runs the (variant, seed) runs.

Three ways to run the same study (`gpc_support.run.cli` dispatches here):

    run_all.sh ...                          one run after another (run/sequential.py)
    run_all.sh ... --gpus 0,1,2,3           this host: one run per GPU at a time (run/pool.py)
    run_all.sh ... --cpus 0,1               this host: one run per CPU group at a time,
                                            each pinned to its cores (run/pool.py)
    run_all.sh ... --executor slurm ...     a Slurm array (submitit), one GPU per task,
                                            then the summary as a job after the array
                                            (run/slurm.py)
    run_all.sh ... --executor local         the same array through submitit's local
                                            executor (on this host; what the tests run)

Every run goes through `tasks.run_one`, which executes the variant notebook
with the same parameters the sequential batch uses; the training resumes an
unfinished run folder and its folder lock refuses a second process on it,
so submitting again skips complete runs and resumes interrupted ones.  The
options are parsed in `scale_options`.
"""

from __future__ import annotations

from ..common.run_folder import run_dir_of, run_status
from .pool import run_on_gpus, slots
from .slurm import run_submitit, sbatch_script
from .tasks import todo_jobs

__all__ = ["run_scaled"]


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
            places = slots(plan)
            print(f"  on {', '.join(label for label, _, _ in places)}: {len(places)} run(s) at a time")
        return 0
    if plan.get("gpus") or plan.get("cpus"):
        return run_on_gpus(plan, jobs)
    return run_submitit(plan, jobs)
