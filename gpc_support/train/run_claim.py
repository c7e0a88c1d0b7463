"""A run folder's configuration: checking a run request, claiming the folder, --force.

Before any data or model, `validate_run_request` checks every parameter and
names the bad one.  `claim_folder` writes the run's `config.json`, or
refuses a folder whose config.json describes another run (the fields in
`CONFIG_COMPARED`, and the CPU kernels it started with, see `kernels`);
`check_data` records the loaded data's fingerprint
there, or refuses data other than those the run started with.

`--force` keeps the old run: its files move aside into `<out_dir>.previous/`
(`move_run`) until the new run has committed its first epoch;
`recover_previous` puts them back when a forced start never got that far.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path

from ..common.atomic_files import atomic_write_json, read_json, temporary_path
from ..common.run_folder import PREVIOUS_SUFFIX, RUN_FILES
from ..model.variants import check_channels, variant_label, variant_name
from .profiles import Profile, get_profile, profile_from_record

__all__ = ["RunError", "PRECISIONS", "SPLIT_SEED", "CONFIG_COMPARED", "check_precision",
           "validate_run_request", "load_run_data", "run_config", "claim_folder", "check_data"]

# config.json keys that must match for a folder to be resumed
CONFIG_COMPARED = ("variant", "channels", "profile", "seed", "split_seed", "precision",
                   "data_layout")
PRECISIONS = ("float32", "mixed")
# the validation split and the short profiles' subsets use this seed whatever the run's seed
SPLIT_SEED = 0


class RunError(ValueError):
    """A run that cannot start: bad folder, or a folder holding another run."""


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def check_precision(precision) -> str:
    """'float32' (default everywhere) or 'mixed' (mixed float16, only when asked)."""
    if precision not in PRECISIONS:
        raise RunError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, "
                       f"got {precision!r}")
    return precision


def check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = temporary_path(out_dir / "write-test")
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise RunError(f"out_dir {str(out_dir)!r} cannot be written: {err.strerror or err}") from None


def validate_run_request(channels, profile, data_dir, out_dir, seed, overrides,
                         precision: str = "float32") -> tuple:
    """Check every parameter of a run, cheaply, before any data or model.

    Returns (channels, Profile, Path out_dir).  Raises ValueError subclasses
    naming the bad parameter.
    """
    from ..data.layouts import validate_data_dir

    channels = check_channels(channels)
    profile = get_profile(profile, **(overrides or {}))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunError(f"seed must be a non-negative integer, got {seed!r}")
    check_precision(precision)
    if out_dir is None or str(out_dir).strip() == "":
        raise RunError("out_dir must be a folder path")
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"out_dir {str(out_dir)!r} exists and is not a folder")
    if data_dir is not None:
        validate_data_dir(data_dir)
    return channels, profile, out_dir


def kernels() -> dict:
    """The numerical kernels this process trains with: {"tensorflow_onednn":
    True/False} under TensorFlow, None elsewhere (common.environment.ONEDNN_ENV)."""
    from ..common.environment import onednn_enabled

    return {"tensorflow_onednn": onednn_enabled()}


def run_config(channels, profile: Profile, seed: int, precision: str, data_dir) -> dict:
    from .provenance import code_version, data_layout

    return {
        "variant": variant_name(channels),
        "label": variant_label(channels),
        "channels": channels,
        "profile": profile.to_dict(),
        "optimizer": profile.optimizer,
        "seed": seed,
        "split_seed": SPLIT_SEED,
        "precision": precision,
        # the fingerprint is added once the data are loaded (check_data)
        "data_source": {"layout": data_layout(data_dir), "fingerprint": None},
        "kernels": kernels(),
        "code": code_version(),
        "created": now_utc(),
    }


def load_run_data(profile: Profile, data_dir=None):
    """The `CifarData` every run of `profile` on `data_dir` trains, validates
    and tests on, whatever its seed: subsets and split drawn with SPLIT_SEED
    (or, for the "authors" split, by file order)."""
    from ..data.sources import load_cifar10

    return load_cifar10(data_dir, validation_fraction=profile.validation_fraction,
                        seed=SPLIT_SEED, train_limit=profile.train_limit,
                        test_limit=profile.test_limit, split=profile.split)


def has_run(out_dir: Path) -> bool:
    return any((out_dir / name).exists() for name in RUN_FILES)


def claim_folder(out_dir: Path, config: dict) -> None:
    """Write config.json, or check it matches the one already there."""
    path = out_dir / "config.json"
    if path.exists():
        try:
            old = read_json(path)
        except (ValueError, OSError):
            old = None
        differ = None if old is None else [k for k in CONFIG_COMPARED
                                           if _config_value(old, k) != _config_value(config, k)]
        if old is None or differ:
            differ = ("config.json cannot be read" if old is None else "differs in " + ", ".join(differ))
            raise RunError(
                f"out_dir {str(out_dir)!r} holds a run with another configuration "
                f"({differ}); choose another out_dir or pass force=True to start over")
        _check_kernels(out_dir, old.get("kernels"), config.get("kernels"))
        return
    atomic_write_json(path, config)


def _check_kernels(out_dir: Path, started, now) -> None:
    """Refuse to resume, under other kernels, a run that recorded its own (runs
    from before the record have none and resume as they are)."""
    if not isinstance(started, dict) or not isinstance(now, dict):
        return
    was, is_ = started.get("tensorflow_onednn"), now.get("tensorflow_onednn")
    if was is None or is_ is None or was == is_:
        return
    state = {True: "on", False: "off"}
    raise RunError(
        f"out_dir {str(out_dir)!r} holds a run that started with TensorFlow's oneDNN kernels "
        f"{state[was]}, and this process has them {state[is_]}: it would not resume exactly; "
        f"set TF_ENABLE_ONEDNN_OPTS={int(was)} before Python starts, or pass force=True "
        "to start over")


def _config_value(config: dict, key: str):
    if key == "data_layout":
        source = config.get("data_source")
        return source.get("layout") if isinstance(source, dict) else None
    if key == "profile":
        return json.loads(json.dumps(profile_from_record(config.get(key))))
    return json.loads(json.dumps(config.get(key)))


def check_data(out_dir: Path, cifar) -> None:
    """Record the loaded data's fingerprint in config.json, or check it is the
    one the run started with (a resumed run must see the same images)."""
    from .provenance import arrays_fingerprint

    path = out_dir / "config.json"
    config = read_json(path)
    source = config.get("data_source") if isinstance(config.get("data_source"), dict) else {}
    fingerprint = arrays_fingerprint(cifar)
    if source.get("fingerprint") is None:
        config["data_source"] = {**source, "fingerprint": fingerprint}
        atomic_write_json(path, config)
    elif source["fingerprint"] != fingerprint:
        raise RunError(
            f"data_dir: the data differ from those the run in {str(out_dir)!r} started with "
            f"(fingerprint {fingerprint}, config.json records {source['fingerprint']}); "
            "use the same data, another out_dir, or force=True to start over")


# -- --force: keep the old run until the new one has committed an epoch --------------------

def previous_dir(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + PREVIOUS_SUFFIX)


def move_run(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (src / name).exists():
            os.replace(src / name, dst / name)


def remove_run_files(folder: Path) -> None:
    for name in RUN_FILES:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def committed_epochs(out_dir: Path) -> int:
    try:
        return int(read_json(out_dir / "state.json").get("epochs_done", 0))
    except (OSError, ValueError, TypeError):
        return 0


def recover_previous(out_dir: Path, say) -> None:
    """A `.previous` left by a forced start that was interrupted: put it back
    if the new run never committed an epoch, else drop it."""
    previous = previous_dir(out_dir)
    if not previous.is_dir():
        return
    if committed_epochs(out_dir) >= 1:
        shutil.rmtree(previous)
        return
    remove_run_files(out_dir)
    move_run(previous, out_dir)
    shutil.rmtree(previous)
    say(f"restored the run that a forced restart had moved aside into {previous.name} "
        "(the restart never finished an epoch)")
