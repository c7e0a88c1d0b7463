#!/usr/bin/env bash
# Reproduce the study: train every variant with notebooks/gpc_mobilenet.ipynb
# (papermill), then build the table and figures with notebooks/summary.ipynb.
#
#   ./run_all.sh                              # quick CPU reproduction (default)
#   ./run_all.sh --profile paper --data-dir ~/cifar10   # the report's protocol (GPU)
#   ./run_all.sh --help                       # all options
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
for arg in "$@"; do
    if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
        exec python3 -m gpc_support.batch --help
    fi
done
# shellcheck source=scripts/setup_env.sh
. "$ROOT/scripts/setup_env.sh"
gpc_setup_env "$ROOT/requirements.txt"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$PYTHON" -m gpc_support.batch "$@"
