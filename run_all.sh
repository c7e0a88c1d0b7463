#!/usr/bin/env bash
# Reproduce the study: train every variant with notebooks/gpc_mobilenet.ipynb
# (papermill), then build the table and figures with notebooks/summary.ipynb.
#
#   ./run_all.sh                              # quick CPU reproduction (default)
#   ./run_all.sh --profile paper --data-dir ~/cifar10   # the report's protocol (GPU)
#   ./run_all.sh --help                       # all options
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Stay in the caller's folder, so relative --data-dir and --out mean what the
# caller means; the package is found through PYTHONPATH.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
for arg in "$@"; do
    if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
        exec python3 -m gpc_support.batch --help
    fi
done
# shellcheck source=scripts/setup_env.sh
. "$ROOT/scripts/setup_env.sh"
gpc_setup_env "$ROOT/requirements.txt"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# TensorFlow's C++ start-up lines and the kernel's transport notice say
# nothing about the study: keep them off the terminal, pass everything else.
NOISE='^(WARNING: All log messages before absl::InitializeLog|I0000 |.*Kernel is running over TCP without encryption|To enable the following instructions|E0000 .*cuda|W0000 )'
set +e
{ "$PYTHON" -m gpc_support.batch "$@" 2>&1 1>&3 3>&- | grep --line-buffered -v -E "$NOISE" >&2; } 3>&1
status=${PIPESTATUS[0]}
exit "$status"
