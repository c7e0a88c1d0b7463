"""The latency job: every variant and form exported and timed per setting, one row per measurement.

A setting is (runtime, image size, threads); the rows carry the ratios to
MobileNet of the same setting (see the timing protocol in bench_deploy.py).
"""

from __future__ import annotations

import time

import numpy as np

from .networks import BASELINE, build_variant, deployed, export_all, make_runner, randomise_batchnorm
from .operators import op_count_rows
from .timing import summarise, time_round_robin


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
