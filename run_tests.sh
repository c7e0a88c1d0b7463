#!/usr/bin/env bash
# Set up the environment if needed (.venv with the pinned packages), then run
# the test suite.  Extra arguments go to pytest, e.g. ./run_tests.sh -k layers
# Two worker processes by default, a test file per worker at a time (pytest-xdist
# --dist loadfile: a file's module fixtures are made once); GPC_TEST_WORKERS=0
# runs everything in one process.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# shellcheck source=scripts/setup_env.sh
. "$ROOT/scripts/setup_env.sh"
gpc_setup_env "$ROOT/requirements-dev.txt"
export TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND=tensorflow
exec "$PYTHON" -m pytest -q -n "${GPC_TEST_WORKERS:-2}" --dist loadfile "$@"
