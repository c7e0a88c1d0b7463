"""The ablation job: whole networks timed with one more kind of operator taken out; ablation.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .networks import BASELINE, FORMS, build_variant, randomise_batchnorm
from .timing import summarise, time_round_robin

# per network, the kinds of operator taken out, cumulatively, one step at a time
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
