"""One short check of the paper profile on an accelerator (driver of accelerator_check.sh).

    CHECK_OUT=out KERAS_BACKEND=jax python benchmarks/accelerator_check.py

For a GPU node with JAX (or PyTorch), numpy, h5py and friends but no Keras,
no TensorFlow and no network: what is missing comes from the wheels that
`scripts/prepare_accelerator_bundle.sh` saved into `.whl/` (unpacked into a
temporary folder put on the path; nothing is installed into the system), the
CIFAR-10 JPEG copy from `.whl/data/cifar10-jpeg.tar.gz` (only the images the
check uses are unpacked).  Every step runs in its own process, so one
step's device memory and failure do not reach the others, and writes its
result as soon as it has one:

    $CHECK_OUT/device.json        backend, devices, versions (and nvidia-smi's line)
    $CHECK_OUT/runs/<variant>/    the train_variant folder of each short paper run
    $CHECK_OUT/variants/<variant>.json
                                  its ms/step, images/s, peak device memory, losses,
                                  and the projected time of the full 50-epoch run
    $CHECK_OUT/bench.json         bench_gpc.py (after the paper runs): train/inference
                                  seconds per batch and ratios to MobileNet, float32
                                  and mixed precision
    $CHECK_OUT/summary.json, summary.txt   all of it, and the totals
    $CHECK_OUT/check.log          what each step printed

Timing.  The paper runs go through `train_variant` (profile "paper" with
train_limit/test_limit/epochs replaced), with validation timed by a callback
that first waits for the device (it reads the optimizer's step counter back,
which the last training step wrote) and stops the clock only once the
validation's results are on the host.  The first epoch (compilation) is not
timed; the training time of an epoch is its time minus its validation time.
The projection of the full run: 50 x (704 training steps x ms/step + 79
validation steps x ms/step) + the 157-step test evaluation, for the 45,000 /
5,000 / 10,000 images of the paper profile at batch 64.  Checkpoint writing
(once per epoch) is not in it.

The authors' mode (CHECK_MODE=authors) instead trains the paper profile on
the full training set (45,000 images after the authors' split) for its
first CHECK_EPOCHS epochs, for MobileNet and gpc16, and prints each epoch's
training loss and accuracy beside the values the method authors' notebooks
logged for the same epochs (`AUTHORS_LOG`; their validation numbers swing
by 10-20 points between epochs and are no usable check).  No benchmark.
About 10 minutes on one GPU.  Its files: device.json, runs/<variant>/,
variants/<variant>.json (the epochs, ours beside theirs), summary.json,
summary.txt, check.log.

Sizes come from the environment (defaults: the check for one GPU):

    CHECK_MODE            timing (the default, above) or authors
    CHECK_VARIANTS        mobilenet,gpc16,gpc32,gpc64,gpc128 (authors: mobilenet,gpc16)
    CHECK_TRAIN_IMAGES    3000 (before the 10% validation split; authors: all 50,000)
    CHECK_TEST_IMAGES     500 (authors: 1000)
    CHECK_EPOCHS          2 (>= 2: the first one compiles; authors: 3, >= 1)
    CHECK_IMAGE_SIZE      224        CHECK_BATCH   64
    CHECK_PRECISION       float32 (the paper runs)
    CHECK_BENCH_SIZES     224:64     CHECK_BENCH_PRECISIONS  float32,mixed
    CHECK_BENCH_ROUNDS    3          CHECK_BENCH_STEPS       8
    CHECK_BENCH_VARIANTS  = CHECK_VARIANTS (mobilenet needed for ratios)
    CHECK_SKIP_BENCH      1 to skip the benchmark
    CHECK_BUDGET_S        450: a step is not started after this many seconds,
                          and the benchmark (last) is stopped there; what
                          it measured until then is kept
    CHECK_DATA            .whl/data/cifar10-jpeg.tar.gz, or a folder with
                          train/<class>/ and test/<class>/ images
    CHECK_WHEELS          .whl
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The check's parts are the package accelerator/ beside this file; its folder
# goes first on the path however this file is loaded (run as a script, it is
# there already).  Importing them imports no keras and no backend: the steps
# do that in their own processes, after the wheels are unpacked.
HERE = str(Path(__file__).resolve().parent)
if sys.path[:1] != [HERE]:
    sys.path.insert(0, HERE)

from accelerator.driver import run_check  # noqa: E402
from accelerator.settings import ALL_VARIANTS, AUTHORS_LOG, CheckError, settings  # noqa: E402
from accelerator.steps import authors_step, device_step, variant_step  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    device = sub.add_parser("device", help="(internal) write device.json")
    device.add_argument("--out", required=True)
    variant = sub.add_parser("variant", help="(internal) one short paper run")
    variant.add_argument("name", choices=ALL_VARIANTS)
    variant.add_argument("--data", required=True)
    variant.add_argument("--run-dir", required=True)
    variant.add_argument("--result", required=True)
    authors = sub.add_parser("authors", help="(internal) one paper run beside the authors' log")
    authors.add_argument("name", choices=tuple(AUTHORS_LOG))
    authors.add_argument("--data", required=True)
    authors.add_argument("--run-dir", required=True)
    authors.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "device":
            device_step(Path(args.out))
        elif args.command == "variant":
            variant_step(args.name, Path(args.data), Path(args.run_dir), Path(args.result),
                         settings())
        elif args.command == "authors":
            authors_step(args.name, Path(args.data), Path(args.run_dir), Path(args.result),
                         settings())
        else:
            summary = run_check(Path(os.environ.get("CHECK_OUT", "accelerator_check_out")),
                                Path(__file__))
            failed = [s["step"] for s in summary["steps"] if s["status"] != "ok"]
            if failed:
                print(f"failed steps: {', '.join(failed)} (see check.log)", file=sys.stderr)
                return 1
    except CheckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
