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
import collections
import csv
import json
import os
import re
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

FORMS = {
    # form name: deployment_model options (None: the trained einsum form as it is)
    "einsum": None,
    "grouped": {},
    "grouped-gather": {"interleave": "gather"},
    "grouped-dense2": {"dense_max_groups": 2},
    "grouped-foldbn": {"fold_batchnorm": True},
}
RUNTIMES = ("litert", "onnx")
DEFAULT_VARIANTS = "mobilenet,gpc16,gpc32,gpc64,gpc128"
BASELINE = "mobilenet"
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
# Models


def variant_channels(name):
    """'mobilenet' -> None, 'gpc16' -> 16; any other name must be known to
    gpc_support.model.networks.build_variant (returns the name itself then)."""
    if name == BASELINE:
        return None
    match = re.fullmatch(r"gpc(\d+)", name)
    if match and int(match.group(1)) >= 1:
        return int(match.group(1))
    from gpc_support.model import networks as models

    names = getattr(models, "VARIANT_NAMES", None)
    if hasattr(models, "build_variant") and (names is None or name in names):
        return name
    raise SystemExit(f"--variants: unknown variant {name!r}; use 'mobilenet', 'gpcN' (N channels per group)"
                     + (f" or one of {', '.join(names)}" if names else ""))


def build_variant(name, size):
    from gpc_support.model import networks as models

    channels = variant_channels(name)
    shape = (size, size, 3)
    if isinstance(channels, str):
        return models.build_variant(channels, input_shape=shape)
    return models.build_model(channels, shape)


def deployed(model, form):
    from gpc_support.deploy import deployment_model

    options = FORMS[form]
    return model if options is None else deployment_model(model, **options)


def randomise_batchnorm(model, seed=0):
    """BatchNorm statistics away from (0, 1), so that folding them is not trivial."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])


# ---------------------------------------------------------------------------
# Timing


def time_round_robin(runners, inputs, seconds, min_rounds, warmup):
    """({key: [wall seconds per call]}, {key: [CPU seconds of the calling thread per call]}):
    one call of every runner per round, in a rotating order.

    The calling thread's CPU time leaves out the time the thread waited while
    other processes had the core (with 1 thread both runtimes compute in the
    calling thread), so on a shared machine it is the steadier measure of
    what one-thread inference costs; with more threads it misses the workers.
    """
    keys = list(runners)
    for key in keys:
        runners[key].set_input(inputs[key])
        for _ in range(warmup):
            runners[key].invoke()
    wall = {key: [] for key in keys}
    cpu = {key: [] for key in keys}
    clock, cpu_clock = time.perf_counter, time.thread_time
    start = clock()
    rounds = 0
    while rounds < min_rounds or clock() - start < seconds:
        shift = rounds % len(keys)
        for key in keys[shift:] + keys[:shift]:
            invoke = runners[key].invoke
            c0 = cpu_clock()
            t0 = clock()
            invoke()
            t1 = clock()
            c1 = cpu_clock()
            wall[key].append(t1 - t0)
            cpu[key].append(c1 - c0)
        rounds += 1
    return wall, cpu


def summarise(samples_ms):
    a = np.asarray(samples_ms)
    q1, median, q3 = np.percentile(a, [25, 50, 75])
    return {"median_ms": median, "q1_ms": q1, "q3_ms": q3, "min_ms": a.min(), "max_ms": a.max(), "runs": a.size}


def make_runner(runtime, files, threads):
    from gpc_support.deploy import LiteRTRunner, OnnxRunner

    if runtime == "litert":
        return LiteRTRunner(files["litert_bytes"], threads)
    return OnnxRunner(files["onnx"], threads)


def export_all(models, workdir, runtimes, tag):
    """{key: {'litert_bytes', 'litert', 'onnx'}} for every (variant, form) model."""
    from gpc_support.deploy import litert_to_onnx, to_litert

    files = {}
    for key, model in models.items():
        stem = Path(workdir) / f"{tag}_{key[0]}_{key[1]}"
        t0 = time.perf_counter()
        entry = {"litert": stem.with_suffix(".tflite")}
        entry["litert_bytes"] = to_litert(model, entry["litert"])
        if "onnx" in runtimes:
            entry["onnx"] = litert_to_onnx(entry["litert"], stem.with_suffix(".onnx"))
        files[key] = entry
        print(f"  exported {key[0]:>9} {key[1]:<15} {tag}: {time.perf_counter() - t0:5.1f} s", flush=True)
    return files


def latency_job(args, workdir, env):
    from gpc_support.model.counts import count_macs

    rows, op_rows, delegation = [], [], {}
    for size in args.sizes:
        print(f"[{size} px] building and exporting", flush=True)
        models, macs = {}, {}
        for variant in args.variants:
            model = build_variant(variant, size)
            randomise_batchnorm(model)
            macs[variant] = count_macs(model)
            forms = args.forms if variant != BASELINE else ["baseline"]
            for form in forms:
                models[(variant, form)] = model if form == "baseline" else deployed(model, form)
        files = export_all(models, workdir, args.runtimes, f"{size}px")
        op_rows += op_count_rows(files, size, args.runtimes)
        rng = np.random.default_rng(size)
        image = rng.random((1, size, size, 3), dtype=np.float32)
        for runtime in args.runtimes:
            for threads in args.threads:
                runners = {key: make_runner(runtime, files[key], threads) for key in models}
                if runtime == "litert":
                    for key, runner in runners.items():
                        delegation[(key, size)] = runner.nodes()
                t0 = time.perf_counter()
                times, cpu_times = time_round_robin(runners, {k: image for k in runners}, args.seconds,
                                                    args.min_rounds, args.warmup)
                rows += latency_rows(times, cpu_times if threads == 1 else None, runtime, size, threads, macs,
                                     env, args.note)
                print(f"  {runtime:>6} {size:>3} px {threads} thread(s): {len(times[next(iter(times))])} rounds "
                      f"in {time.perf_counter() - t0:.0f} s", flush=True)
                print_ratios(rows[-len(times):])
                del runners
    return rows, op_rows, delegation


def latency_rows(times, cpu_times, runtime, size, threads, macs, env, note):
    """One CSV row per model of one setting; ratios to the MobileNet of the same run.

    `cpu_times` (1 thread only) adds the calling thread's CPU time per call."""
    base_key = next(k for k in times if k[0] == BASELINE)
    base = np.asarray(times[base_key])
    base_median = float(np.median(base))
    version = env["versions"].get("ai-edge-litert" if runtime == "litert" else "onnxruntime", "")
    if runtime == "litert":
        version = f"{env['litert_interpreter']} {version}".strip()
    rows = []
    for key, samples in times.items():
        variant, form = key
        a = np.asarray(samples)
        paired = a / base  # the same round's MobileNet call
        row = {"runtime": "LiteRT+XNNPACK" if runtime == "litert" else "ONNX Runtime",
               "runtime_version": version, "form": form, "variant": variant,
               "image_size": size, "threads": threads}
        row.update({k: (round(v * 1e3, 4) if k != "runs" else v) for k, v in summarise(a).items()})
        row["ratio_to_mobilenet"] = round(float(np.median(a)) / base_median, 4)
        row["paired_ratio_q1"], row["paired_ratio_q3"] = (round(float(v), 4) for v in np.percentile(paired, [25, 75]))
        row["cpu_median_ms"] = row["cpu_q1_ms"] = row["cpu_q3_ms"] = row["cpu_ratio_to_mobilenet"] = ""
        if cpu_times is not None:
            c = np.asarray(cpu_times[key])
            q1, median, q3 = np.percentile(c, [25, 50, 75])
            row["cpu_median_ms"], row["cpu_q1_ms"], row["cpu_q3_ms"] = (round(v * 1e3, 4) for v in (median, q1, q3))
            row["cpu_ratio_to_mobilenet"] = round(float(median / np.median(cpu_times[base_key])), 4)
        row["macs"] = macs[variant]
        row["mac_ratio"] = round(macs[variant] / macs[BASELINE], 4)
        row["cpu"] = env["cpu"]
        row["note"] = note
        rows.append(row)
    return rows


def print_ratios(rows):
    for r in rows:
        print(f"    {r['variant']:>9} {r['form']:<15} {r['median_ms']:8.3f} ms "
              f"[{r['q1_ms']:.3f}, {r['q3_ms']:.3f}]  x{r['ratio_to_mobilenet']:.3f} "
              f"(per-round {r['paired_ratio_q1']:.3f}-{r['paired_ratio_q3']:.3f})  MACs x{r['mac_ratio']:.3f}"
              + (f"  CPU {r['cpu_median_ms']:.3f} ms x{r['cpu_ratio_to_mobilenet']:.3f}" if r["cpu_median_ms"] != "" else ""),
              flush=True)


# ---------------------------------------------------------------------------
# Operator counts


def op_count_rows(files, size, runtimes):
    from gpc_support.deploy import litert_op_counts, onnx_op_counts

    rows = []
    for (variant, form), entry in files.items():
        counts = {"LiteRT": litert_op_counts(entry["litert_bytes"])}
        if "onnx" in runtimes:
            counts["ONNX"] = onnx_op_counts(entry["onnx"])
        for fmt, counter in counts.items():
            for op, n in sorted(counter.items()):
                rows.append({"format": fmt, "variant": variant, "form": form, "image_size": size, "op": op, "count": n})
    return rows


def write_ops_markdown(path, op_rows, delegation, size):
    lines = [f"# Operators of the exported models ({size} px, batch 1)", "",
             "Counted in the files as written (LiteRT: before delegation; ONNX: before ONNX Runtime's own "
             "graph optimisations). `einsum` is the network as trained, `grouped` its deployment form.", ""]
    for fmt in ("LiteRT", "ONNX"):
        sel = [r for r in op_rows if r["format"] == fmt and r["image_size"] == size]
        if not sel:
            continue
        models = list(dict.fromkeys((r["variant"], r["form"]) for r in sel))
        ops = sorted({r["op"] for r in sel})
        table = {(r["variant"], r["form"], r["op"]): r["count"] for r in sel}
        lines += [f"## {fmt}", "", "| variant | form | total | " + " | ".join(ops) + " |",
                  "|---|---|---:|" + "---:|" * len(ops)]
        for variant, form in models:
            counts = [table.get((variant, form, op), 0) for op in ops]
            lines.append(f"| {variant} | {form} | {sum(counts)} | " + " | ".join(str(c) for c in counts) + " |")
        lines.append("")
    if delegation:
        lines += ["## XNNPACK partitions (LiteRT)", "",
                  "How many XNNPACK delegate nodes the interpreter made: 1 when XNNPACK takes the graph as one "
                  "piece; an operator XNNPACK cannot run (e.g. GATHER) splits the graph into several, with a "
                  "hand-over between XNNPACK and LiteRT's own kernels at every split.",
                  "", "| variant | form | partitions |", "|---|---|---:|"]
        for (key, s), nodes in delegation.items():
            if s == size:
                lines.append(f"| {key[0]} | {key[1]} | {nodes.get('DELEGATE', 0)} |")
        lines.append("")
    Path(path).write_text("\n".join(lines))


# ---------------------------------------------------------------------------
# Operator-level profile


def profile_job(args, workdir, env):
    from gpc_support.deploy import LiteRTRunner, deployment_model, to_litert
    from gpc_support.deploy.opgroups import group_model, op_groups
    from gpc_support.model.counts import macs_by_layer

    size = args.profile_size
    rows = []
    print(f"[profile {size} px] cutting into operator groups", flush=True)
    runners, inputs, meta, macs = {}, {}, {}, {}
    for variant in args.profile_variants:
        model = build_variant(variant, size)
        randomise_batchnorm(model)
        forms = ["baseline"] if variant == BASELINE else args.profile_forms
        for form in forms:
            # BatchNorm folded here, so that every group holds exactly what the
            # converter fuses in the whole model (a group's BN alone would not fold).
            options = dict(FORMS.get(form) or {}, fold_batchnorm=True)
            net = model if form == "einsum" else deployment_model(model, **options)
            whole = to_litert(net)
            rng = np.random.default_rng(0)
            meta[(variant, form, "whole")] = ("whole model", "whole model")
            runners[(variant, form, "whole")] = whole
            inputs[(variant, form, "whole")] = rng.random((1, size, size, 3), dtype=np.float32)
            layer_macs = macs_by_layer(net)
            macs[(variant, form, "whole")] = sum(layer_macs.values())
            for group in op_groups(net):
                sub = group_model(group)
                key = (variant, form, group.name)
                macs[key] = sum(layer_macs.get(layer.name, 0) for layer in group.layers)
                runners[key] = to_litert(sub)
                inputs[key] = [rng.random(tuple(t.shape), dtype=np.float32) for t in sub.inputs]
                meta[key] = (group.category, ",".join(layer.name for layer in group.layers))
            print(f"  {variant} {form}: {len(op_groups(net))} groups", flush=True)
    # The fixed cost of one call: a model that does almost nothing (one ReLU on 8 numbers).
    import keras

    tiny_in = keras.Input(batch_shape=(1, 1, 1, 8))
    runners[("call", "fixed cost", "tiny")] = to_litert(keras.Model(tiny_in, keras.layers.ReLU()(tiny_in)))
    inputs[("call", "fixed cost", "tiny")] = np.zeros((1, 1, 1, 8), np.float32)
    meta[("call", "fixed cost", "tiny")] = ("call fixed cost", "one ReLU on 8 numbers")
    for threads in args.profile_threads:
        live = {key: LiteRTRunner(fb, threads) for key, fb in runners.items()}
        times, cpu_times = time_round_robin(live, inputs, args.seconds * 3, args.min_rounds, args.warmup)
        for key, samples in times.items():
            s = summarise(np.asarray(samples) * 1e3)
            c = np.percentile(np.asarray(cpu_times[key]) * 1e3, [25, 50, 75]) if threads == 1 else None
            rows.append({"runtime": "LiteRT+XNNPACK", "variant": key[0], "form": key[1], "group": key[2],
                         "category": meta[key][0], "layers": meta[key][1], "macs": macs.get(key, 0),
                         "image_size": size, "threads": threads,
                         "median_ms": round(s["median_ms"], 4), "q1_ms": round(s["q1_ms"], 4),
                         "q3_ms": round(s["q3_ms"], 4), "runs": s["runs"],
                         "cpu_median_ms": round(c[1], 4) if c is not None else "",
                         "cpu_q1_ms": round(c[0], 4) if c is not None else "",
                         "cpu_q3_ms": round(c[2], 4) if c is not None else "", "note": args.note})
        del live
    return rows


def write_profile_markdown(path, rows):
    from gpc_support.deploy.opgroups import CATEGORIES

    lines = ["# Operator-level latency profile (LiteRT + XNNPACK, batch 1)", "",
             f"Note: {rows[0]['note']}." if rows else "", "",
             "Each network is cut into operator groups (a convolution with its folded BatchNorm and fused ReLU6, "
             "a swish, an interleave, an add, ...); each group is converted and timed as a model of its own, all "
             "groups of all networks alternating. Median ms per call, summed by category. `sum` is the sum of "
             "the groups; `whole model` the whole network timed in the same run (the groups' sum is larger: "
             "each group pays a call's fixed cost and starts with cold caches).", ""]
    settings = sorted({(r["image_size"], r["threads"]) for r in rows})
    for size, threads in settings:
        sel = [r for r in rows if (r["image_size"], r["threads"]) == (size, threads)]
        fixed = next((r["median_ms"] for r in sel if r["variant"] == "call"), 0.0)
        sel = [r for r in sel if r["variant"] != "call"]
        models = list(dict.fromkeys((r["variant"], r["form"]) for r in sel))
        n_groups = collections.Counter((r["variant"], r["form"]) for r in sel if r["category"] != "whole model")
        # One thread: the calling thread's CPU time (steadier on a shared machine); else wall time.
        measure = "cpu_median_ms" if all(r.get("cpu_median_ms") not in ("", None) for r in sel) else "median_ms"
        if any(r["variant"] == "call" for r in rows if (r["image_size"], r["threads"]) == (size, threads)):
            fixed = next(r[measure] for r in rows
                         if (r["image_size"], r["threads"], r["variant"]) == (size, threads, "call"))
        per = collections.defaultdict(float)
        for r in sel:
            per[(r["variant"], r["form"], r["category"])] += r[measure]
        cats = [c for c in CATEGORIES if any(per.get((v, f, c)) for v, f in models)]
        base = next(((v, f) for v, f in models if v == BASELINE), None)
        lines += [f"## {size} px, {threads} thread(s)", "",
                  "Milliseconds per call, " + ("CPU time of the calling thread (medians)" if measure == "cpu_median_ms"
                                               else "wall time (medians)") + ":", "",
                  "| category | " + " | ".join(f"{v} {f}" for v, f in models) + " |",
                  "|---|" + "---:|" * len(models)]
        for cat in cats + ["sum", "sum less the groups' fixed call cost", "whole model"]:
            cells = []
            for v, f in models:
                if cat == "sum":
                    value = sum(per[(v, f, c)] for c in cats)
                elif cat.startswith("sum less"):
                    value = sum(per[(v, f, c)] for c in cats) - (n_groups[(v, f)] - 1) * fixed
                else:
                    value = per.get((v, f, cat), 0.0)
                cells.append(f"{value:.3f}")
            lines.append(f"| {cat} | " + " | ".join(cells) + " |")
        if base:
            whole = {m: per.get((m[0], m[1], "whole model"), 0.0) for m in models}
            lines.append("| whole / MobileNet's | " + " | ".join(
                f"{whole[m] / whole[base]:.3f}" if whole[base] else "" for m in models) + " |")
        lines += ["", f"Fixed cost of one call (a model with one ReLU on 8 numbers): {fixed:.4f} ms; "
                  "`sum less ...` takes it off every group but one.", ""]
        mac = collections.defaultdict(int)
        for r in sel:
            if r["category"] != "whole model":
                mac[(r["variant"], r["form"], r["category"])] += int(r["macs"])
        conv_cats = [c for c in ("stem", "depthwise 3x3", "dense 1x1", "grouped 1x1")
                     if any(mac.get((v, f, c)) for v, f in models)]
        lines += ["Multiply-accumulates (millions) and time per multiply-accumulate (ps) of the convolution groups:",
                  "", "| category | " + " | ".join(f"{v} {f}: MMACs | ps/MAC" for v, f in models) + " |",
                  "|---|" + "---:|---:|" * len(models)]
        for cat in conv_cats:
            cells = []
            for v, f in models:
                m = mac.get((v, f, cat), 0)
                cells.append(f"{m / 1e6:.1f} | " + (f"{per[(v, f, cat)] * 1e9 / m:.1f}" if m else ""))
            lines.append(f"| {cat} | " + " | ".join(cells) + " |")
        lines.append("")
    Path(path).write_text("\n".join(lines))


# ---------------------------------------------------------------------------
# Ablation: what each kind of operator costs inside the whole network

LADDERS = {
    BASELINE: [(), ("depthwise",)],
    "gpc": [(), ("interleave",), ("interleave", "swish"), ("interleave", "swish", "add"),
            ("interleave", "swish", "add", "depthwise")],
}


def ablation_job(args, workdir, env):
    from gpc_support.deploy import LiteRTRunner, deployment_model, to_litert
    from gpc_support.deploy.operator_removal import ablated_model

    size = args.profile_size
    print(f"[ablation {size} px] building the ladders", flush=True)
    flatbuffers, steps = {}, {}
    for variant in args.profile_variants:
        model = build_variant(variant, size)
        randomise_batchnorm(model)
        forms = ["baseline"] if variant == BASELINE else args.profile_forms
        ladder = LADDERS[BASELINE] if variant == BASELINE else LADDERS["gpc"]
        for form in forms:
            net = model if form in ("einsum", "baseline") else deployment_model(model, **FORMS[form])
            for removed in ladder:
                key = (variant, form, "-".join(removed) or "none")
                flatbuffers[key] = to_litert(ablated_model(net, removed) if removed else net)
                steps[key] = removed
    image = np.random.default_rng(0).random((1, size, size, 3), dtype=np.float32)
    rows = []
    for threads in args.profile_threads:
        live = {key: LiteRTRunner(fb, threads) for key, fb in flatbuffers.items()}
        times, cpu_times = time_round_robin(live, {k: image for k in live}, args.seconds * 3, args.min_rounds,
                                            args.warmup)
        for key in live:
            s = summarise(np.asarray(times[key]) * 1e3)
            c = np.percentile(np.asarray(cpu_times[key]) * 1e3, [25, 50, 75]) if threads == 1 else None
            rows.append({"runtime": "LiteRT+XNNPACK", "variant": key[0], "form": key[1], "removed": key[2],
                         "image_size": size, "threads": threads, "median_ms": round(s["median_ms"], 4),
                         "q1_ms": round(s["q1_ms"], 4), "q3_ms": round(s["q3_ms"], 4), "runs": s["runs"],
                         "cpu_median_ms": round(c[1], 4) if c is not None else "",
                         "cpu_q1_ms": round(c[0], 4) if c is not None else "",
                         "cpu_q3_ms": round(c[2], 4) if c is not None else "", "note": args.note})
            r = rows[-1]
            print(f"  {key[0]:>9} {key[1]:<14} without {key[2]:<32} {r['median_ms']:8.3f} ms"
                  + (f"  CPU {r['cpu_median_ms']:8.3f} ms" if c is not None else ""), flush=True)
        del live
    return rows


def write_ablation_markdown(path, rows):
    lines = ["# What each kind of operator costs inside the network (LiteRT + XNNPACK, batch 1)", "",
             f"Note: {rows[0]['note']}." if rows else "", "",
             "Each network is timed whole, then again with one more kind of operator taken out "
             "(`gpc_support.deploy.operator_removal`); all networks alternate round by round. The step from one row to "
             "the next is what the removed kind costs in place. The last row of a network is what is left: the "
             "stem, the 1x1 convolutions (grouped in gpc, dense in MobileNet) and the head, plus four cheap "
             "1x1 stride-2 depthwise stand-ins for the stride-2 depthwise convolutions (they keep the shapes).",
             ""]
    for size, threads in sorted({(r["image_size"], r["threads"]) for r in rows}):
        sel = [r for r in rows if (r["image_size"], r["threads"]) == (size, threads)]
        measure = "cpu_median_ms" if all(r["cpu_median_ms"] != "" for r in sel) else "median_ms"
        base = next(r[measure] for r in sel if r["variant"] == BASELINE and r["removed"] == "none")
        lines += [f"## {size} px, {threads} thread(s): " + ("CPU time of the calling thread" if measure ==
                  "cpu_median_ms" else "wall time") + ", medians", "",
                  "| network | taken out (cumulative) | ms | / MobileNet whole | step: the removed kind costs |",
                  "|---|---|---:|---:|---|"]
        for variant, form in dict.fromkeys((r["variant"], r["form"]) for r in sel):
            previous = None
            for r in (r for r in sel if (r["variant"], r["form"]) == (variant, form)):
                kind = r["removed"].split("-")[-1] if r["removed"] != "none" else ""
                step = f"{kind}: {previous - r[measure]:.3f} ms" if previous is not None else ""
                lines.append(f"| {variant} {form} | {r['removed'].replace('-', ', ')} | {r[measure]:.3f} | "
                             f"{r[measure] / base:.3f} | {step} |")
                previous = r[measure]
        lines.append("")
    Path(path).write_text("\n".join(lines))


# ---------------------------------------------------------------------------
# Equality on real images with trained weights


def read_test_images(data_dir, count):
    """`count` test images (the same number from every class, files in name order),
    as float32 in [0, 1], and their class indices."""
    from PIL import Image

    test = Path(data_dir) / "test"
    if not test.is_dir():
        raise SystemExit(f"--data-dir: {data_dir} has no test/ folder of class folders")
    classes = sorted(p.name for p in test.iterdir() if p.is_dir())
    if not classes:
        raise SystemExit(f"--data-dir: {test} has no class folders")
    per_class = -(-count // len(classes))
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(f for f in (test / name).iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for f in files[:per_class]:
            with Image.open(f) as img:
                images.append(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)
            labels.append(label)
    return np.stack(images)[:count], np.asarray(labels)[:count]


def check_job(args, workdir, env):
    import keras
    from gpc_support.deploy import LiteRTRunner, OnnxRunner, deployment_model, litert_to_onnx, to_litert

    images, labels = read_test_images(args.data_dir, args.check_images)
    rows = []
    for variant in args.variants:
        weights = Path(args.check_runs) / variant / "best.weights.h5"
        if not weights.is_file():
            print(f"  check: no {weights}, {variant} skipped", flush=True)
            continue
        for size in args.check_sizes:
            x = images if size == images.shape[1] else np.asarray(
                keras.ops.image.resize(images, (size, size), interpolation="bilinear"))
            model = build_variant(variant, size)
            model.load_weights(weights)
            reference = model.predict(x, batch_size=50, verbose=0)
            forms = ["einsum", "grouped"] if variant != BASELINE else ["baseline"]
            for form in forms:
                net = model if form in ("einsum", "baseline") else deployment_model(model)
                keras_out = net.predict(x, batch_size=50, verbose=0)
                stem = Path(workdir) / f"check_{variant}_{form}_{size}"
                fb = to_litert(net, stem.with_suffix(".tflite"))
                outputs = {"Keras deployment form": keras_out}
                lite = LiteRTRunner(fb, 1)
                outputs["LiteRT+XNNPACK"] = np.concatenate([lite(x[i:i + 1]) for i in range(len(x))])
                onnx = OnnxRunner(litert_to_onnx(stem.with_suffix(".tflite"), stem.with_suffix(".onnx")), 1)
                outputs["ONNX Runtime"] = np.concatenate([onnx(x[i:i + 1]) for i in range(len(x))])
                for target, out in outputs.items():
                    if form in ("einsum", "baseline") and target == "Keras deployment form":
                        continue
                    diff = np.abs(out - reference)
                    # Logits up to a constant per image: log-probabilities minus their mean
                    # (differences the saturated softmax of an upscaled image would hide).
                    logp = np.log(np.maximum(out, 1e-30)) - np.log(np.maximum(reference, 1e-30))
                    logit_diff = np.abs(logp - logp.mean(axis=1, keepdims=True))
                    rows.append({
                        "variant": variant, "form": form, "image_size": size, "compared": f"Keras (trained) vs {target}",
                        "images": len(x), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                        "max_abs_logit_diff": float(logit_diff.max()),
                        "argmax_agreement": float(np.mean(out.argmax(1) == reference.argmax(1))),
                        "keras_accuracy": float(np.mean(reference.argmax(1) == labels)),
                        "keras_mean_top_probability": float(reference.max(1).mean()),
                    })
                    r = rows[-1]
                    print(f"  {variant:>9} {form:<8} {size:>3} px vs {target:<22} max|diff| {r['max_abs_diff']:.2e} "
                          f"logits {r['max_abs_logit_diff']:.1e} "
                          f"argmax agree {r['argmax_agreement']:.3f} (Keras acc {r['keras_accuracy']:.3f}, "
                          f"mean top p {r['keras_mean_top_probability']:.3f})", flush=True)
    return rows


# ---------------------------------------------------------------------------
# Output


def write_csv(path, rows):
    if not rows:
        return
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


NUMERIC = {"image_size": int, "threads": int, "runs": int, "macs": int}


def read_latency_csv(path):
    """The rows of a latency.csv as written above: numbers as numbers, empty cells None."""
    rows = []
    with open(path, newline="") as handle:
        for raw in csv.DictReader(handle):
            row = {}
            for key, cell in raw.items():
                if cell in ("", None):
                    row[key] = None
                elif key in NUMERIC:
                    row[key] = NUMERIC[key](cell)
                else:
                    try:
                        row[key] = float(cell)
                    except ValueError:
                        row[key] = cell
            rows.append(row)
    return rows


def _number(value):
    return None if value in ("", None) else float(value)


def latency_series(rows):
    """What the figure draws, one entry per (runtime, size, threads, form, measure):
    x (MAC ratio), y (ratio to MobileNet's median), and the interquartile bar
    (low, high) of every gpc network, in MAC order.

    measure "wall": y the ratio of median wall times, the bar the quartiles of
    the per-round ratio (each call over MobileNet's call of the same round:
    paired_ratio_q1, paired_ratio_q3).  measure "cpu" (the 1-thread rows that
    have cpu_* columns): y the ratio of median CPU times of the calling thread,
    the bar the network's CPU-time quartiles over MobileNet's median CPU time
    (the CPU times were not paired by round)."""
    base = {(r["runtime"], r["image_size"], r["threads"]): r for r in rows if r["form"] == "baseline"}
    series = {}
    for r in sorted((r for r in rows if r["form"] != "baseline"), key=lambda r: float(r["mac_ratio"])):
        setting = (r["runtime"], r["image_size"], r["threads"], r["form"])
        wall = series.setdefault(setting + ("wall",), {"x": [], "y": [], "low": [], "high": [], "variant": []})
        wall["x"].append(float(r["mac_ratio"]))
        wall["y"].append(float(r["ratio_to_mobilenet"]))
        wall["low"].append(float(r["paired_ratio_q1"]))
        wall["high"].append(float(r["paired_ratio_q3"]))
        wall["variant"].append(r["variant"])
        ref = base.get(setting[:3])
        cpu, q1, q3 = (_number(r.get(k)) for k in ("cpu_ratio_to_mobilenet", "cpu_q1_ms", "cpu_q3_ms"))
        ref_median = _number(ref.get("cpu_median_ms")) if ref else None
        if None not in (cpu, q1, q3, ref_median) and ref_median > 0:
            c = series.setdefault(setting + ("cpu",), {"x": [], "y": [], "low": [], "high": [], "variant": []})
            c["x"].append(float(r["mac_ratio"]))
            c["y"].append(cpu)
            c["low"].append(q1 / ref_median)
            c["high"].append(q3 / ref_median)
            c["variant"].append(r["variant"])
    return series


FORM_COLORS = ["#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e"]
FORM_MARKERS = "os^Dv"


def latency_figure(rows):
    """Latency ratio against MAC ratio: a panel per runtime (columns) and per
    image size and thread count (rows); per form the ratio of medians with its
    interquartile bar, wall time (filled, solid) and, with one thread, CPU
    time (hollow, dashed).  The networks are named on the x axis (their MAC
    ratio), not beside the points; the points of one network sit a little
    apart sideways so that their bars do not cover each other."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    series = latency_series(rows)
    runtimes = list(dict.fromkeys(r["runtime"] for r in rows))
    panels = sorted({(r["image_size"], r["threads"]) for r in rows}, key=lambda p: (-p[0], p[1]))
    forms = [f for f in dict.fromkeys(r["form"] for r in rows) if f != "baseline"]
    colors = dict(zip(forms, FORM_COLORS))
    markers = dict(zip(forms, FORM_MARKERS))
    with mpl.rc_context({"font.size": 9, "axes.titlesize": 9.5}):
        width = 5.6 * len(runtimes)
        fig = Figure(figsize=(width, 3.3 * len(panels) + 1.6), layout="constrained")
        axes = fig.subplots(len(panels), len(runtimes), squeeze=False, sharex=True, sharey="row")
        for i, (size, threads) in enumerate(panels):
            top = 1.1
            for j, runtime in enumerate(runtimes):
                ax = axes[i][j]
                ax.plot([0, 1.05], [0, 1.05], color="grey", lw=1, ls="--", zorder=1)
                ax.axhline(1.0, color="black", lw=0.8, zorder=1)
                drawn = [(form, measure) for form in forms for measure in ("wall", "cpu")
                         if (runtime, size, threads, form, measure) in series]
                offsets = (np.arange(len(drawn)) - (len(drawn) - 1) / 2) * 0.016
                for (form, measure), dx in zip(drawn, offsets):
                    s = series[(runtime, size, threads, form, measure)]
                    x, y = np.asarray(s["x"]), np.asarray(s["y"])
                    yerr = np.vstack([y - np.asarray(s["low"]), np.asarray(s["high"]) - y])
                    wall = measure == "wall"
                    ax.errorbar(x + dx, y, yerr=yerr, color=colors[form], marker=markers[form],
                                ls="-" if wall else (0, (4, 2)), lw=1.1, ms=6, capsize=2.5, elinewidth=1,
                                mfc=colors[form] if wall else "white", mew=1.3, zorder=3,
                                gid=f"{runtime} {size} {threads} {form} {measure}")
                    top = max(top, float(np.max(s["high"])) * 1.05)
                ax.grid(alpha=0.3)
                ax.set_title(f"{runtime}, {size} px, {threads} thread{'s' if threads > 1 else ''}, batch 1")
                if i == len(panels) - 1:
                    ax.set_xlabel("network: multiply-accumulates / MobileNet's")
                if j == 0:
                    ax.set_ylabel("latency / MobileNet's")
            axes[i][0].set_ylim(0, top)
        # one x axis for all panels: every network at its MAC ratio (the sizes differ in the
        # third decimal at most)
        ratios = collections.defaultdict(list)
        for s in series.values():
            for v, x in zip(s["variant"], s["x"]):
                ratios[v].append(x)
        ticks = sorted((float(np.mean(x)), v) for v, x in ratios.items())
        axes[0][0].set_xlim(0, 1.05)
        axes[0][0].set_xticks([x for x, _ in ticks] + [1.0],
                              [f"{v}\n{x:.2f}" for x, v in ticks] + ["MobileNet\n1"])
        handles = [Line2D([], [], color="grey", lw=1, ls="--", label="ideal: latency ratio = MAC ratio"),
                   Line2D([], [], color="black", lw=0.8, label="MobileNet's latency")]
        for form in forms:
            handles.append(Line2D([], [], color=colors[form], marker=markers[form], ms=6, lw=1.1,
                                  label=f"{form} form, wall time"))
            if any(k[3] == form and k[4] == "cpu" for k in series):
                handles.append(Line2D([], [], color=colors[form], marker=markers[form], ms=6, lw=1.1,
                                      ls=(0, (4, 2)), mfc="white", mew=1.3,
                                      label=f"{form} form, CPU time (1 thread)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=3 if len(runtimes) > 1 else 2,
                   frameon=False, fontsize=8.5)
        notes = sorted({r.get("note") for r in rows if r.get("note")})
        lines = ["Deployment latency of gpcMobileNet against MobileNet v1 (CPU, batch 1)",
                 "point: ratio of medians; bar: interquartile range of the per-round ratio (wall time), "
                 "or the network's CPU-time quartiles over MobileNet's median (CPU time)"] + notes
        # wrapped to the figure's width (about 12 characters an inch at this size)
        fig.suptitle("\n".join(textwrap.fill(line, int(12 * width)) for line in lines), fontsize=10)
    return fig


def plot_latency_vs_macs(rows, out_dir):
    """latency_vs_macs.png and .svg in `out_dir` (reproducible: no dates, fixed SVG ids)."""
    import matplotlib as mpl

    fig = latency_figure(rows)
    with mpl.rc_context({"svg.hashsalt": "gpc-study"}):
        for ext in ("png", "svg"):
            fig.savefig(Path(out_dir) / f"latency_vs_macs.{ext}", dpi=130, facecolor="white",
                        metadata={"Software": None} if ext == "png" else {"Date": None})


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
