"""Unpacking what the GPU node lacks: the wheels of missing modules, and the CIFAR-10 images the check uses.

Nothing is installed: a wheel is unpacked into a temporary folder that the
driver puts on the path of each step's process, and only the images the
check trains and tests on are taken from the JPEG archive (or linked from a
folder of the same layout).
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

from .settings import CheckError

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
# (module imported, distribution name as in the wheel file name)
NEEDED = (("keras", "keras"), ("namex", "namex"), ("optree", "optree"),
          ("absl", "absl_py"), ("rich", "rich"), ("markdown_it", "markdown_it_py"),
          ("mdurl", "mdurl"), ("pygments", "pygments"), ("packaging", "packaging"),
          ("typing_extensions", "typing_extensions"), ("ml_dtypes", "ml_dtypes"),
          ("filelock", "filelock"), ("tqdm", "tqdm"), ("h5py", "h5py"))


def _wheel_for(dist: str, folder: Path) -> Path | None:
    wanted = dist.lower().replace("-", "_")
    for wheel in sorted(folder.glob("*.whl")):
        if wheel.name.split("-")[0].lower() == wanted:
            return wheel
    return None


def unpack_missing_wheels(folder: Path, site: Path) -> dict:
    """Unpack the wheels of the modules this Python lacks into `site`.

    A wheel is a zip of what goes into site-packages, so unpacking it and
    putting the folder first on the path is an installation that touches
    nothing outside `site`.  Returns {module: wheel file name or "present"}.
    """
    done = {}
    missing = []
    for module, dist in NEEDED:
        if importlib.util.find_spec(module) is not None:
            done[module] = "present"
            continue
        wheel = _wheel_for(dist, folder) if folder.is_dir() else None
        if wheel is None:
            missing.append(f"{module} ({dist})")
            continue
        with zipfile.ZipFile(wheel) as z:
            z.extractall(site)
        done[module] = wheel.name
    if missing:
        raise CheckError(
            f"CHECK_WHEELS: {folder} has no wheel for {', '.join(missing)}, which this Python "
            "lacks; run scripts/prepare_accelerator_bundle.sh on a machine with internet first")
    return done


def _jpeg_member(name: str):
    """('train'|'test', class, index) of an archive member like train/cat/0012.jpg."""
    parts = name.lstrip("./").split("/")
    if len(parts) != 3 or parts[0] not in ("train", "test") or parts[1] not in CLASS_NAMES:
        return None
    stem = parts[2].rsplit(".", 1)
    if len(stem) != 2 or stem[1].lower() not in ("jpg", "jpeg", "png") or not stem[0].isdigit():
        return None
    return parts[0], parts[1], int(stem[0])


def unpack_data(source: Path, dest: Path, train_images: int | None, test_images: int) -> Path:
    """train/ and test/ class folders with the first ceil(n/10) images per class
    (train_images None: all 5,000 of each class).

    `source` is the CIFAR-10 JPEG archive (.tar.gz) or a folder of that
    layout; only the images the check uses are unpacked or linked."""
    per_class = {"train": 5000 if train_images is None else math.ceil(train_images / 10),
                 "test": math.ceil(test_images / 10)}
    if source.is_dir():
        for split in ("train", "test"):
            for name in CLASS_NAMES:
                src_dir = source / split / name
                if not src_dir.is_dir():
                    raise CheckError(f"CHECK_DATA: {source} has no {split}/{name}/ folder")
                files = sorted(p for p in src_dir.iterdir() if _jpeg_member(f"{split}/{name}/{p.name}"))
                if len(files) < per_class[split]:
                    raise CheckError(f"CHECK_DATA: {src_dir} holds {len(files)} images, "
                                     f"fewer than the {per_class[split]} needed")
                (dest / split / name).mkdir(parents=True, exist_ok=True)
                for path in files[:per_class[split]]:
                    os.symlink(path.resolve(), dest / split / name / path.name)
        return dest
    if not source.is_file():
        raise CheckError(f"CHECK_DATA: {source} is neither the CIFAR-10 JPEG archive nor a folder "
                         "(run scripts/prepare_accelerator_bundle.sh, or set CHECK_DATA)")
    counts = {(s, c): 0 for s in per_class for c in CLASS_NAMES}
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                key = _jpeg_member(member.name) if member.isfile() else None
                if key is None:
                    continue
                split, name, _ = key
                if counts[(split, name)] >= per_class[split]:
                    continue
                target = dest / split / name / Path(member.name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                counts[(split, name)] += 1
    except (tarfile.TarError, OSError) as err:
        raise CheckError(f"CHECK_DATA: {source} cannot be read as a tar archive ({err})") from None
    short = {k: v for k, v in counts.items() if v < per_class[k[0]]}
    if short:
        (split, name), n = next(iter(short.items()))
        raise CheckError(f"CHECK_DATA: {source} holds {n} {split}/{name} images, fewer than the "
                         f"{per_class[split]} needed (is it the CIFAR-10 JPEG copy?)")
    return dest
