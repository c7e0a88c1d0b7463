"""The command line's first check: a Keras backend that cannot load gets one line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpc_support.run.console import backend_problem

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_backend_package_is_named_with_how_to_install_it():
    message = backend_problem({"KERAS_BACKEND": "jax"}, find_spec=lambda name: None)
    assert message == ("KERAS_BACKEND=jax but the jax package is not installed; install it "
                       "(pip install jax) or choose another backend (KERAS_BACKEND=tensorflow)")
    assert "\n" not in message


def test_an_unknown_backend_is_named():
    assert backend_problem({"KERAS_BACKEND": "theano"}) == (
        "KERAS_BACKEND=theano is not a Keras backend; use one of "
        "tensorflow, jax, torch, numpy, openvino")


def test_an_installed_or_unset_backend_passes():
    assert backend_problem({}) is None
    assert backend_problem({"KERAS_BACKEND": "numpy"}) is None  # numpy is always installed
    seen = []
    assert backend_problem({"KERAS_BACKEND": "torch"},
                           find_spec=lambda name: seen.append(name) or object()) is None
    assert seen == ["torch"]


def test_main_refuses_before_keras_is_imported(capsys, monkeypatch):
    from gpc_support.run import cli, console

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(cli, "backend_problem",
                        lambda: console.backend_problem(find_spec=lambda name: None))
    assert cli.main(["--check"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "run_all.sh: error: KERAS_BACKEND=jax but the jax package is not installed; install it "
        "(pip install jax) or choose another backend (KERAS_BACKEND=tensorflow)"]


@pytest.mark.slow
def test_the_command_gives_one_line_for_an_unknown_backend():
    env = {**os.environ, "KERAS_BACKEND": "theano"}
    done = subprocess.run([sys.executable, "-m", "gpc_support.batch", "--check"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "run_all.sh: error: KERAS_BACKEND=theano is not a Keras backend; use one of "
        "tensorflow, jax, torch, numpy, openvino"]
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, gpc_support.run.cli as c; c.main(['--check']); "
         "print('keras' in sys.modules)"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120)
    assert probe.stdout.strip() == "False"
