"""The command line of the study (`run_all.sh`): check every option, then run the plan.

It runs the variant notebook once per (variant, seed), then the summary
(unless --no-summary).

This is what `run_all.sh` calls once the environment is ready:

    python -m gpc_support.run.cli --profile quick --data-dir ~/cifar10 --seeds 0,1,2

Every parameter is checked before any data is loaded or model trained.  A
run that is complete is skipped (unless --force); an unfinished one resumes
after its last finished epoch.  Layout under `--out`:

    runs/<variant>/seed<k>/          one run folder per (variant, seed)
    notebooks/<variant>-seed<k>.ipynb   its executed notebook
    notebooks/summary.ipynb, summary/   the summary over all runs

One batch per results folder: `--out` is locked (`common.run_lock.folder_lock`) for
the whole batch, and each run folder by the training itself, so a second
`run_all.sh` on the same folder refuses at once, naming the holder (exit 75).
SIGINT (Ctrl-C) and SIGTERM stop the notebook's kernel and the batch, say
where the run stopped and exit with 130 / 143; the same command resumes.
A failing run stops the batch with exit status 1; its executed notebook
stays in `<out>/notebooks/` for reading.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from ..common.environment import training_environment
from ..common.paths import REPO_ROOT, RESULTS_DIR
from ..common.run_folder import run_dir_of, run_status
from .console import EXIT_LOCKED, UsageError, backend_problem, int_option
from .stopping import install_stop_handlers, stop_handler

ALL_CHANNELS = (None, 16, 32, 64, 128)


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
    p.add_argument("--no-summary", action="store_true",
                   help="train only, leave the summary for later (python -m "
                        "gpc_support.summary_notebook <out> builds it)")
    p.add_argument("--check", action="store_true",
                   help="only check the parameters and print the plan (with --executor "
                        "slurm: also the sbatch script, without submitting)")
    from .scale_options import add_options

    add_options(p)
    return p


def parse_channels(text: str) -> list:
    """'base,16,gpc16-relu6' -> [None, 16, 'gpc16-relu6']; raises UsageError naming --channels."""
    from ..model.variants import check_channels

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


def parse_seeds(seeds_text, seed_text) -> list[int]:
    """--seeds '0,1,2' and/or --seed N -> [0, 1, 2]; UsageError naming the option."""
    if seeds_text is not None and seed_text is not None:
        raise UsageError("--seed and --seeds: give one of them (--seed N is --seeds N)")
    if seed_text is not None:
        return [int_option("--seed", seed_text, 0)]
    if seeds_text is None:
        return [0]
    items = [t.strip() for t in str(seeds_text).split(",")]
    if not all(items):
        raise UsageError(f"--seeds: expected comma-separated integers >= 0, got {seeds_text!r}")
    seeds = []
    for item in items:
        value = int_option("--seeds", item, 0)
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

    from ..train.profiles import PROFILES, ProfileError, get_profile
    from .scale_options import options_from_args
    from ..train.engine import PRECISIONS, RunError, validate_run_request

    if args.profile not in PROFILES:
        raise UsageError(f"--profile: must be one of {', '.join(PROFILES)}; got {args.profile!r}")
    channels = parse_channels(args.channels)
    seeds = parse_seeds(args.seeds, args.seed)
    if args.precision not in PRECISIONS:
        raise UsageError(f"--precision: must be one of {', '.join(PRECISIONS)}; "
                         f"got {args.precision!r}")
    overrides = {}
    epochs = int_option("--epochs", args.epochs, 1)
    if epochs is not None:
        overrides["epochs"] = epochs
    batch_size = int_option("--batch-size", args.batch_size, 1)
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    try:
        profile = get_profile(args.profile, **overrides)
    except ProfileError as err:
        raise UsageError(str(err)) from None
    out = Path(args.out if args.out else RESULTS_DIR / args.profile).expanduser().resolve()
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
            "force": args.force, "check": args.check, "summary": not args.no_summary,
            **options_from_args(args)}


def _embedded_default(profile: str) -> tuple[str | None, str | None]:
    """(data folder, note) when `profile` uses the embedded subset without
    --data-dir (unpacked into the cache on first use), else (None, None):
    keras.datasets.cifar10."""
    from ..data.embedded import EMBEDDED_PROFILES, EmbeddedDataError, describe, embedded_data_dir

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



def run(plan: dict) -> int:
    from ..model.variants import variant_name
    from ..common.run_lock import FolderLocked, folder_lock

    out = plan["out"]
    seeds = plan.get("seeds") or [plan.get("seed", 0)]
    names = [variant_name(ch) for ch in plan["channels"]]
    jobs = [(ch, name, seed) for ch, name in zip(plan["channels"], names) for seed in seeds]
    print(f"gpc-study: profile {plan['profile']}, variants {', '.join(names)}, "
          f"seeds {', '.join(map(str, seeds))}, precision {plan.get('precision', 'float32')}, "
          f"results in {out}", flush=True)
    if plan.get("data_note"):
        print(f"data: {plan['data_note']} (no --data-dir given)", flush=True)
    training_environment()  # malloc settings for the kernels and workers started below
    if plan.get("gpus") or plan.get("cpus") or plan.get("executor"):  # gpc_support.run.executors
        from .executors import run_scaled

        return run_scaled(plan, jobs)
    if plan["check"]:
        for ch, name, seed in jobs:
            print(f"  {name}/seed{seed}: {run_status(run_dir_of(out, name, seed))}")
        return 0
    if signal.getsignal(signal.SIGTERM) is not stop_handler:
        install_stop_handlers()
    try:
        with folder_lock(out, "run_all.sh " + " ".join(sys.argv[1:])[:200]):
            from .sequential import run_sequential

            return run_sequential(plan, out, jobs)
    except FolderLocked as err:
        print(f"run_all.sh: error: {err}", file=sys.stderr, flush=True)
        return EXIT_LOCKED


def _locked_message(argv) -> str | None:
    """Before the slow checks (TensorFlow's import, the data): a results folder
    in use by another batch is refused at once, naming the holder."""
    try:
        args = _parser().parse_args(argv)  # --help exits here
    except UsageError:
        return None  # plan_from_args reports it
    if args.check:
        return None
    from ..common.run_lock import holder_of

    out = Path(args.out if args.out else RESULTS_DIR / args.profile).expanduser()
    holder = holder_of(out)
    if holder:
        return (f"{out.resolve()} is in use by another run: {holder}; wait for it "
                "to finish or stop it, or choose another folder")
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wants_help = any(a in ("-h", "--help") for a in argv)  # help needs no backend
    backend = None if wants_help else backend_problem()  # before anything imports Keras
    if backend:
        print(f"run_all.sh: error: {backend}", file=sys.stderr, flush=True)
        return 2
    if __name__ == "__main__":  # run_all.sh; not when a test calls main()
        install_stop_handlers()  # from the start: Ctrl-C during the checks is clean too
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
