"""The scale-out options of run_all.sh: --gpus, --cpus, --executor and the --slurm-* options.

`add_options` puts them on the command line's parser; `options_from_args`
checks them (a UsageError names the bad option and what is allowed) into
the plan's scale-out part: {"gpus", "cpus", "executor", "slurm"}.
"""

from __future__ import annotations

import re

from ..common.environment import usable_cpu_set as usable_cpus  # the cores --cpus may name
from .console import UsageError, int_option

__all__ = ["EXECUTORS", "DEFAULT_SLURM_TIME", "add_options", "parse_gpus", "parse_cpus", "cpus_text",
           "parse_time", "parse_extra", "options_from_args", "usable_cpus"]

EXECUTORS = ("local", "slurm")
DEFAULT_SLURM_TIME = "24:00:00"
# sbatch options the array needs for itself; --slurm-extra may not replace them.
_RESERVED_SBATCH = {"array", "output", "error", "open-mode", "dependency", "signal", "job-name"}


def add_options(parser) -> None:
    """The scale-out options of run_all.sh."""
    group = parser.add_argument_group("scale-out (see README: sequential, several GPUs, Slurm)")
    group.add_argument("--gpus", default=None,
                       help="this host's GPUs, comma-separated (e.g. 0,1,2,3): one run per GPU "
                            "at a time (CUDA_VISIBLE_DEVICES), the summary after all")
    group.add_argument("--cpus", default=None,
                       help="this host's CPU cores in groups, comma between groups (e.g. 0,1: "
                            "two runs at a time, one core each; 0-3,4-7: two runs of four "
                            "cores each): one run per group at a time, pinned to its cores")
    group.add_argument("--executor", default=None,
                       help="slurm: one array task per (variant, seed) through submitit, the "
                            "summary as a job after the array; local: the same through "
                            "submitit's local executor on this host")
    group.add_argument("--slurm-partition", default=None, help="Slurm partition")
    group.add_argument("--slurm-time", default=None,
                       help=f"time limit per task: minutes, HH:MM:SS or D-HH:MM:SS "
                            f"(default {DEFAULT_SLURM_TIME})")
    group.add_argument("--slurm-gpus-per-task", default=None, help="GPUs per task (default 1)")
    group.add_argument("--slurm-cpus-per-task", default=None, help="CPU cores per task")
    group.add_argument("--slurm-extra", action="append", default=[], metavar="KEY=VALUE",
                       help="any other sbatch option, repeatable (e.g. --slurm-extra account=me "
                            "--slurm-extra constraint=a100 --slurm-extra exclusive)")


def _usage(message: str):
    return UsageError(message)


def parse_gpus(text) -> list[str] | None:
    """'0,1' -> ['0', '1'] (integers >= 0 or GPU-/MIG- UUIDs); UsageError naming --gpus."""
    if text is None:
        return None
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise _usage("--gpus: give at least one GPU, e.g. --gpus 0,1")
    gpus: list[str] = []
    for item in items:
        if not item:
            raise _usage(f"--gpus: expected comma-separated GPU indices (0,1,...), got {text!r}")
        if item.isdigit():
            item = str(int(item))
        elif not re.fullmatch(r"(GPU|MIG)-[0-9A-Za-z/-]+", item):
            raise _usage(f"--gpus: {item!r} is not a GPU; use indices >= 0 as nvidia-smi numbers "
                         "them (e.g. --gpus 0,1) or GPU-/MIG- UUIDs")
        if item in gpus:
            raise _usage(f"--gpus: GPU {item} is given twice")
        gpus.append(item)
    return gpus


def _cpu_group(item: str, text) -> tuple[int, ...]:
    cpus: list[int] = []
    for part in item.split("+"):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            raise _usage(f"--cpus: {item!r} is not a group of CPU cores; give core numbers, "
                         f"ranges a-b or a+b+c, groups separated by commas (got {text!r})")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first:
            raise _usage(f"--cpus: the range {part.strip()!r} runs backwards")
        cpus += range(first, last + 1)
    return tuple(cpus)


def parse_cpus(text) -> list[tuple[int, ...]] | None:
    """'0,1' -> [(0,), (1,)]; '0-1,2-3' -> [(0, 1), (2, 3)]; '0+2,1+3' -> [(0, 2), (1, 3)].

    Every core must be one this process may use and in one group only;
    UsageError naming --cpus otherwise."""
    if text is None:
        return None
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise _usage("--cpus: give at least one group of cores, e.g. --cpus 0,1")
    groups: list[tuple[int, ...]] = []
    seen: set[int] = set()
    usable = usable_cpus()
    for item in items:
        if not item:
            raise _usage(f"--cpus: an empty group in {text!r}; separate groups by one comma")
        group = _cpu_group(item, text)
        for cpu in group:
            if cpu in seen:
                raise _usage(f"--cpus: core {cpu} is in two groups; each core may serve one run")
            if cpu not in usable:
                raise _usage(f"--cpus: core {cpu} is not one this process may use (usable: "
                             f"{cpus_text(sorted(usable))})")
            seen.add(cpu)
        groups.append(group)
    return groups


def cpus_text(cpus) -> str:
    """(0, 1, 2, 5) -> '0-2,5'."""
    cpus, parts = sorted(cpus), []
    start = prev = None
    for cpu in cpus + [None]:
        if prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    return ",".join(parts)


def parse_time(text) -> int:
    """'90', '1:30:00', '2-00:00:00', '30:00' -> minutes; UsageError naming --slurm-time."""
    text = str(text).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise _usage(f"--slurm-time: expected minutes, HH:MM:SS or D-HH:MM:SS, got {text!r}")
    days, a, b, c = m.groups()
    if days is None and b is None:
        minutes = int(a)  # plain minutes
    elif c is None and b is not None and days is None:
        minutes = int(a) + (int(b) + 59) // 60  # MM:SS, Slurm's reading
    else:
        hours, mins, secs = int(a), int(b or 0), int(c or 0)
        minutes = int(days or 0) * 1440 + hours * 60 + mins + (1 if secs else 0)
    if minutes < 1:
        raise _usage(f"--slurm-time: must be at least one minute, got {text!r}")
    return minutes


def parse_extra(items) -> dict:
    """['account=me', 'exclusive'] -> {'account': 'me', 'exclusive': True}."""
    extra: dict = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip().lstrip("-").replace("_", "-")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise _usage(f"--slurm-extra: expected KEY=VALUE with an sbatch option name as KEY "
                         f"(e.g. account=me), got {item!r}")
        if key in _RESERVED_SBATCH:
            raise _usage(f"--slurm-extra: {key} is set by run_all.sh itself for the array; "
                         "leave it out")
        if sep and not value.strip():
            raise _usage(f"--slurm-extra: {key}= has no value; give KEY=VALUE, or KEY alone "
                         "for a flag such as exclusive")
        extra[key] = value.strip() if sep else True
    return extra


def options_from_args(args) -> dict:
    """The scale-out part of the plan (checked); UsageError naming the option."""
    gpus = parse_gpus(args.gpus)
    cpus = parse_cpus(getattr(args, "cpus", None))
    executor = args.executor
    if executor is not None and executor not in EXECUTORS:
        raise _usage(f"--executor: must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    if gpus and executor:
        raise _usage("--gpus and --executor: choose one; with --executor each task gets its "
                     "GPU from the scheduler (--slurm-gpus-per-task)")
    if cpus and (gpus or executor):
        raise _usage("--cpus and " + ("--gpus" if gpus else "--executor") + ": choose one; "
                     "--cpus runs on this host's CPU cores only")
    slurm_given = {name: value for name, value in (
        ("--slurm-partition", args.slurm_partition), ("--slurm-time", args.slurm_time),
        ("--slurm-gpus-per-task", args.slurm_gpus_per_task),
        ("--slurm-cpus-per-task", args.slurm_cpus_per_task),
        ("--slurm-extra", args.slurm_extra or None)) if value is not None}
    if slurm_given and executor != "slurm":
        raise _usage(f"{next(iter(slurm_given))}: only with --executor slurm")
    slurm = {
        "partition": args.slurm_partition,
        "time_min": parse_time(args.slurm_time or DEFAULT_SLURM_TIME),
        "gpus_per_task": int_option("--slurm-gpus-per-task", args.slurm_gpus_per_task, 1) or 1,
        "cpus_per_task": int_option("--slurm-cpus-per-task", args.slurm_cpus_per_task, 1),
        "extra": parse_extra(args.slurm_extra),
    }
    if args.slurm_partition is not None and not str(args.slurm_partition).strip():
        raise _usage("--slurm-partition: give a partition name")
    return {"gpus": gpus, "cpus": cpus, "executor": executor, "slurm": slurm}
