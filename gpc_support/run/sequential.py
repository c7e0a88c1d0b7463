"""The sequential executor: one (variant, seed) run after another in this process, then the summary."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..common.atomic_files import read_json
from ..common.paths import VARIANT_NOTEBOOK
from ..common.run_folder import epochs_done, notebook_of, run_dir_of, run_status
from .console import fmt_duration, short_error
from .notebooks import execute_notebook, path_anchors, remove_stale_partials, scrub_paths
from .stopping import STATE, drop_stale_summary
from .tasks import summary_left_out

__all__ = ["run_sequential", "summary_step"]


def _progress_of(plan: dict, out: Path, todo: list):
    """The progress display of the runs to train (their epochs, for the ETA)."""
    from ..train.profiles import get_profile
    from .progress import BatchProgress

    progress = BatchProgress(sys.stdout)
    epochs = get_profile(plan["profile"], **plan["overrides"]).epochs
    for _, name, seed in todo:
        done = 0 if plan["force"] else epochs_done(run_dir_of(out, name, seed))
        progress.plan(f"{name}/seed{seed}", epochs, done)
    return progress


def summary_step(plan: dict, start: float) -> int:
    """Build the summary of `plan["out"]` with the one summary builder and say how it went
    (0: built or refused for a good reason, 1: failed)."""
    from .summary_notebook import SummaryRefused, build_summary

    out = Path(plan["out"])
    if not plan.get("summary", True):
        print(f"[summary]  {summary_left_out(plan)}", flush=True)
        return 0
    print("[summary]  building table and figures ...", flush=True)
    try:
        build_summary(out, force=plan["force"], results_param=str(plan.get("out_param") or out),
                      anchors=path_anchors(plan))
    except SummaryRefused as err:
        print(f"[summary]  not rebuilt: {err}", flush=True)
        return 0
    except Exception as err:
        summary_nb = out / "notebooks" / "summary.ipynb"
        kept = f"\n  see {summary_nb}" if summary_nb.exists() else ""
        print(f"[summary] FAILED: {short_error(err)}{kept}", file=sys.stderr, flush=True)
        return 1
    print(f"[summary]  written to {out / 'summary'}   (total {fmt_duration(time.perf_counter() - start)})",
          flush=True)
    return 0


def run_sequential(plan: dict, out: Path, jobs: list) -> int:
    """Train every job in turn (the caller holds the results folder's lock), then the summary."""
    start = time.perf_counter()
    remove_stale_partials(out)
    STATE.begin_batch(out)
    todo = [job for job in jobs
            if plan["force"] or run_status(run_dir_of(out, job[1], job[2])) != "complete"]
    if not todo:
        print(f"all {len(jobs)} runs complete, nothing to train: use --force to retrain or "
              "--out for a new folder", flush=True)
    progress = _progress_of(plan, out, todo)  # a live line per run (run/progress.py)
    out_param = Path(plan.get("out_param") or out)
    anchors = path_anchors(plan)
    for i, (ch, name, seed) in enumerate(jobs, start=1):
        run_dir = run_dir_of(out, name, seed)
        status = run_status(run_dir)
        head = f"[{i}/{len(jobs)}] {name + '/seed' + str(seed):<16}"
        if status == "complete" and not plan["force"]:
            print(f"{head} complete, skipped              "
                  f"(elapsed {fmt_duration(time.perf_counter() - start)})", flush=True)
            continue
        action = "resuming" if status == "unfinished" and not plan["force"] else "training"
        print(f"{head} {action} ...", flush=True)
        t0 = time.perf_counter()
        params = {"channels": ch, "profile": plan["profile"],
                  "data_dir": plan.get("data_dir_param", plan["data_dir"]),
                  "out_dir": str(run_dir_of(out_param, name, seed)), "seed": seed,
                  "overrides": plan["overrides"], "force": plan["force"],
                  "precision": plan.get("precision", "float32")}
        notebook_out = notebook_of(out, name, seed)
        STATE.begin_run(run_dir, f"{name}/seed{seed}", forced=plan["force"])
        try:
            with progress.watch(f"{name}/seed{seed}", run_dir, fresh=plan["force"]):
                execute_notebook(VARIANT_NOTEBOOK, notebook_out, params)
        except Exception as err:
            scrub_paths(notebook_out, anchors)
            kept = (f"\n  the executed notebook is kept for reading: {notebook_out}"
                    if notebook_out.exists() else "")
            stale = drop_stale_summary()
            print(f"{head} FAILED after {fmt_duration(time.perf_counter() - t0)}: "
                  f"{short_error(err)}{kept}" + (f"\n  {stale}" if stale else ""),
                  file=sys.stderr, flush=True)
            return 1
        finally:
            STATE.end_run()
        scrub_paths(notebook_out, anchors)
        try:
            metrics = read_json(run_dir / "metrics.json")
            result = f"test accuracy {100 * metrics['test_accuracy']:.2f}%"
        except (OSError, ValueError, KeyError, TypeError):
            print(f"{head} FAILED: the notebook ended but {run_dir / 'metrics.json'} is missing "
                  "or unreadable", file=sys.stderr, flush=True)
            return 1
        print(f"{head} done in {fmt_duration(time.perf_counter() - t0)}: {result}   "
              f"(elapsed {fmt_duration(time.perf_counter() - start)})", flush=True)
    return summary_step(plan, start)
