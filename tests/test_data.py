"""Tests for data.layouts, data.sources and the split on small synthetic data in the
real file formats (preprocessing: test_preprocessing.py).

Every image encodes its label and identity in its pixels, so the tests can
check that labels still belong to their images after loading and splitting:
channel 0 is label * 20 + 5, channel 1 is a per-split image id and channel 2
a position pattern that catches a wrong CHW -> HWC transpose.  JPEG is lossy,
so the JPEG images are one flat colour per class and checked approximately.
"""

import pickle

import keras
import numpy as np
import pytest
from PIL import Image

from gpc_support.data import sources as gdata
from gpc_support.data.input_pipeline import make_dataset
from gpc_support.data.layouts import CLASS_NAMES, detect_layout, validate_data_dir
from gpc_support.data.sources import CifarData, load_cifar10
from gpc_support.data.split import DataError

PER_BATCH = 20  # images per python batch file: 2 per class
N_TRAIN_BATCHES = 5
N_TRAIN = PER_BATCH * N_TRAIN_BATCHES  # 100
N_TEST = 20
PNG_TRAIN_PER_CLASS = 6
PNG_TEST_PER_CLASS = 2

_HH, _WW = np.mgrid[0:32, 0:32]
PATTERN = ((_HH * 7 + _WW * 3) % 256).astype(np.uint8)


def coded_image(label: int, ident: int) -> np.ndarray:
    """A 32x32x3 uint8 image whose pixels tell its label and id."""
    image = np.empty((32, 32, 3), np.uint8)
    image[..., 0] = label * 20 + 5
    image[..., 1] = ident
    image[..., 2] = PATTERN
    return image


def label_of(image: np.ndarray) -> int:
    return (int(image[0, 0, 0]) - 5) // 20


def class_colour(label: int) -> tuple[int, int, int]:
    return (label * 25, 250 - label * 25, 60 + label * 10)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets its own decode cache folder."""
    path = tmp_path / "cache"
    monkeypatch.setenv("GPC_CACHE_DIR", str(path))
    return path


def write_batch(path, labels, idents):
    images = np.stack([coded_image(l, i) for l, i in zip(labels, idents)])
    batch = {
        b"batch_label": b"synthetic batch",
        b"labels": [int(l) for l in labels],
        b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072),
        b"filenames": [b"img_%d.png" % i for i in idents],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f)


@pytest.fixture
def batches_dir(tmp_path):
    """data_batch_1..5 + test_batch; train ids 0..99, test ids 0..19."""
    root = tmp_path / "batches"
    root.mkdir()
    rng = np.random.default_rng(123)
    for b in range(N_TRAIN_BATCHES):
        labels = rng.permutation(np.arange(PER_BATCH) % 10)
        idents = range(b * PER_BATCH, (b + 1) * PER_BATCH)
        write_batch(root / f"data_batch_{b + 1}", labels, idents)
    write_batch(root / "test_batch", rng.permutation(np.arange(N_TEST) % 10), range(N_TEST))
    return root


def write_folders(root, fmt, train_per_class, test_per_class):
    """train/<class>/*.fmt and test/<class>/*.fmt (classes written in reverse order)."""
    ident = {"train": 0, "test": 0}
    for label in reversed(range(10)):
        for split, count in (("train", train_per_class), ("test", test_per_class)):
            folder = root / split / CLASS_NAMES[label]
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                if fmt == "png":
                    pixels = coded_image(label, ident[split])
                    Image.fromarray(pixels).save(folder / f"{k:04d}.png")
                else:
                    pixels = np.full((32, 32, 3), class_colour(label), np.uint8)
                    Image.fromarray(pixels).save(folder / f"{k:04d}.jpg", quality=95)
                ident[split] += 1
    return root


@pytest.fixture
def png_dir(tmp_path):
    return write_folders(tmp_path / "png", "png", PNG_TRAIN_PER_CLASS, PNG_TEST_PER_CLASS)


@pytest.fixture
def jpeg_dir(tmp_path):
    return write_folders(tmp_path / "jpeg", "jpg", 3, 1)


def check_arrays(data: CifarData, n_train_total: int, n_test: int):
    """Shapes, dtypes, label ranges, and labels agreeing with the pixels."""
    n_val = round(n_train_total * 0.1)
    assert len(data.x_val) == n_val and len(data.x_train) == n_train_total - n_val
    assert len(data.x_test) == n_test
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val),
                 (data.x_test, data.y_test)):
        assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3)
        assert y.dtype == np.int64 and y.shape == (len(x),)
        assert y.min() >= 0 and y.max() <= 9
    assert data.class_names == CLASS_NAMES
    assert "train" in data.summary() and str(n_test) in data.summary()


def check_coded(data: CifarData, n_train_total: int, n_test: int):
    """Every loaded image is an original, exactly, with its own label."""
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val),
                 (data.x_test, data.y_test)):
        for image, label in zip(x, y):
            assert label_of(image) == label
            np.testing.assert_array_equal(image, coded_image(label, image[0, 0, 1]))
    train_ids = np.concatenate([data.x_train[:, 0, 0, 1], data.x_val[:, 0, 0, 1]])
    assert sorted(train_ids) == list(range(n_train_total))
    assert sorted(data.x_test[:, 0, 0, 1]) == list(range(n_test))


# ----------------------------------------------------------------- sources


def test_python_batches(batches_dir):
    assert detect_layout(batches_dir) == "python-batches"
    assert validate_data_dir(batches_dir) == "python-batches"
    data = load_cifar10(batches_dir)
    check_arrays(data, N_TRAIN, N_TEST)
    check_coded(data, N_TRAIN, N_TEST)
    assert data.source.startswith("python-batches")


def test_python_batches_in_subfolder(tmp_path, batches_dir):
    parent = tmp_path / "download"
    parent.mkdir()
    batches_dir.rename(parent / "cifar-10-batches-py")
    assert detect_layout(str(parent)) == "python-batches"
    check_coded(load_cifar10(parent), N_TRAIN, N_TEST)


def test_png_folders(png_dir, cache_dir):
    assert detect_layout(png_dir) == "image-folders"
    assert validate_data_dir(png_dir) == "image-folders"
    before = sorted(p for p in png_dir.rglob("*"))
    data = load_cifar10(png_dir)
    n_train = 10 * PNG_TRAIN_PER_CLASS
    check_arrays(data, n_train, 10 * PNG_TEST_PER_CLASS)
    check_coded(data, n_train, 10 * PNG_TEST_PER_CLASS)
    assert data.source.startswith("image-folders")
    # The cache lives in GPC_CACHE_DIR, nothing is written into the data folder.
    assert sorted(p for p in png_dir.rglob("*")) == before
    assert len(list(cache_dir.glob("*.npz"))) == 1
    assert not list(cache_dir.glob("*.tmp"))


def test_jpeg_folders(jpeg_dir):
    data = load_cifar10(jpeg_dir, validation_fraction=0.2)
    assert len(data.x_train) + len(data.x_val) == 30 and len(data.x_val) == 6
    assert len(data.x_test) == 10
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val),
                 (data.x_test, data.y_test)):
        assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3)
        assert y.dtype == np.int64 and y.ndim == 1
        for image, label in zip(x, y):
            mean = image.reshape(-1, 3).mean(axis=0)
            assert np.abs(mean - class_colour(label)).max() < 6
    assert sorted(data.y_test) == list(range(10))


def test_image_cache_is_used_and_rebuilt(png_dir, cache_dir, monkeypatch):
    first = load_cifar10(png_dir)
    (cache_file,) = cache_dir.glob("*.npz")

    # Warm: no image is decoded (except validate_data_dir's one per class).
    calls = []
    real_decode = gdata._decode_all
    monkeypatch.setattr(gdata, "_decode_all", lambda *a: calls.append(a) or real_decode(*a))
    warm = load_cifar10(png_dir)
    assert calls == []
    np.testing.assert_array_equal(warm.x_train, first.x_train)

    # A corrupt cache file is ignored and rewritten.
    cache_file.write_bytes(b"not a zip file")
    rebuilt = load_cifar10(png_dir)
    assert len(calls) == 2  # train and test decoded again
    np.testing.assert_array_equal(rebuilt.x_test, first.x_test)
    np.load(cache_file)["x_train"]  # valid again

    # Changing the data changes the cache key.
    Image.fromarray(coded_image(0, 200)).save(png_dir / "train" / "airplane" / "new.png")
    changed = load_cifar10(png_dir)
    assert len(changed.y_train) + len(changed.y_val) == 10 * PNG_TRAIN_PER_CLASS + 1
    assert len(list(cache_dir.glob("*.npz"))) == 2


def test_keras_source(monkeypatch):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    y_train = (np.arange(50) % 10).astype(np.uint8).reshape(-1, 1)
    y_test = (np.arange(10) % 10).astype(np.uint8).reshape(-1, 1)
    monkeypatch.setattr(
        keras.datasets.cifar10, "load_data", lambda: ((x_train, y_train), (x_test, y_test))
    )
    data = load_cifar10()
    check_arrays(data, 50, 10)
    assert data.source == "keras"
    np.testing.assert_array_equal(data.x_test, x_test)


def test_download_failure_message(monkeypatch):
    def offline():
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DataError) as info:
        load_cifar10(None)
    message = str(info.value)
    assert "data_dir" in message and "download" in message
    assert "no network" in message and "train/" in message and "data_batch_1" in message


# ------------------------------------------------------ split and limits


def test_split_deterministic_disjoint_covering(batches_dir):
    a = load_cifar10(batches_dir, seed=1)
    b = load_cifar10(batches_dir, seed=1)
    c = load_cifar10(batches_dir, seed=2)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    ids = lambda d: (set(d.x_train[:, 0, 0, 1]), set(d.x_val[:, 0, 0, 1]))
    train_a, val_a = ids(a)
    assert train_a.isdisjoint(val_a) and train_a | val_a == set(range(N_TRAIN))
    assert val_a != ids(c)[1]
    # Stratified: 10 validation images, one per class.
    assert sorted(a.y_val) == list(range(10))


@pytest.mark.parametrize("fraction, n_val", [(0.1, 10), (0.25, 25), (0.001, 1), (0.5, 50)])
def test_validation_size(batches_dir, fraction, n_val):
    data = load_cifar10(batches_dir, validation_fraction=fraction)
    assert len(data.y_val) == n_val and len(data.y_train) == N_TRAIN - n_val


def test_limits(batches_dir):
    data = load_cifar10(batches_dir, train_limit=30, test_limit=10)
    train_labels = np.concatenate([data.y_train, data.y_val])
    assert len(train_labels) == 30 and len(data.y_val) == 3
    assert np.bincount(train_labels, minlength=10).tolist() == [3] * 10
    assert sorted(data.y_test) == list(range(10))
    for image, label in zip(data.x_train, data.y_train):
        assert label_of(image) == label
    # Uneven limits stay balanced (counts differ by at most one) and seeded.
    odd = load_cifar10(batches_dir, train_limit=35, test_limit=13, seed=5)
    counts = np.bincount(np.concatenate([odd.y_train, odd.y_val]), minlength=10)
    assert counts.sum() == 35 and counts.max() - counts.min() <= 1
    assert len(odd.y_test) == 13
    again = load_cifar10(batches_dir, train_limit=35, test_limit=13, seed=5)
    np.testing.assert_array_equal(odd.x_train, again.x_train)
    # A limit above the size keeps everything.
    big = load_cifar10(batches_dir, train_limit=10_000, test_limit=10_000)
    assert len(big.y_train) + len(big.y_val) == N_TRAIN and len(big.y_test) == N_TEST


@pytest.mark.parametrize("name", ["train_limit", "test_limit"])
@pytest.mark.parametrize("value", [0, -3, 2.5, "10", True])
def test_bad_limits(batches_dir, name, value):
    with pytest.raises(ValueError, match=name):
        load_cifar10(batches_dir, **{name: value})


@pytest.mark.parametrize("value", [0, 1, -0.1, 1.5, "0.1", None])
def test_bad_validation_fraction(batches_dir, value):
    with pytest.raises(ValueError, match="validation_fraction"):
        load_cifar10(batches_dir, validation_fraction=value)


# ------------------------------------------------------------ DataErrors


def test_missing_dir(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match="data_dir.*does not exist") as info:
        load_cifar10(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(DataError, match="does not exist"):
        validate_data_dir(missing)


def test_not_a_directory(tmp_path):
    file = tmp_path / "cifar-10-python.tar.gz"
    file.write_bytes(b"x")
    with pytest.raises(DataError, match="data_dir.*not a directory"):
        detect_layout(file)


def test_empty_dir(tmp_path):
    with pytest.raises(DataError, match="data_dir.*is empty"):
        detect_layout(tmp_path)


def test_wrong_layout(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path)
    message = str(info.value)
    assert "data_dir" in message and "images/" in message and "readme.txt" in message
    assert "data_batch_1" in message and "train/<class>" in message


def test_incomplete_batches(batches_dir):
    (batches_dir / "data_batch_4").unlink()
    with pytest.raises(DataError, match="lacks data_batch_4"):
        detect_layout(batches_dir)


def test_corrupt_batch(batches_dir):
    (batches_dir / "test_batch").write_bytes(b"garbage, not a pickle")
    with pytest.raises(DataError, match="test_batch"):
        validate_data_dir(batches_dir)
    with open(batches_dir / "data_batch_2", "wb") as f:
        pickle.dump({b"labels": [1, 2]}, f)
    with pytest.raises(DataError, match="data_batch_2"):
        gdata._load_python_batches(batches_dir)


def test_wrong_class_folder(png_dir):
    (png_dir / "train" / "cat").rename(png_dir / "train" / "kitten")
    with pytest.raises(DataError) as info:
        validate_data_dir(png_dir)
    assert "kitten" in str(info.value) and "cat" in str(info.value)


@pytest.mark.parametrize("first", [True, False], ids=["validate", "load"])
def test_wrong_image_size(png_dir, first):
    # "00-bad" sorts first, so validate_data_dir sees it; "zzz" only the full load.
    bad = png_dir / "train" / "dog" / ("00-bad.png" if first else "zzz.png")
    Image.new("RGB", (28, 32)).save(bad)
    if first:
        with pytest.raises(DataError, match="32x32") as info:
            validate_data_dir(png_dir)
    else:
        validate_data_dir(png_dir)
        with pytest.raises(DataError, match="32x32") as info:
            load_cifar10(png_dir)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("first", [True, False], ids=["validate", "load"])
def test_unreadable_image(jpeg_dir, first):
    bad = jpeg_dir / "test" / "ship" / ("00-bad.jpg" if first else "zzz.jpg")
    bad.write_bytes(b"\xff\xd8\xff this is not really a jpeg")
    call = validate_data_dir if first else load_cifar10
    with pytest.raises(DataError, match="cannot read") as info:
        call(jpeg_dir)
    assert str(bad) in str(info.value)


# make_dataset (the backend-neutral feeder) is tested in tests/test_feeding.py


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, None, "8"])
def test_make_dataset_bad_batch_size(batch_size):
    x = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(x, np.zeros(4, int), batch_size, training=False)


# ------------------------------------------------------ the authors' split


def test_authors_split_takes_the_first_files_of_each_class_in_sorted_name_order(tmp_path):
    """Keras 2.6's flow_from_directory(validation_split=f): the first
    int(f * n) file names of each class in sorted (string) order."""
    root = tmp_path / "names"
    for label, name in enumerate(CLASS_NAMES):
        for split, count in (("train", 12), ("test", 1)):
            folder = root / split / name
            folder.mkdir(parents=True)
            for k in range(count):
                ident = label * 12 + k if split == "train" else label
                Image.fromarray(coded_image(label, ident)).save(folder / f"{k}.png")
    data = load_cifar10(root, validation_fraction=0.25, split="authors")
    # int(0.25 * 12) = 3 per class; sorted names 0.png, 1.png, 10.png, 11.png, 2.png, ...
    want_val = [label * 12 + k for label in range(10) for k in (0, 1, 10)]
    assert data.x_val[:, 0, 0, 1].tolist() == want_val
    assert data.y_val.tolist() == [label for label in range(10) for _ in range(3)]
    want_train = [label * 12 + k for label in range(10) for k in (11, 2, 3, 4, 5, 6, 7, 8, 9)]
    assert data.x_train[:, 0, 0, 1].tolist() == want_train
    check_coded(data, 120, 10)


def test_authors_split_of_arrays_is_the_first_of_each_class_in_source_order(batches_dir):
    """The python batches: ids are source positions (data_batch_1 first),
    each class has 10 images, int(0.3 * 10) = 3 of them validate."""
    data = load_cifar10(batches_dir, validation_fraction=0.3, split="authors")
    ids = np.concatenate([data.x_train[:, 0, 0, 1], data.x_val[:, 0, 0, 1]])
    labels = np.concatenate([data.y_train, data.y_val])[np.argsort(ids)]  # in source order
    want_val = sorted(i for c in range(10) for i in np.flatnonzero(labels == c)[:3])
    assert data.x_val[:, 0, 0, 1].tolist() == want_val
    assert data.x_train[:, 0, 0, 1].tolist() == sorted(set(range(N_TRAIN)) - set(want_val))
    assert np.bincount(data.y_val).tolist() == [3] * 10
    # no randomness: the seed changes nothing
    other = load_cifar10(batches_dir, validation_fraction=0.3, split="authors", seed=5)
    np.testing.assert_array_equal(other.x_val, data.x_val)
    np.testing.assert_array_equal(other.x_train, data.x_train)
    # after a limit, the rule applies to the kept images in source order
    kept = load_cifar10(batches_dir, validation_fraction=0.4, split="authors", train_limit=50)
    kept_ids = np.sort(np.concatenate([kept.x_train[:, 0, 0, 1], kept.x_val[:, 0, 0, 1]]))
    kept_labels = labels[kept_ids]
    assert kept.x_val[:, 0, 0, 1].tolist() == sorted(
        kept_ids[i] for c in range(10) for i in np.flatnonzero(kept_labels == c)[:2])


def test_authors_split_bad_input(batches_dir):
    with pytest.raises(ValueError, match="split must be one of random, authors, got 'first'"):
        load_cifar10(batches_dir, split="first")
    # int(0.05 * 10) = 0 for every class
    with pytest.raises(DataError, match="leaves no validation image under the authors' split"):
        load_cifar10(batches_dir, validation_fraction=0.05, split="authors")
