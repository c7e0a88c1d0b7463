#!/usr/bin/env bash
# Open the study's notebooks in JupyterLab, in the project's environment.
#
#   scripts/start_jupyter.sh                 # then open notebooks/ in the browser
#   scripts/start_jupyter.sh --no-browser --port 8889   # any jupyter-lab option
#
# Uses the active environment when it has the pinned packages, otherwise
# .venv (created on first use, as run_all.sh does).  Registers that
# interpreter as the "python3" kernel ("Python 3 (ipykernel)", the kernelspec
# the notebooks name, so JupyterLab does not mark them modified on opening).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup_env.sh
. "$ROOT/scripts/setup_env.sh"
gpc_setup_env "$ROOT/requirements.txt"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
# the kernels train as run_all.sh's do: tuned malloc, TensorFlow's oneDNN kernels
# (gpc_support.common.environment; a value already exported wins)
eval "$("$PYTHON" -c 'from gpc_support.common.environment import shell_exports; print(shell_exports())')"
"$PYTHON" -m ipykernel install --sys-prefix --name python3 \
    --display-name "Python 3 (ipykernel)" >/dev/null
exec "$PYTHON" -m jupyterlab --notebook-dir="$ROOT" "$@"
