"""What a person watches during a batch: the progress lines of run_all.sh
(gpc_support.run.progress) and the TensorBoard scalars of each run
(gpc_support.train.tensorboard_log), one per epoch and tag across kills and
resumes (a real SIGKILL and resume: test_run_all's kill test)."""

import io
import json
import os
import time

import pytest

from gpc_support.run.progress import BatchProgress, format_duration
from gpc_support.train.tensorboard_log import TAGS, ScalarLog, open_scalar_log, read_scalars
from gpc_support.train.engine import HISTORY_FIELDS, read_history

SMOKE_EPOCHS = 2  # the smoke profile's


# --------------------------------------------------------------------------
# progress lines, on a run folder written by the test
# --------------------------------------------------------------------------


def row(epoch, val_accuracy, seconds=10.0):
    return {"epoch": epoch, "lr": 0.001, "loss": 2.0, "accuracy": 0.2, "val_loss": 1.9,
            "val_accuracy": val_accuracy, "seconds": seconds}


def commit(run_dir, rows):
    """What the training writes at an epoch's end: history.csv, then state.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [",".join(HISTORY_FIELDS)] + [",".join(str(r[k]) for k in HISTORY_FIELDS)
                                          for r in rows]
    (run_dir / "history.csv").write_text("\n".join(lines) + "\n")
    (run_dir / "state.json").write_text(json.dumps({"epochs_done": len(rows)}))


def wait_until(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting")


def test_one_plain_line_per_epoch_with_eta(tmp_path):
    out = io.StringIO()
    progress = BatchProgress(out, interval=0.02, terminal=False)
    progress.plan("mobilenet/seed0", 3)
    progress.plan("gpc16/seed0", 3)
    rows = [row(1, 0.30, 20.0), row(2, 0.50, 10.0), row(3, 0.40, 12.0)]
    run = tmp_path / "mobilenet"
    with progress.watch("mobilenet/seed0", run):
        for k in range(1, 4):
            commit(run, rows[:k])
            wait_until(lambda: out.getvalue().count("\n") == k)  # live, not only at the end
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("  mobilenet/seed0  epoch 1/3  val_accuracy 30.00%  "
                               "best 30.00% (epoch 1)  20.0 s/epoch")
    # epoch 2: the first epoch (compilation) no longer counts in the time per
    # epoch; 1 epoch left here + 3 of gpc16 + its first epoch's extra 10 s
    assert "epoch 2/3  val_accuracy 50.00%  best 50.00% (epoch 2)  10.0 s/epoch  " \
           "ETA 0:00:10 this run, 0:00:50 all" in lines[1]
    assert "epoch 3/3  val_accuracy 40.00%  best 50.00% (epoch 2)  11.0 s/epoch  " \
           "ETA 0:00:00 this run, 0:00:42 all" in lines[2]
    # the next run: its only epoch so far gives its time per epoch
    run2 = tmp_path / "gpc16"
    with progress.watch("gpc16/seed0", run2):
        commit(run2, [row(1, 0.2, 30.0)])
    (line,) = out.getvalue().splitlines()[3:]
    assert "gpc16/seed0  epoch 1/3" in line and "ETA 0:01:00 this run, 0:01:00 all" in line


def test_resumed_run_starts_from_its_epochs(tmp_path):
    run = tmp_path / "run"
    commit(run, [row(1, 0.3), row(2, 0.6)])
    out = io.StringIO()
    progress = BatchProgress(out, interval=0.02, terminal=False)
    progress.plan("gpc16/seed0", 4, done_epochs=2)
    with progress.watch("gpc16/seed0", run):
        commit(run, [row(1, 0.3), row(2, 0.6), row(3, 0.5)])
    lines = out.getvalue().splitlines()
    assert lines[0] == "  gpc16/seed0  resuming after epoch 2/4  best 60.00% (epoch 2)"
    assert len(lines) == 2 and "epoch 3/4  val_accuracy 50.00%  best 60.00% (epoch 2)" in lines[1]


def test_forced_run_ignores_the_old_state(tmp_path):
    run = tmp_path / "run"
    commit(run, [row(1, 0.3), row(2, 0.6)])  # a complete old run, replaced by --force
    out = io.StringIO()
    progress = BatchProgress(out, interval=0.02, terminal=False)
    progress.plan("gpc16/seed0", 2)
    with progress.watch("gpc16/seed0", run, fresh=True):
        time.sleep(0.1)  # several polls of the old state.json
        assert out.getvalue() == ""
        os.replace(run, tmp_path / "run.previous")
        commit(run, [row(1, 0.1)])
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "epoch 1/2  val_accuracy 10.00%" in lines[0]


def test_terminal_bar(tmp_path):
    out = io.StringIO()
    progress = BatchProgress(out, interval=0.02, terminal=True)
    progress.plan("gpc16/seed0", 2)
    run = tmp_path / "run"
    with progress.watch("gpc16/seed0", run):
        commit(run, [row(1, 0.25)])
        wait_until(lambda: "1/2 epochs" in out.getvalue())
        commit(run, [row(1, 0.25), row(2, 0.5)])
    text = out.getvalue()
    assert "\r" in text  # redrawn in place
    final = text.split("\r")[-1]
    assert "gpc16/seed0 2/2 epochs" in final and "best 50.00% (epoch 2)" in final
    assert "ETA 0:00:00 this run" in final


def test_parameters_named():
    with pytest.raises(ValueError, match="interval"):
        BatchProgress(io.StringIO(), interval=0)
    with pytest.raises(ValueError, match="plan it first"):
        BatchProgress(io.StringIO()).watch("x/seed0", "nowhere")
    assert format_duration(None) == "?" and format_duration(3725) == "1:02:05"


# --------------------------------------------------------------------------
# TensorBoard event files
# --------------------------------------------------------------------------


def scalars(run_dir):
    """{folder: {(tag, step): [values]}} and no damaged file."""
    found = {}
    for sub in TAGS:
        found[sub], damaged = read_scalars(run_dir / "tensorboard" / sub)
        assert not damaged, sub
    return found


def assert_one_per_epoch(run_dir, epochs):
    found = scalars(run_dir)
    rows = read_history(run_dir / "history.csv")
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
    for sub, tags in TAGS.items():
        expected = {(tag, r["epoch"]): [pytest.approx(r[column], rel=1e-6)]
                    for r in rows for tag, column in tags}
        assert found[sub] == expected, sub


def test_sync_keeps_exactly_the_committed_epochs(tmp_path):
    history = [row(1, 0.3), row(2, 0.5)]
    log = ScalarLog(tmp_path / "tensorboard")
    log.append(history[0])
    log.append(history[1])
    log.append(row(3, 0.7))  # written, never committed (killed before state.json)
    log.close()
    redo = ScalarLog(tmp_path / "tensorboard")
    assert "rewritten" in redo.sync(history)
    redo.append(row(3, 0.6))  # the redone epoch 3, with its own values
    redo.close()
    found = scalars(tmp_path)
    assert found["validation"][("epoch_accuracy", 3)] == [pytest.approx(0.6)]
    assert {k: len(v) for k, v in found["train"].items()} == {
        (tag, e): 1 for e in (1, 2, 3) for tag, _ in TAGS["train"]}


def test_sync_adds_a_committed_epoch_the_kill_left_out(tmp_path):
    history = [row(1, 0.3), row(2, 0.5)]
    log = ScalarLog(tmp_path / "tensorboard")
    log.append(history[0])  # epoch 2 committed, killed before its scalars
    log.close()
    files = sorted((tmp_path / "tensorboard" / "validation").iterdir())
    again = ScalarLog(tmp_path / "tensorboard")
    assert again.sync(history) is None  # appended, nothing replaced
    again.close()
    assert set(files) <= set((tmp_path / "tensorboard" / "validation").iterdir())
    commit(tmp_path, history)
    assert_one_per_epoch(tmp_path, 2)


def test_sync_replaces_a_file_cut_by_a_kill(tmp_path):
    history = [row(1, 0.3), row(2, 0.5)]
    log = ScalarLog(tmp_path / "tensorboard")
    for r in history:
        log.append(r)
    log.close()
    for sub in TAGS:
        (path,) = (tmp_path / "tensorboard" / sub).iterdir()
        path.write_bytes(path.read_bytes()[:-7])  # the last record cut short
        assert read_scalars(path.parent)[1]
    assert "rewritten" in ScalarLog(tmp_path / "tensorboard").sync(history)
    commit(tmp_path, history)
    assert_one_per_epoch(tmp_path, 2)
    assert not list((tmp_path / "tensorboard").rglob("*.tmp"))


def test_other_backends_skip_tensorboard_with_one_line(tmp_path, monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    said = []
    assert open_scalar_log(tmp_path, [], said.append) is None
    assert len(said) == 1 and "TensorBoard logs: skipped" in said[0] and "jax" in said[0]
    assert not (tmp_path / "tensorboard").exists()
