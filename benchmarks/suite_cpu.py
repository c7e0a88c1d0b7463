"""Where the test suite's time goes: CPU seconds per test and per file, and the
wall time two workers would need.

    # record (a pytest plugin; the log is appended to, one JSON line per test)
    SUITE_CPU_LOG=/tmp/suite.jsonl PYTHONPATH=benchmarks ./run_tests.sh -p suite_cpu
    # report
    python benchmarks/suite_cpu.py /tmp/suite.jsonl [--top 25] [--workers 2]

Each test's CPU is the CPU time of the worker process and of every process it
started and waited for (papermill kernels, run_all.sh and its kernels:
`RUSAGE_CHILDREN` counts a descendant once its parent has reaped it), over its
setup, call and teardown, so a module fixture's cost falls on the first test
that uses it.  CPU seconds hardly change with the machine's load, unlike wall
seconds, so a suite measured beside a training run still says which tests cost
what.

The report prints the total, the files by CPU, the most expensive tests, and
an estimate of the suite's wall time on `--workers` idle cores under
`./run_tests.sh`'s scheduling (pytest-xdist `--dist loadfile`: a file goes
whole to the next free worker, in collection order): CPU seconds per file,
packed in that order.  It ignores waits (sleeps, subprocess start-up on a
loaded machine), so it is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections import defaultdict

import pytest


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _append(log: str, record: dict) -> None:
    with open(log, "a", encoding="utf-8") as f:  # one short line: appends from two workers stay whole
        f.write(json.dumps(record) + "\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    log = os.environ.get("SUITE_CPU_LOG")
    if not log:
        yield
        return
    wall, (own, children) = time.perf_counter(), _cpu()
    yield
    own_after, children_after = _cpu()
    record = {"test": item.nodeid, "file": item.nodeid.split("::")[0],
              "wall": round(time.perf_counter() - wall, 3),
              "cpu_self": round(own_after - own, 3),
              "cpu_children": round(children_after - children, 3),
              "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}
    _append(log, record)


def pytest_sessionfinish(session, exitstatus):
    """One more line per process: its whole CPU, collection and imports included."""
    log = os.environ.get("SUITE_CPU_LOG")
    if log:
        own, children = _cpu()
        _append(log, {"process": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                      "cpu_self": round(own, 3), "cpu_children": round(children, 3)})


def _read(paths) -> tuple[list[dict], list[dict]]:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    tests = [r for r in rows if "test" in r]
    if not tests:
        raise SystemExit(f"no test records in {', '.join(paths)}")
    return tests, [r for r in rows if "process" in r]


def packed_wall(file_cpu: dict[str, float], workers: int) -> float:
    """The makespan of handing whole files, in the given order, to the first
    free of `workers` workers (xdist's loadfile)."""
    free_at = [0.0] * workers
    for seconds in file_cpu.values():
        k = free_at.index(min(free_at))
        free_at[k] += seconds
    return max(free_at)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", nargs="+", help="JSON-lines files written by the plugin")
    ap.add_argument("--top", type=int, default=25, help="tests to list (default 25)")
    ap.add_argument("--workers", type=int, default=2, help="workers to pack the files on (default 2)")
    args = ap.parse_args(argv)
    if args.workers < 1 or args.top < 0:
        raise SystemExit("--workers must be >= 1 and --top >= 0")
    rows, processes = _read(args.logs)
    for r in rows:
        r["cpu"] = r["cpu_self"] + r["cpu_children"]
    by_file: dict[str, float] = defaultdict(float)
    tests_in: dict[str, int] = defaultdict(int)
    for r in rows:  # dicts keep the order files were first seen (about collection order)
        by_file[r["file"]] += r["cpu"]
        tests_in[r["file"]] += 1
    total = sum(by_file.values())
    print(f"{len(rows)} tests in {len(by_file)} files: {total:.0f} CPU seconds "
          f"({total / 60:.1f} min); wall seconds summed over tests {sum(r['wall'] for r in rows):.0f}")
    if processes:
        # xdist's workers are the main process's children: count them once
        workers = any(p["process"] != "main" for p in processes)
        whole = sum(p["cpu_self"] + (0 if workers and p["process"] == "main" else p["cpu_children"])
                    for p in processes)
        print(f"the pytest processes ({len(processes)}) used {whole:.0f} CPU seconds in all: "
              f"{whole - total:.0f} outside the tests (start-up, collection, imports)")
    print("\nfiles by CPU seconds (share of the tests' total):")
    for name, seconds in sorted(by_file.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:7.1f}  {100 * seconds / total:5.1f}%  {tests_in[name]:3d} tests  {name}")
    print(f"\nthe {args.top} most expensive tests (CPU s: own + started processes):")
    for r in sorted(rows, key=lambda r: -r["cpu"])[:args.top]:
        print(f"  {r['cpu']:7.1f}  ({r['cpu_self']:.1f} + {r['cpu_children']:.1f})  {r['test']}")
    wall = packed_wall(dict(by_file), args.workers)
    print(f"\nestimated wall time on {args.workers} idle cores, files packed as --dist loadfile: "
          f"{wall:.0f} s ({wall / 60:.1f} min); the largest file alone: "
          f"{max(by_file.values()):.0f} s")


if __name__ == "__main__":
    main()
