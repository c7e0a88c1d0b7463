"""Batch reproduction: run the variant notebook once per variant, then the summary.

This is what `run_all.sh` calls once the environment is ready:

    python -m gpc_support.batch --profile quick --data-dir ~/cifar10

Every parameter is checked before any data is loaded or model trained.  A
variant whose run is complete is skipped (unless --force); an unfinished one
resumes after its last finished epoch.  A failing variant stops the batch with
exit status 1; its executed notebook stays in `<out>/notebooks/` for reading.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .files import read_json

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO_ROOT / "notebooks"
VARIANT_NOTEBOOK = NOTEBOOKS / "gpc_mobilenet.ipynb"
SUMMARY_NOTEBOOK = NOTEBOOKS / "summary.ipynb"
ALL_CHANNELS = (None, 16, 32, 64, 128)


class UsageError(ValueError):
    """A bad command-line value; the message names the option."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 with its own text; keep ours uniform
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_all.sh",
        allow_abbrev=False,
        description="Train MobileNet v1 and gpcMobileNet variants on CIFAR-10 with the "
                    "parameterised notebook, then build the summary table and figures.",
    )
    p.add_argument("--profile", default="quick",
                   help="paper | cpu | quick | smoke (default: quick)")
    p.add_argument("--data-dir", default=None,
                   help="CIFAR-10 folder: python batches or train/ test/ class folders "
                        "(default: keras.datasets.cifar10, which downloads)")
    p.add_argument("--channels", default="base,16,32,64,128",
                   help="comma-separated variants: base (MobileNet) and/or channels per "
                        "group (default: base,16,32,64,128)")
    p.add_argument("--seed", default="0", help="random seed (default 0)")
    p.add_argument("--out", default=None, help="results folder (default: results/<profile>)")
    p.add_argument("--epochs", default=None, help="override the profile's number of epochs")
    p.add_argument("--batch-size", default=None, help="override the profile's batch size")
    p.add_argument("--force", action="store_true", help="retrain variants that are complete")
    p.add_argument("--check", action="store_true",
                   help="only check the parameters and print the plan")
    return p


def parse_channels(text: str) -> list:
    """'base,16,32' -> [None, 16, 32]; raises UsageError naming --channels."""
    from .models import check_channels

    result = []
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise UsageError("--channels: give at least one variant (base, 16, 32, 64, 128, ...)")
    for item in items:
        if item.lower() in ("base", "baseline", "mobilenet", "none"):
            value = None
        else:
            try:
                value = int(item)
            except ValueError:
                raise UsageError(
                    f"--channels: {item!r} is not a variant; use 'base' or a positive "
                    "integer number of channels per group (16, 32, 64, 128)") from None
            try:
                check_channels(value)
            except ValueError:
                raise UsageError(
                    f"--channels: {item!r} is not allowed; channels per group must be a "
                    "positive integer (16, 32, 64, 128), or 'base' for MobileNet") from None
        if value not in result:
            result.append(value)
    return result


def _int_option(name: str, text, minimum: int):
    if text is None:
        return None
    try:
        value = int(str(text))
    except ValueError:
        raise UsageError(f"{name}: expected an integer >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise UsageError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def plan_from_args(argv) -> dict:
    """Parse and check every option; nothing is loaded or trained here."""
    args = _parser().parse_args(argv)  # --help exits here, before the heavy imports

    from .profiles import PROFILES, ProfileError, get_profile
    from .training import RunError, validate_run_request

    if args.profile not in PROFILES:
        raise UsageError(f"--profile: must be one of {', '.join(PROFILES)}; got {args.profile!r}")
    channels = parse_channels(args.channels)
    seed = _int_option("--seed", args.seed, 0)
    overrides = {}
    epochs = _int_option("--epochs", args.epochs, 1)
    if epochs is not None:
        overrides["epochs"] = epochs
    batch_size = _int_option("--batch-size", args.batch_size, 1)
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    try:
        profile = get_profile(args.profile, **overrides)
    except ProfileError as err:
        raise UsageError(str(err)) from None
    out = Path(args.out if args.out else REPO_ROOT / "results" / args.profile).expanduser().resolve()
    data_dir = None if args.data_dir is None else str(Path(args.data_dir).expanduser().resolve())
    try:
        for ch in channels:
            validate_run_request(ch, profile, data_dir, out / "runs", seed, None)
    except (RunError, ValueError) as err:
        name = "--data-dir" if "data_dir" in str(err) else None
        raise UsageError(f"{name + ': ' if name else ''}{err}") from None
    _check_out_writable(out)
    return {"channels": channels, "profile": args.profile, "overrides": overrides,
            "seed": seed, "out": out, "data_dir": data_dir, "force": args.force,
            "check": args.check}


def _check_out_writable(out: Path) -> None:
    probe_dir = out
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir() or not os.access(probe_dir, os.W_OK | os.X_OK):
        raise UsageError(f"--out: {str(out)!r} cannot be written (no write permission on {probe_dir})")


def run_status(run_dir: Path) -> str:
    """'complete', 'unfinished' or 'new' for a variant's run folder."""
    metrics = run_dir / "metrics.json"
    if metrics.exists():
        try:
            read_json(metrics)
            return "complete"
        except ValueError:
            return "unfinished"
    if (run_dir / "state.json").exists() or (run_dir / "history.csv").exists():
        return "unfinished"
    return "new"


def _execute(notebook: Path, output: Path, parameters: dict) -> None:
    """Run a notebook with papermill into `output`, replacing it only at the end."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.stem + ".partial.ipynb")
    try:
        papermill.execute_notebook(
            str(notebook), str(partial), parameters=parameters,
            kernel_name=os.environ.get("GPC_KERNEL", "python3"),
            cwd=str(REPO_ROOT), progress_bar=False, log_output=False,
        )
    finally:
        if partial.exists():
            os.replace(partial, output)


def _fmt(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def run(plan: dict) -> int:
    from .models import variant_name

    out = plan["out"]
    start = time.perf_counter()
    names = [variant_name(ch) for ch in plan["channels"]]
    print(f"gpc-study: profile {plan['profile']}, variants {', '.join(names)}, "
          f"results in {out}", flush=True)
    if plan["check"]:
        for ch, name in zip(plan["channels"], names):
            print(f"  {name}: {run_status(out / 'runs' / name)}")
        return 0
    for i, (ch, name) in enumerate(zip(plan["channels"], names), start=1):
        run_dir = out / "runs" / name
        status = run_status(run_dir)
        head = f"[{i}/{len(names)}] {name:<10}"
        if status == "complete" and not plan["force"]:
            print(f"{head} complete, skipped              (elapsed {_fmt(time.perf_counter() - start)})",
                  flush=True)
            continue
        action = "resuming" if status == "unfinished" and not plan["force"] else "training"
        print(f"{head} {action} ...", flush=True)
        t0 = time.perf_counter()
        params = {"channels": ch, "profile": plan["profile"], "data_dir": plan["data_dir"],
                  "out_dir": str(run_dir), "seed": plan["seed"], "overrides": plan["overrides"],
                  "force": plan["force"]}
        notebook_out = out / "notebooks" / f"{name}.ipynb"
        try:
            _execute(VARIANT_NOTEBOOK, notebook_out, params)
        except Exception as err:
            print(f"{head} FAILED after {_fmt(time.perf_counter() - t0)}: {_short(err)}\n"
                  f"  the executed notebook is kept for reading: {notebook_out}", file=sys.stderr,
                  flush=True)
            return 1
        metrics = read_json(run_dir / "metrics.json")
        print(f"{head} done in {_fmt(time.perf_counter() - t0)}: test accuracy "
              f"{100 * metrics['test_accuracy']:.2f}%   (elapsed {_fmt(time.perf_counter() - start)})",
              flush=True)
    print("[summary]  building table and figures ...", flush=True)
    try:
        _execute(SUMMARY_NOTEBOOK, out / "notebooks" / "summary.ipynb", {"results_dir": str(out)})
    except Exception as err:
        print(f"[summary] FAILED: {_short(err)}\n  see {out / 'notebooks' / 'summary.ipynb'}",
              file=sys.stderr, flush=True)
        return 1
    print(f"[summary]  written to {out / 'summary'}   (total {_fmt(time.perf_counter() - start)})",
          flush=True)
    return 0


def _short(err: Exception) -> str:
    """The useful line of a papermill error: the exception name and message."""
    ename = getattr(err, "ename", None)
    if ename:
        return f"{ename}: {getattr(err, 'evalue', '')}"
    return f"{type(err).__name__}: {err}"


def main(argv=None) -> int:
    try:
        plan = plan_from_args(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        print(f"run_all.sh: error: {err}\nTry 'run_all.sh --help'.", file=sys.stderr)
        return 2
    return run(plan)


if __name__ == "__main__":
    sys.exit(main())
