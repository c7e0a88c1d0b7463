"""Training-step and inference time of the gpc variants against the baseline.

A benchmark, not a test: run it on an otherwise idle machine and read the
ratios, which are measured in one run with the models alternating round by
round (so slow drifts of a shared machine hit every model alike).  Each time
is the fastest of the rounds: other processes on a shared machine only ever
add time, so the minimum is the steadiest estimate of what the model costs.

    python benchmarks/bench_gpc.py                      # 32px/b64 and 224px/b16
    python benchmarks/bench_gpc.py --sizes 32:64 --rounds 5
    KERAS_BACKEND=jax python benchmarks/bench_gpc.py    # any Keras 3 backend
    KERAS_BACKEND=jax python benchmarks/bench_gpc.py --sizes 224:64 \
        --precisions float32,mixed --json bench.json    # the paper's size, on a GPU

Training time is `model.fit` over a fixed number of batches (what a user's
training loop costs, Keras' compiled train step included); inference time is
`model.predict` over the same batches.  Each timing ends only once the device
has finished: `fit` and `predict` hand back host values (losses, numpy
predictions), and the optimizer's step counter is read back after `fit`,
so asynchronous dispatch (JAX, PyTorch on a GPU) cannot stop the clock
early; the first `fit`/`predict` of each model (compilation) is not timed.
`--precisions mixed` builds the models under Keras' "mixed_float16" policy
(float16 compute, float32 weights), as `train_variant(precision="mixed")`
does.  "ref16" is gpcMobileNet 16 built the
straightforward way (`Conv2D(groups=N)` + slicing interleave, from
tests/gpc_reference.py); "gpc16 / ref16" compares this project's block to it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402

from gpc_support.common.environment import environment_info  # noqa: E402
from gpc_support.common.atomic_files import atomic_write_json  # noqa: E402
from gpc_support.model.networks import REPORT_CHANNELS, build_model, variant_name  # noqa: E402
from tests.gpc_reference import reference_gpc_block  # noqa: E402


def parse_sizes(text):
    sizes = []
    for item in text.split(","):
        try:
            size, batch = (int(v) for v in item.split(":"))
        except ValueError:
            raise SystemExit(f"--sizes: expected SIZE:BATCH[,SIZE:BATCH], got {item!r}")
        sizes.append((size, batch))
    return sizes


ALL_VARIANTS = ("mobilenet",) + tuple(variant_name(ch) for ch in REPORT_CHANNELS)
PRECISIONS = {"float32": "float32", "mixed": "mixed_float16"}


def parse_list(text, allowed, flag):
    items = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in items if item not in allowed]
    if bad or not items:
        raise SystemExit(f"{flag}: expected a comma-separated list of {', '.join(allowed)}; "
                         f"got {text!r}")
    return items


def build_variants(size, with_reference, variants=ALL_VARIANTS):
    shape = (size, size, 3)
    models = {}
    for name in variants:
        channels = None if name == "mobilenet" else int(name[len("gpc"):])
        models[name] = build_model(channels, shape)
    if with_reference:
        models["ref16"] = build_model(16, shape, pointwise_block=reference_gpc_block)
    for model in models.values():
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-3),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
    return models


def time_call(fn):
    """Seconds `fn` takes, `fn` returning only once the device has finished."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fit_synced(model, x, y, batch):
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    # the last step's update has landed once its step counter is on the host
    keras.ops.convert_to_numpy(model.optimizer.iterations)


def measure(size, batch, steps, rounds, with_reference, variants=ALL_VARIANTS):
    rng = np.random.default_rng(0)
    x = rng.random((batch * steps, size, size, 3), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, batch * steps), 10)
    models = build_variants(size, with_reference, variants)
    for model in models.values():  # compile the train and predict functions
        model.fit(x[: 2 * batch], y[: 2 * batch], batch_size=batch, epochs=1, verbose=0)
        model.predict(x[: 2 * batch], batch_size=batch, verbose=0)
    train = {name: [] for name in models}
    infer = {name: [] for name in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for name in order:
            model = models[name]
            train[name].append(time_call(lambda: fit_synced(model, x, y, batch)) / steps)
            infer[name].append(time_call(lambda: model.predict(x, batch_size=batch, verbose=0)) / steps)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    return {name: (min(train[name]), min(infer[name])) for name in models}


def ratios(results):
    """{model: {train_s, infer_s, train_ratio, infer_ratio}} (ratios to MobileNet, when measured)."""
    base = results.get("mobilenet")
    out = {}
    for name, (tr, inf) in results.items():
        out[name] = {"train_s_per_batch": tr, "infer_s_per_batch": inf,
                     "train_ratio": tr / base[0] if base else None,
                     "infer_ratio": inf / base[1] if base else None}
    return out


def report(size, batch, results, precision="float32"):
    if "mobilenet" not in results:
        print(f"\n{size}x{size}, batch {batch}, {precision}: no MobileNet measured, no ratios")
        for name, (tr, inf) in results.items():
            print(f"{name:<12}train {tr:.4f} s  infer {inf:.4f} s")
        return
    base_train, base_infer = results["mobilenet"]
    print(f"\n{size}x{size}, batch {batch}, {precision} "
          "(best-of-rounds seconds per batch; ratio to MobileNet)")
    print(f"{'model':<12}{'train s':>10}{'ratio':>8}{'infer s':>10}{'ratio':>8}")
    for name, (tr, inf) in results.items():
        print(f"{name:<12}{tr:>10.4f}{tr / base_train:>8.2f}{inf:>10.4f}{inf / base_infer:>8.2f}")
    if "ref16" in results:
        (tr, inf), (rtr, rinf) = results["gpc16"], results["ref16"]
        print(f"gpc16 / ref16 (this block / Conv2D(groups=N) form): "
              f"train {tr / rtr:.2f}, inference {inf / rinf:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="32:64,224:16", help="SIZE:BATCH list (default 32:64,224:16)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--steps", type=int, default=0,
                        help="batches per timing (default: 16 at <=64 px, 2 above)")
    parser.add_argument("--no-reference", action="store_true", help="skip the Conv2D(groups=N) model")
    parser.add_argument("--variants", default=",".join(ALL_VARIANTS),
                        help=f"models to time (default {','.join(ALL_VARIANTS)})")
    parser.add_argument("--precisions", default="float32",
                        help="float32 and/or mixed, comma-separated (default float32)")
    parser.add_argument("--json", metavar="PATH", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 0:
        raise SystemExit("--rounds must be >= 1 and --steps >= 0")
    variants = parse_list(args.variants, ALL_VARIANTS, "--variants")
    precisions = parse_list(args.precisions, tuple(PRECISIONS), "--precisions")
    sizes = parse_sizes(args.sizes)
    with_reference = not args.no_reference and "gpc16" in variants
    info = environment_info()
    print(f"backend {info['backend']}, keras {info['keras']}, device {info['device']}")
    runs = []
    for precision in precisions:
        keras.mixed_precision.set_global_policy(PRECISIONS[precision])
        try:
            for size, batch in sizes:
                steps = args.steps or (16 if size <= 64 else 2)
                results = measure(size, batch, steps, args.rounds, with_reference, variants)
                report(size, batch, results, precision)
                runs.append({"size": size, "batch": batch, "precision": precision,
                             "steps": steps, "rounds": args.rounds, "models": ratios(results)})
                if args.json:  # rewritten after every measurement: a stop keeps what was done
                    atomic_write_json(args.json, {"environment": info, "runs": runs})
        finally:
            keras.mixed_precision.set_global_policy("float32")
    return runs


if __name__ == "__main__":
    main()
