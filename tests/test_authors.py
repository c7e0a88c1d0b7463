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


@needs_files
def test_the_verification_script_writes_its_record(tmp_path):
    """scripts/verify_authors_weights.py --out: the record the docs cite, with
    each accuracy's standard error and the images' hash, and no machine path."""
    import importlib.util
    import json

    script = Path(__file__).resolve().parent.parent / "scripts" / "verify_authors_weights.py"
    spec = importlib.util.spec_from_file_location("verify_authors_weights", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "record" / "authors_on_jpeg.json"
    data = embedded_data_dir()
    assert module.main(["--data-dir", str(data), "--images", "20", "--out", str(out), str(FILES[0])]) == 0
    record = json.loads(out.read_text())
    (r,) = record["results"]
    assert r["images"] == 20 and r["max_abs_diff"] < 1e-4
    p = r["authors_accuracy"]
    assert r["authors_standard_error"] == pytest.approx((p * (1 - p) / 20) ** 0.5)
    assert len(record["images_sha256"]) == 64
    assert str(data) not in out.read_text() and str(tmp_path) not in out.read_text()


def test_jpeg_note_gives_the_committed_measurement():
    """JPEG_NOTE, which every summary prints, quotes the committed record of
    the authors' files on the JPEG copy, and the authors' own PNG figures."""
    import json

    from gpc_support.report.published_values import AUTHORS_ACCURACY, JPEG_NOTE

    record = json.loads((Path(__file__).resolve().parent.parent / "results" / "verification"
                         / "authors_on_jpeg.json").read_text())
    rows = {r["channels"]: r for r in record["results"]}
    assert set(rows) == {16, 32}
    for channels, r in rows.items():
        assert r["max_abs_diff"] == 0.0 and r["argmax_agreement"] == 1.0
        assert f"{100 * r['authors_accuracy']:.1f}%" in JPEG_NOTE
        assert f"{AUTHORS_ACCURACY[f'gpc{channels}']:.2f}%" in JPEG_NOTE
    (images,) = {r["images"] for r in rows.values()}
    assert f"{images:,} test images" in JPEG_NOTE
    se = max(r["authors_standard_error"] for r in rows.values())
    assert f"standard error {100 * se:.1f} pp" in JPEG_NOTE
    cost = sum(AUTHORS_ACCURACY[f"gpc{c}"] - 100 * r["authors_accuracy"] for c, r in rows.items()) / 2
    assert f"about {cost:.0f} points less" in JPEG_NOTE
