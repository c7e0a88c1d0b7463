"""The training engine: schedule, profiles, a smoke run, kill and resume."""

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gpc_support.train.profiles import PROFILES, ProfileError, get_profile, learning_rate
from gpc_support.common.run_folder import METRICS_FIELDS
from gpc_support.train.engine import HISTORY_FIELDS, RunError, read_history, train_variant
from gpc_support.train.run_claim import check_data

ROOT = Path(__file__).resolve().parent.parent


def spec_lr(epoch):
    t = epoch % 25
    return 0.001 * (1 + 0.5 * t) if t < 7 else 0.004 * 0.85 ** (t - 7)


def test_paper_learning_rate_is_the_spec_formula():
    paper = get_profile("paper")
    for epoch in range(60):
        assert learning_rate(epoch, paper) == pytest.approx(spec_lr(epoch), rel=1e-12)
    assert learning_rate(6, paper) == pytest.approx(0.004)
    assert learning_rate(25, paper) == pytest.approx(0.001)


def test_paper_profile_is_the_report_protocol():
    p = get_profile("paper")
    assert (p.image_size, p.batch_size, p.epochs, p.train_limit, p.test_limit) == (224, 64, 50, None, None)
    assert p.validation_fraction == 0.1 and p.augment == "paper"
    assert (p.optimizer, p.split, p.augment_validation, p.bn_recalibration) == \
        ("rmsprop-keras2", "authors", True, 0)


def test_paper32_is_the_paper_profile_at_32_px():
    paper, paper32 = get_profile("paper").to_dict(), get_profile("paper32").to_dict()
    differ = {k: (paper[k], paper32[k]) for k in paper if paper[k] != paper32[k]}
    assert differ == {"name": ("paper", "paper32"), "image_size": (224, 32)}
    # the cpu profile keeps Keras 3's RMSprop and the random split of its committed runs
    cpu = get_profile("cpu")
    assert (cpu.optimizer, cpu.split) == ("rmsprop-keras3", "random")
    with pytest.raises(ProfileError, match="split must be one of random, authors, got 'first'"):
        get_profile("paper32", split="first")


def test_every_profile_field_can_be_overridden():
    p = get_profile("quick", epochs=7, batch_size=32, image_size=64, train_limit=100)
    assert (p.epochs, p.batch_size, p.image_size, p.train_limit) == (7, 32, 64, 100)
    assert set(PROFILES) == {"paper", "paper32", "cpu", "quick", "smoke"}


@pytest.mark.parametrize("field,value", [("epochs", 0), ("epochs", -3), ("batch_size", 0),
                                         ("image_size", 16), ("validation_fraction", 1.5),
                                         ("epochs", 2.5), ("train_limit", 0)])
def test_bad_profile_values_name_the_field(field, value):
    with pytest.raises(ProfileError, match=field):
        get_profile("smoke", **{field: value})


def test_unknown_profile_and_field():
    with pytest.raises(ProfileError, match="profile must be one of"):
        get_profile("fast")
    with pytest.raises(ProfileError, match="unknown profile field"):
        get_profile("smoke", epoch=3)


def test_bad_parameters_fail_before_any_work(tmp_path, cifar_batches_dir):
    with pytest.raises(ValueError, match="channels"):
        train_variant(0, "smoke", data_dir=str(cifar_batches_dir), out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="data_dir"):
        train_variant(16, "smoke", data_dir=str(tmp_path / "nope"), out_dir=tmp_path / "b")
    with pytest.raises(RunError, match="seed"):
        train_variant(16, "smoke", data_dir=str(cifar_batches_dir), out_dir=tmp_path / "c", seed=-1)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_smoke_run_writes_history_and_complete_metrics(tmp_path, cifar_batches_dir):
    out = tmp_path / "gpc32"
    metrics = train_variant(32, "smoke", data_dir=str(cifar_batches_dir), out_dir=out, verbose=0)
    rows = read_history(out / "history.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert list(rows[0]) == list(HISTORY_FIELDS)
    assert rows[0]["lr"] == pytest.approx(learning_rate(0, get_profile("smoke")))
    on_disk = json.loads((out / "metrics.json").read_text())
    assert set(METRICS_FIELDS) <= set(on_disk)
    assert on_disk == json.loads(json.dumps(metrics))
    assert on_disk["params_total"] == 432_842 and on_disk["epochs"] == 2
    assert 0 <= on_disk["test_accuracy"] <= 1 and on_disk["test_images"] == 40
    assert on_disk["environment"]["keras"]
    assert (out / "best.weights.h5").exists() and (out / "test_predictions.npz").exists()
    # best.weights.h5 is the bare network (no optimizer slots): it loads into a
    # freshly built model, which then reproduces the saved test predictions.
    import h5py
    with h5py.File(out / "best.weights.h5", "r") as f:
        assert "optimizer" not in f
    from gpc_support.data.sources import load_cifar10
    from gpc_support.model.networks import build_model
    smoke = get_profile("smoke")
    data = load_cifar10(str(cifar_batches_dir), validation_fraction=smoke.validation_fraction, seed=0,
                        train_limit=smoke.train_limit, test_limit=smoke.test_limit)
    # what the run records: seeds, precision, code, data (layout + fingerprint), no paths
    config = json.loads((out / "config.json").read_text())
    for record in (config, on_disk):
        assert record["seed"] == 0 and record["split_seed"] == 0 and record["precision"] == "float32"
        assert set(record["code"]) == {"commit", "dirty"}
        assert record["data_source"]["layout"] == "python-batches"
    from gpc_support.train.provenance import arrays_fingerprint
    assert on_disk["data_source"]["fingerprint"] == arrays_fingerprint(data)
    assert config["data_source"] == on_disk["data_source"] and on_disk["resumes"] == []
    assert on_disk["mixed_precision"] is False
    for name in ("config.json", "metrics.json", "state.json"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text and str(cifar_batches_dir) not in text, name
    fresh = build_model(32, input_shape=(32, 32, 3))
    fresh.load_weights(out / "best.weights.h5")
    saved = np.load(out / "test_predictions.npz")
    assert (saved["y_true"] == data.y_test).all()
    np.testing.assert_allclose(fresh.predict(data.x_test / 255.0, verbose=0), saved["probabilities"],
                               rtol=1e-4, atol=1e-5)
    # the checkpoint is a complete .keras model a user can load
    import keras
    (ckpt,) = (out / "checkpoints").glob("epoch_*.keras")
    loaded = keras.models.load_model(ckpt)
    x = np.zeros((2, 32, 32, 3), np.uint8)
    assert loaded(x).shape == (2, 10)
    # a finished run is returned, not retrained
    before = (out / "metrics.json").stat().st_mtime_ns
    again = train_variant(32, "smoke", data_dir=str(cifar_batches_dir), out_dir=out, verbose=0)
    assert again["test_accuracy"] == metrics["test_accuracy"]
    assert (out / "metrics.json").stat().st_mtime_ns == before
    # another configuration refuses the folder and leaves it alone
    with pytest.raises(RunError, match="another configuration"):
        train_variant(64, "smoke", data_dir=str(cifar_batches_dir), out_dir=out, verbose=0)
    assert (out / "metrics.json").stat().st_mtime_ns == before


def test_batchnorm_recalibration_sets_population_statistics():
    import keras
    import numpy as np

    from gpc_support.train.engine import build_training_model, recalibrate_batchnorm

    profile = get_profile("smoke")
    model, network = build_training_model(16, profile, seed=0)
    images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    recalibrate_batchnorm(model, images, batches=2, batch_size=16, seed=0)
    bn = network.get_layer("conv1_bn")
    # conv1's outputs over the same 32 images, in the order the batches took them
    order = np.random.default_rng(0).permutation(32)
    stem = keras.Model(network.input, network.get_layer("conv1").output)
    feats = [np.asarray(stem(images[order[i * 16:(i + 1) * 16]] / 255.0)) for i in range(2)]
    want_mean = np.mean([f.mean(axis=(0, 1, 2)) for f in feats], axis=0)
    want_var = np.mean([f.var(axis=(0, 1, 2)) for f in feats], axis=0)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), want_mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), want_var, rtol=1e-3, atol=1e-6)
    assert bn.momentum == 0.99


def test_the_network_sees_the_profile_image_size():
    import numpy as np

    from gpc_support.train.engine import build_training_model

    model, network = build_training_model(None, get_profile("smoke", image_size=64), seed=0)
    assert tuple(network.input.shape) == (None, 64, 64, 3)
    assert tuple(model.input.shape) == (None, 32, 32, 3) and model.input.dtype == "uint8"
    preprocess = model.layers[-2]
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    assert preprocess(x, training=True).shape == (2, 64, 64, 3)
    assert model(x).shape == (2, 10)


def fake_checkpoint(path, epoch):
    """A stand-in for epoch_NNN.keras: a zip that records its epoch."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("gpc_epoch.json", json.dumps({"epoch": epoch}))


def test_uncommitted_best_weights_never_become_best(tmp_path):
    """A kill after an epoch saved its candidate but before state.json committed
    it leaves best.weights.h5 alone; a committed candidate is promoted."""
    from gpc_support.common.atomic_files import atomic_write_json
    from gpc_support.train.epoch_records import load_state, settle_files

    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    (tmp_path / "best.weights.h5").write_text("epoch 1")
    fake_checkpoint(ckpt / "epoch_001.keras", 1)
    fake_checkpoint(ckpt / "epoch_002.keras", 2)  # not committed
    (ckpt / "best_epoch_002.weights.h5").write_text("epoch 2, not committed")
    (tmp_path / "history.csv").write_text(
        "epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.1,1,0.5,1,0.5,1\n2,0.1,1,0.6,1,0.6,1\n")
    atomic_write_json(tmp_path / "state.json", {
        "epochs_done": 1, "checkpoint": "epoch_001.keras", "best_val_accuracy": 0.5,
        "best_epoch": 1, "training_seconds": 1.0, "best_pending": None})
    said = []
    state, history = load_state(tmp_path, said.append)
    assert state["epochs_done"] == 1 and [r["epoch"] for r in history] == [1]
    assert any("never committed" in s for s in said)
    assert (tmp_path / "best.weights.h5").read_text() == "epoch 1"
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch_001.keras"]
    # committed: the candidate is promoted
    (ckpt / "best_epoch_002.weights.h5").write_text("epoch 2")
    settle_files(tmp_path, {"checkpoint": "epoch_001.keras", "best_pending": "best_epoch_002.weights.h5"})
    assert (tmp_path / "best.weights.h5").read_text() == "epoch 2"


def readme_profile_table():
    """The rows of docs/running.md's '## Profiles' table as {profile: {column: text}}."""
    text = (ROOT / "docs" / "running.md").read_text(encoding="utf-8")
    section = text.split("## Profiles", 1)[1]
    lines = [line.strip() for line in section.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("| profile"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = dict(zip(header, cells))
    return rows


def test_readme_profile_table_matches_the_code():
    """README's table is tested against gpc_support.train.profiles.PROFILES."""
    import re

    rows = readme_profile_table()
    assert set(rows) == set(PROFILES)
    for name, p in PROFILES.items():
        row = rows[name]
        assert int(re.match(r"\d+", row["image"]).group()) == p.image_size, name
        assert int(row["batch"]) == p.batch_size, name
        assert int(row["epochs"]) == p.epochs, name
        augmentation = row["augmentation"].lower()
        want = {"paper": "report", "light": "light", "none": "none"}[p.augment]
        assert want in augmentation, f"{name}: README says {row['augmentation']!r}, code {p.augment!r}"
        assert row["RMSprop"] == {"rmsprop-keras2": "Keras 2.6",
                                  "rmsprop-keras3": "Keras 3"}[p.optimizer], name
        assert row["split"] == {"authors": "authors'", "random": "random"}[p.split], name
        numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", row["data"])]
        if p.train_limit is None and p.test_limit is None:
            assert row["data"].startswith("all"), name
        else:
            assert numbers[:2] == [p.train_limit, p.test_limit], f"{name}: {row['data']!r}"


class _Loaded(Exception):
    """Stops a run right after its data are loaded (see `loaded_data`)."""


def loaded_data(monkeypatch, tmp_path, data_dir, seed, profile="smoke", overrides=None):
    """The `CifarData` train_variant loads for a run of `seed`, and the
    fingerprint it records in config.json; the run stops there (no model)."""
    from gpc_support.train import engine as training

    seen = {}

    def check_then_stop(out_dir, data):
        check_data(out_dir, data)
        seen["data"] = data
        raise _Loaded

    monkeypatch.setattr(training, "check_data", check_then_stop)  # the engine's own binding
    out = tmp_path / f"seed{seed}"
    with pytest.raises(_Loaded):
        train_variant(16, profile, data_dir=str(data_dir), out_dir=out, seed=seed, verbose=0,
                      overrides=overrides)
    config = json.loads((out / "config.json").read_text())
    return seen["data"], config["data_source"]["fingerprint"]


@pytest.mark.parametrize("profile", ["smoke", "paper32"])
def test_every_seed_of_a_run_gets_the_same_split(monkeypatch, tmp_path, cifar_batches_dir, profile):
    """The paired tests compare seeds image by image: the training, validation
    and test images must not change with the run's seed."""
    overrides = {"train_limit": 160, "test_limit": 40} if profile == "paper32" else None
    a, fingerprint_a = loaded_data(monkeypatch, tmp_path, cifar_batches_dir, 0, profile, overrides)
    b, fingerprint_b = loaded_data(monkeypatch, tmp_path, cifar_batches_dir, 3, profile, overrides)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert fingerprint_a == fingerprint_b is not None
    # and the subsets are proper ones: 160 of 200 training images, 40 of 40 test images
    assert (len(a.y_train) + len(a.y_val), len(a.y_test)) == (160, 40)


def test_paper32_trains_with_the_keras2_rmsprop_and_the_authors_split(tmp_path, cifar_batches_dir):
    from gpc_support.data.sources import load_cifar10

    out = tmp_path / "paper32"
    overrides = {"train_limit": 100, "test_limit": 20, "epochs": 1, "batch_size": 16}
    metrics = train_variant(16, "paper32", data_dir=str(cifar_batches_dir), out_dir=out,
                            overrides=overrides, verbose=0)
    config = json.loads((out / "config.json").read_text())
    for record in (config, metrics):
        assert record["optimizer"] == "rmsprop-keras2"
        assert (record["profile"]["split"], record["profile"]["image_size"]) == ("authors", 32)
    # the 100 kept images in source order; validation: the first int(0.1 n) of each class
    everything = load_cifar10(str(cifar_batches_dir), train_limit=100, test_limit=20)
    labels = np.concatenate([everything.y_train, everything.y_val])
    counts = np.bincount(labels, minlength=10)
    assert metrics["val_images"] == sum(int(0.1 * n) for n in counts)
    assert metrics["train_images"] + metrics["val_images"] == 100
    assert [r["epoch"] for r in read_history(out / "history.csv")] == [1]
    import keras

    from gpc_support.train.optimizers import RMSpropKeras2
    (ckpt,) = (out / "checkpoints").glob("epoch_*.keras")
    assert type(keras.models.load_model(ckpt).optimizer) is RMSpropKeras2


def test_a_config_written_before_the_optimizer_and_split_fields_is_still_resumed(tmp_path):
    """The committed cpu runs' config.json lacks "optimizer" and the profile's
    optimizer and split: those runs used Keras 3's RMSprop and the random
    split, which the cpu profile still names, so their folders resume; a
    profile with another optimizer is refused."""
    from gpc_support.train import run_claim

    config = run_claim.run_config(16, get_profile("cpu"), 0, "float32", None)
    old = json.loads(json.dumps(config))
    del old["optimizer"], old["profile"]["optimizer"], old["profile"]["split"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    run_claim.claim_folder(tmp_path, config)   # accepted
    assert json.loads((tmp_path / "config.json").read_text()) == old   # and left as it was
    other = run_claim.run_config(16, get_profile("cpu", optimizer="rmsprop-keras2"), 0,
                                 "float32", None)
    with pytest.raises(RunError, match="another configuration \\(differs in profile\\)"):
        run_claim.claim_folder(tmp_path, other)


def test_a_run_is_not_resumed_under_other_cpu_kernels(tmp_path):
    """oneDNN's kernels and TensorFlow's Eigen kernels round differently: a run
    that recorded which it started with is resumed only under the same, and the
    error says which variable to set; a run from before the record resumes."""
    from gpc_support.train import run_claim

    config = run_claim.run_config(16, get_profile("cpu"), 0, "float32", None)
    assert config["kernels"] == {"tensorflow_onednn": run_claim.kernels()["tensorflow_onednn"]}
    assert isinstance(config["kernels"]["tensorflow_onednn"], bool)   # the tests run TensorFlow
    started = json.loads(json.dumps(config))
    started["kernels"]["tensorflow_onednn"] = not config["kernels"]["tensorflow_onednn"]
    (tmp_path / "config.json").write_text(json.dumps(started))
    wanted = int(started["kernels"]["tensorflow_onednn"])
    with pytest.raises(RunError, match=f"oneDNN kernels .* set TF_ENABLE_ONEDNN_OPTS={wanted} "):
        run_claim.claim_folder(tmp_path, config)
    del started["kernels"]
    (tmp_path / "config.json").write_text(json.dumps(started))
    run_claim.claim_folder(tmp_path, config)   # no record: accepted as it is
    assert "kernels" not in json.loads((tmp_path / "config.json").read_text())


def test_cpu_and_quick_profiles_are_exactly_their_table():
    # every field, the schedule included (a changed decay or warm-up is a changed study)
    from gpc_support.train.profiles import PROFILES

    assert dataclasses.asdict(PROFILES['cpu']) == {'name': 'cpu', 'image_size': 32, 'batch_size': 64, 'epochs': 15, 'train_limit': None, 'test_limit': None, 'validation_fraction': 0.1, 'augment': 'light', 'optimizer': 'rmsprop-keras3', 'split': 'random', 'augment_validation': False, 'bn_recalibration': 50, 'lr_base': 0.001, 'lr_peak': 0.002, 'lr_warmup': 2, 'lr_decay': 0.85, 'lr_cycle': 15, 'graph_optimizer': True}
    assert dataclasses.asdict(PROFILES['quick']) == {'name': 'quick', 'image_size': 32, 'batch_size': 64, 'epochs': 3, 'train_limit': 8000, 'test_limit': 2000, 'validation_fraction': 0.1, 'augment': 'light', 'optimizer': 'rmsprop-keras3', 'split': 'random', 'augment_validation': False, 'bn_recalibration': 50, 'lr_base': 0.001, 'lr_peak': 0.002, 'lr_warmup': 1, 'lr_decay': 0.5, 'lr_cycle': 3, 'graph_optimizer': True}


def test_only_smoke_trains_without_the_graph_optimizer_and_it_is_restored(
        monkeypatch, tmp_path, cifar_batches_dir):
    """Grappler is off while a smoke run trains (its steps are too few to repay
    it), on for every profile that trains for real, and as it was afterwards;
    a run recorded before the field existed reads as optimised."""
    import tensorflow as tf

    from gpc_support.train import engine
    from gpc_support.train.profiles import profile_from_record

    assert {name: p.graph_optimizer for name, p in PROFILES.items()} == {
        "paper": True, "paper32": True, "cpu": True, "quick": True, "smoke": False}
    assert profile_from_record({"name": "cpu"})["graph_optimizer"] is True
    seen = []

    def record(*args, **kwargs):
        seen.append(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer"))
        return {}

    monkeypatch.setattr(engine, "_train_claimed", record)
    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    for profile, run in (("smoke", "a"), ("quick", "b")):
        train_variant(16, profile, data_dir=str(cifar_batches_dir), out_dir=tmp_path / run,
                      verbose=0)
        assert tf.config.optimizer.get_experimental_options().get(
            "disable_meta_optimizer", False) == before
    assert seen[0] is True and not seen[1]
    with pytest.raises(ProfileError, match="graph_optimizer must be True or False"):
        get_profile("smoke", graph_optimizer="no")
