"""Deployment latency: does GPC make MobileNet faster where MobileNets run?

Batch-1 latency of the variants exported to LiteRT (TFLite, XNNPACK delegate)
and to ONNX (ONNX Runtime, CPU), each network in two forms side by side:

    einsum    the network as trained (`GroupedPointwiseConv2D`, an einsum),
              exported as it is
    grouped   its deployment form (`gpc_support.deploy.deployment_model`):
              native `Conv2D(groups=N)` + reshape/transpose interleave

(and, when asked with --forms, the deployment form's options: grouped-gather,
grouped-dense2, grouped-foldbn).  MobileNet has no grouped layers; it is
measured once per setting (form "baseline") and is the reference of every
ratio.  Random weights: latency does not depend on the weights' values.

From a clean clone (Python 3.10+, the project's .venv made as in README):

    .venv/bin/python -m pip install -r requirements-deploy.txt && .venv/bin/python benchmarks/bench_deploy.py --out results/deploy

That measures every variant at 224 and 32 px, 1 thread and all threads, both
runtimes (5-10 minutes on 2 cores; the timing itself is 8 settings x
--seconds), and writes to --out:

    latency.csv           one row per measurement (runtime, form, variant,
                          image_size, threads, median_ms, spread, ratio_to_mobilenet,
                          macs, mac_ratio, ...)
    ops.csv, ops.md       operators of both export forms (LiteRT and ONNX), and
                          how many XNNPACK partitions LiteRT made
    latency_vs_macs.png/.svg   latency ratio against MAC ratio with interquartile
                          bars, y = x the ideal (--plot-only redraws it from
                          the latency.csv in --out, without timing anything)
    environment.json      CPU model, runtime versions, the command line

Other jobs (each alone, or together with the above):

    # operator-level profile: each network cut into operator groups (a conv
    # with its folded BN and ReLU6, a swish, an interleave, ...), each group
    # timed as a model of its own -> op_profile.csv, op_profile.md
    .venv/bin/python benchmarks/bench_deploy.py --only profile --profile-variants mobilenet,gpc16

    # what each kind of operator costs in place: whole networks timed with one
    # more kind (interleave, swish, add, depthwise) taken out -> ablation.csv, ablation.md
    .venv/bin/python benchmarks/bench_deploy.py --only ablation --profile-variants mobilenet,gpc16

    # equality on real images with trained weights: RUNS/<variant>/best.weights.h5
    # (from train_variant / run_all.sh), CIFAR-10 image folders DATA/test/<class>/
    # -> equality.csv (max |Keras - LiteRT|, |Keras - ONNX| of the softmax)
    .venv/bin/python benchmarks/bench_deploy.py --only check --check-runs RUNS --data-dir DATA

Timing protocol: in each setting (runtime x size x threads) every model is
loaded once, warmed up, then run round by round, one call of every model per
round in a rotating order (models alternate; a slow moment of a shared machine
hits them all alike), until --seconds have passed and at least --min-rounds
rounds are done.  Reported: median and quartiles and min/max per model, the
ratio of medians to MobileNet's, and the quartiles of the per-round ratio
(each call divided by MobileNet's call of the same round).  With one thread
also the calling thread's CPU time per call (cpu_* columns), which leaves out
the time spent waiting while other processes had the core.  The CSV rows
carry --note (default: the machine was shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
# the benchmark's parts, benchmarks/deploy_bench/ (when run as a script this
# folder is on the path already; a test that loads this file by path needs it)
if HERE not in sys.path:
    sys.path.insert(1, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from deploy_bench.ablation import ablation_job, write_ablation_markdown  # noqa: E402
from deploy_bench.csv_files import read_latency_csv, write_csv  # noqa: E402
from deploy_bench.equality import check_job  # noqa: E402
from deploy_bench.figure import plot_latency_vs_macs  # noqa: E402
from deploy_bench.latency import latency_job  # noqa: E402
from deploy_bench.networks import FORMS, RUNTIMES, variant_channels  # noqa: E402
from deploy_bench.op_profile import profile_job, write_profile_markdown  # noqa: E402
from deploy_bench.operators import write_ops_markdown  # noqa: E402

DEFAULT_VARIANTS = "mobilenet,gpc16,gpc32,gpc64,gpc128"
MACHINE_NOTE = "shared machine: other jobs ran on the same cores"


# ---------------------------------------------------------------------------
# Arguments


def _csv_list(text, name, allowed=None):
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise SystemExit(f"{name}: give at least one value")
    if allowed is not None:
        bad = [t for t in items if t not in allowed]
        if bad:
            raise SystemExit(f"{name}: unknown {', '.join(bad)}; allowed: {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def _positive_ints(text, name):
    try:
        values = [int(t) for t in _csv_list(text, name)]
    except ValueError:
        raise SystemExit(f"{name}: expected comma-separated positive integers, got {text!r}")
    if any(v < 1 for v in values):
        raise SystemExit(f"{name}: expected positive integers, got {text!r}")
    return values


def _threads(text):
    out = []
    for item in _csv_list(text, "--threads"):
        if item == "all":
            out.append(os.cpu_count() or 1)
        elif item.isdigit() and int(item) >= 1:
            out.append(int(item))
        else:
            raise SystemExit(f"--threads: expected positive integers or 'all', got {item!r}")
    return list(dict.fromkeys(out))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/deploy", help="output folder (default results/deploy)")
    p.add_argument("--only", default="latency",
                   help="comma-separated jobs: latency (with ops and figure), profile, ablation, check "
                        "(default latency)")
    p.add_argument("--variants", default=DEFAULT_VARIANTS,
                   help=f"comma-separated variants (default {DEFAULT_VARIANTS}); 'mobilenet', 'gpcN' for any N, "
                        "or a name gpc_support.model.networks.build_variant knows")
    p.add_argument("--forms", default="einsum,grouped", help=f"comma-separated, of {', '.join(FORMS)}")
    p.add_argument("--runtimes", default="litert,onnx", help="comma-separated, of litert, onnx")
    p.add_argument("--sizes", default="224,32", help="image sizes in px (default 224,32)")
    p.add_argument("--threads", default="1,all", help="thread counts, 'all' = every core (default 1,all)")
    p.add_argument("--seconds", type=float, default=20.0, help="timing time per setting (default 20)")
    p.add_argument("--min-rounds", type=int, default=30, help="at least this many rounds per setting")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per model first (default 5)")
    p.add_argument("--profile-variants", default="mobilenet,gpc16",
                   help="variants of the operator profile (default mobilenet,gpc16)")
    p.add_argument("--profile-forms", default="grouped", help="forms of the operator profile (default grouped)")
    p.add_argument("--profile-size", type=int, default=224)
    p.add_argument("--profile-threads", default="1")
    p.add_argument("--check-runs", default=None, help="folder with <variant>/best.weights.h5 (job check)")
    p.add_argument("--data-dir", default=None, help="CIFAR-10 image folders with test/<class>/ (job check)")
    p.add_argument("--check-images", type=int, default=200, help="real test images of the check (default 200)")
    p.add_argument("--check-sizes", default="32,224", help="image sizes of the check (default 32,224)")
    p.add_argument("--note", default=MACHINE_NOTE, help="a note written into every CSV row")
    p.add_argument("--plot-only", action="store_true",
                   help="only redraw latency_vs_macs.png/.svg from the latency.csv in --out (no timing)")
    args = p.parse_args(argv)
    if args.plot_only:
        return args

    args.only = _csv_list(args.only, "--only", ("latency", "profile", "ablation", "check"))
    args.variants = _csv_list(args.variants, "--variants")
    args.forms = _csv_list(args.forms, "--forms", tuple(FORMS))
    args.runtimes = _csv_list(args.runtimes, "--runtimes", RUNTIMES)
    args.sizes = _positive_ints(args.sizes, "--sizes")
    args.check_sizes = _positive_ints(args.check_sizes, "--check-sizes")
    if min(args.sizes + args.check_sizes + [args.profile_size]) < 32:
        raise SystemExit("--sizes/--check-sizes/--profile-size: the networks need at least 32 px")
    args.threads = _threads(args.threads)
    args.profile_threads = _threads(args.profile_threads)
    args.profile_variants = _csv_list(args.profile_variants, "--profile-variants")
    args.profile_forms = _csv_list(args.profile_forms, "--profile-forms", tuple(FORMS))
    if args.seconds <= 0:
        raise SystemExit(f"--seconds: must be positive, got {args.seconds}")
    if args.min_rounds < 3:
        raise SystemExit(f"--min-rounds: must be at least 3, got {args.min_rounds}")
    if args.warmup < 0:
        raise SystemExit(f"--warmup: must be >= 0, got {args.warmup}")
    if args.check_images < 1:
        raise SystemExit(f"--check-images: must be positive, got {args.check_images}")
    if "check" in args.only and (not args.check_runs or not args.data_dir):
        raise SystemExit("--only check needs --check-runs RUNS and --data-dir DATA")
    for name in args.variants + args.profile_variants:
        variant_channels(name)  # fails fast on a typo
    if "onnx" in args.runtimes or "check" in args.only:
        from gpc_support.deploy import onnx_available

        if not onnx_available():
            raise SystemExit("the ONNX path needs tf2onnx, onnx and onnxruntime: "
                             "pip install -r requirements-deploy.txt (or --runtimes litert)")
    return args


# ---------------------------------------------------------------------------
# The run


def environment(args):
    from gpc_support.deploy import cpu_model, runtime_versions
    from gpc_support.deploy.runtimes import _litert_interpreter

    return {
        "cpu": cpu_model(),
        "versions": runtime_versions(),
        "litert_interpreter": _litert_interpreter()[1],
        "command": "python benchmarks/bench_deploy.py " + " ".join(sys.argv[1:]),
        "note": args.note,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    if args.plot_only:
        csv_path = out / "latency.csv"
        if not csv_path.is_file():
            raise SystemExit(f"--plot-only: no {csv_path}")
        plot_latency_vs_macs(read_latency_csv(csv_path), out)
        print(f"latency_vs_macs.png/.svg redrawn from {csv_path}")
        return
    out.mkdir(parents=True, exist_ok=True)
    env = environment(args)
    print(f"CPU: {env['cpu']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
          + f"; LiteRT interpreter from {env['litert_interpreter']}")
    print(f"note: {args.note}", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        if "latency" in args.only:
            rows, op_rows, delegation = latency_job(args, workdir, env)
            write_csv(out / "latency.csv", rows)
            write_csv(out / "ops.csv", op_rows)
            write_ops_markdown(out / "ops.md", op_rows, delegation, max(args.sizes))
            plot_latency_vs_macs(rows, out)
            (out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
        if "profile" in args.only:
            rows = profile_job(args, workdir, env)
            write_csv(out / "op_profile.csv", rows)
            write_profile_markdown(out / "op_profile.md", rows)
        if "ablation" in args.only:
            rows = ablation_job(args, workdir, env)
            write_csv(out / "ablation.csv", rows)
            write_ablation_markdown(out / "ablation.md", rows)
        if "check" in args.only:
            rows = check_job(args, workdir, env)
            write_csv(out / "equality.csv", rows)
    print(f"done in {time.perf_counter() - started:.0f} s; results in {out}", flush=True)


if __name__ == "__main__":
    main()
