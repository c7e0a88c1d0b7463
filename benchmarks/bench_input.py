"""Throughput of the input pipeline: the feeder (a keras PyDataset) + in-model preprocessing.

    python benchmarks/bench_input.py [--data-dir DIR] [--batches 50] [--batch-size 64]

Without --data-dir the images are random uint8 arrays of CIFAR-10 size
(50,000 x 32 x 32 x 3).  Measured, in images per second:

1. `make_dataset` alone (uint8 batches at 32 px, training=True shuffle);
2. the same followed by `build_preprocessing(224, augment=True)` called in a
   `tf.function` with training=True (device-side augmentation + resize);
3. the same with `build_preprocessing(32, augment=True)` (no resize).

Each stage is warmed up (tracing, first shuffle buffer) before timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gpc_support.data.input_pipeline import build_preprocessing, make_dataset  # noqa: E402
from gpc_support.data.sources import load_cifar10  # noqa: E402


def device_description() -> str:
    """GPU name(s) if TensorFlow sees any, else the CPU model and core count."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [
            tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in gpus
        ]
        return "GPU: " + ", ".join(names)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU: {cpu} ({os.cpu_count()} cores)"


def time_batches(iterator, step, batches: int, warmup: int = 3) -> tuple[float, int]:
    """(seconds, images) for `batches` batches after `warmup` untimed ones."""
    for _ in range(warmup):
        step(next(iterator))
    images = 0
    start = time.perf_counter()
    for _ in range(batches):
        images += step(next(iterator))
    return time.perf_counter() - start, images


def forever(feeder):
    """The feeder's batches, epoch after epoch (each epoch in its own order)."""
    epoch = 0
    while True:
        feeder.set_epoch(epoch)
        yield from feeder
        epoch += 1


def bench_pipeline(x, y, batch_size: int, batches: int) -> float:
    feeder = make_dataset(x, y, batch_size, training=True)
    seconds, images = time_batches(forever(feeder), lambda b: int(b[0].shape[0]), batches)
    return images / seconds


def bench_preprocessing(x, y, batch_size: int, batches: int, image_size: int) -> float:
    preprocess = build_preprocessing(image_size, augment=True)

    @tf.function
    def run(images):
        out = preprocess(images, training=True)
        return tf.reduce_sum(out)  # forces the whole batch to be computed

    def step(batch):
        run(batch[0]).numpy()  # .numpy() waits for the device
        return int(batch[0].shape[0])

    feeder = make_dataset(x, y, batch_size, training=True)
    seconds, images = time_batches(forever(feeder), step, batches)
    return images / seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None,
                        help="CIFAR-10 folder (python batches or image folders); "
                             "default: random uint8 arrays of CIFAR size")
    parser.add_argument("--batches", type=int, default=50, help="timed batches per stage")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    print(f"TensorFlow {tf.__version__}; {device_description()}")
    if args.data_dir:
        start = time.perf_counter()
        data = load_cifar10(args.data_dir)
        print(f"load_cifar10: {time.perf_counter() - start:.1f} s; {data.summary()}")
        x, y = data.x_train, data.y_train
    else:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, 50_000)
        print(f"random uint8 data: {x.shape}")

    n, bs = args.batches, args.batch_size
    print(f"{n} batches of {bs} per stage (after 3 warm-up batches)")
    rows = [
        ("make_dataset, 32 px uint8", bench_pipeline(x, y, bs, n)),
        ("+ build_preprocessing(224, augment) train", bench_preprocessing(x, y, bs, n, 224)),
        ("+ build_preprocessing(32, augment) train", bench_preprocessing(x, y, bs, n, 32)),
    ]
    for label, rate in rows:
        print(f"{label:<45s} {rate:>12,.0f} images/s")


if __name__ == "__main__":
    main()
