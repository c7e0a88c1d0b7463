"""run_all.sh end to end on the smoke profile, and what an interruption leaves.

These tests run the real script, the real notebooks (papermill) and real
training on a tiny CIFAR-10 written in the original python-batches format.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from gpc_support.train.engine import read_history
from tests.test_progress import SMOKE_EPOCHS, assert_one_per_epoch

ROOT = Path(__file__).resolve().parent.parent
RUN_ALL = ROOT / "run_all.sh"


def run_all(*args, timeout=900):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(["bash", str(RUN_ALL), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def start_run_all(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(["bash", str(RUN_ALL), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
                            start_new_session=True)


def kill_tree(proc):
    """SIGKILL run_all.sh and everything it started (papermill's kernel too)."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    proc.wait()


def wait_for(predicate, proc, timeout=600, poll=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    raise AssertionError("timed out waiting")


def epochs_done(run_dir):
    run_dir = run_dir / "seed0" if (run_dir / "seed0").is_dir() else run_dir
    try:
        return json.loads((run_dir / "state.json").read_text())["epochs_done"]
    except (OSError, ValueError, KeyError):
        return 0


def check_complete(out, variants=("mobilenet", "gpc16"), epochs=2, seed=0, summary=True):
    """Every run of `variants` complete with its notebook; the summary written
    (or, summary=False: not built, as --no-summary asks); no stray files."""
    for name in variants:
        run = out / "runs" / name / f"seed{seed}"
        rows = read_history(run / "history.csv")
        assert [r["epoch"] for r in rows] == list(range(1, epochs + 1)), name
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["epochs"] == epochs and metrics["seed"] == seed
        nb = json.loads((out / "notebooks" / f"{name}-seed{seed}.ipynb").read_text())
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, name
    if summary:
        text = (out / "summary" / "summary.md").read_text()
        csv = (out / "summary" / "summary.csv").read_text()
        for label in ("MobileNet", "gpcMobileNet 16"):
            assert label in text and label in csv
    else:
        assert not (out / "summary").exists() and not (out / "notebooks" / "summary.ipynb").exists()
    assert not list(out.rglob("*.partial.ipynb"))
    assert not list(out.rglob("*.tmp")) and not list(out.rglob("*.tmp.*"))
    # nothing written to the results names a folder of this machine
    for path in list((out / "runs").rglob("*.json")) + list((out / "runs").rglob("*.csv")):
        assert str(out) not in path.read_text(), path


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory, cifar_batches_dir):
    out = tmp_path_factory.mktemp("run_all") / "smoke"
    result = run_all("--profile", "smoke", "--data-dir", cifar_batches_dir,
                     "--channels", "base,16", "--out", out)
    return out, result


def test_run_all_smoke_end_to_end(smoke_results):
    out, result = smoke_results
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[1/2] mobilenet/seed0" in result.stdout and "[2/2] gpc16/seed0" in result.stdout
    assert "elapsed" in result.stdout
    check_complete(out)
    figures = {p.name for p in (out / "summary").iterdir()}
    assert {"fig_accuracy.png", "fig_loss.png", "fig_accuracy.svg"} <= figures


# --------------------------------------------------------------------------
# progress lines of run_all.sh on the smoke profile, output not a terminal
# --------------------------------------------------------------------------


def test_run_all_prints_one_progress_line_per_epoch(smoke_results):
    """The progress lines (gpc_support.run.progress) of the end-to-end run above."""
    out, result = smoke_results
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert not any("\r" in line for line in lines)  # no redrawing into a pipe
    for name in ("mobilenet", "gpc16"):
        progress = [line for line in lines if line.startswith(f"  {name}/seed0  epoch ")]
        assert [line.split()[2] for line in progress] == \
            [f"{e}/{SMOKE_EPOCHS}" for e in range(1, SMOKE_EPOCHS + 1)], result.stdout
        for line in progress:
            assert "val_accuracy " in line and "best " in line and "s/epoch" in line
            assert "ETA " in line and " this run, " in line and line.endswith(" all")
        # between the run's start and end lines
        start = lines.index(next(x for x in lines if f"{name}/seed0" in x and "training ..." in x))
        end = lines.index(next(x for x in lines if f"{name}/seed0" in x and " done in " in x))
        assert start < lines.index(progress[0]) and lines.index(progress[-1]) < end
        assert_one_per_epoch(out / "runs" / name / "seed0", SMOKE_EPOCHS)


def test_second_call_skips_finished_variants(smoke_results, cifar_batches_dir):
    """Nothing is retrained; with --no-summary the summary there is left as it
    is (the kill test below sees a summary rebuilt over complete runs)."""
    out, _ = smoke_results
    files = [p for p in list((out / "runs").rglob("*")) + list((out / "summary").rglob("*"))
             if p.is_file()]
    before = {p: p.stat().st_mtime_ns for p in files}
    result = run_all("--profile", "smoke", "--data-dir", cifar_batches_dir,
                     "--channels", "base,16", "--out", out, "--no-summary")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("complete, skipped") == 2
    assert "all 2 runs complete, nothing to train: use --force to retrain or --out for a new folder" \
        in result.stdout
    assert "[summary]  not built (--no-summary); build it when you want with\n" \
           f"  python -m gpc_support.summary_notebook {out}\n" \
           f"  {out / 'summary'} is the one built before this batch" in result.stdout
    after = {p: p.stat().st_mtime_ns for p in files}
    assert after == before


def test_kill_during_training_and_during_summary_then_resume(tmp_path, cifar_batches_dir):
    out = tmp_path / "killed"
    args = ("--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "16",
            "--out", out, "--epochs", "3")
    # 1. SIGKILL right after epoch 1's commit: before, during or after its
    #    TensorBoard scalars are written (polled every 10 ms to land there)
    proc = start_run_all(*args)
    reached = wait_for(lambda: epochs_done(out / "runs" / "gpc16") >= 1, proc, poll=0.01)
    kill_tree(proc)
    assert reached, proc.stdout.read()
    assert not (out / "runs" / "gpc16" / "seed0" / "metrics.json").exists()
    # 2. start again, kill while the summary notebook is running
    proc = start_run_all(*args)
    reached = wait_for(lambda: bool(list((out / "notebooks").glob(".summary.ipynb.*.partial.ipynb"))),
                       proc)
    kill_tree(proc)
    assert reached, proc.stdout.read()
    # 3. start again: completes with exactly the planned epochs
    result = run_all(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    check_complete(out, variants=("gpc16",), epochs=3)
    resumes = json.loads((out / "runs" / "gpc16" / "seed0" / "metrics.json").read_text())["resumes"]
    assert len(resumes) == 1  # the second start resumed; the third found the run complete
    # across the kill and the resume: one scalar per epoch and tag, equal to history.csv
    assert_one_per_epoch(out / "runs" / "gpc16" / "seed0", 3)


def test_failing_variant_stops_with_message_and_keeps_notebook(tmp_path, cifar_batches_dir):
    out = tmp_path / "fails"
    run_dir = out / "runs" / "mobilenet" / "seed0"
    run_dir.mkdir(parents=True)
    # a folder holding another run's configuration makes the variant fail
    (run_dir / "config.json").write_text(json.dumps({"variant": "something else"}))
    result = run_all("--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "base,16",
                     "--out", out)
    assert result.returncode == 1
    assert "mobilenet" in result.stderr and "FAILED" in result.stderr
    assert "another configuration" in result.stderr
    assert (out / "notebooks" / "mobilenet-seed0.ipynb").exists()
    json.loads((out / "notebooks" / "mobilenet-seed0.ipynb").read_text())  # whole, valid JSON
    assert not (out / "runs" / "gpc16").exists()


def family_of(pid):
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def all_gone(processes):
    import psutil

    gone, alive = psutil.wait_procs(processes, timeout=30)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def test_one_batch_per_folder_and_clean_stops(tmp_path, cifar_batches_dir):
    """A second run_all.sh on a busy folder refuses at once naming the holder;
    SIGINT and SIGTERM stop the driver AND the notebook kernel, say where, exit
    130 / 143 and leave no process behind; the same command then resumes."""
    out = tmp_path / "stops"
    args = ("--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "16",
            "--out", out, "--epochs", "5")
    run = out / "runs" / "gpc16"
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        target = epochs_done(run) + 1
        proc = start_run_all(*args)
        reached = wait_for(lambda: epochs_done(run) >= target, proc)
        assert reached, proc.stdout.read()
        if sig == signal.SIGINT:
            other = run_all(*args, timeout=120)
            assert other.returncode == 75, other.stdout + other.stderr
            assert f"pid {proc.pid} on host" in other.stderr and "in use by another run" in other.stderr
        family = family_of(proc.pid)
        assert any("kernel" in " ".join(p.cmdline()) for p in family)  # the notebook's kernel
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == code, output
        done = epochs_done(run)
        assert f"stopped at epoch {done} of gpc16/seed0; run the same command to resume" in output
        assert not all_gone(family), "processes left behind"
        nb = list((out / "notebooks").glob("*.ipynb"))
        for path in nb:
            json.loads(path.read_text())  # any kept notebook is whole
    result = run_all(*args, "--no-summary")  # the summary after a stop: the kill test
    assert result.returncode == 0, result.stdout + result.stderr
    check_complete(out, variants=("gpc16",), epochs=5, summary=False)
    resumes = json.loads((run / "seed0" / "metrics.json").read_text())["resumes"]
    assert len(resumes) >= 1
