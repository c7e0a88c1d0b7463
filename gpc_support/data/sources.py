"""CIFAR-10 in memory (`CifarData`) from one of three sources, split for training: `load_cifar10`.

Three sources give the same `CifarData`:

* ``data_dir=None``: ``keras.datasets.cifar10.load_data()`` (downloads once);
* ``"python-batches"``: the extracted ``cifar-10-batches-py`` folder
  (``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` pickles);
* ``"image-folders"``: ``train/<class>/*`` and ``test/<class>/*`` PNG or JPEG
  files whose folder names are the CIFAR-10 class names.  Decoding is done
  once with a thread pool and cached as ``.npz`` under ``$GPC_CACHE_DIR``
  (default ``~/.cache/gpc_study``), never inside the (maybe read-only) data
  folder.

Which layout a folder holds and the reading of single files are in
`data.layouts`; the subsets and validation splits in `data.split`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import logging
import numbers
import os
from pathlib import Path

import keras
import numpy as np

from ..common.atomic_files import temporary_path
from .layouts import (_TEST_BATCH, _TRAIN_BATCHES, CLASS_NAMES, IMAGE_SHAPE, _image_files,
                      _read_image, _resolve_layout, _unpickle_batch, validate_data_dir)
from .split import (SPLITS, DataError, _authors_split_indices, _balanced_subset, _check_limit,
                    _split_indices)

__all__ = [
    "CifarData",
    "load_cifar10",
]

log = logging.getLogger(__name__)

_CACHE_VERSION = 1


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

