"""Scale-out of run_all.sh: --gpus / --cpus on one host, --executor slurm / local (submitit).

The GPU and submitit-local tests run the real script, notebooks and training
on the smoke profile (CUDA_VISIBLE_DEVICES is harmless on a CPU machine); the
Slurm test renders the sbatch script without a cluster (--check).
"""

import csv
import json
import os
import signal

import psutil
import pytest

from gpc_support.run import cli as batch
from gpc_support.run.scale_options import parse_cpus, parse_gpus, parse_time, usable_cpus
from tests.test_run_all import check_complete, epochs_done, run_all, start_run_all, wait_for


def main_output(capsys, *args):
    code = batch.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args, message", [
    (("--gpus", "0,x"), "--gpus: 'x' is not a GPU"),
    (("--gpus", "0,,1"), "--gpus: expected comma-separated GPU indices"),
    (("--gpus", "1,01"), "--gpus: GPU 1 is given twice"),
    (("--gpus", " "), "--gpus: give at least one GPU"),
    (("--executor", "pbs"), "--executor: must be one of local, slurm; got 'pbs'"),
    (("--cpus", "0,0"), "--cpus: core 0 is in two groups"),
    (("--cpus", "4096"), "--cpus: core 4096 is not one this process may use (usable: "),
    (("--cpus", "1-0"), "--cpus: the range '1-0' runs backwards"),
    (("--cpus", "0,x"), "--cpus: 'x' is not a group of CPU cores"),
    (("--cpus", "0", "--gpus", "0"), "--cpus and --gpus: choose one"),
    (("--cpus", "0", "--executor", "local"), "--cpus and --executor: choose one"),
    (("--gpus", "0", "--executor", "local"), "--gpus and --executor: choose one"),
    (("--slurm-partition", "gpu"), "--slurm-partition: only with --executor slurm"),
    (("--executor", "local", "--slurm-time", "10"), "--slurm-time: only with --executor slurm"),
    (("--executor", "slurm", "--slurm-time", "1:xx"), "--slurm-time: expected minutes"),
    (("--executor", "slurm", "--slurm-time", "0"), "--slurm-time: must be at least one minute"),
    (("--executor", "slurm", "--slurm-gpus-per-task", "0"), "--slurm-gpus-per-task: expected an integer >= 1"),
    (("--executor", "slurm", "--slurm-extra", "=3"), "--slurm-extra: expected KEY=VALUE"),
    (("--executor", "slurm", "--slurm-extra", "account="), "--slurm-extra: account= has no value"),
    (("--executor", "slurm", "--slurm-extra", "array=0-3"), "--slurm-extra: array is set by run_all.sh"),
])
def test_bad_scaleout_options_name_the_option(capsys, tmp_path, cifar_batches_dir, args, message):
    code, out, err = main_output(capsys, "--profile", "smoke", "--data-dir", cifar_batches_dir,
                                 "--channels", "base", "--out", tmp_path / "out", *args)
    assert code == 2, out + err
    assert message in err
    assert not (tmp_path / "out").exists()


def test_parse_values():
    assert parse_gpus("0, 1,3") == ["0", "1", "3"]
    assert parse_gpus("GPU-5e6f7a,MIG-1/2") == ["GPU-5e6f7a", "MIG-1/2"]
    assert parse_gpus(None) is None
    assert parse_cpus(None) is None
    first = min(usable_cpus())
    assert parse_cpus(f"{first}") == [(first,)]
    if len(usable_cpus()) >= 2:
        a, b = sorted(usable_cpus())[:2]
        assert parse_cpus(f"{a},{b}") == [(a,), (b,)]
        assert parse_cpus(f"{a}+{b}") == [(a, b)]
    assert parse_time("90") == 90
    assert parse_time("12:00:00") == 720
    assert parse_time("1-02:30:00") == 1590
    assert parse_time("30:30") == 31  # MM:SS, as Slurm reads it


def test_sbatch_script_for_a_4_gpu_partition(capsys, tmp_path, cifar_batches_dir):
    out_dir = tmp_path / "study"
    code, out, err = main_output(
        capsys, "--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "base,16",
        "--seeds", "0,1", "--out", out_dir, "--executor", "slurm", "--slurm-partition", "gpu4",
        "--slurm-time", "12:00:00", "--slurm-gpus-per-task", "1", "--slurm-cpus-per-task", "8",
        "--slurm-extra", "account=vision", "--slurm-extra", "constraint=h100",
        "--slurm-extra", "exclusive", "--check")
    assert code == 0, out + err
    assert "mobilenet/seed0: new" in out and "gpc16/seed1: new" in out
    script = out[out.index("#!/bin/bash"):]
    lines = script.splitlines()
    for expected in ("#SBATCH --array=0-3%4", "#SBATCH --partition=gpu4", "#SBATCH --time=720",
                     "#SBATCH --gpus-per-task=1", "#SBATCH --cpus-per-task=8",
                     "#SBATCH --ntasks-per-node=1", "#SBATCH --nodes=1",
                     "#SBATCH --account=vision", "#SBATCH --constraint=h100",
                     "#SBATCH --exclusive", "#SBATCH --job-name=gpc-study"):
        assert expected in lines, expected
    logs = out_dir / "jobs" / "%A_%a"  # in the shared results folder, one per task
    assert f"#SBATCH --output={logs / '%A_%a_0_log.out'}" in lines
    assert any(line.startswith("srun ") and "-m submitit.core._submit" in line
               and str(out_dir / "jobs" / "%j") in line for line in lines)
    assert not (out_dir / "jobs").exists()  # nothing submitted, nothing written


def two_runs_side_by_side(out, cifar_batches_dir, where, *option):
    """run_all.sh on MobileNet and gpc16 with a two-place option (--gpus / --cpus):
    both must be in flight before either ends, and both complete."""
    result = run_all("--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "base,16",
                     "--out", out, "--no-summary", *option)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    started = [i for i, line in enumerate(lines) if f"training on {where}" in line]
    done = [i for i, line in enumerate(lines) if f" done on {where} " in line]
    assert len(started) == 2 and len(done) == 2, result.stdout
    assert max(started) < min(done), result.stdout  # both in flight before either ended
    # the summary after a pool: the submitit test below builds it through the same function
    assert "[summary]  not built (--no-summary)" in result.stdout, result.stdout
    check_complete(out, summary=False)
    return result


def test_gpus_runs_each_on_its_gpu_then_skips_it(tmp_path, cifar_batches_dir):
    """--gpus shares the pool with --cpus (two runs in flight at once: the test
    below); what is its own is the GPU a run sees.  One short run on GPU 1."""
    out = tmp_path / "gpus"
    args = ("--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "16",
            "--epochs", "1", "--out", out, "--gpus", "1", "--no-summary")
    result = run_all(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[1/1] gpc16/seed0" in result.stdout and "training on GPU 1" in result.stdout
    metrics = json.loads((out / "runs" / "gpc16" / "seed0" / "metrics.json").read_text())
    assert metrics["environment"]["cuda_visible_devices"] == "1"
    assert metrics["epochs"] == 1
    assert not (out / "summary").exists()
    # again: nothing to do
    again = run_all(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("complete, skipped") == 1 and "training on GPU" not in again.stdout


@pytest.mark.skipif(len(usable_cpus()) < 2 or not hasattr(os, "sched_setaffinity"),
                    reason="needs two usable cores and Linux CPU affinity")
def test_cpus_runs_two_at_a_time_each_pinned_to_its_core(tmp_path, cifar_batches_dir):
    a, b = sorted(usable_cpus())[:2]
    out = tmp_path / "cpus"
    two_runs_side_by_side(out, cifar_batches_dir, "cores", "--cpus", f"{a},{b}")
    total = os.cpu_count()
    for name, core in (("mobilenet", a), ("gpc16", b)):
        metrics = json.loads((out / "runs" / name / "seed0" / "metrics.json").read_text())
        # the kernel that trained it could use one core only: the pinning reached it
        assert metrics["environment"]["device"].startswith(f"CPU: 1 of {total} cores"), name
        assert metrics["environment"]["cuda_visible_devices"] == "", name
        log = (out / "logs" / f"{name}-seed0.log").read_text()
        assert f"cores {core}\n" in log, log[:300]
        # the executed notebook names no path of this machine, as in a sequential batch
        notebook = (out / "notebooks" / f"{name}-seed0.ipynb").read_text()
        assert str(tmp_path) not in notebook and str(cifar_batches_dir) not in notebook
        assert '"<data-dir>"' in notebook


def _task_process(run_dir):
    """The submitit task (python -m submitit.core._submit) whose kernel trains `run_dir`."""
    owner = json.loads((run_dir / ".lock.owner").read_text())
    proc = psutil.Process(owner["pid"])
    while proc is not None:
        if "submitit.core._submit" in " ".join(proc.cmdline()):
            return proc
        proc = proc.parent()
    raise AssertionError(f"no submitit task above pid {owner['pid']}")


def test_submitit_local_kill_one_task_then_resubmit(tmp_path, cifar_batches_dir):
    out = tmp_path / "local"
    # two array tasks (gpc16, seeds 0 and 1): one is killed, the other finishes
    args = ("--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "16",
            "--seeds", "0,1", "--out", out, "--epochs", "3", "--executor", "local")
    runs = [out / "runs" / "gpc16" / f"seed{seed}" for seed in (0, 1)]

    def one_mid_run():
        return [r for r in runs if epochs_done(r) >= 1 and not (r / "metrics.json").exists()
                and (r / ".lock.owner").exists()]

    proc = start_run_all(*args)
    reached = wait_for(lambda: bool(one_mid_run()), proc)
    assert reached, proc.stdout.read()
    victim = one_mid_run()[0]
    task = _task_process(victim)
    family = task.children(recursive=True) + [task]
    for p in family:  # this task's process tree only
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    first, _ = proc.communicate(timeout=900)
    name = f"{victim.parent.name}/{victim.name}"
    assert proc.returncode == 1, first
    assert f"{name}: FAILED" in first and "[summary] FAILED" in first and name in first, first
    assert not (victim / "metrics.json").exists()
    assert not (out / "summary").exists()

    second = run_all(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    print(first, second.stdout, sep="\n")
    assert second.stdout.count("complete, skipped") == 1, second.stdout
    assert f"{name}: submitted as job" in second.stdout and "[summary] written to" in second.stdout
    for seed in (0, 1):
        check_complete(out, variants=("gpc16",), epochs=3, seed=seed)
    metrics = json.loads((victim / "metrics.json").read_text())
    assert len(metrics["resumes"]) >= 1  # resumed after the kill, not retrained
    with open(out / "summary" / "summary.csv", newline="") as f:
        rows = {row["variant"]: row for row in csv.DictReader(f)}
    # the summary is over both runs
    assert rows["gpc16"]["status"] == "2 complete" and rows["gpc16"]["Seeds"] == "2", rows


def test_slurm_submission_array_then_summary_after_it(capsys, tmp_path, cifar_batches_dir,
                                                      monkeypatch):
    """The real submission path against stand-in sbatch / srun commands: one
    array of 4 tasks, then the summary with afterany on the array."""
    bin_dir, scripts = tmp_path / "bin", tmp_path / "submitted"
    bin_dir.mkdir()
    scripts.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        "#!/bin/sh\nn=$(ls \"$FAKE_SBATCH_DIR\" | wc -l)\n"
        "cp \"$1\" \"$FAKE_SBATCH_DIR/$n.sh\"\necho \"Submitted batch job $((700 + n))\"\n")
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SBATCH_DIR", str(scripts))
    out_dir = tmp_path / "study"
    code, out, err = main_output(
        capsys, "--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "base,16",
        "--seeds", "0,1", "--out", out_dir, "--executor", "slurm", "--slurm-partition", "gpu4",
        "--slurm-extra", "account=vision")
    assert code == 0, out + err
    array, summary = [(scripts / f"{i}.sh").read_text().splitlines() for i in range(2)]
    assert "#SBATCH --array=0-3%4" in array and "#SBATCH --gpus-per-task=1" in array
    assert "#SBATCH --partition=gpu4" in array and "#SBATCH --account=vision" in array
    assert "#SBATCH --dependency=afterany:700" in summary
    assert "#SBATCH --job-name=gpc-study-summary" in summary
    assert not any(line.startswith("#SBATCH --gpus") for line in summary)
    assert not any(line.startswith("#SBATCH --array") for line in summary)
    for name in ("mobilenet/seed0", "mobilenet/seed1", "gpc16/seed0", "gpc16/seed1"):
        assert f"{name}: submitted as job 700_" in out
    assert "summary: submitted as job 701 (after the array 700 ends)" in out
    # the tasks' pickles are in the shared results folder
    assert len(list((out_dir / "jobs").glob("700_*/*_submitted.pkl"))) == 4
    # --no-summary: the array alone, and the command that builds the summary later
    code, out, err = main_output(
        capsys, "--profile", "smoke", "--data-dir", cifar_batches_dir, "--channels", "base,16",
        "--seeds", "0,1", "--out", tmp_path / "alone", "--executor", "slurm",
        "--slurm-partition", "gpu4", "--no-summary")
    assert code == 0, out + err
    assert sorted(p.name for p in scripts.iterdir()) == ["0.sh", "1.sh", "2.sh"]  # one more: the array
    assert "#SBATCH --array=0-3%4" in (scripts / "2.sh").read_text()
    assert "summary: not built (--no-summary)" in out and "summary: submitted" not in out
    assert "gpc_support.summary_notebook" in out
