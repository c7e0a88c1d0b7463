#!/usr/bin/env bash
# Fill the ignored folder .whl/ with what benchmarks/accelerator_check.sh needs
# on a GPU node that has JAX (CUDA), PyTorch, numpy, pandas, scipy, matplotlib,
# seaborn and h5py but no TensorFlow, no Keras and no network.
#
# Run it on a machine WITH internet (or a PyPI mirror), from anywhere:
#
#     scripts/prepare_accelerator_bundle.sh path/to/cifar10-jpeg.tar.gz
#
# It saves, for CPython 3.12 on manylinux x86_64:
#   .whl/*.whl                    keras and the pure-Python packages it and this
#                                 project import that such a node may lack
#                                 (each installed there only when missing);
#   .whl/data/cifar10-jpeg.tar.gz the CIFAR-10 JPEG copy (train/ and test/
#                                 class folders), copied as it is.
# and checks that the whole folder stays under 64 MiB.  Then copy the project
# folder (with .whl/; the check runs from benchmarks/accelerator_check.py, its
# package benchmarks/accelerator/ and gpc_support/) to the node and run
# benchmarks/accelerator_check.sh there.
#
# Environment: PYTHON (default python3) runs pip; BUNDLE_PYTHON_VERSION
# (default 3.12) is the node's Python.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
PYVER="${BUNDLE_PYTHON_VERSION:-3.12}"
LIMIT_MIB=64

if [ "$#" -ne 1 ]; then
    echo "usage: $0 CIFAR10_JPEG_TAR_GZ   (the archive with train/<class>/*.jpg and test/<class>/*.jpg)" >&2
    exit 2
fi
ARCHIVE="$1"
if [ ! -f "$ARCHIVE" ]; then
    echo "error: CIFAR10_JPEG_TAR_GZ: no such file: $ARCHIVE" >&2
    exit 2
fi
if ! tar -tzf "$ARCHIVE" 2>/dev/null | grep -E '^(\./)?train/[a-z]+/.+\.jpe?g$' >/dev/null; then
    echo "error: CIFAR10_JPEG_TAR_GZ: $ARCHIVE holds no train/<class>/*.jpg (not the CIFAR-10 JPEG copy)" >&2
    exit 2
fi

# keras (the version in requirements.txt) and what it requires, plus the
# project's own pure-Python imports on the training path (filelock: run
# locks; tqdm: the JPEG decoding progress); the versions this project's
# environment runs with.  ml_dtypes comes with JAX and h5py is on the node;
# ml_dtypes is small enough to carry in case.
KERAS_VERSION="$(sed -n 's/^keras==//p' "$ROOT/requirements.txt")"
PACKAGES=(
    "keras==${KERAS_VERSION:?keras is not pinned in requirements.txt}"
    "namex==0.1.0"
    "optree==0.20.0"
    "absl-py==2.5.1"
    "rich==15.0.0"
    "markdown-it-py==4.3.0"
    "mdurl==0.1.2"
    "pygments==2.21.0"
    "packaging==26.4"
    "typing-extensions==4.16.0"
    "ml-dtypes==0.6.0"
    "filelock==4.3.1"
    "tqdm==4.70.1"
)

DEST="$ROOT/.whl"
mkdir -p "$DEST/data"
for spec in "${PACKAGES[@]}"; do
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version "$PYVER" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$DEST" "$spec"
done
cp "$ARCHIVE" "$DEST/data/cifar10-jpeg.tar.gz"

SIZE_MIB=$(du -sm "$DEST" | cut -f1)
echo "bundle: $DEST"
ls -1 "$DEST" "$DEST/data" | sed 's/^/  /'
echo "size: ${SIZE_MIB} MiB (limit ${LIMIT_MIB} MiB)"
if [ "$SIZE_MIB" -gt "$LIMIT_MIB" ]; then
    echo "error: the bundle is over ${LIMIT_MIB} MiB; remove stale wheels from .whl/ and run again" >&2
    exit 1
fi
