"""`build_model` against the method authors' own trained gpcMobileNet files.

Uses ../shared/authors/*.hdf5 (skips, saying so, where they are absent) and
two test images per class of the CIFAR-10 subset committed in embedded_data/.
"""

import types
from pathlib import Path

import pytest
from keras import layers

from gpc_support.train import authors_weights as authors
from gpc_support.model import networks as models
from gpc_support.data.embedded import embedded_data_dir

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
FILES = sorted((SHARED / "authors").glob("*-best_result.hdf5"))

needs_files = pytest.mark.skipif(
    not FILES, reason="the authors' trained files (../shared/authors) are not beside this checkout")


@pytest.fixture(scope="module")
def test_images():
    """Two real test images per class: the first by name in the embedded subset."""
    return authors.load_test_images(embedded_data_dir(), 20)


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
