"""A run's epoch records and how a stopped run resumes from them.

The files (all written through a temporary file and a rename):
`history.csv` (one row per finished epoch), `checkpoints/epoch_NNN.keras`
(model + optimizer after that epoch, the epoch also recorded inside the file
as `CHECKPOINT_MEMBER`), best-weights candidates promoted to
`best.weights.h5` once committed, and `state.json`, the commit point.

`load_state` decides where a run resumes: normally state.json's epoch; when
state.json, history.csv and the checkpoints disagree (a kill in the middle
of a commit, a damaged file), the newest epoch where a checkpoint and
history.csv agree, said aloud, or a `RunError` naming the file.

A checkpoint may lie in pieces, `epoch_NNN.keras.part-0`, `-1`, ... (a
repository that takes no large file holds it so, e.g. `split -b 15M -d -a 1`);
`load_state` joins the pieces into the whole file before it looks.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

from ..common.atomic_files import atomic_write_json, atomic_write_text, read_json, temporary_path, write_error
from ..common.run_folder import HISTORY_FIELDS
from .run_claim import RunError

__all__ = ["CHECKPOINT_MEMBER", "read_history", "history_text", "checkpoint_epoch", "checkpoint_name",
           "save_checkpoint", "save_best_candidate", "settle_files", "fresh_state", "load_state"]

CHECKPOINT_MEMBER = "gpc_epoch.json"  # inside each epoch_NNN.keras


# -- history.csv ---------------------------------------------------------------------------

def read_history(path) -> list[dict]:
    """History rows from `history.csv` as dicts of numbers (epoch as int)."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()})
    return rows


def history_text(rows) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in HISTORY_FIELDS})
    return out.getvalue()


def history_prefix(path: Path) -> tuple[list[dict], list[str]]:
    """The rows of epochs 1, 2, ... in order, and what was wrong after them.

    A row repeated with the same values is dropped (with a note); a row
    that breaks the sequence ends the usable part (with a note)."""
    if not path.exists():
        return [], []
    try:
        rows = read_history(path)
    except (ValueError, KeyError, TypeError, OSError) as err:
        return [], [f"{path.name} cannot be read ({err})"]
    usable, notes = [], []
    for line, row in enumerate(rows, start=2):
        if set(row) != set(HISTORY_FIELDS) or any(v is None for v in row.values()):
            notes.append(f"{path.name} line {line} does not have the columns "
                         f"{', '.join(HISTORY_FIELDS)}; it and the rows after it are ignored")
            break
        if usable and row["epoch"] == usable[-1]["epoch"]:
            same = all(row[k] == usable[-1][k] for k in HISTORY_FIELDS if k != "seconds")
            if same:
                notes.append(f"{path.name} line {line} repeats epoch {row['epoch']}; the copy is dropped")
                continue
            notes.append(f"{path.name} line {line} holds epoch {row['epoch']} a second time with "
                         "other values; it and the rows after it are ignored")
            break
        if row["epoch"] != len(usable) + 1:
            notes.append(f"{path.name} line {line} holds epoch {row['epoch']} where epoch "
                         f"{len(usable) + 1} was expected; it and the rows after it are ignored")
            break
        usable.append(row)
    return usable, notes


# -- checkpoints and best weights -----------------------------------------------------------

def checkpoint_epoch(path) -> int | None:
    """The epoch recorded inside a checkpoint (None when it records none)."""
    try:
        with zipfile.ZipFile(path) as z:
            return int(json.loads(z.read(CHECKPOINT_MEMBER))["epoch"])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None


def checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.keras"


def save_checkpoint(model, path: Path, epoch: int, steps: int) -> None:
    """model.save into a temporary file unique to this process, record the
    epoch inside it, then rename; a failure names the file, removes the temp."""
    def write(tmp):
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(CHECKPOINT_MEMBER, json.dumps({"epoch": epoch, "optimizer_steps": steps}))

    write_through_temp(path, ".tmp.keras", write)


def write_through_temp(path: Path, suffix: str, write) -> None:
    """`write(tmp)` into a temporary file unique to this process, then rename
    it to `path`; a failure names the file and removes the temporary."""
    tmp = temporary_path(path, suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise write_error(path, err) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_best_candidate(network, path: Path, epoch: int) -> None:
    import h5py

    def write(tmp):
        network.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs["gpc_epoch"] = epoch

    write_through_temp(path, ".tmp.weights.h5", write)


def weights_epoch(path: Path) -> int | None:
    """The epoch stored in a best-weights file; None when unknown."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return int(f.attrs["gpc_epoch"]) if "gpc_epoch" in f.attrs else None
    except (OSError, KeyError, ValueError, TypeError):
        return None


def settle_files(out_dir: Path, state: dict) -> None:
    """Finish what a committed state.json says: promote the best weights,
    remove checkpoints, candidates and temporary files it no longer refers to."""
    ckpt_dir = out_dir / "checkpoints"
    pending = state.get("best_pending")
    if pending and (ckpt_dir / pending).exists():
        os.replace(ckpt_dir / pending, out_dir / "best.weights.h5")
    if ckpt_dir.is_dir():
        for old in ckpt_dir.iterdir():
            if old.name != state.get("checkpoint"):
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)
    for leftover in out_dir.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


# -- resume: state.json, history.csv and the checkpoints must agree -------------------------

def fresh_state() -> dict:
    return {"epochs_done": 0, "checkpoint": None, "best_val_accuracy": -1.0, "best_epoch": 0,
            "training_seconds": 0.0, "best_pending": None, "resumes": []}


PART_MARK = ".part-"  # epoch_NNN.keras.part-0, -1, ...: one checkpoint in pieces


def join_checkpoint_parts(ckpt_dir: Path, say=print) -> list[str]:
    """Join every checkpoint stored in pieces into its whole file (through a
    temporary file, pieces removed once it is in place) and say so; returns
    notes on pieces that cannot be joined (a piece missing), which stay."""
    notes = []
    if not ckpt_dir.is_dir():
        return notes
    for first in sorted(ckpt_dir.glob(f"epoch_*.keras{PART_MARK}0")):
        whole = first.with_name(first.name[:-len(f"{PART_MARK}0")])
        if whole.exists():
            continue  # already joined; settle_files removes the pieces
        pieces = {}
        for piece in ckpt_dir.glob(f"{whole.name}{PART_MARK}*"):
            index = piece.name[len(whole.name) + len(PART_MARK):]
            if index.isdigit():
                pieces[int(index)] = piece
        if sorted(pieces) != list(range(len(pieces))):
            missing = sorted(set(range(max(pieces) + 1)) - set(pieces))
            notes.append(f"checkpoints/{whole.name} lies in pieces and piece(s) "
                         f"{', '.join(f'{PART_MARK}{k}' for k in missing)} are missing; "
                         "it is not joined")
            continue

        ordered = [pieces[k] for k in sorted(pieces)]

        def write(tmp):
            with open(tmp, "wb") as out:
                for piece in ordered:
                    with open(piece, "rb") as src:
                        shutil.copyfileobj(src, out)

        write_through_temp(whole, ".tmp.keras", write)
        for piece in pieces.values():
            piece.unlink()
        say(f"note: checkpoints/{whole.name} joined from its {len(pieces)} pieces")
    return notes


def valid_checkpoints(ckpt_dir: Path) -> tuple[dict, list[str]]:
    """{epoch: path} of the checkpoints whose recorded epoch matches their name."""
    found, notes = {}, []
    if not ckpt_dir.is_dir():
        return found, notes
    for path in sorted(ckpt_dir.glob("epoch_*.keras")):
        try:
            named = int(path.name[len("epoch_"):-len(".keras")])
        except ValueError:
            continue
        recorded = checkpoint_epoch(path)
        if recorded == named:
            found[named] = path
        else:
            notes.append(f"checkpoints/{path.name} " + (
                "records no epoch (damaged or not written by this engine)" if recorded is None
                else f"records epoch {recorded}, not {named}") + "; it is not used")
    return found, notes


def best_weights_available(out_dir: Path, state: dict) -> bool:
    best = state.get("best_epoch", 0)
    if best < 1:
        return True
    pending = state.get("best_pending")
    if pending and (out_dir / "checkpoints" / pending).exists() and \
            weights_epoch(out_dir / "checkpoints" / pending) in (best, None):
        return True
    path = out_dir / "best.weights.h5"
    return path.exists() and weights_epoch(path) in (best, None)


def best_of(history: list[dict]) -> tuple[int, float]:
    best_epoch, best = 0, -1.0
    for row in history:
        if row["val_accuracy"] > best:
            best_epoch, best = row["epoch"], row["val_accuracy"]
    return best_epoch, best


def load_state(out_dir: Path, say=print) -> tuple[dict, list]:
    """(state, history) to resume from; RunError when no consistent point
    exists although epochs were finished.  Every repair is said."""
    fresh = fresh_state()
    state_path, history_path = out_dir / "state.json", out_dir / "history.csv"
    piece_notes = join_checkpoint_parts(out_dir / "checkpoints", say)
    ckpts, ckpt_notes = valid_checkpoints(out_dir / "checkpoints")
    ckpt_notes = piece_notes + ckpt_notes
    history, history_notes = history_prefix(history_path)
    state, state_note = None, None
    if state_path.exists():
        try:
            state = {**fresh, **read_json(state_path)}
            int(state["epochs_done"])
        except (ValueError, OSError, TypeError) as err:
            state, state_note = None, f"state.json cannot be read ({err})"
    if state is None and not history and not ckpts and not state_note:
        return fresh, []  # a new run
    done = int(state["epochs_done"]) if state else None
    if state is not None and done == 0 and not ckpts:
        if history:
            say(f"note: {history_path.name} holds {len(history)} row(s) that state.json never "
                "committed; they are redone")
        return {**fresh, "resumes": state.get("resumes", [])}, []
    # the normal case: state.json's checkpoint exists and history has its rows
    if (state is not None and done >= 1 and ckpts.get(done) is not None
            and state.get("checkpoint") == checkpoint_name(done) and len(history) >= done
            and best_weights_available(out_dir, state)):
        for note in history_notes:
            say(f"note: {note}")
        if len(history) > done:
            say(f"note: {history_path.name} holds {len(history) - done} row(s) after epoch "
                f"{done} that state.json never committed (stopped during the commit); "
                "they are redone")
        settle_files(out_dir, state)
        return state, history[:done]
    # disagreement: the newest epoch where a checkpoint and history.csv agree
    problems = ([state_note] if state_note else []) + history_notes + ckpt_notes
    if state is not None:
        problems.append(f"state.json says {done} epoch(s) are done (checkpoint "
                        f"{state.get('checkpoint')!r}, best epoch {state.get('best_epoch')})")
    problems.append(f"history.csv has {len(history)} usable row(s); checkpoints hold epoch(s) "
                    f"{sorted(ckpts) or 'none'}")
    agree = [k for k in ckpts if k <= len(history)]
    resume_at = max(agree) if agree else 0
    candidate = dict(fresh)
    if resume_at:
        best_epoch, best_val = best_of(history[:resume_at])
        candidate.update(epochs_done=resume_at, checkpoint=checkpoint_name(resume_at),
                         best_epoch=best_epoch, best_val_accuracy=best_val,
                         training_seconds=float(sum(r["seconds"] for r in history[:resume_at])),
                         resumes=(state or {}).get("resumes", []))
        pending = f"best_epoch_{best_epoch:03d}.weights.h5"
        if (out_dir / "checkpoints" / pending).exists() and \
                weights_epoch(out_dir / "checkpoints" / pending) == best_epoch:
            candidate["best_pending"] = pending
        elif weights_epoch(out_dir / "best.weights.h5") != best_epoch:
            raise RunError(
                f"out_dir {str(out_dir)!r} cannot be resumed: best.weights.h5 does not hold "
                f"epoch {best_epoch}, the best of the {resume_at} epoch(s) that "
                f"checkpoints/{checkpoint_name(resume_at)} and history.csv agree on "
                f"({'; '.join(problems)}); pass force=True to start over")
    elif not history and not ckpts and state is not None and done == 0:
        return fresh, []
    if not resume_at:
        raise RunError(
            f"out_dir {str(out_dir)!r} cannot be resumed: no checkpoint agrees with "
            f"history.csv ({'; '.join(problems)}); the finished epochs cannot be continued "
            "exactly. Pass force=True to start over (the old files are kept until the new "
            "run commits its first epoch)")
    say(f"note: {'; '.join(problems)}: checkpoints/{checkpoint_name(resume_at)} and "
        f"history.csv agree on epoch {resume_at}; resuming from there")
    if len(history) > resume_at:
        say(f"note: history.csv rows {resume_at + 1}..{len(history)} have no checkpoint; "
            "those epochs are redone")
    atomic_write_text(history_path, history_text(history[:resume_at]))
    atomic_write_json(state_path, candidate)
    settle_files(out_dir, candidate)
    return candidate, history[:resume_at]
