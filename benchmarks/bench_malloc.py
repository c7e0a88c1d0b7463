"""Training-step time on one pinned core: glibc's default malloc against the tuned settings.

    python benchmarks/bench_malloc.py [--variant mobilenet-swish-a0.5] [--train-limit 4000] [--core 0]

Why: a run pinned to one core (`run_all.sh --cpus`) spent about 40% of its
time in the kernel, taking ~140,000 minor page faults a second.  glibc hands
large blocks (above its mmap threshold) straight back to the system on free,
so every training step maps, faults in and unmaps its big temporaries again.
`gpc_support.common.environment.MALLOC_ENV` raises the mmap and trim
thresholds so those blocks stay in the heap; the pool workers set it.

Each setting runs in its own process (the variables are read when the process
starts), pinned to `--core`: one epoch of the `cpu` profile through the real
engine (`train_variant`: feeder, augmentation, BatchNorm re-estimation,
validation, checkpoints) on `--train-limit` images of the embedded subset, so
fixed start-up costs are in both.  Prints the time, minor page faults a second,
the share of the time spent in the kernel, and the ratio tuned / default.
Run it with nothing else on that core (the load is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from gpc_support.common.environment import MALLOC_ENV  # noqa: E402

CHILD = r"""
import json, resource, sys, tempfile, time
from gpc_support.data.embedded import embedded_data_dir
from gpc_support.train.engine import train_variant
variant, train_limit = sys.argv[1], int(sys.argv[2])
data_dir = sys.argv[3] if len(sys.argv) > 3 else str(embedded_data_dir())
with tempfile.TemporaryDirectory() as out:
    f0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    train_variant(variant, "cpu", data_dir=data_dir, out_dir=out, verbose=0,
                  overrides={"epochs": 1, "train_limit": train_limit, "test_limit": 500})
    t = time.perf_counter() - t0
    f1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": t, "faults_per_s": (f1.ru_minflt - f0.ru_minflt) / t,
                  "sys_share": (f1.ru_stime - f0.ru_stime) / t}))
"""


def measure(variant: str, train_limit: int, data_dir: str | None, core: int, extra_env: dict) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", **extra_env}
    for name in MALLOC_ENV:
        if name not in extra_env:
            env.pop(name, None)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    argv = [sys.executable, "-c", CHILD, variant, str(train_limit)] + ([data_dir] if data_dir else [])
    out = subprocess.run(argv, env=env,
                         capture_output=True, text=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    if out.returncode:
        sys.exit(f"the measuring process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="mobilenet-swish-a0.5")
    ap.add_argument("--train-limit", type=int, default=4000,
                    help="training images (90%% train, 10%% validate); default 4000")
    ap.add_argument("--data-dir", default=None,
                    help="CIFAR-10 folder; default the embedded subset")
    ap.add_argument("--core", type=int, default=0)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}; variant {args.variant}, cpu profile, one epoch "
          f"on {args.train_limit} images, on core {args.core}")
    rows = {name: measure(args.variant, args.train_limit, args.data_dir, args.core, env)
            for name, env in (("default malloc", {}), ("tuned malloc", MALLOC_ENV))}
    for name, r in rows.items():
        print(f"{name:15s} {r['seconds']:7.1f} s {r['faults_per_s']:10.0f} minor faults/s "
              f"{100 * r['sys_share']:5.1f}% of the time in the kernel")
    ratio = rows["tuned malloc"]["seconds"] / rows["default malloc"]["seconds"]
    print(f"tuned / default: {ratio:.2f}x the time")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
