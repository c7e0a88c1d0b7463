#!/usr/bin/env bash
# Reproduce the study: train every variant (and seed) with
# notebooks/gpc_mobilenet.ipynb (papermill), then build the table and figures
# with notebooks/summary.ipynb.
#
#   ./run_all.sh                              # quick CPU reproduction (default)
#   ./run_all.sh --profile cpu --data-dir ~/cifar10 --seeds 0,1,2
#   ./run_all.sh --profile paper --data-dir ~/cifar10   # the report's protocol (GPU)
#   ./run_all.sh --profile paper32 --data-dir ~/cifar10 # the same protocol at 32 px
#   ./run_all.sh --help                       # all options
#
# Ctrl-C or SIGTERM stops the training and the notebook kernel (exit 130 /
# 143) and says where; the same command resumes.  Exit 2: a bad option;
# 75: another run_all.sh is using the results folder; 1: a run failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Stay in the caller's folder, so relative --data-dir and --out mean what the
# caller means; the package is found through PYTHONPATH.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
for arg in "$@"; do
    if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
        exec python3 -m gpc_support.run.cli --help
    fi
done
# shellcheck source=scripts/setup_env.sh
. "$ROOT/scripts/setup_env.sh"
gpc_setup_env "$ROOT/requirements.txt"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# TensorFlow's C++ start-up lines and the kernel's transport notice say
# nothing about the study: keep them off the terminal, pass everything else.
NOISE='^(WARNING: All log messages before absl::InitializeLog|I0000 |.*Kernel is running over TCP without encryption|To enable the following instructions|E0000 .*(cuda|oneDNN)|W0000 )'
# exec: the Python driver takes this shell's place, so SIGINT / SIGTERM sent
# to run_all.sh reach it directly (it stops the kernel and exits 130 / 143).
# The stderr filter ignores those signals, so it outlives the driver long
# enough to pass on its last message; it ends when the driver's stderr closes.
exec "$PYTHON" -m gpc_support.run.cli "$@" \
    2> >(trap '' INT TERM; exec grep --line-buffered -v -E "$NOISE" >&2)
