"""Atomic file writes (temporary file + rename) and tolerant JSON reads.

A process killed at any moment leaves either the old file or the new one,
never half of one.  Temporary files are named after the process
(`.<name>.<pid>.<random>.tmp`), so two processes never share one, and are
removed when a write fails.  New files get the usual permissions (0666 less
the umask), like any file the user's programs create.

A failed write raises `WriteError` (an OSError) whose message starts with the
file and the cause: "cannot write results/x/state.json: No space left on
device (errno 28)".
"""

from __future__ import annotations

import errno as _errno
import json
import math
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "read_json",
           "WriteError", "temporary_path", "write_error"]


class WriteError(OSError):
    """A file could not be written; str() names the file and the cause first."""

    def __str__(self) -> str:
        return self.args[1] if len(self.args) > 1 else super().__str__()


def write_error(path, err: OSError) -> WriteError:
    """A WriteError for `path` from the OSError that stopped the write."""
    if isinstance(err, WriteError):
        return err
    cause = err.strerror or str(err) or type(err).__name__
    code = err.errno
    name = _errno.errorcode.get(code, "") if code else ""
    detail = f" ({name}, errno {code})" if code else ""
    return WriteError(code, f"cannot write {path}: {cause}{detail}")


def temporary_path(path, suffix: str = ".tmp") -> Path:
    """A fresh temporary name beside `path`, unique to this process."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def atomic_write_bytes(path, data: bytes) -> Path:
    path = Path(path)
    tmp = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 lets the umask decide the permissions
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        _remove_quietly(tmp)
        raise write_error(path, err) from err
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def _remove_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _clean(value):
    """JSON-safe copy: NaN/inf become None, numpy scalars become numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n")


def read_json(path) -> dict:
    """Read a JSON object; raise ValueError (with the path) if it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return obj
