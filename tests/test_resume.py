"""Exact resume: a run killed (SIGKILL) at any moment and resumed ends with the
same history VALUES and test predictions as a run never stopped; the
consistency checks before a resume; --force keeps the old run until the new
one has committed an epoch."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gpc_support.train.engine import HISTORY_FIELDS, RunError, read_history, train_variant
from gpc_support.train.epoch_records import load_state

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 3

TRAIN_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from gpc_support.train.engine import train_variant
train_variant(16, "smoke", data_dir={data!r}, out_dir={out!r}, overrides={{"epochs": {epochs}}},
              verbose=2)
"""


def train_in_subprocess(out, data):
    code = TRAIN_SCRIPT.format(root=str(ROOT), data=str(data), out=str(out), epochs=EPOCHS)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def epochs_done(out):
    try:
        return json.loads((out / "state.json").read_text())["epochs_done"]
    except (OSError, ValueError, KeyError):
        return 0


def kill_when(proc, ready, timeout=400):
    """SIGKILL `proc` as soon as `ready()`; False if it ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("the run did not reach the moment in time")


def finish(out, data):
    proc = train_in_subprocess(out, data)
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    return output


def values(rows):
    return np.array([[row[k] for k in HISTORY_FIELDS if k != "seconds"] for row in rows])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cifar_batches_dir):
    out = tmp_path_factory.mktemp("resume") / "straight"
    finish(out, cifar_batches_dir)
    return out


def assert_same_run(a, b):
    rows_a, rows_b = read_history(a / "history.csv"), read_history(b / "history.csv")
    assert [r["epoch"] for r in rows_b] == list(range(1, EPOCHS + 1))
    np.testing.assert_array_equal(values(rows_a), values(rows_b))  # exact, every value
    pa, pb = np.load(a / "test_predictions.npz"), np.load(b / "test_predictions.npz")
    np.testing.assert_array_equal(pa["probabilities"], pb["probabilities"])
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (a, b))
    for key in ("test_accuracy", "test_loss", "best_epoch", "best_val_accuracy"):
        assert ma[key] == mb[key], key


def test_sigkill_mid_epoch_and_during_test_evaluation_resume_exactly(uninterrupted, tmp_path,
                                                                     cifar_batches_dir):
    out = tmp_path / "killed"
    # 1. mid-epoch: epoch 1 committed, epoch 2 under way
    proc = train_in_subprocess(out, cifar_batches_dir)
    assert kill_when(proc, lambda: epochs_done(out) >= 1 and not
                     (out / "checkpoints" / "epoch_002.keras").exists()), proc.stdout.read()
    first_stop = epochs_done(out)
    assert 1 <= first_stop < EPOCHS
    # 2. resumed, then killed again during the test evaluation (all epochs committed,
    #    metrics.json not yet written)
    proc = train_in_subprocess(out, cifar_batches_dir)
    assert kill_when(proc, lambda: epochs_done(out) == EPOCHS), proc.stdout.read()
    assert not (out / "metrics.json").exists()
    # 3. resumed to the end
    output = finish(out, cifar_batches_dir)
    assert "all 3 epochs done" in output
    assert_same_run(uninterrupted, out)
    resumes = json.loads((out / "metrics.json").read_text())["resumes"]
    assert [r["after_epoch"] for r in resumes] == [first_stop, EPOCHS]
    assert all(r["at"] and "commit" in r["code"] for r in resumes)
    assert json.loads((uninterrupted / "metrics.json").read_text())["resumes"] == []
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_003.keras"]
    assert not list(out.rglob("*.tmp*"))


# ------------------------------------------------ consistency before a resume


@pytest.fixture()
def unfinished(uninterrupted, tmp_path):
    """A copy of the finished run without its test results: all 3 epochs
    committed, waiting for the test evaluation."""
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out)
    (out / "metrics.json").unlink()
    (out / "test_predictions.npz").unlink()
    return out


def edit_state(out, **changes):
    state = json.loads((out / "state.json").read_text())
    state.update(changes)
    (out / "state.json").write_text(json.dumps(state))


def test_consistent_folder_resumes_where_it_stopped(unfinished):
    said = []
    state, history = load_state(unfinished, said.append)
    assert state["epochs_done"] == EPOCHS and len(history) == EPOCHS and not said


def test_hand_edited_state_does_not_train_from_another_epochs_weights(unfinished):
    """state.json set back to epoch 1 while the checkpoint is epoch 3's: resume
    after epoch 3, where checkpoint and history agree, and say so."""
    edit_state(unfinished, epochs_done=1)
    said = []
    state, history = load_state(unfinished, said.append)
    assert state["epochs_done"] == EPOCHS and state["checkpoint"] == "epoch_003.keras"
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert any("state.json says 1" in s and "agree on epoch 3" in s for s in said)
    assert json.loads((unfinished / "state.json").read_text())["epochs_done"] == EPOCHS


def test_duplicated_history_row_is_dropped_and_said(unfinished):
    lines = (unfinished / "history.csv").read_text().splitlines()
    (unfinished / "history.csv").write_text("\n".join(lines[:3] + [lines[2]] + lines[3:]) + "\n")
    said = []
    state, history = load_state(unfinished, said.append)
    assert state["epochs_done"] == EPOCHS and [r["epoch"] for r in history] == [1, 2, 3]
    assert any("repeats epoch 2" in s for s in said)


@pytest.mark.parametrize("damage,named", [
    ("missing checkpoint", "checkpoints"),
    ("history behind state", "history.csv"),
    ("checkpoint of another epoch", "records epoch 3, not 2"),
])
def test_no_agreeing_point_refuses_naming_the_file(unfinished, damage, named):
    ckpt = unfinished / "checkpoints" / "epoch_003.keras"
    if damage == "missing checkpoint":
        ckpt.unlink()
    elif damage == "history behind state":
        lines = (unfinished / "history.csv").read_text().splitlines()
        (unfinished / "history.csv").write_text("\n".join(lines[:3]) + "\n")
    else:  # a checkpoint renamed to the epoch state.json names
        ckpt.rename(unfinished / "checkpoints" / "epoch_002.keras")
        edit_state(unfinished, epochs_done=2, checkpoint="epoch_002.keras")
    with pytest.raises(RunError, match="cannot be resumed") as info:
        load_state(unfinished, print)
    assert named in str(info.value) and "force=True" in str(info.value)


def split_into_pieces(path, count):
    """`path` as `count` pieces path.part-0 .. (as `split -b N -d -a 1` writes them)."""
    data = path.read_bytes()
    size = -(-len(data) // count)
    for k in range(count):
        path.with_name(f"{path.name}.part-{k}").write_bytes(data[k * size:(k + 1) * size])
    path.unlink()
    return data


def test_checkpoint_in_pieces_is_joined_and_the_run_resumes(unfinished, uninterrupted,
                                                             cifar_batches_dir):
    ckpt = unfinished / "checkpoints" / "epoch_003.keras"
    original = split_into_pieces(ckpt, 3)
    said = []
    state, history = load_state(unfinished, said.append)
    assert state["epochs_done"] == EPOCHS and len(history) == EPOCHS
    assert ckpt.read_bytes() == original  # byte for byte
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["epoch_003.keras"]
    assert said == ["note: checkpoints/epoch_003.keras joined from its 3 pieces"]
    train_variant(16, "smoke", data_dir=str(cifar_batches_dir), out_dir=unfinished,
                  overrides={"epochs": EPOCHS}, verbose=0)
    assert_same_run(uninterrupted, unfinished)


def test_checkpoint_with_a_piece_missing_is_refused_naming_the_piece(unfinished):
    ckpt = unfinished / "checkpoints" / "epoch_003.keras"
    split_into_pieces(ckpt, 3)
    (ckpt.parent / "epoch_003.keras.part-1").unlink()
    with pytest.raises(RunError, match="cannot be resumed") as info:
        load_state(unfinished, print)
    assert "epoch_003.keras lies in pieces and piece(s) .part-1 are missing" in str(info.value)
    assert not ckpt.exists() and (ckpt.parent / "epoch_003.keras.part-2").exists()


def test_unreadable_state_is_rebuilt_from_checkpoint_and_history(unfinished):
    (unfinished / "state.json").write_text("{not json")
    said = []
    state, history = load_state(unfinished, said.append)
    assert state["epochs_done"] == EPOCHS and len(history) == EPOCHS
    best = max(history, key=lambda r: r["val_accuracy"])
    assert state["best_val_accuracy"] == best["val_accuracy"]
    assert any("state.json cannot be read" in s for s in said)


def test_resumed_evaluation_matches_and_records_the_resume(unfinished, uninterrupted,
                                                           cifar_batches_dir):
    metrics = train_variant(16, "smoke", data_dir=str(cifar_batches_dir), out_dir=unfinished,
                            overrides={"epochs": EPOCHS}, verbose=0)
    assert metrics["resumes"][-1]["after_epoch"] == EPOCHS
    assert_same_run(uninterrupted, unfinished)


# ------------------------------------------------ --force


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".lock")}


def test_force_restores_the_old_run_when_the_new_one_fails_early(unfinished, uninterrupted,
                                                                 cifar_batches_dir, monkeypatch):
    run = unfinished
    shutil.copy(uninterrupted / "metrics.json", run / "metrics.json")
    before = snapshot(run)
    import gpc_support.data.sources as data

    def broken(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. Ctrl-C while the data loads

    monkeypatch.setattr(data, "load_cifar10", broken)
    with pytest.raises(KeyboardInterrupt):
        train_variant(16, "smoke", data_dir=str(cifar_batches_dir), out_dir=run,
                      overrides={"epochs": EPOCHS}, force=True, verbose=0)
    assert snapshot(run) == before
    assert not run.with_name(run.name + ".previous").exists()


def test_force_killed_before_its_first_epoch_gets_the_old_run_back(unfinished, uninterrupted,
                                                                   cifar_batches_dir):
    run = unfinished
    shutil.copy(uninterrupted / "metrics.json", run / "metrics.json")
    before = snapshot(run)
    code = TRAIN_SCRIPT.format(root=str(ROOT), data=str(cifar_batches_dir), out=str(run),
                               epochs=EPOCHS).replace("verbose=2", "verbose=2, force=True")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    previous = run.with_name(run.name + ".previous")
    assert kill_when(proc, lambda: previous.is_dir() and (run / "config.json").exists()), \
        proc.stdout.read()
    assert epochs_done(run) == 0 and not (run / "metrics.json").exists()
    assert snapshot(previous) == {k: v for k, v in before.items()}  # kept, whole
    # the next use of the folder puts it back (and finds it complete)
    metrics = train_variant(16, "smoke", data_dir=str(cifar_batches_dir), out_dir=run,
                            overrides={"epochs": EPOCHS}, verbose=0)
    assert snapshot(run) == before and not previous.exists()
    assert metrics == json.loads((uninterrupted / "metrics.json").read_text())


def test_resuming_on_other_data_is_refused(unfinished, cifar_batches_dir):
    from gpc_support.data.sources import load_cifar10
    from gpc_support.train.run_claim import check_data

    data = load_cifar10(str(cifar_batches_dir), seed=0, train_limit=160, test_limit=40)
    check_data(unfinished, data)  # the same images: accepted
    data.x_test[0, 0, 0, 0] ^= 1  # one pixel of one test image
    with pytest.raises(RunError, match="data_dir: the data differ"):
        check_data(unfinished, data)
