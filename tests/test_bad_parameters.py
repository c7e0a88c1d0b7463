"""Every bad parameter is refused before any work, naming what is wrong."""

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpc_support.common import run_folder
from gpc_support.common.paths import REPO_ROOT
from gpc_support.run import cli as batch
from gpc_support.data.layouts import CLASS_NAMES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def existing_results(tmp_path):
    """A results folder with a finished-looking run whose files must survive."""
    out = tmp_path / "results"
    run = out / "runs" / "gpc16"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5}))
    (run / "history.csv").write_text("epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.001,2,0.1,2,0.1,1\n")
    return out


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def image_tree(root, size=(32, 32), broken=None):
    for split in ("train", "test"):
        for name in CLASS_NAMES:
            d = root / split / name
            d.mkdir(parents=True)
            Image.fromarray(np.zeros(size + (3,), np.uint8)).save(d / "0.png")
    if broken:
        (root / "train" / "cat" / "0.png").write_bytes(b"not a png at all")
    return root


def bad_cases(tmp_path, data):
    not_dir = tmp_path / "a-file"
    not_dir.write_text("x")
    (tmp_path / "empty").mkdir()
    wrong = tmp_path / "wrong-layout"
    (wrong / "images").mkdir(parents=True)
    (wrong / "images" / "x.png").write_bytes(b"")
    return {
        "channels 0": (["--channels", "0"], "--channels"),
        "channels -16": (["--channels", "-16"], "--channels"),
        "channels 7.5": (["--channels", "7.5"], "--channels"),
        "channels abc": (["--channels", "abc"], "--channels"),
        "unknown profile": (["--profile", "fast"], "--profile"),
        "epochs 0": (["--epochs", "0"], "--epochs"),
        "epochs -3": (["--epochs", "-3"], "--epochs"),
        "batch size 0": (["--batch-size", "0"], "--batch-size"),
        "seed abc": (["--seed", "abc"], "--seed"),
        "seed -1": (["--seed", "-1"], "--seed"),
        "seeds with a gap": (["--seeds", "0,,2"], "--seeds"),
        "seeds not numbers": (["--seeds", "0,one"], "--seeds"),
        "seeds negative": (["--seeds", "1,-2"], "--seeds"),
        "seed and seeds": (["--seed", "1", "--seeds", "0,1"], "--seed and --seeds"),
        "precision": (["--precision", "float16"], "--precision"),
        "missing data dir": (["--data-dir", str(tmp_path / "nope")], "--data-dir"),
        "data dir is a file": (["--data-dir", str(not_dir)], "--data-dir"),
        "empty data dir": (["--data-dir", str(tmp_path / "empty")], "--data-dir"),
        "wrong layout": (["--data-dir", str(wrong)], "--data-dir"),
        "wrong image size": (["--data-dir", str(image_tree(tmp_path / "big", size=(40, 40)))], "32x32"),
        "unreadable image": (["--data-dir", str(image_tree(tmp_path / "broken", broken=True))], "0.png"),
        "unwritable out": (["--out", str(not_dir / "results")], "--out"),
        "unknown option": (["--epoch", "3"], "unrecognized arguments"),
    }


def test_each_bad_parameter_is_refused_early(tmp_path, capsys, existing_results, cifar_batches_dir):
    before = snapshot(existing_results)
    for case, (args, named) in bad_cases(tmp_path, cifar_batches_dir).items():
        argv = ["--profile", "smoke", "--data-dir", str(cifar_batches_dir), "--out", str(existing_results)]
        argv += args
        t0 = time.time()
        code = batch.main(argv)
        err = capsys.readouterr().err
        assert code == 2, case
        assert named in err, f"{case}: {err}"
        assert "error" in err
        assert "--data-dir: data_dir" not in err and "data_dir: data_dir" not in err, err
        assert time.time() - t0 < 10, case
        assert snapshot(existing_results) == before, case


def test_seeds_and_precision_are_parsed():
    assert batch.parse_seeds(None, None) == [0]
    assert batch.parse_seeds("0,1,2", None) == [0, 1, 2]
    assert batch.parse_seeds(" 2, 0 ,2", None) == [2, 0]
    assert batch.parse_seeds(None, "7") == [7]


def test_plan_has_one_run_per_variant_and_seed(tmp_path, cifar_batches_dir, capsys):
    plan = batch.plan_from_args(["--profile", "smoke", "--data-dir", str(cifar_batches_dir),
                                 "--channels", "base,16", "--seeds", "0,1", "--out",
                                 str(tmp_path / "r"), "--precision", "mixed", "--check"])
    assert plan["seeds"] == [0, 1] and plan["precision"] == "mixed"
    assert batch.run(plan) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "mobilenet/seed0", "mobilenet/seed1", "gpc16/seed0", "gpc16/seed1"]
    assert run_folder.run_dir_of(tmp_path, "gpc16", 1) == tmp_path / "runs" / "gpc16" / "seed1"
    assert run_folder.notebook_of(tmp_path, "gpc16", 1) == tmp_path / "notebooks" / "gpc16-seed1.ipynb"


def test_precision_is_checked_by_train_variant(tmp_path, cifar_batches_dir):
    from gpc_support.train.engine import RunError, train_variant

    with pytest.raises(RunError, match="precision must be one of 'float32', 'mixed'"):
        train_variant(16, "smoke", data_dir=str(cifar_batches_dir), out_dir=tmp_path / "p",
                      precision="fp16")
    assert not (tmp_path / "p").exists()


def test_relative_paths_reach_the_notebook_relative(tmp_path, cifar_batches_dir, monkeypatch):
    """A relative --data-dir / --out is passed to the kernel (cwd: the repository)
    as a path relative to the repository, not as this machine's absolute path."""
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "cifar"
    link.symlink_to(cifar_batches_dir)
    plan = batch.plan_from_args(["--profile", "smoke", "--data-dir", "cifar", "--out", "res",
                                 "--check"])
    assert not Path(plan["data_dir_param"]).is_absolute()
    assert not Path(plan["out_param"]).is_absolute()
    assert (REPO_ROOT / plan["out_param"]).resolve() == (tmp_path / "res").resolve()
    assert (REPO_ROOT / plan["data_dir_param"]).resolve() == cifar_batches_dir.resolve()


def test_run_all_script_refuses_bad_channels_with_exit_status(tmp_path, existing_results):
    before = snapshot(existing_results)
    result = subprocess.run(["bash", str(ROOT / "run_all.sh"), "--channels", "7.5",
                             "--out", str(existing_results)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--channels" in result.stderr and "positive integer" in result.stderr
    assert snapshot(existing_results) == before


def test_help_lists_the_options():
    result = subprocess.run(["bash", str(ROOT / "run_all.sh"), "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--profile", "--data-dir", "--channels", "--seeds", "--seed", "--precision",
                   "--out", "--force", "--no-summary", "--cpus"):
        assert option in result.stdout


def test_notebook_refuses_bad_parameters_from_papermill(tmp_path, cifar_batches_dir):
    import papermill

    for channels, named in ((0, "channels"), ("abc", "channels")):
        out_nb = tmp_path / f"bad-{channels}.ipynb"
        with pytest.raises(papermill.PapermillExecutionError, match=named):
            papermill.execute_notebook(
                str(ROOT / "notebooks" / "gpc_mobilenet.ipynb"), str(out_nb),
                parameters={"channels": channels, "profile": "smoke",
                            "data_dir": str(cifar_batches_dir), "out_dir": str(tmp_path / "run")},
                kernel_name="python3", cwd=str(ROOT), progress_bar=False)
    with pytest.raises(papermill.PapermillExecutionError, match="epochs"):
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "gpc_mobilenet.ipynb"), str(tmp_path / "bad-epochs.ipynb"),
            parameters={"channels": 16, "profile": "smoke", "data_dir": str(cifar_batches_dir),
                        "out_dir": str(tmp_path / "run"), "overrides": {"epochs": 0}},
            kernel_name="python3", cwd=str(ROOT), progress_bar=False)
    assert not (tmp_path / "run").exists()
