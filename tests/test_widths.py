"""The fair-baseline variants: thinner MobileNets (width multiplier) and gpc16-k-interleave.

Counts are exact: the thinner MobileNets against the issue's numbers and
against `keras.applications.MobileNet(alpha=...)` itself (its channel
rounding), gpc16-k-interleave against the block formula.
"""

import numpy as np
import pytest
import keras

from gpc_support.model.layers import ChannelInterleave, GroupedPointwiseConv2D
from gpc_support.model.counts import count_macs, count_params
from gpc_support.model.networks import (WIDTHS, block_table, build_model, check_channels,
                                parse_variant, variant_label, variant_name)

# Parameters with a 10-class head, as keras.applications.MobileNet(alpha) gives them.
WIDTH_COUNTS = {0.25: 221_114, 0.5: 834_666, 0.75: 1_840_666}


@pytest.mark.parametrize("alpha", WIDTHS)
@pytest.mark.parametrize("family", ["mobilenet", "mobilenet-swish"])
def test_thinner_mobilenet_counts_are_exact(family, alpha):
    name = f"{family}-a{alpha:g}"
    model = build_model(name, (32, 32, 3))
    assert model.count_params() == WIDTH_COUNTS[alpha]
    assert count_params(model)[0] == WIDTH_COUNTS[alpha]
    # block_table adds up to the same pointwise weights as the model holds
    pointwise = sum(w.size for layer in model.layers if layer.name.startswith("conv_pw_")
                    for w in layer.get_weights())
    assert sum(row["pointwise params"] for row in block_table(name)) == pointwise


@pytest.mark.parametrize("alpha", WIDTHS)
def test_width_follows_keras_applications_mobilenet(alpha):
    ours = build_model(f"mobilenet-a{alpha:g}", (224, 224, 3))
    theirs = keras.applications.MobileNet(weights=None, classes=10, alpha=alpha,
                                          input_shape=(224, 224, 3))
    assert ours.count_params() == theirs.count_params()
    assert count_macs(ours) == count_macs(theirs)
    ours_widths = [l.filters for l in ours.layers if isinstance(l, keras.layers.Conv2D)]
    theirs_widths = [l.filters for l in theirs.layers if isinstance(l, keras.layers.Conv2D)]
    assert ours_widths == theirs_widths


def test_alpha_one_is_mobilenet_itself():
    assert check_channels("mobilenet-a1.0") is None
    assert check_channels("mobilenet-a1") is None
    assert check_channels("mobilenet-swish-a1") == "mobilenet-swish"
    full = build_model("mobilenet-a1.0", (32, 32, 3))
    assert full.name == "mobilenet_v1"
    assert full.count_params() == build_model(None, (32, 32, 3)).count_params() == 3_239_114


def test_names_labels_and_canonical_forms():
    assert check_channels("MobileNet-A0.50") == "mobilenet-a0.5"
    assert check_channels("mobilenet-swish-a.25") == "mobilenet-swish-a0.25"
    assert variant_name("mobilenet-a0.75") == "mobilenet-a0.75"
    assert variant_label("mobilenet-a0.5") == "MobileNet \u00d70.5"
    assert variant_label("mobilenet-swish-a0.25") == "MobileNet-swish \u00d70.25"
    assert parse_variant("mobilenet-swish-a0.5").family == "mobilenet-swish"
    assert parse_variant("mobilenet-a0.5").family == "mobilenet"
    assert parse_variant("gpc16-k-interleave").family == "ablation"
    assert parse_variant(32).family == "gpc"
    for bad in ("mobilenet-a0", "mobilenet-a1.5", "mobilenet-a", "mobilenet-a0.01",
                "gpc16-a0.5", "mobilenet-swish-a-0.5"):
        with pytest.raises(ValueError, match="channels must be .*mobilenet-a<alpha>"):
            check_channels(bad)


@pytest.mark.parametrize("alpha", WIDTHS)
def test_thinner_activations(alpha):
    relu6 = build_model(f"mobilenet-a{alpha:g}", (32, 32, 3))
    swish = build_model(f"mobilenet-swish-a{alpha:g}", (32, 32, 3))
    pw_relu = [l for l in relu6.layers if l.name.startswith("conv_pw_") and
               isinstance(l, keras.layers.ReLU)]
    pw_swish = [l for l in swish.layers if l.name.startswith("conv_pw_") and
                isinstance(l, keras.layers.Activation)]
    assert len(pw_relu) == len(pw_swish) == 13
    assert {l.activation.__name__ for l in pw_swish} == {"silu"}
    assert not any(isinstance(l, keras.layers.Activation) and l.name.startswith("conv_pw_")
                   for l in relu6.layers)


def test_k_interleave_is_k_then_interleave_without_l_or_sum():
    model = build_model("gpc16-k-interleave", (32, 32, 3))
    assert not [l for l in model.layers if l.name.endswith("_L")]
    assert not [l for l in model.layers if isinstance(l, keras.layers.Add)]
    interleaves = [l for l in model.layers if isinstance(l, ChannelInterleave)]
    full = build_model(16, (32, 32, 3))
    # one interleave in every grouped block, as in gpc16
    assert len(interleaves) == len([l for l in full.layers if isinstance(l, ChannelInterleave)])
    for layer in interleaves:
        block = layer.name[: -len("_interleave")]
        assert layer.input is model.get_layer(f"{block}_K_act").output
    # the next block reads the interleaved K: block 4's padding reads block 3's interleave
    assert model.get_layer("conv_pad_4").input is model.get_layer("conv_pw_3_interleave").output


def test_k_interleave_counts_by_formula():
    model = build_model("gpc16-k-interleave", (32, 32, 3))
    k_only = build_model("gpc16-k-only", (32, 32, 3))
    # the interleave has no weights: the same weights as K alone, 194,762
    assert count_params(model) == count_params(k_only)
    assert model.count_params() == 194_762
    rows = block_table("gpc16-k-interleave")
    grouped = sum(w.size for l in model.layers if isinstance(l, GroupedPointwiseConv2D)
                  for w in l.get_weights())
    # K's weights in every grouped block: C*F/N, nothing for L
    assert grouped == sum(r["C"] * r["F"] // r["groups N"] for r in rows if r["groups N"] > 1)
    assert not any(r["L"] for r in rows)
    assert count_macs(model) == count_macs(k_only)


@pytest.mark.parametrize("name", ["mobilenet-a0.25", "mobilenet-swish-a0.5", "gpc16-k-interleave"])
def test_new_variants_train_a_few_steps(name):
    model = build_model(name, (32, 32, 3))
    model.compile(keras.optimizers.RMSprop(1e-3), "categorical_crossentropy", run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.random((16, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, 16), 10)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_run_all_accepts_the_new_names():
    from gpc_support.run.cli import parse_channels

    assert parse_channels("mobilenet-a0.25,mobilenet-swish-a0.5,gpc16-k-interleave") == [
        "mobilenet-a0.25", "mobilenet-swish-a0.5", "gpc16-k-interleave"]
