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
