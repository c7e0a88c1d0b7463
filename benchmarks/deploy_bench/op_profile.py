"""The operator-level profile job: each network cut into operator groups, each timed alone; op_profile.md."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from .networks import BASELINE, FORMS, build_variant, randomise_batchnorm
from .timing import summarise, time_round_robin


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
