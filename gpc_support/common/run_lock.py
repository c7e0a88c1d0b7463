"""One process per results folder: a lock that dies with its holder.

    with folder_lock(out_dir, "training gpc16/seed0"):
        ...

The lock is `filelock.FileLock` on `<folder>/.lock` (an OS lock, `flock` on
Linux): the kernel releases it when the holding process ends, however it
ends (kill -9 included), so a stale lock cannot block a later run.  Beside it
`<folder>/.lock.owner` says who holds it (pid, host, start time, what for);
a second process refuses at once with `FolderLocked`, naming that holder.
Lock files are never committed (.gitignore) and are left in place: deleting
a lock file while another process waits on it would break the lock.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
from pathlib import Path

import filelock

__all__ = ["FolderLocked", "folder_lock", "holder_of", "LOCK_NAME", "OWNER_NAME"]

LOCK_NAME = ".lock"
OWNER_NAME = ".lock.owner"


class FolderLocked(RuntimeError):
    """Another process holds the folder; the message names it."""


def _owner_text(folder: Path) -> str:
    try:
        owner = json.loads((folder / OWNER_NAME).read_text(encoding="utf-8"))
        return (f"pid {owner['pid']} on host {owner['host']}, started {owner['started']}"
                + (f" ({owner['purpose']})" if owner.get("purpose") else ""))
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet written its name (unknown pid)"


def _write_owner(folder: Path, purpose: str) -> None:
    from .atomic_files import atomic_write_json

    atomic_write_json(folder / OWNER_NAME, {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "purpose": purpose,
    })


@contextlib.contextmanager
def folder_lock(folder, purpose: str = ""):
    """Hold `folder`'s lock for the block; raise FolderLocked at once if held.

    The folder is created if needed.  Re-entering in the same process (the
    same folder locked twice) is refused too: one run per folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / LOCK_NAME), timeout=0, thread_local=False,
                             is_singleton=False)
    if _held_here(folder):
        raise FolderLocked(f"{folder} is already in use by this process ({_owner_text(folder)})")
    try:
        lock.acquire()
    except filelock.Timeout:
        raise FolderLocked(
            f"{folder} is in use by another run: {_owner_text(folder)}; wait for it to "
            "finish or stop it, or choose another folder") from None
    _HELD.add(str(folder.resolve()))
    try:
        _write_owner(folder, purpose)
        yield lock
    finally:
        _HELD.discard(str(folder.resolve()))
        try:
            (folder / OWNER_NAME).unlink(missing_ok=True)
        except OSError:
            pass
        lock.release()


_HELD: set[str] = set()


def holder_of(folder) -> str | None:
    """Who holds `folder`'s lock right now (None if nobody), without creating
    anything: a cheap probe before a long start-up; `folder_lock` decides."""
    folder = Path(folder)
    if not (folder / LOCK_NAME).is_file():
        return None
    lock = filelock.FileLock(str(folder / LOCK_NAME), timeout=0, thread_local=False,
                             is_singleton=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        return _owner_text(folder)
    except OSError:
        return None
    lock.release()
    return None


def _held_here(folder: Path) -> bool:
    return str(folder.resolve()) in _HELD
