"""benchmarks/accelerator_check.sh end to end on the CPU with tiny sizes, and its parts.

The end-to-end runs use TensorFlow: a tiny CIFAR-10-like JPEG archive in the
layout of the real one, an empty wheel folder (this environment has every
package), two variants, two epochs of a few images at 32 px (the paper
profile with CHECK_IMAGE_SIZE=32: 224 px costs minutes of CPU here and
tests nothing more), and the benchmark at 32 px; then the output files must
exist and hold sane numbers.  The GPU node runs the check under JAX: the
training engine under JAX is tested in test_engine_backends.py (kill and
resume, a run without TensorFlow), and the check's own JAX code (the device
record, the device memory reading) below, without compiling a network,
which under JAX on a CPU costs minutes and tests nothing more.
"""

import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "accelerator_check.py"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
# the check's package, benchmarks/accelerator/, imported as the script imports it
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))

from accelerator import bundle, results  # noqa: E402
from accelerator import settings as config  # noqa: E402
from accelerator import summary as report  # noqa: E402


def write_jpeg_archive(path, per_class_train=3, per_class_test=2, seed=0):
    """A .tar.gz with test/<class>/NNNN.jpg and train/<class>/NNNN.jpg (32x32)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for split, n in (("test", per_class_test), ("train", per_class_train)):
            for c, name in enumerate(CLASSES):
                for i in range(n):
                    pixels = np.clip(c * 25 + rng.integers(-20, 20, (32, 32, 3)), 0, 255)
                    buf = io.BytesIO()
                    Image.fromarray(pixels.astype(np.uint8)).save(buf, format="JPEG", quality=75)
                    info = tarfile.TarInfo(f"{split}/{name}/{i:04d}.jpg")
                    info.size = len(buf.getvalue())
                    buf.seek(0)
                    tar.addfile(info, buf)
    return path


def test_settings_name_the_bad_variable(monkeypatch):
    for name, value, words in (("CHECK_EPOCHS", "1", "CHECK_EPOCHS must be an integer >= 2"),
                               ("CHECK_BATCH", "x", "CHECK_BATCH must be an integer"),
                               ("CHECK_VARIANTS", "gpc17", "CHECK_VARIANTS must be"),
                               ("CHECK_PRECISION", "half", "CHECK_PRECISION must be"),
                               ("CHECK_BENCH_SIZES", "224", "CHECK_BENCH_SIZES must be")):
        monkeypatch.setenv(name, value)
        with pytest.raises(config.CheckError, match=words):
            config.settings()
        monkeypatch.delenv(name)
    assert config.settings()["variants"] == list(config.ALL_VARIANTS)


def test_missing_package_comes_from_its_wheel_or_is_named(tmp_path, monkeypatch):
    wheels = tmp_path / "whl"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "gpc_fake_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("gpc_fake_pkg/__init__.py", "VALUE = 7\n")
    monkeypatch.setattr(bundle, "NEEDED", (("gpc_fake_pkg", "gpc_fake_pkg"), ("numpy", "numpy")))
    site = tmp_path / "site"
    done = bundle.unpack_missing_wheels(wheels, site)
    assert done == {"gpc_fake_pkg": "gpc_fake_pkg-1.0-py3-none-any.whl", "numpy": "present"}
    assert (site / "gpc_fake_pkg" / "__init__.py").read_text() == "VALUE = 7\n"
    monkeypatch.setattr(bundle, "NEEDED", (("gpc_other_fake", "gpc_other_fake"),))
    with pytest.raises(config.CheckError, match="CHECK_WHEELS: .* no wheel for gpc_other_fake"):
        bundle.unpack_missing_wheels(wheels, site)


def test_data_subset_from_the_archive(tmp_path):
    archive = write_jpeg_archive(tmp_path / "c.tar.gz", per_class_train=3, per_class_test=2)
    dest = bundle.unpack_data(archive, tmp_path / "d", train_images=20, test_images=10)
    assert sorted(p.name for p in (dest / "train").iterdir()) == sorted(CLASSES)
    assert all(len(list((dest / "train" / c).iterdir())) == 2 for c in CLASSES)
    assert all(len(list((dest / "test" / c).iterdir())) == 1 for c in CLASSES)
    with pytest.raises(config.CheckError, match="CHECK_DATA: .* fewer than the 4 needed"):
        bundle.unpack_data(archive, tmp_path / "e", train_images=40, test_images=10)
    with pytest.raises(config.CheckError, match="CHECK_DATA: .* is neither"):
        bundle.unpack_data(tmp_path / "absent.tar.gz", tmp_path / "f", 20, 10)


def test_loading_the_check_imports_no_keras(tmp_path):
    """The driver's process loads the entry script and its package before any
    wheel is unpacked: none of it may import keras, a backend or gpc_support."""
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('accelerator_check', {str(SCRIPT)!r})\n"
            "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "import accelerator.bundle, accelerator.driver, accelerator.results\n"
            "import accelerator.settings, accelerator.steps, accelerator.summary\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('keras', 'tensorflow', 'jax', 'torch', 'gpc_support')))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_bad_data_path_stops_the_script_with_a_clear_error(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "CHECK_OUT": str(tmp_path / "out"),
           "CHECK_DATA": str(tmp_path / "nothing.tar.gz"), "CHECK_WHEELS": str(tmp_path)}
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "accelerator_check.sh")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "error: CHECK_DATA:" in result.stderr and "nothing.tar.gz" in result.stderr


def test_check_runs_end_to_end_on_the_cpu(tmp_path):
    backend = "tensorflow"
    # 10 per class: the paper profile's authors' split validates int(0.1 * 10) = 1 of each
    archive = write_jpeg_archive(tmp_path / "cifar10-jpeg.tar.gz", per_class_train=10,
                                 per_class_test=1)
    (tmp_path / "wheels").mkdir()
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "KERAS_BACKEND": backend,
           "JAX_PLATFORMS": "cpu", "CHECK_OUT": str(out), "CHECK_DATA": str(archive),
           "CHECK_WHEELS": str(tmp_path / "wheels"), "CHECK_VARIANTS": "gpc16",
           # the benchmark times both; one paper run is enough here (the
           # authors-mode test below trains MobileNet through the same code)
           "CHECK_BENCH_VARIANTS": "mobilenet,gpc16",
           "CHECK_TRAIN_IMAGES": "100", "CHECK_TEST_IMAGES": "10", "CHECK_BATCH": "8",
           "CHECK_EPOCHS": "2", "CHECK_IMAGE_SIZE": "32", "CHECK_BENCH_SIZES": "32:4", "CHECK_BENCH_ROUNDS": "1",
           "CHECK_BENCH_STEPS": "1",
           # the GPU's 450 s budget is not what this test checks: on a loaded
           # 2-core machine the tiny check alone can take longer
           "CHECK_BUDGET_S": "1400"}
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "accelerator_check.sh")],
                            env=env, capture_output=True, text=True, timeout=1500)
    log = (out / "check.log").read_text() if (out / "check.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log[-4000:]
    assert_tiny_check_output(out, backend)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_device_record_and_memory_reading_under_jax(tmp_path):
    """The parts of the check that only JAX runs: device.json lists JAX's
    devices and versions; the memory reading names why a CPU has none."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")])}
    result = subprocess.run([sys.executable, str(SCRIPT), "device", "--out", str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    device = json.loads((tmp_path / "device.json").read_text())
    assert device["environment"]["backend"] == "jax" and device["keras"]
    assert device["jax"] and device["default_backend"] == "cpu"
    assert device["devices"] and len(device["device_kinds"]) == len(device["devices"])
    reading = subprocess.run(
        [sys.executable, "-c",
         "import json; from accelerator.steps import peak_device_memory; "
         "print(json.dumps(peak_device_memory()))"],
        env=env, capture_output=True, text=True, timeout=300)
    assert reading.returncode == 0, reading.stderr
    memory = json.loads(reading.stdout.strip().splitlines()[-1])
    assert memory["host_peak_rss_bytes"] > 0
    # a CPU device: either JAX reports its peak, or the note says why not
    assert (memory["device_peak_bytes"] or 0) > 0 or "no memory_stats" in (memory["device_note"] or "")


def assert_tiny_check_output(out, backend):
    """The files of a check run with the tiny sizes above (the benchmark of
    MobileNet and gpc16, the paper run of gpc16) hold sane numbers."""
    device = json.loads((out / "device.json").read_text())
    assert device["environment"]["backend"] == backend and device["keras"]
    if backend == "jax":
        assert device["devices"] and device["jax"]

    bench = json.loads((out / "bench.json").read_text())
    assert [(r["size"], r["batch"], r["precision"]) for r in bench["runs"]] == \
        [(32, 4, "float32"), (32, 4, "mixed")]
    for run in bench["runs"]:
        assert set(run["models"]) == {"mobilenet", "gpc16"}
        assert run["models"]["mobilenet"]["train_ratio"] == 1.0
        for m in run["models"].values():
            assert m["train_s_per_batch"] > 0 and m["infer_s_per_batch"] > 0
            assert 0 < m["train_ratio"] < 100 and 0 < m["infer_ratio"] < 100

    assert sorted(p.stem for p in (out / "variants").glob("*.json")) == ["gpc16"]
    r = json.loads((out / "variants" / "gpc16.json").read_text())
    assert (r["image_size"], r["batch"], r["epochs"], r["timed_epochs"]) == (32, 8, 2, 1)
    assert (r["train_images"], r["val_images"], r["test_images"]) == (90, 10, 10)
    assert r["train_steps_per_epoch"] == 12 and r["val_steps_per_epoch"] == 2
    assert r["ms_per_step"] > 0 and r["val_ms_per_step"] > 0
    assert r["images_per_second"] == pytest.approx(8000 / r["ms_per_step"])
    assert len(r["losses"]) == 2 and all(math.isfinite(v) for v in r["losses"])
    assert r["loss_fell"] == (r["losses"][1] < r["losses"][0])
    # 50 x (704 training + 79 validation steps) + 157 test steps, at batch 8 here:
    # 45,000 / 8 = 5,625 steps per epoch
    expected = (50 * (5625 * r["ms_per_step"] + 625 * r["val_ms_per_step"])
                + 1250 * r["val_ms_per_step"]) / 1000
    assert r["projected_full_run_seconds"] == pytest.approx(expected)
    assert r["host_peak_rss_bytes"] > 0
    assert r["device_peak_bytes"] is None or r["device_peak_bytes"] > 0
    metrics = json.loads((out / "runs" / "gpc16" / "metrics.json").read_text())
    assert metrics["profile"]["name"] == "paper" and metrics["profile"]["image_size"] == 32

    summary = json.loads((out / "summary.json").read_text())
    assert all(step["status"] == "ok" for step in summary["steps"])
    text = (out / "summary.txt").read_text()
    assert "paper run gpc16:" in text and "projected paper profile" in text


# ----------------------------------------------- CHECK_MODE=authors


def test_authors_mode_settings(monkeypatch):
    monkeypatch.setenv("CHECK_MODE", "authors")
    cfg = config.settings()
    assert (cfg["variants"], cfg["train_images"], cfg["test_images"], cfg["epochs"]) == \
        (["mobilenet", "gpc16"], None, 1000, 3)
    assert cfg["skip_bench"] and cfg["image_size"] == 224 and cfg["batch"] == 64
    monkeypatch.setenv("CHECK_VARIANTS", "gpc32")   # the authors' log has no gpc32
    with pytest.raises(config.CheckError, match="CHECK_VARIANTS must be a comma-separated list "
                                                "of mobilenet, gpc16"):
        config.settings()
    monkeypatch.setenv("CHECK_MODE", "compare")
    with pytest.raises(config.CheckError, match="CHECK_MODE must be one of timing, authors"):
        config.settings()


def test_authors_comparison_rows():
    history = [{"epoch": e, "lr": 0.001 * e, "seconds": 10.0, "loss": loss, "accuracy": acc,
                "val_loss": 2.0, "val_accuracy": 0.2}
               for e, loss, acc in ((1, 1.9, 0.30), (2, 1.5, 0.45), (3, 1.2, 0.60), (4, 1.0, 0.7))]
    metrics = {"optimizer": "rmsprop-keras2", "profile": {"split": "authors"},
               "train_images": 45000, "val_images": 5000, "test_images": 1000}
    cfg = {"image_size": 224, "batch": 64, "precision": "float32"}
    r = results.compare_with_authors("gpc16", history, metrics, cfg)
    rows = r["epochs"]
    assert [e["authors_loss"] for e in rows] == [1.829, 1.578, 1.359, None]
    assert [e["authors_accuracy"] for e in rows] == [0.320, 0.429, 0.515, None]
    assert rows[0]["loss_difference"] == pytest.approx(1.9 - 1.829)
    assert rows[2]["accuracy_points_difference"] == pytest.approx(100 * (0.60 - 0.515))
    assert rows[3]["loss_difference"] is None and rows[3]["accuracy_points_difference"] is None
    lines = report.authors_lines("gpc16", r)
    assert lines[2].split() == ["1", "1.900", "1.829", "30.0%", "32.0%", "10.0"]
    assert lines[5].split() == ["4", "1.000", "-", "70.0%", "-", "10.0"]


def test_authors_mode_runs_end_to_end_on_the_cpu(tmp_path):
    """10 training images per class (int(0.1 * 10) = 1 validates under the
    authors' split), two epochs at 32 px, both variants."""
    backend = "tensorflow"
    archive = write_jpeg_archive(tmp_path / "cifar10-jpeg.tar.gz", per_class_train=10,
                                 per_class_test=1)
    (tmp_path / "wheels").mkdir()
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "KERAS_BACKEND": backend,
           "JAX_PLATFORMS": "cpu", "CHECK_MODE": "authors", "CHECK_OUT": str(out),
           "CHECK_DATA": str(archive), "CHECK_WHEELS": str(tmp_path / "wheels"),
           "CHECK_TRAIN_IMAGES": "100", "CHECK_TEST_IMAGES": "10", "CHECK_BATCH": "16",
           "CHECK_EPOCHS": "2", "CHECK_IMAGE_SIZE": "32", "CHECK_BUDGET_S": "1400"}
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "accelerator_check.sh")],
                            env=env, capture_output=True, text=True, timeout=1500)
    log = (out / "check.log").read_text() if (out / "check.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log[-4000:]
    print(result.stdout)
    for variant in ("mobilenet", "gpc16"):
        r = json.loads((out / "variants" / f"{variant}.json").read_text())
        assert (r["optimizer"], r["split"]) == ("rmsprop-keras2", "authors")
        assert (r["train_images"], r["val_images"], r["test_images"]) == (90, 10, 10)
        assert [e["epoch"] for e in r["epochs"]] == [1, 2]
        assert [e["authors_loss"] for e in r["epochs"]] == \
            list(config.AUTHORS_LOG[variant]["loss"][:2])
        assert all(math.isfinite(e["loss"]) and 0 <= e["accuracy"] <= 1 for e in r["epochs"])
        history = json.loads((out / "runs" / variant / "metrics.json").read_text())
        assert history["profile"]["name"] == "paper" and history["epochs"] == 2
    assert not (out / "bench.json").exists()
    text = (out / "summary.txt").read_text()
    assert "ours beside the method authors' logged values" in text
    assert "  epoch   loss  authors   accuracy  authors   seconds" in text
    assert text.count("1.798") == 1 and text.count("1.829") == 1
