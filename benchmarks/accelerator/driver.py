"""The whole check: each step in its own process, results written as they come, then the summary.

This process never starts the backend itself: it unpacks the wheels and
the images into a temporary folder, then runs the entry script again with
a step's arguments (device, each paper run) and bench_gpc.py, each in a
process of its own, so one step's device memory and failure do not reach
the others; CHECK_BUDGET_S bounds the whole.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bundle import unpack_data, unpack_missing_wheels
from .results import write_json
from .settings import ROOT, settings
from .summary import summary_text


def _step(args: list[str], env: dict, log, label: str, timeout: float | None = None) -> dict:
    """Run one step's process, its output into check.log; its status and seconds."""
    print(f"== {label}", flush=True)
    log.write(f"\n== {label}\n$ {' '.join(args)}\n")
    log.flush()
    start = time.perf_counter()
    try:
        proc = subprocess.run(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout, cwd=ROOT)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        code = "timeout"
    seconds = time.perf_counter() - start
    status = "ok" if code == 0 else f"failed ({code}; see check.log)"
    print(f"   {status} in {seconds:.1f} s", flush=True)
    return {"step": label, "status": status, "seconds": seconds}


def run_check(out: Path, script: Path) -> dict:
    """Run the check into `out`; `script` is the entry script the steps run again
    (`script device ...`, `script variant ...`, `script authors ...`)."""
    cfg = settings()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="gpc-check-"))
    summary = {"settings": cfg, "steps": [], "variants": {}}
    try:
        site = work / "site"
        site.mkdir()
        summary["wheels"] = unpack_missing_wheels(Path(cfg["wheels"]).resolve(), site)
        data_dir = unpack_data(Path(cfg["data"]).resolve(), work / "cifar10", cfg["train_images"],
                               cfg["test_images"])
        env = {**os.environ, "KERAS_BACKEND": cfg["backend"], "PYTHONUNBUFFERED": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3", "GPC_CACHE_DIR": str(work / "cache"),
               "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)] + (
                   [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
        me = [sys.executable, str(Path(script).resolve())]

        def left() -> float:
            return cfg["budget_s"] - (time.perf_counter() - start)

        with open(out / "check.log", "a") as log:
            summary["steps"].append(_step(me + ["device", "--out", str(out)], env, log, "device"))
            if (out / "device.json").exists():
                summary["device"] = json.loads((out / "device.json").read_text())
            # the paper runs first: they carry the projection (and a ratio of
            # their own); the benchmark gets what is left of the budget
            for variant in cfg["variants"]:
                result_path = out / "variants" / f"{variant}.json"
                result_path.unlink(missing_ok=True)
                if left() <= 0:
                    summary["steps"].append({"step": f"paper run {variant}", "seconds": 0.0,
                                             "status": "skipped (CHECK_BUDGET_S spent)"})
                    summary["variants"][variant] = {"status": "skipped (CHECK_BUDGET_S spent)"}
                    continue
                step = _step(me + [("authors" if cfg["mode"] == "authors" else "variant"),
                                   variant, "--data", str(data_dir),
                                   "--run-dir", str(out / "runs" / variant),
                                   "--result", str(result_path)], env, log, f"paper run {variant}")
                summary["steps"].append(step)
                summary["variants"][variant] = (json.loads(result_path.read_text())
                                                if result_path.exists() else {"status": step["status"]})
                summary["wall_seconds"] = time.perf_counter() - start
                write_json(out / "summary.json", summary)
            if cfg["skip_bench"]:
                pass
            elif left() <= 30:
                summary["steps"].append({"step": "bench_gpc", "seconds": 0.0,
                                         "status": "skipped (CHECK_BUDGET_S spent)"})
            else:
                summary["steps"].append(_step(
                    [sys.executable, str(ROOT / "benchmarks" / "bench_gpc.py"),
                     "--sizes", cfg["bench_sizes"], "--precisions", ",".join(cfg["bench_precisions"]),
                     "--variants", ",".join(cfg["bench_variants"]), "--no-reference",
                     "--rounds", str(cfg["bench_rounds"]), "--steps", str(cfg["bench_steps"]),
                     "--json", str(out / "bench.json")], env, log, "bench_gpc", timeout=left()))
                if (out / "bench.json").exists():  # written after each size and precision
                    summary["bench"] = json.loads((out / "bench.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["wall_seconds"] = time.perf_counter() - start
    write_json(out / "summary.json", summary)
    text = summary_text(summary)
    (out / "summary.txt").write_text(text)
    print(text, end="")
    return summary
