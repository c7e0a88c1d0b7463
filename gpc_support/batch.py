"""Batch reproduction: run the variant notebook once per (variant, seed), then the summary.

This is what `run_all.sh` calls once the environment is ready:

    python -m gpc_support.batch --profile quick --data-dir ~/cifar10 --seeds 0,1,2

Every parameter is checked before any data is loaded or model trained.  A
run that is complete is skipped (unless --force); an unfinished one resumes
after its last finished epoch.  Layout under `--out`:

    runs/<variant>/seed<k>/          one run folder per (variant, seed)
    notebooks/<variant>-seed<k>.ipynb   its executed notebook
    notebooks/summary.ipynb, summary/   the summary over all runs

One batch per results folder: `--out` is locked (`runlock.folder_lock`) for
the whole batch, and each run folder by the training itself, so a second
`run_all.sh` on the same folder refuses at once, naming the holder (exit 75).
SIGINT (Ctrl-C) and SIGTERM stop the notebook's kernel and the batch, say
where the run stopped and exit with 130 / 143; the same command resumes.
A failing run stops the batch with exit status 1; its executed notebook
stays in `<out>/notebooks/` for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from .files import read_json, write_error

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO_ROOT / "notebooks"
VARIANT_NOTEBOOK = NOTEBOOKS / "gpc_mobilenet.ipynb"
SUMMARY_NOTEBOOK = NOTEBOOKS / "summary.ipynb"
ALL_CHANNELS = (None, 16, 32, 64, 128)


EXIT_LOCKED = 75  # EX_TEMPFAIL: another batch holds the results folder


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
                   help="paper | paper32 | cpu | quick | smoke (default: quick)")
    p.add_argument("--data-dir", default=None,
                   help="CIFAR-10 folder: python batches or train/ test/ class folders "
                        "(default: the quick and smoke profiles use the CIFAR-10 subset "
                        "committed in embedded_data/, the others keras.datasets.cifar10, "
                        "which downloads)")
    p.add_argument("--channels", default="base,16,32,64,128",
                   help="comma-separated variants: base (MobileNet), channels per group, "
                        "ablation variants (mobilenet-swish, gpc16-relu6, gpc16-no-interleave, "
                        "gpc16-no-sum, gpc16-k-only, gpc16-k-interleave), or thinner MobileNets "
                        "(mobilenet-a0.5, mobilenet-swish-a0.25, ...) (default: base,16,32,64,128)")
    p.add_argument("--seeds", default=None,
                   help="comma-separated seeds, one run per (variant, seed) (default: 0)")
    p.add_argument("--seed", default=None, help="one seed (the same as --seeds N)")
    p.add_argument("--precision", default="float32",
                   help="float32 (default) or mixed (mixed float16, for GPUs)")
    p.add_argument("--out", default=None, help="results folder (default: results/<profile>)")
    p.add_argument("--epochs", default=None, help="override the profile's number of epochs")
    p.add_argument("--batch-size", default=None, help="override the profile's batch size")
    p.add_argument("--force", action="store_true",
                   help="retrain runs that are complete or unfinished (the old results are "
                        "kept until the new run has finished its first epoch)")
    p.add_argument("--check", action="store_true",
                   help="only check the parameters and print the plan (with --executor "
                        "slurm: also the sbatch script, without submitting)")
    from .scaleout import add_options

    add_options(p)
    return p


def parse_channels(text: str) -> list:
    """'base,16,gpc16-relu6' -> [None, 16, 'gpc16-relu6']; raises UsageError naming --channels."""
    from .models import check_channels

    result = []
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise UsageError("--channels: give at least one variant (base, 16, 32, 64, 128, ...)")
    for item in items:
        text = item.lower()
        if text == "none":
            text = "base"
        try:
            value = check_channels(int(text) if text.isdigit() else text)
        except ValueError:
            raise UsageError(
                f"--channels: {item!r} is not a variant; use 'base' (MobileNet), a positive "
                "integer number of channels per group (16, 32, 64, 128), or an ablation "
                "variant: mobilenet-swish, gpc16-relu6, gpc16-no-interleave, gpc16-no-sum, "
                "gpc16-k-only, gpc16-k-interleave, or a thinner MobileNet: mobilenet-a<alpha>, "
                "mobilenet-swish-a<alpha> with 0 < alpha <= 1 (0.25, 0.5, 0.75)") from None
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


def parse_seeds(seeds_text, seed_text) -> list[int]:
    """--seeds '0,1,2' and/or --seed N -> [0, 1, 2]; UsageError naming the option."""
    if seeds_text is not None and seed_text is not None:
        raise UsageError("--seed and --seeds: give one of them (--seed N is --seeds N)")
    if seed_text is not None:
        return [_int_option("--seed", seed_text, 0)]
    if seeds_text is None:
        return [0]
    items = [t.strip() for t in str(seeds_text).split(",")]
    if not all(items):
        raise UsageError(f"--seeds: expected comma-separated integers >= 0, got {seeds_text!r}")
    seeds = []
    for item in items:
        value = _int_option("--seeds", item, 0)
        if value not in seeds:
            seeds.append(value)
    return seeds


def _data_dir_error(err: Exception) -> str:
    """A data error's message as an option error, without a doubled prefix."""
    text = str(err)
    for prefix in ("data_dir: ", "data_dir="):
        if text.startswith(prefix):
            return "--data-dir" + (": " if prefix.endswith(" ") else " ") + text[len(prefix):]
    return "--data-dir: " + text


def _relative_to_root(path: Path, given) -> str:
    """The path the notebook kernel (cwd: the repository) gets: relative to the
    repository when the user gave a relative path or it lies inside it."""
    path = Path(path)
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        pass
    if given is not None and not Path(str(given)).expanduser().is_absolute():
        return os.path.relpath(path, REPO_ROOT)
    return str(path)


def plan_from_args(argv) -> dict:
    """Parse and check every option; nothing is loaded or trained here."""
    args = _parser().parse_args(argv)  # --help exits here, before the heavy imports

    from .profiles import PROFILES, ProfileError, get_profile
    from .scaleout import options_from_args
    from .training import PRECISIONS, RunError, validate_run_request

    if args.profile not in PROFILES:
        raise UsageError(f"--profile: must be one of {', '.join(PROFILES)}; got {args.profile!r}")
    channels = parse_channels(args.channels)
    seeds = parse_seeds(args.seeds, args.seed)
    if args.precision not in PRECISIONS:
        raise UsageError(f"--precision: must be one of {', '.join(PRECISIONS)}; "
                         f"got {args.precision!r}")
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
    data_note = None
    if data_dir is None:
        data_dir, data_note = _embedded_default(args.profile)
    try:
        for ch in channels:
            validate_run_request(ch, profile, data_dir, out / "runs", seeds[0], None,
                                 args.precision)
    except (RunError, ValueError) as err:
        if "data_dir" in str(err):
            raise UsageError(_data_dir_error(err)) from None
        raise UsageError(str(err)) from None
    _check_out_writable(out)
    return {"channels": channels, "profile": args.profile, "overrides": overrides,
            "seeds": seeds, "seed": seeds[0], "out": out, "data_dir": data_dir,
            "data_dir_param": None if data_dir is None else _relative_to_root(data_dir, args.data_dir),
            "data_note": data_note,
            "out_param": _relative_to_root(out, args.out), "precision": args.precision,
            "force": args.force, "check": args.check, **options_from_args(args)}


def _embedded_default(profile: str) -> tuple[str | None, str | None]:
    """(data folder, note) when `profile` uses the embedded subset without
    --data-dir (unpacked into the cache on first use), else (None, None):
    keras.datasets.cifar10."""
    from .embedded import EMBEDDED_PROFILES, EmbeddedDataError, describe, embedded_data_dir

    if profile not in EMBEDDED_PROFILES:
        return None, None
    try:
        return str(embedded_data_dir()), describe()
    except EmbeddedDataError as err:
        raise UsageError(f"{err}; or pass --data-dir <CIFAR-10 folder>") from None


def _check_out_writable(out: Path) -> None:
    probe_dir = out
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir() or not os.access(probe_dir, os.W_OK | os.X_OK):
        raise UsageError(f"--out: {str(out)!r} cannot be written (no write permission on {probe_dir})")


def run_dir_of(out: Path, name: str, seed: int) -> Path:
    """`<out>/runs/<variant>/seed<k>`: the run folder of one (variant, seed)."""
    return Path(out) / "runs" / name / f"seed{seed}"


def notebook_of(out: Path, name: str, seed: int) -> Path:
    """`<out>/notebooks/<variant>-seed<k>.ipynb`: its executed notebook."""
    return Path(out) / "notebooks" / f"{name}-seed{seed}.ipynb"


def run_status(run_dir: Path) -> str:
    """'complete', 'unfinished' or 'new' for a run folder."""
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


def _epochs_done(run_dir: Path) -> int:
    try:
        return int(read_json(run_dir / "state.json").get("epochs_done", 0))
    except (OSError, ValueError, TypeError):
        return 0


# What a stop (SIGINT / SIGTERM) needs to know: the run and notebook in progress.
_CURRENT: dict = {}


def _settle_notebook(partial: Path, output: Path) -> bool:
    """Keep `partial` as `output` if it is a whole notebook (valid JSON), else
    delete it; True when `output` now holds the newer notebook."""
    if not partial.exists():
        return False
    try:
        with open(partial, encoding="utf-8") as f:
            json.load(f)
    except (OSError, ValueError):
        partial.unlink(missing_ok=True)
        return False
    try:
        os.replace(partial, output)
    except OSError:
        partial.unlink(missing_ok=True)
        return False
    return True


def _execute(notebook: Path, output: Path, parameters: dict) -> None:
    """Run a notebook with papermill into `output`, replacing it only at the end
    and only with a whole notebook."""
    import papermill

    from .files import temporary_path

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_path(output, ".partial.ipynb")
    _CURRENT["partial"], _CURRENT["output"] = partial, output
    try:
        papermill.execute_notebook(
            str(notebook), str(partial), parameters=parameters,
            kernel_name=os.environ.get("GPC_KERNEL", "python3"),
            cwd=str(REPO_ROOT), progress_bar=False, log_output=False,
        )
    except OSError as err:
        if getattr(err, "errno", None) is not None:
            raise write_error(output, err) from err
        raise
    finally:
        _settle_notebook(partial, output)
        _CURRENT.pop("partial", None)


def _fmt(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _stop_handler(signum, frame):  # noqa: ARG001
    """SIGINT / SIGTERM: stop the kernel (and anything else this batch started),
    keep a whole notebook, say where the run stopped, exit 128 + signal."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    _stop_children()
    if "partial" in _CURRENT:
        _settle_notebook(_CURRENT["partial"], _CURRENT["output"])
    run_dir = _CURRENT.get("run_dir")
    if run_dir is not None:
        where = (f"stopped at epoch {_epochs_done(run_dir)} of {_CURRENT['name']}; "
                 "run the same command to resume")
    elif _CURRENT.get("stage") == "summary":
        where = "stopped while building the summary; run the same command to build it"
    else:
        where = "stopped before any training; run the same command to start"
    stale = _drop_stale_summary()
    if stale:
        where += "\n" + stale
    name = signal.Signals(signum).name
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        print(f"\nrun_all.sh: {name}: {where}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    os._exit(128 + signum)


def _drop_stale_summary() -> str | None:
    """After --force replaced a run (its first new epoch committed) and the
    batch ends before the summary is rebuilt, the old summary would show a
    run that is gone: remove it and say so."""
    out = _CURRENT.get("out")
    replaced = [d for d in _CURRENT.get("forced", ())
                if _epochs_done(d) >= 1 and not d.with_name(d.name + ".previous").exists()]
    summary = None if out is None else out / "summary"
    if not replaced or summary is None or not summary.is_dir():
        return None
    import shutil

    shutil.rmtree(summary, ignore_errors=True)
    return (f"removed {summary}: it showed runs that --force has replaced; "
            "the same command rebuilds it")


def _stop_children(grace: float = 10.0) -> None:
    """Terminate, then kill, every process this batch started (the kernel),
    but not the ones that were there before it (run_all.sh's output filter)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a pinned requirement
        return
    me = psutil.Process()
    keep = _CURRENT.get("initial_children", set())
    try:
        family = [p for p in me.children(recursive=True) if p.pid not in keep]
    except psutil.Error:
        return
    for p in family:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(family, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)


def _install_stop_handlers() -> None:
    try:
        import psutil

        _CURRENT["initial_children"] = {p.pid for p in psutil.Process().children(recursive=True)}
    except Exception:
        _CURRENT["initial_children"] = set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop_handler)


def run(plan: dict) -> int:
    from .models import variant_name
    from .runlock import FolderLocked, folder_lock

    out = plan["out"]
    seeds = plan.get("seeds") or [plan.get("seed", 0)]
    names = [variant_name(ch) for ch in plan["channels"]]
    jobs = [(ch, name, seed) for ch, name in zip(plan["channels"], names) for seed in seeds]
    print(f"gpc-study: profile {plan['profile']}, variants {', '.join(names)}, "
          f"seeds {', '.join(map(str, seeds))}, precision {plan.get('precision', 'float32')}, "
          f"results in {out}", flush=True)
    if plan.get("data_note"):
        print(f"data: {plan['data_note']} (no --data-dir given)", flush=True)
    if plan.get("gpus") or plan.get("cpus") or plan.get("executor"):  # gpc_support.scaleout
        from .scaleout import run_scaled

        return run_scaled(plan, jobs)
    if plan["check"]:
        for ch, name, seed in jobs:
            print(f"  {name}/seed{seed}: {run_status(run_dir_of(out, name, seed))}")
        return 0
    if signal.getsignal(signal.SIGTERM) is not _stop_handler:
        _install_stop_handlers()
    try:
        with folder_lock(out, "run_all.sh " + " ".join(sys.argv[1:])[:200]):
            return _run_locked(plan, out, jobs)
    except FolderLocked as err:
        print(f"run_all.sh: error: {err}", file=sys.stderr, flush=True)
        return EXIT_LOCKED


def _remove_stale_partials(out: Path) -> None:
    """Half-written notebooks of batches that were killed (-9) before they
    could clean up; safe under the folder's lock."""
    folder = out / "notebooks"
    if folder.is_dir():
        for stale in folder.glob(".*.partial.ipynb"):
            stale.unlink(missing_ok=True)


def _run_locked(plan: dict, out: Path, jobs: list) -> int:
    start = time.perf_counter()
    _remove_stale_partials(out)
    _CURRENT.update(out=out, forced=[])
    todo = [job for job in jobs
            if plan["force"] or run_status(run_dir_of(out, job[1], job[2])) != "complete"]
    if not todo:
        print(f"all {len(jobs)} runs complete, nothing to train: use --force to retrain or "
              "--out for a new folder", flush=True)
    progress = _progress_of(plan, out, todo)  # a live line per run (gpc_support.progress)
    out_param = Path(plan.get("out_param") or out)
    for i, (ch, name, seed) in enumerate(jobs, start=1):
        run_dir = run_dir_of(out, name, seed)
        status = run_status(run_dir)
        head = f"[{i}/{len(jobs)}] {name + '/seed' + str(seed):<16}"
        if status == "complete" and not plan["force"]:
            print(f"{head} complete, skipped              (elapsed {_fmt(time.perf_counter() - start)})",
                  flush=True)
            continue
        action = "resuming" if status == "unfinished" and not plan["force"] else "training"
        print(f"{head} {action} ...", flush=True)
        t0 = time.perf_counter()
        params = {"channels": ch, "profile": plan["profile"],
                  "data_dir": plan.get("data_dir_param", plan["data_dir"]),
                  "out_dir": str(run_dir_of(out_param, name, seed)), "seed": seed,
                  "overrides": plan["overrides"], "force": plan["force"],
                  "precision": plan.get("precision", "float32")}
        notebook_out = notebook_of(out, name, seed)
        _CURRENT.update(run_dir=run_dir, name=f"{name}/seed{seed}", stage="train")
        if plan["force"]:
            _CURRENT["forced"].append(run_dir)
        try:
            with progress.watch(f"{name}/seed{seed}", run_dir, fresh=plan["force"]):
                _execute(VARIANT_NOTEBOOK, notebook_out, params)
        except Exception as err:
            _scrub_paths(notebook_out, plan)
            kept = (f"\n  the executed notebook is kept for reading: {notebook_out}"
                    if notebook_out.exists() else "")
            stale = _drop_stale_summary()
            print(f"{head} FAILED after {_fmt(time.perf_counter() - t0)}: {_short(err)}{kept}"
                  + (f"\n  {stale}" if stale else ""), file=sys.stderr, flush=True)
            return 1
        finally:
            _CURRENT.pop("run_dir", None)
        _scrub_paths(notebook_out, plan)
        try:
            metrics = read_json(run_dir / "metrics.json")
            result = f"test accuracy {100 * metrics['test_accuracy']:.2f}%"
        except (OSError, ValueError, KeyError, TypeError):
            print(f"{head} FAILED: the notebook ended but {run_dir / 'metrics.json'} is missing "
                  "or unreadable", file=sys.stderr, flush=True)
            return 1
        print(f"{head} done in {_fmt(time.perf_counter() - t0)}: {result}   "
              f"(elapsed {_fmt(time.perf_counter() - start)})", flush=True)
    from .runs import load_results
    from .summary_text import SummaryRefused, check_summary_allowed

    try:
        check_summary_allowed(load_results(out), out, plan["force"])
    except SummaryRefused as err:
        print(f"[summary]  not rebuilt: {err}", flush=True)
        return 0
    print("[summary]  building table and figures ...", flush=True)
    _CURRENT["stage"] = "summary"
    summary_nb = out / "notebooks" / "summary.ipynb"
    try:
        _execute(SUMMARY_NOTEBOOK, summary_nb, {"results_dir": str(out_param),
                                                "force": plan["force"]})
    except Exception as err:
        _scrub_paths(summary_nb, plan)
        kept = f"\n  see {summary_nb}" if summary_nb.exists() else ""
        print(f"[summary] FAILED: {_short(err)}{kept}", file=sys.stderr, flush=True)
        return 1
    _scrub_paths(summary_nb, plan)
    try:
        from .summary_notebook import render_html

        render_html(summary_nb, out / "summary" / "summary.html")
    except Exception as err:  # the HTML copy is a convenience, never a failure
        print(f"[summary]  (no summary.html: {_short(err)})", file=sys.stderr, flush=True)
    print(f"[summary]  written to {out / 'summary'}   (total {_fmt(time.perf_counter() - start)})",
          flush=True)
    return 0


def _scrub_paths(notebook: Path, plan: dict) -> None:
    """Replace this machine's paths in an executed notebook by placeholders
    (`<out>`, `<data-dir>`, repository-relative paths); never fails the run."""
    if not notebook.exists():
        return
    from .notebook_paths import scrub_notebook

    anchors = {str(plan["out"]): "<out>"}
    if plan.get("data_dir"):
        anchors[str(plan["data_dir"])] = "<data-dir>"
    try:
        scrub_notebook(notebook, anchors)
    except (OSError, ValueError) as err:
        print(f"  (paths not scrubbed from {notebook.name}: {err})", file=sys.stderr, flush=True)


def _progress_of(plan: dict, out: Path, todo: list):
    """The progress display of the runs to train (their epochs, for the ETA)."""
    from .profiles import get_profile
    from .progress import BatchProgress

    progress = BatchProgress(sys.stdout)
    epochs = get_profile(plan["profile"], **plan["overrides"]).epochs
    for _, name, seed in todo:
        done = 0 if plan["force"] else _epochs_done(run_dir_of(out, name, seed))
        progress.plan(f"{name}/seed{seed}", epochs, done)
    return progress


def _short(err: Exception) -> str:
    """The useful line of a papermill error: the exception name and message."""
    ename = getattr(err, "ename", None)
    if ename:
        return f"{ename}: {getattr(err, 'evalue', '')}"
    if isinstance(err, OSError) and str(err).startswith("cannot write"):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _locked_message(argv) -> str | None:
    """Before the slow checks (TensorFlow's import, the data): a results folder
    in use by another batch is refused at once, naming the holder."""
    try:
        args = _parser().parse_args(argv)  # --help exits here
    except UsageError:
        return None  # plan_from_args reports it
    if args.check:
        return None
    from .runlock import holder_of

    out = Path(args.out if args.out else REPO_ROOT / "results" / args.profile).expanduser()
    holder = holder_of(out)
    if holder:
        return (f"{out.resolve()} is in use by another run: {holder}; wait for it "
                "to finish or stop it, or choose another folder")
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if __name__ == "__main__":  # run_all.sh; not when a test calls main()
        _install_stop_handlers()  # from the start: Ctrl-C during the checks is clean too
    locked = _locked_message(argv)
    if locked:
        print(f"run_all.sh: error: {locked}", file=sys.stderr, flush=True)
        return EXIT_LOCKED
    try:
        plan = plan_from_args(argv)
    except UsageError as err:
        print(f"run_all.sh: error: {err}\nTry 'run_all.sh --help'.", file=sys.stderr)
        return 2
    return run(plan)


if __name__ == "__main__":
    sys.exit(main())
