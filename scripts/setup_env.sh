# Sourced by run_all.sh and run_tests.sh: sets PYTHON to an interpreter that
# has the pinned packages of the requirements file(s) given as arguments.
# Uses the active environment when it has them, otherwise creates (or
# completes) .venv in the repository and installs them there.
gpc_setup_env() {
    local root reqs
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    reqs=("$@")
    local active="${PYTHON:-python3}"
    if "$active" "$root/scripts/check_requirements.py" "${reqs[@]}" >/dev/null 2>&1; then
        PYTHON="$active"
        return 0
    fi
    local venv="$root/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        echo "gpc-study: creating $venv (first run; installs TensorFlow, about 2 minutes) ..." >&2
        python3 -m venv "$venv" || { echo "gpc-study: could not create $venv" >&2; return 1; }
    fi
    if ! "$venv/bin/python" "$root/scripts/check_requirements.py" "${reqs[@]}" >/dev/null 2>&1; then
        echo "gpc-study: installing pinned packages into $venv ..." >&2
        local args=()
        for r in "${reqs[@]}"; do args+=(-r "$r"); done
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}" \
            || { echo "gpc-study: pip install failed" >&2; return 1; }
    fi
    PYTHON="$venv/bin/python"
}
