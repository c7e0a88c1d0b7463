"""Atomic writes: umask respected, failures named (file first, then cause),
temporary files removed; the folder lock: one holder, released by kill -9."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpc_support.common import atomic_files as files
from gpc_support.common.atomic_files import WriteError, atomic_write_bytes, atomic_write_json
from gpc_support.common.run_lock import FolderLocked, folder_lock, holder_of

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_write_names_the_file_first_and_leaves_no_temp(tmp_path, monkeypatch, code):
    target = tmp_path / "run" / "state.json"
    atomic_write_json(target, {"old": True})

    def failing_write(fd, data):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.os, "write", failing_write)
    with pytest.raises(WriteError) as info:
        atomic_write_json(target, {"new": True})
    message = str(info.value)
    assert message.startswith(f"cannot write {target}: {os.strerror(code)}"), message
    assert errno.errorcode[code] in message and info.value.errno == code
    assert isinstance(info.value, OSError)
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"old": True}  # the old file is whole
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]  # no temp left


def test_a_failed_rename_also_removes_the_temp(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(WriteError, match=r"^cannot write .*x\.bin: Read-only file system"):
        atomic_write_bytes(tmp_path / "x.bin", b"data")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_are_unique_per_process_and_call(tmp_path):
    a = files.temporary_path(tmp_path / "epoch_001.keras", ".tmp.keras")
    b = files.temporary_path(tmp_path / "epoch_001.keras", ".tmp.keras")
    assert a != b and str(os.getpid()) in a.name and a.name.endswith(".tmp.keras")


def test_checkpoint_write_failure_names_the_checkpoint(tmp_path, monkeypatch):
    """A full disk during model.save: the error names the checkpoint, the
    temporary .keras file is gone."""
    import keras

    from gpc_support.train.epoch_records import save_checkpoint

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save", full_disk)
    target = tmp_path / "epoch_004.keras"
    with pytest.raises(WriteError, match=r"cannot write .*epoch_004\.keras: No space left on device"):
        save_checkpoint(model, target, 4, 40)
    assert list(tmp_path.iterdir()) == []


HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from gpc_support.common.run_lock import folder_lock
with folder_lock({folder!r}, "holding for a test"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_one_holder_per_folder_and_kill_9_releases_it(tmp_path):
    folder = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(root=str(ROOT), folder=str(folder))],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        t0 = time.time()
        with pytest.raises(FolderLocked) as info:
            with folder_lock(folder):
                pass
        assert time.time() - t0 < 5  # refused at once, not after a wait
        message = str(info.value)
        assert f"pid {proc.pid} on host" in message and "started 20" in message
        assert "holding for a test" in message
        assert holder_of(folder) and f"pid {proc.pid}" in holder_of(folder)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert holder_of(folder) is None  # the OS released it with its holder
    with folder_lock(folder, "next"):
        with pytest.raises(FolderLocked, match="already in use by this process"):
            with folder_lock(folder):
                pass
    assert holder_of(folder) is None


def test_train_variant_refuses_a_locked_folder_naming_the_holder(tmp_path, cifar_batches_dir):
    from gpc_support.train.engine import train_variant

    folder = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(root=str(ROOT), folder=str(folder))],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FolderLocked, match=f"pid {proc.pid}"):
            train_variant(16, "smoke", data_dir=str(cifar_batches_dir), out_dir=folder, verbose=0)
        assert not (folder / "config.json").exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_a_kept_notebook_is_always_whole_json(tmp_path):
    """A notebook write cut short (full disk, kill) never replaces the kept one."""
    from gpc_support.run.notebooks import settle_notebook as _settle_notebook

    output = tmp_path / "gpc16-seed0.ipynb"
    output.write_text(json.dumps({"cells": [], "nbformat": 4}))
    partial = tmp_path / ".gpc16-seed0.ipynb.1.ab.partial.ipynb"
    partial.write_text('{"cells": [{"cell_type": "code", "sour')  # truncated
    assert _settle_notebook(partial, output) is False
    assert json.loads(output.read_text())["nbformat"] == 4 and not partial.exists()
    partial.write_text(json.dumps({"cells": [1], "nbformat": 4}))
    assert _settle_notebook(partial, output) is True
    assert json.loads(output.read_text())["cells"] == [1] and not partial.exists()


def test_summary_of_runs_replaced_by_force_is_removed_on_a_stop(tmp_path):
    from gpc_support.run.stopping import STATE, drop_stale_summary

    out = tmp_path / "res"
    run = out / "runs" / "gpc16" / "seed0"
    run.mkdir(parents=True)
    (out / "summary").mkdir()
    (out / "summary" / "summary.md").write_text("gpc16: 50%")
    STATE.begin_batch(out)
    STATE.forced.append(run)
    try:
        # the forced run has not committed an epoch: the old run is still there
        (run / "state.json").write_text(json.dumps({"epochs_done": 0}))
        assert drop_stale_summary() is None and (out / "summary").is_dir()
        (run / "state.json").write_text(json.dumps({"epochs_done": 1}))
        message = drop_stale_summary()
        assert "--force" in message and not (out / "summary").exists()
    finally:
        STATE.clear()


def test_no_summary_names_the_command_and_keeps_or_drops_the_old_summary(tmp_path, monkeypatch):
    """--no-summary: the batch says how to build the summary later; a summary
    already there stays, unless it shows a run --force replaced."""
    from gpc_support.run.stopping import STATE
    from gpc_support.run.tasks import summary_left_out

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "my results"
    run = out / "runs" / "gpc16" / "seed0"
    run.mkdir(parents=True)
    plan = {"out": out}
    STATE.begin_batch(out)
    try:
        text = summary_left_out(plan)
        assert text.startswith("not built (--no-summary)")
        # relative to the caller's folder, quoted for the shell
        assert "python -m gpc_support.summary_notebook 'my results'" in text
        assert "built before" not in text
        (out / "summary").mkdir()
        assert f"{out / 'summary'} is the one built before this batch" in summary_left_out(plan)
        assert (out / "summary").is_dir()
        STATE.forced.append(run)
        (run / "state.json").write_text(json.dumps({"epochs_done": 1}))
        text = summary_left_out(plan)
        assert "--force" in text and "removed" in text and not (out / "summary").exists()
    finally:
        STATE.clear()
