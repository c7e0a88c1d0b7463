"""`build_model` against the method authors' own trained gpcMobileNet files.

Uses ../shared/authors/*.hdf5 and a few test images from
../shared/data/cifar10-jpeg.tar.gz; skips, saying so, where they are absent.
"""

import tarfile
import types
from pathlib import Path

import numpy as np
import pytest
from keras import layers

from gpc_support import authors, models
from gpc_support.data import CLASS_NAMES

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
FILES = sorted((SHARED / "authors").glob("*-best_result.hdf5"))
ARCHIVE = SHARED / "data" / "cifar10-jpeg.tar.gz"

needs_files = pytest.mark.skipif(
    not FILES or not ARCHIVE.is_file(),
    reason="the authors' trained files (../shared/authors) or the CIFAR-10 JPEG copy "
           "(../shared/data) are not beside this checkout")


@pytest.fixture(scope="module")
def test_images(tmp_path_factory):
    """Two real test images per class, unpacked from the JPEG copy."""
    root = tmp_path_factory.mktemp("cifar_jpeg")
    wanted = {name: 2 for name in CLASS_NAMES}
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if (member.isfile() and len(parts) >= 3 and parts[-3] == "test"
                    and wanted.get(parts[-2], 0) > 0):
                wanted[parts[-2]] -= 1
                target = root / "test" / parts[-2] / parts[-1]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
                if not any(wanted.values()):
                    break
    return authors.load_test_images(root, 20)


@needs_files
@pytest.mark.parametrize("path", FILES, ids=[f.name.split("-")[3] for f in FILES])
def test_build_model_reproduces_the_authors_network(path, test_images):
    images, labels = test_images
    result = authors.compare_outputs(path, images, labels)
    assert result["channels"] in (16, 32)
    assert result["max_abs_diff"] < 1e-4
    assert result["argmax_agreement"] == 1.0
    assert result["authors_accuracy"] > 0.5      # a trained network, not uniform softmax


@needs_files
def test_the_comparison_catches_the_earlier_all_swish_wiring(monkeypatch, test_images):
    """With swish after the stem and the depthwise convolutions (the wiring
    before the fidelity fix) the same weights give other predictions."""
    images, labels = test_images
    swish_everywhere = types.SimpleNamespace(**vars(layers))
    swish_everywhere.ReLU = lambda max_value, name: layers.Activation("swish", name=name)
    monkeypatch.setattr(models, "layers", swish_everywhere)     # build_model's layers only
    result = authors.compare_outputs(FILES[0], images, labels)
    assert result["max_abs_diff"] > 0.1
    assert result["argmax_agreement"] < 0.9


@needs_files
def test_channels_are_read_from_the_group_counts():
    found = {authors.authors_channels(path) for path in FILES}
    assert found <= {16, 32} and found


def test_a_file_that_is_not_the_authors_is_refused(tmp_path):
    bad = tmp_path / "x.hdf5"
    bad.write_text("not hdf5")
    with pytest.raises(authors.AuthorsFileError, match="path"):
        authors.read_authors_model(bad)
    with pytest.raises(authors.AuthorsFileError, match="no such file"):
        authors.read_authors_model(tmp_path / "missing.hdf5")
