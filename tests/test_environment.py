"""What metrics.json says a run ran on: the device line, pinned CPUs included."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gpc_support.common import environment


def test_cpu_line_counts_the_machines_cores(monkeypatch):
    monkeypatch.setattr(environment, "accelerator_names", lambda: [])
    monkeypatch.setattr(environment.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(environment, "usable_cpus", lambda: 8)
    assert environment.device_description().startswith("CPU: 8 cores (")
    monkeypatch.setattr(environment, "usable_cpus", lambda: 3)
    assert environment.device_description().startswith("CPU: 3 of 8 cores (")


def test_gpu_line_names_the_devices(monkeypatch):
    monkeypatch.setattr(environment, "accelerator_names", lambda: ["NVIDIA H200"])
    assert environment.device_description() == "GPU: NVIDIA H200"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2,
                    reason="needs Linux CPU affinity and at least 2 cores")
def test_a_process_pinned_to_one_core_says_so():
    """A real pinned process (as `taskset -c 0` makes one) reports 1 usable CPU."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from gpc_support.common.environment import usable_cpus; print(usable_cpus())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "1"
    assert environment.usable_cpus() == len(os.sched_getaffinity(0))


def test_training_environment_adds_the_malloc_and_onednn_settings_and_keeps_the_users(monkeypatch):
    env = {"MALLOC_ARENA_MAX": "4", "PATH": "/bin"}
    added = environment.training_environment(env)
    assert "MALLOC_ARENA_MAX" not in added and env["MALLOC_ARENA_MAX"] == "4"
    assert set(added) == set(environment.MALLOC_ENV) - {"MALLOC_ARENA_MAX"} | {"TF_ENABLE_ONEDNN_OPTS"}
    assert env["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert all(env[name] == value for name, value in added.items())
    assert environment.training_environment(env) == {}  # idempotent
    off = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    environment.training_environment(off)
    assert off["TF_ENABLE_ONEDNN_OPTS"] == "0"   # a user's choice wins


def test_shell_exports_give_a_shell_the_same_settings():
    """What scripts/start_jupyter.sh evals: a child of that shell sees the
    settings, and one the user exported stays."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k != "TF_ENABLE_ONEDNN_OPTS"}
    base["TF_ENABLE_ONEDNN_OPTS"] = "0"
    script = (f'eval "$({sys.executable} -c \'from gpc_support.common.environment import '
              'shell_exports; print(shell_exports())\')"; env')
    out = subprocess.run(["bash", "-c", script], env=base, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    seen = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert {k: seen.get(k) for k in environment.MALLOC_ENV} == environment.MALLOC_ENV
    assert seen["TF_ENABLE_ONEDNN_OPTS"] == "0"


def test_the_record_says_which_cpu_kernels_tensorflow_ran():
    """What `TF_ENABLE_ONEDNN_OPTS` (read when TensorFlow is imported) selects
    is what environment_info records, in a real process for each setting."""
    code = ("import os; os.environ['KERAS_BACKEND'] = 'tensorflow'; import keras; "
            "from gpc_support.common.environment import environment_info; "
            "print(environment_info()['tensorflow_onednn'])")
    seen = {}
    for setting in ("0", "1"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "3"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True, timeout=300)
        seen[setting] = out.stdout.strip().splitlines()[-1]
    assert seen == {"0": "False", "1": "True"}


_FAULTS = r"""
import resource
import numpy as np
for _ in range(2):
    np.ones(6_250_000).sum()          # 50 MB, above glibc's largest default mmap threshold
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    np.ones(6_250_000).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc variables are Linux's")
def test_the_malloc_settings_stop_big_blocks_being_mapped_anew_each_time():
    """What the settings are for: under glibc's defaults a 50 MB block freed and
    allocated again is mapped, faulted in and unmapped each time (hundreds of
    faults here, where numpy asks for huge pages; one per 4 KiB page for
    TensorFlow's blocks), and costs next to nothing once it stays in the heap."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def faults(extra):
        out = subprocess.run([sys.executable, "-c", _FAULTS], env={**base, **extra},
                             capture_output=True, text=True, check=True)
        return int(out.stdout.strip().splitlines()[-1])

    default, tuned = faults({}), faults(environment.MALLOC_ENV)
    assert default > 10 * 100, default   # ten fresh 50 MB mappings
    assert tuned < default / 20, (tuned, default)
