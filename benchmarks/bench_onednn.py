"""Training time on one pinned core with TensorFlow's oneDNN kernels off and on.

    python benchmarks/bench_onednn.py [--variants gpc16 mobilenet-a0.75] [--train-limit 2000] [--core 0]

Why: TensorFlow's Linux x86 wheels turn their oneDNN (MKL-DNN) kernels on by
default only on CPUs with AVX-512 VNNI/BF16 or AMX; elsewhere (for example an
AVX2-only AMD EPYC) they stay off unless `TF_ENABLE_ONEDNN_OPTS=1` is set, and
TensorFlow's own Eigen kernels run instead.  The variable is read when
TensorFlow is imported, so each setting runs in its own process.

Each measurement is one epoch of the `cpu` profile through the real engine
(`train_variant`), as in bench_malloc.py, with the tuned malloc settings in
both.  Prints seconds per setting and the ratio on / off per variant.  Run it
with nothing else on that core (the load is printed).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_malloc import measure  # noqa: E402
from gpc_support.common.environment import MALLOC_ENV  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["gpc16", "mobilenet-a0.75"])
    ap.add_argument("--train-limit", type=int, default=2000,
                    help="training images (90%% train, 10%% validate); default 2000")
    ap.add_argument("--data-dir", default=None, help="CIFAR-10 folder; default the embedded subset")
    ap.add_argument("--core", type=int, default=0)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}; cpu profile, one epoch on "
          f"{args.train_limit} images, on core {args.core}")
    for variant in args.variants:
        seconds = {}
        for setting in ("0", "1"):
            env = {**MALLOC_ENV, "TF_ENABLE_ONEDNN_OPTS": setting}
            seconds[setting] = measure(variant, args.train_limit, args.data_dir, args.core, env)["seconds"]
        print(f"{variant:20s} oneDNN off {seconds['0']:7.1f} s   on {seconds['1']:7.1f} s   "
              f"on / off: {seconds['1'] / seconds['0']:.2f}x the time")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
