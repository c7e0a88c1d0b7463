"""The two CIFAR-10 layouts on disk: which one a folder holds, a cheap check of it, one file read.

* ``"python-batches"``: the extracted ``cifar-10-batches-py`` folder
  (``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` pickles), directly
  in the data folder or in its ``cifar-10-batches-py`` subfolder;
* ``"image-folders"``: ``train/<class>/*`` and ``test/<class>/*`` PNG or JPEG
  files whose folder names are the CIFAR-10 class names.

Loading whole splits (and the decode cache) is `data.sources`' job.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from .split import DataError

__all__ = [
    "CLASS_NAMES",
    "IMAGE_SHAPE",
    "detect_layout",
    "validate_data_dir",
]

CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

IMAGE_SHAPE = (32, 32, 3)
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
_BATCHES_SUBDIR = "cifar-10-batches-py"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

_ACCEPTED_LAYOUTS = (
    "accepted layouts: (1) the python batches data_batch_1 .. data_batch_5 and "
    f"test_batch (directly in data_dir or in data_dir/{_BATCHES_SUBDIR}, i.e. "
    "the extracted cifar-10-python.tar.gz); (2) image folders "
    "data_dir/train/<class>/*.png|jpg and data_dir/test/<class>/*.png|jpg with "
    f"the class folders named {', '.join(CLASS_NAMES)}"
)


def _describe_entries(path: Path, limit: int = 12) -> str:
    """A short listing of a folder's entries for error messages."""
    names = sorted(
        (e.name + ("/" if e.is_dir() else "")) for e in os.scandir(path)
    )
    if len(names) > limit:
        return ", ".join(names[:limit]) + f", ... ({len(names)} entries)"
    return ", ".join(names)


def _as_dir(data_dir) -> Path:
    """`data_dir` as an absolute Path that exists and is a non-empty folder."""
    if not isinstance(data_dir, (str, os.PathLike)):
        raise DataError(
            f"data_dir must be a path (str or os.PathLike), got {data_dir!r}; "
            + _ACCEPTED_LAYOUTS
        )
    path = Path(data_dir).expanduser()
    if not path.exists():
        raise DataError(
            f"data_dir={str(path)!r} does not exist; expected a folder with "
            "CIFAR-10. " + _ACCEPTED_LAYOUTS
        )
    if not path.is_dir():
        raise DataError(
            f"data_dir={str(path)!r} is not a directory (a file?); expected a "
            "folder with CIFAR-10 (extract archives first). " + _ACCEPTED_LAYOUTS
        )
    try:
        with os.scandir(path) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        raise DataError(f"data_dir={str(path)!r} cannot be listed: {exc}") from exc
    if empty:
        raise DataError(
            f"data_dir={str(path)!r} is empty; expected CIFAR-10 in it. "
            + _ACCEPTED_LAYOUTS
        )
    return path.resolve()


def _find_batches_root(path: Path) -> Path | None:
    """The folder holding all six python batches (path or its subfolder), if any."""
    for root in (path, path / _BATCHES_SUBDIR):
        names = (*_TRAIN_BATCHES, _TEST_BATCH)
        if root.is_dir() and all((root / n).is_file() for n in names):
            return root
    return None


def _resolve_layout(data_dir) -> tuple[str, Path]:
    """(layout, root) for `data_dir`; root is where the batches / splits live."""
    path = _as_dir(data_dir)
    root = _find_batches_root(path)
    if root is not None:
        return "python-batches", root
    if (path / "train").is_dir() and (path / "test").is_dir():
        return "image-folders", path

    hints = []
    for root in (path, path / _BATCHES_SUBDIR):
        present = [n for n in (*_TRAIN_BATCHES, _TEST_BATCH) if (root / n).exists()]
        if present:
            missing = [n for n in (*_TRAIN_BATCHES, _TEST_BATCH) if n not in present]
            hints.append(
                f"{root} has {', '.join(present)} but lacks {', '.join(missing)}"
            )
    for split in ("train", "test"):
        other = "test" if split == "train" else "train"
        if (path / split).is_dir() and not (path / other).is_dir():
            hints.append(f"found {split}/ but no {other}/ folder")
    if any(path.glob("*.tar.gz")) or any(path.glob("*.tgz")):
        hints.append("there is an archive: extract it first")
    hint = ("; " + "; ".join(hints)) if hints else ""
    raise DataError(
        f"data_dir={str(path)!r} holds no CIFAR-10 layout (found: "
        f"{_describe_entries(path)}){hint}. " + _ACCEPTED_LAYOUTS
    )


def detect_layout(data_dir) -> str:
    """Return ``"python-batches"`` or ``"image-folders"`` for `data_dir`.

    Raises `DataError` if `data_dir` is missing, not a directory, empty or
    holds neither layout (the message lists what was found).
    """
    return _resolve_layout(data_dir)[0]


def _image_files(split_dir: Path) -> dict[str, list[str]]:
    """{class name: image paths sorted by name} for one split folder.

    Checks that the class folders are exactly the CIFAR-10 class names.  Paths
    are plain strings: pathlib is ~10x slower for 60,000 files.
    """
    found = {
        e.name: e.path
        for e in os.scandir(split_dir)
        if e.is_dir() and not e.name.startswith(".")
    }
    unknown = sorted(set(found) - set(CLASS_NAMES))
    missing = [c for c in CLASS_NAMES if c not in found]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown class folders {unknown}")
        if missing:
            problems.append(f"missing class folders {missing}")
        raise DataError(
            f"data_dir: {split_dir} has {' and '.join(problems)}; expected one "
            f"folder per CIFAR-10 class named exactly: {', '.join(CLASS_NAMES)}"
        )
    files = {}
    for name in CLASS_NAMES:
        paths = sorted(
            e.path
            for e in os.scandir(found[name])
            if e.is_file()
            and not e.name.startswith(".")
            and e.name.lower().endswith(_IMAGE_SUFFIXES)
        )
        if not paths:
            raise DataError(
                f"data_dir: class folder {found[name]} holds no PNG/JPEG images "
                f"(expected files ending in {', '.join(_IMAGE_SUFFIXES)})"
            )
        files[name] = paths
    return files


def _read_image(path: str) -> np.ndarray:
    """One image file as uint8 (32, 32, 3); DataError naming the file otherwise."""
    from PIL import Image  # Pillow is only needed for image folders.

    try:
        with Image.open(path) as image:
            if image.size != IMAGE_SHAPE[:2]:
                raise DataError(
                    f"data_dir: image {path} is {image.size[0]}x{image.size[1]}"
                    " pixels; CIFAR-10 images must be 32x32"
                )
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # PIL raises many types for broken files.
        raise DataError(
            f"data_dir: cannot read image file {path} "
            f"({type(exc).__name__}: {exc}); expected a 32x32 PNG or JPEG"
        ) from exc
    return array


def _unpickle_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One python batch -> (uint8 (n, 32, 32, 3), int64 (n,)); DataError naming it.

    Note: unpickling runs code from the file; only use trusted CIFAR files.
    """
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as exc:
        raise DataError(
            f"data_dir: cannot unpickle CIFAR-10 batch {path} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(batch, dict):
        raise DataError(
            f"data_dir: {path} holds a {type(batch).__name__}; expected a dict "
            'with b"data" and b"labels" (a CIFAR-10 python batch)'
        )
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise DataError(
            f"data_dir: {path} lacks b\"data\" or b\"labels\" (keys: "
            f"{sorted(map(repr, batch))}); expected a CIFAR-10 python batch"
        )
    data = np.asarray(data)
    labels = np.asarray(labels).reshape(-1)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(
            f"data_dir: {path} has data of shape {data.shape} and "
            f"{len(labels)} labels; expected (n, 3072) uint8 rows and n labels"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise DataError(
            f"data_dir: {path} has labels outside 0..{len(CLASS_NAMES) - 1}"
        )
    # Rows are channel-major (1024 red, 1024 green, 1024 blue), row-major pixels.
    images = data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32)
    images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    return images, labels.astype(np.int64)


def validate_data_dir(data_dir) -> str:
    """Cheap check of `data_dir` before any expensive work; returns the layout.

    Image folders: all ten class folders exist in train/ and test/, and one
    image per class and split opens as a 32x32 image.  Python batches: the
    train batches are non-empty files and test_batch unpickles to a proper
    CIFAR-10 batch.  Raises `DataError` naming the bad folder or file.
    """
    layout, root = _resolve_layout(data_dir)
    if layout == "image-folders":
        for split in ("train", "test"):
            for paths in _image_files(root / split).values():
                _read_image(paths[0])
    else:
        for name in _TRAIN_BATCHES:
            if (root / name).stat().st_size == 0:
                raise DataError(f"data_dir: CIFAR-10 batch {root / name} is empty")
        _unpickle_batch(root / _TEST_BATCH)
    return layout

