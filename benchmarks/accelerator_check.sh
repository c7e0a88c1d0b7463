#!/usr/bin/env bash
# The paper profile on one accelerator, in one command and under 10 minutes.
#
# Beforehand, on a machine with internet (fills the ignored folder .whl/):
#     scripts/prepare_accelerator_bundle.sh path/to/cifar10-jpeg.tar.gz
# Then, on the GPU node (JAX with CUDA, or PyTorch; no Keras, no TensorFlow
# and no network needed), from the project folder copied there with .whl/:
#     CHECK_OUT=accelerator_check_out benchmarks/accelerator_check.sh
# or, for the paper profile's first 3 epochs on the full training set beside
# the method authors' logged training loss and accuracy (about 10 minutes):
#     CHECK_MODE=authors CHECK_OUT=accelerator_check_authors benchmarks/accelerator_check.sh
#
# It installs nothing: the wheels of what this Python lacks are unpacked into
# a temporary folder put on the path.  KERAS_BACKEND defaults to jax here
# (torch works the same way).  Results go to $CHECK_OUT (default
# ./accelerator_check_out): device.json, bench.json, variants/*.json,
# summary.json, summary.txt, check.log.  Sizes and inputs are set by the
# CHECK_* variables listed in benchmarks/accelerator_check.py (whose parts
# are the package benchmarks/accelerator/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
export CHECK_OUT="${CHECK_OUT:-accelerator_check_out}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: PYTHON: no interpreter named $PYTHON" >&2
    exit 2
fi
exec "$PYTHON" "$ROOT/benchmarks/accelerator_check.py"
