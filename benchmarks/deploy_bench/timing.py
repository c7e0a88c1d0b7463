"""Timing several models against each other: round by round in a rotating order, and the summary."""

from __future__ import annotations

import time

import numpy as np


def time_round_robin(runners, inputs, seconds, min_rounds, warmup):
    """({key: [wall seconds per call]}, {key: [CPU seconds of the calling thread per call]}):
    one call of every runner per round, in a rotating order.

    The calling thread's CPU time leaves out the time the thread waited while
    other processes had the core (with 1 thread both runtimes compute in the
    calling thread), so on a shared machine it is the steadier measure of
    what one-thread inference costs; with more threads it misses the workers.
    """
    keys = list(runners)
    for key in keys:
        runners[key].set_input(inputs[key])
        for _ in range(warmup):
            runners[key].invoke()
    wall = {key: [] for key in keys}
    cpu = {key: [] for key in keys}
    clock, cpu_clock = time.perf_counter, time.thread_time
    start = clock()
    rounds = 0
    while rounds < min_rounds or clock() - start < seconds:
        shift = rounds % len(keys)
        for key in keys[shift:] + keys[:shift]:
            invoke = runners[key].invoke
            c0 = cpu_clock()
            t0 = clock()
            invoke()
            t1 = clock()
            c1 = cpu_clock()
            wall[key].append(t1 - t0)
            cpu[key].append(c1 - c0)
        rounds += 1
    return wall, cpu


def summarise(samples_ms):
    a = np.asarray(samples_ms)
    q1, median, q3 = np.percentile(a, [25, 50, 75])
    return {"median_ms": median, "q1_ms": q1, "q3_ms": q3, "min_ms": a.min(), "max_ms": a.max(), "runs": a.size}
