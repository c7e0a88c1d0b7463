"""CIFAR-10 loading, splitting and input pipelines for the GPC study.

Three sources give the same `CifarData`:

* ``data_dir=None``: ``keras.datasets.cifar10.load_data()`` (downloads once);
* ``"python-batches"``: the extracted ``cifar-10-batches-py`` folder
  (``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` pickles);
* ``"image-folders"``: ``train/<class>/*`` and ``test/<class>/*`` PNG or JPEG
  files whose folder names are the CIFAR-10 class names.  Decoding is done
  once with a thread pool and cached as ``.npz`` under ``$GPC_CACHE_DIR``
  (default ``~/.cache/gpc_study``), never inside the (maybe read-only) data
  folder.

The input pipeline is split in two on purpose:

* `make_dataset` only batches in-memory uint8 arrays and one-hot encodes the
  labels (cheap host work, no augmentation, no resize);
* `build_preprocessing` is a `keras.Sequential` that goes *inside* the model:
  rescale to [0, 1], augment (only when ``training=True``), resize.  It runs
  batched on the model's device, which is much faster than per-image
  augmentation in Python (``ImageDataGenerator``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import logging
import numbers
import os
import pickle
from pathlib import Path

import keras
import numpy as np

from .augment import AUGMENTATIONS, RandomAffine
from ..common.atomic_files import temporary_path
from .split import (SPLITS, DataError, _authors_split_indices, _balanced_subset, _check_limit,
                    _split_indices)

__all__ = [
    "CLASS_NAMES",
    "DataError",
    "CifarData",
    "detect_layout",
    "validate_data_dir",
    "load_cifar10",
    "make_dataset",
    "build_preprocessing",
]

log = logging.getLogger(__name__)

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
_CACHE_VERSION = 1

_ACCEPTED_LAYOUTS = (
    "accepted layouts: (1) the python batches data_batch_1 .. data_batch_5 and "
    f"test_batch (directly in data_dir or in data_dir/{_BATCHES_SUBDIR}, i.e. "
    "the extracted cifar-10-python.tar.gz); (2) image folders "
    "data_dir/train/<class>/*.png|jpg and data_dir/test/<class>/*.png|jpg with "
    f"the class folders named {', '.join(CLASS_NAMES)}"
)


@dataclasses.dataclass
class CifarData:
    """CIFAR-10 in memory: uint8 images (n, 32, 32, 3), int64 labels (n,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def summary(self) -> str:
        """One line: source and image counts per split."""
        return (
            f"CIFAR-10 from {self.source}: train {len(self.y_train)}, "
            f"val {len(self.y_val)}, test {len(self.y_test)} images "
            f"({len(self.class_names)} classes, {self.x_train.shape[1]}x"
            f"{self.x_train.shape[2]}x{self.x_train.shape[3]} uint8)"
        )


# --------------------------------------------------------------------------
# Layout detection and validation
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Loading the three sources
# --------------------------------------------------------------------------


def _load_keras() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """keras.datasets.cifar10 (downloads once to ~/.keras/datasets)."""
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as exc:
        raise DataError(
            "data_dir=None: downloading CIFAR-10 with "
            f"keras.datasets.cifar10.load_data() failed ({type(exc).__name__}: "
            f"{exc}). Without internet access pass data_dir=<folder>: a folder "
            "with the python batches (data_batch_1 .. data_batch_5, test_batch, "
            "e.g. the extracted cifar-10-batches-py) or with train/<class>/ and "
            "test/<class>/ image folders"
        ) from exc
    return x_train, y_train, x_test, y_test


def _load_python_batches(root: Path):
    """The six pickled batches under `root`."""
    parts = [_unpickle_batch(root / name) for name in _TRAIN_BATCHES]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _unpickle_batch(root / _TEST_BATCH)
    return x_train, y_train, x_test, y_test


def _cache_dir() -> Path:
    default = Path.home() / ".cache" / "gpc_study"
    return Path(os.environ.get("GPC_CACHE_DIR") or default).expanduser()


def _cache_key(root: Path, files: list[str]) -> str:
    """Hash of the folder path, file names, count, total size and newest mtime."""
    digest = hashlib.sha256(f"gpc-cifar10-v{_CACHE_VERSION}\n{root}\n".encode())
    prefix = str(root) + os.sep
    total_size = 0
    newest = 0
    for path in files:
        st = os.stat(path)
        total_size += st.st_size
        newest = max(newest, st.st_mtime_ns)
        digest.update(os.fsencode(path.removeprefix(prefix)) + b"\n")
    digest.update(f"{len(files)}\n{total_size}\n{newest}\n".encode())
    return digest.hexdigest()[:32]


def _read_cache(path: Path, key: str):
    """Cached arrays, or None if absent / corrupt / for other data."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            cached_key = str(npz["key"])
        ok = cached_key == key and all(
            arrays[x].dtype == np.uint8
            and arrays[x].shape[1:] == IMAGE_SHAPE
            and arrays[y].shape == (len(arrays[x]),)
            for x, y in (("x_train", "y_train"), ("x_test", "y_test"))
        )
        if not ok:
            raise ValueError("content does not match the data folder")
    except Exception as exc:
        log.warning("Ignoring bad cache file %s (%s); rebuilding it", path, exc)
        return None
    return tuple(arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))


def _write_cache(path: Path, key: str, arrays) -> None:
    """Write the arrays atomically (temp file + os.replace); warn on failure."""
    x_train, y_train, x_test, y_test = arrays
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(path)
        # 0o666: the umask decides the permissions, as for any file the user makes
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f, key=np.array(key), x_train=x_train, y_train=y_train,
                x_test=x_test, y_test=y_test,
            )
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        log.warning("Could not write the CIFAR-10 cache %s (%s)", path, exc)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def _decode_all(paths: list[str], desc: str) -> np.ndarray:
    """Decode images with a thread pool (Pillow releases the GIL) + progress bar."""
    from tqdm.auto import tqdm

    out = np.empty((len(paths), *IMAGE_SHAPE), dtype=np.uint8)
    chunk = 256

    def work(start: int) -> int:
        for i, path in enumerate(paths[start : start + chunk], start):
            out[i] = _read_image(path)
        return min(chunk, len(paths) - start)

    workers = min(16, 4 * (os.cpu_count() or 1))
    with tqdm(total=len(paths), desc=desc, unit="img", mininterval=0.5) as bar:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(work, s) for s in range(0, len(paths), chunk)]
            try:
                for future in concurrent.futures.as_completed(futures):
                    bar.update(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return out


def _load_image_folders(root: Path):
    """train/<class>/* and test/<class>/* images, via the .npz cache."""
    listing = {split: _image_files(root / split) for split in ("train", "test")}
    flat = {
        split: (
            [p for name in CLASS_NAMES for p in files[name]],
            np.concatenate(
                [np.full(len(files[name]), i, np.int64) for i, name in enumerate(CLASS_NAMES)]
            ),
        )
        for split, files in listing.items()
    }
    key = _cache_key(root, flat["train"][0] + flat["test"][0])
    cache_path = _cache_dir() / f"cifar10-{key}.npz"
    cached = _read_cache(cache_path, key)
    if cached is not None:
        log.info("Loaded decoded CIFAR-10 images from cache %s", cache_path)
        return cached
    x_train = _decode_all(flat["train"][0], "decode train images")
    x_test = _decode_all(flat["test"][0], "decode test images")
    arrays = (x_train, flat["train"][1], x_test, flat["test"][1])
    _write_cache(cache_path, key, arrays)
    return arrays


def load_cifar10(
    data_dir=None,
    *,
    validation_fraction: float = 0.1,
    seed: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
    split: str = "random",
) -> CifarData:
    """Load CIFAR-10 and split a stratified validation set off the training set.

    Args:
      data_dir: None for `keras.datasets.cifar10.load_data()`, else a folder
        with the python batches or the train/ and test/ class folders.
      validation_fraction: in (0, 1); which images become the validation
        set depends on `split`.
      seed: seeds the limits and the "random" split (same seed, same split).
      train_limit, test_limit: None or a positive int: keep a seeded,
        class-balanced subset of that many images (train_limit applies
        before the validation split; the kept images stay in source order).
      split: "random": round(n * fraction) training images (at least 1),
        stratified by class, drawn with `seed`, both parts in a seeded
        order.  "authors": the method authors' rule, the first
        int(fraction * n_c) images of each class c in source order (sorted
        file names for image folders, data_batch_1 .. data_batch_5 or
        keras.datasets' order for arrays), both parts in source order.

    Raises:
      ValueError for bad arguments, DataError for bad or missing data.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    fraction_ok = isinstance(validation_fraction, numbers.Real) and not isinstance(
        validation_fraction, bool
    )
    if not fraction_ok or not 0.0 < float(validation_fraction) < 1.0:
        raise ValueError(
            f"validation_fraction must be a number in (0, 1), got {validation_fraction!r}"
        )
    train_limit = _check_limit(train_limit, "train_limit")
    test_limit = _check_limit(test_limit, "test_limit")

    if data_dir is None:
        arrays, source = _load_keras(), "keras"
    else:
        layout = validate_data_dir(data_dir)
        root = _resolve_layout(data_dir)[1]
        loader = _load_python_batches if layout == "python-batches" else _load_image_folders
        arrays, source = loader(root), f"{layout}:{root}"
    x_train, y_train, x_test, y_test = arrays
    y_train = np.asarray(y_train, dtype=np.int64).reshape(-1)
    y_test = np.asarray(y_test, dtype=np.int64).reshape(-1)

    # Independent seeded streams, so a limit does not change the other draws.
    if train_limit is not None:
        keep = _balanced_subset(y_train, train_limit, np.random.default_rng([seed, 1]))
        x_train, y_train = x_train[keep], y_train[keep]
    if test_limit is not None:
        keep = _balanced_subset(y_test, test_limit, np.random.default_rng([seed, 2]))
        x_test, y_test = x_test[keep], y_test[keep]

    if split == "authors":
        train, val = _authors_split_indices(y_train, float(validation_fraction))
    else:
        train, val = _split_indices(y_train, float(validation_fraction),
                                    np.random.default_rng(seed))
    return CifarData(
        x_train=np.ascontiguousarray(x_train[train]),
        y_train=y_train[train],
        x_val=np.ascontiguousarray(x_train[val]),
        y_val=y_train[val],
        x_test=np.ascontiguousarray(x_test),
        y_test=y_test,
        class_names=CLASS_NAMES,
        source=source,
    )


# --------------------------------------------------------------------------
# Batches (a keras PyDataset) and in-model preprocessing
# --------------------------------------------------------------------------


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    num_classes: int = 10,
):
    """Batches of (uint8 images (b, 32, 32, 3), one-hot float32 labels (b, C)).

    A backend-neutral `feeding.ArrayFeeder` (a `keras.utils.PyDataset`, no
    tf.data): `training=True` orders each epoch by
    `numpy.random.default_rng([seed, epoch]).permutation(n)`, where the
    epoch is set with `set_epoch(epoch)` (the training engine does it at the
    start of every epoch); `training=False` keeps the arrays' order.  The
    last batch may be smaller.  No augmentation or resizing here: that is
    `build_preprocessing`'s job, inside the model.  With `Model.fit`, pass
    `shuffle=False` (the feeder orders itself).
    """
    from .array_feeder import ArrayFeeder

    return ArrayFeeder(x, y, batch_size, shuffle=bool(training), seed=seed,
                       num_classes=num_classes)


def check_augmentation(augment) -> str | None:
    """Normalise `augment`: True -> "paper", False/None/"none" -> None."""
    if augment is True:
        return "paper"
    if augment is False or augment is None or augment == "none":
        return None
    if augment in AUGMENTATIONS:
        return augment
    raise ValueError(
        f"augment must be one of {', '.join(AUGMENTATIONS)}, 'none', True or False; got {augment!r}"
    )


def build_preprocessing(
    image_size: int, *, augment="paper", seed: int = 0, augment_validation: bool = False,
    name: str = "preprocess",
) -> keras.Sequential:
    """In-model preprocessing: uint8 (None, 32, 32, 3) -> float32 in [0, 1].

    In the method authors' order (docs/method.md section 4): Rescaling(1/255), a
    nearest-neighbour Resizing to `image_size` (when it is not 32; their
    `flow_from_directory` resized first), THEN the augmentation at the
    training resolution: `augment.RandomAffine` (rotation, shifts, shear,
    independent x/y zoom as one bilinear affine map with nearest fill, then
    the horizontal flip), active only with training=True, or also at
    inference while its validation switch is on (`augment_validation=True`,
    see `augment.set_inference_augmentation`).  "paper" is the report's
    ImageDataGenerator setting, "light" a milder one for short 32 px runs.
    All layers run in float32 whatever the global dtype policy.
    """
    image_size = _check_positive_int(image_size, "image_size")
    if image_size < 32:
        raise ValueError(f"image_size must be an int >= 32, got {image_size!r}")
    stack = [
        keras.Input(shape=IMAGE_SHAPE, dtype="uint8", name=f"{name}_input"),
        keras.layers.Rescaling(1.0 / 255, dtype="float32", name=f"{name}_rescale"),
    ]
    if image_size != 32:
        stack.append(
            keras.layers.Resizing(
                image_size, image_size, interpolation="nearest", dtype="float32",
                name=f"{name}_resize",
            )
        )
    strength = check_augmentation(augment)
    if strength:
        stack.append(RandomAffine(**AUGMENTATIONS[strength], validation=bool(augment_validation),
                                  seed=seed, name=f"{name}_augment"))
    return keras.Sequential(stack, name=name)
