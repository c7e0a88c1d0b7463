"""The ablation's table, contrasts and figure, from results folders
with known per-image outcomes."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gpc_support.report import ablation as abl
from gpc_support.report.results import load_results
from gpc_support.report.estimators import mcnemar_exact
from gpc_support.report.summary_text import write_summary
from tests.reporting_fixtures import TEST_IMAGES, make_run

# right answers per (variant, seed): the first k images of the test set
RIGHT = {
    "mobilenet": (600, 610, 590), "mobilenet-swish": (620, 640, 600),
    "gpc16": (560, 570, 565), "gpc16-relu6": (500, 505, 520),
    "gpc16-no-interleave": (550, 575, 560), "gpc16-no-sum": (530, 540, 520),
    "gpc16-k-only": (450, 460, 455), "gpc16-k-interleave": (520, 515, 530),
}
# the main study's other gpc networks (for the equal-activation comparisons)
RIGHT_MAIN = {"gpc32": (610, 600, 605), "gpc64": (615, 650, 600), "gpc128": (700, 705, 690)}


def _mask(k):
    mask = np.zeros(TEST_IMAGES, bool)
    mask[:k] = True
    return mask


@pytest.fixture
def ablation_folder(tmp_path):
    runs = tmp_path / "res" / "runs"
    for variant, ks in RIGHT.items():
        for seed, k in enumerate(ks):
            make_run(runs, variant, seed=seed, correct=_mask(k))
    for variant, ks in RIGHT_MAIN.items():
        for seed, k in enumerate(ks):
            make_run(runs, variant, seed=seed, correct=_mask(k))
    return tmp_path / "res"


def test_split_keeps_the_main_study_apart(ablation_folder):
    results = load_results(ablation_folder)
    main, ablation = abl.split_ablation(results)
    assert list(main) == ["mobilenet", "gpc16", "gpc32", "gpc64", "gpc128"]
    assert list(ablation) == list(abl.ABLATION_VARIANTS)
    assert ablation["gpc16"] is results["gpc16"]
    # a variant added later is in the table only once the folder has runs of it
    earlier = {k: v for k, v in results.items() if k not in abl.LATER_VARIANTS}
    assert list(abl.split_ablation(earlier)[1]) == [v for v in abl.ABLATION_VARIANTS
                                                    if v not in abl.LATER_VARIANTS]
    # a folder without ablation runs has no ablation
    only_main = {k: v for k, v in results.items() if k in main}
    assert abl.split_ablation(only_main) == (only_main, {})


def test_names_match_the_models_ablations():
    from gpc_support.model.networks import check_channels

    for name in abl.ABLATION_ONLY:
        assert check_channels(name) == name


def test_table_mean_sd_and_every_seed(ablation_folder):
    _, ablation = abl.split_ablation(load_results(ablation_folder))
    table = abl.ablation_table(ablation)
    row = table.loc["gpc16-relu6"]
    acc = np.array(RIGHT["gpc16-relu6"]) / TEST_IMAGES * 100
    assert row["Seeds"] == 3
    assert row["Test accuracy mean %"] == pytest.approx(acc.mean())
    assert row["Test accuracy sd (pp)"] == pytest.approx(acc.std(ddof=1))
    assert row["Test accuracy per seed %"] == "0: 50.00, 1: 50.50, 2: 52.00"
    assert table.loc["gpc16", "Parameters"] == 274_122


def test_contrasts_are_the_issues_differences_with_exact_tests(ablation_folder):
    main, ablation = abl.split_ablation(load_results(ablation_folder))
    per_seed, summary = abl.contrast_tests(ablation, n_resamples=500, others=main)
    assert list(summary.index) == [c.name for c in abl.ALL_CONTRASTS]
    assert summary["primary"].tolist() == [True] * 5 + [False] * 8
    assert summary["group"].tolist() == ["primary"] * 5 + ["rest of block"] * 2 + \
        ["equal activation"] * 4 + ["mixing"] * 2
    # the mixing contrasts come last, so the earlier ones keep their bootstrap seeds
    assert [c.name for c in abl.ALL_CONTRASTS[-2:]] == ["mixing across groups",
                                                        "L and the sum on top of mixing"]
    assert summary.loc["mixing across groups", "difference"] == \
        "gpc16-k-interleave - gpc16-k-only"
    assert summary.loc["L and the sum on top of mixing", "difference"] == \
        "gpc16 - gpc16-k-interleave"
    assert summary.loc["grouping", "difference"] == "gpc16-k-only - mobilenet-swish"
    assert summary.loc["activation, dense side", "difference"] == "mobilenet-swish - MobileNet"
    right = {**RIGHT, **RIGHT_MAIN}
    for c in abl.ALL_CONTRASTS:
        expected = [(w - o) / TEST_IMAGES * 100 for w, o in zip(right[c.with_part], right[c.without])]
        rows = per_seed[per_seed["contrast"] == c.name]
        assert rows["diff pp"].tolist() == pytest.approx(expected)
        assert summary.loc[c.name, "mean diff pp"] == pytest.approx(np.mean(expected))
        assert summary.loc[c.name, "sd diff pp"] == pytest.approx(np.std(expected, ddof=1))
        for seed, (_, row) in enumerate(rows.iterrows()):
            w, o = _mask(right[c.with_part][seed]), _mask(right[c.without][seed])
            assert row["p"] == pytest.approx(mcnemar_exact(o, w))
            assert row["only_with"] == int(np.sum(w & ~o)) and row["only_without"] == int(np.sum(~w & o))
    # interleave: +1.0, -0.5, +0.5 pp -> the sign differs between seeds
    assert not summary.loc["interleave", "same sign"]
    # activation, grouped side: +6, +6.5, +4.5 pp, 60-65 discordant images each: all significant
    act = summary.loc["activation, grouped side"]
    assert act["significant seeds"] == 3 and act["same sign"] and act["ci_low pp"] > 0
    # the pooled interval is a bootstrap of the per-image mean difference over seeds
    d = np.mean([_mask(w).astype(float) - _mask(o).astype(float)
                 for w, o in zip(RIGHT["gpc16"], RIGHT["gpc16-relu6"])], axis=0)
    ci = stats.bootstrap((d,), np.mean, n_resamples=500, method="percentile", vectorized=True,
                         rng=np.random.default_rng(0)).confidence_interval
    assert act["ci_low pp"] == pytest.approx(100 * ci.low, abs=0.3)
    assert act["ci_high pp"] == pytest.approx(100 * ci.high, abs=0.3)
    words = abl.contrast_statements(per_seed, summary)
    assert words[0].startswith("**activation, grouped side** (gpc16 - gpc16-relu6): +5.67 pp")
    assert "the part helps" in words[0]
    assert "the part helps" not in words[2] and ", not resolved (" in words[2]
    assert set(summary["verdict"]) <= {"holds", "not resolved"}
    assert summary.loc["activation, grouped side", "verdict"] == "holds"
    assert summary.loc["interleave", "verdict"] == "not resolved"


def test_a_missing_variant_is_said_not_tested(ablation_folder):
    import shutil

    shutil.rmtree(ablation_folder / "runs" / "gpc16-no-sum")
    _, ablation = abl.split_ablation(load_results(ablation_folder))
    assert ablation["gpc16-no-sum"][0].status == "missing"
    per_seed, summary = abl.contrast_tests(ablation, n_resamples=200)
    assert "sum" not in summary.index
    assert summary.attrs["notes"] == ["sum (gpc16 - gpc16-no-sum): no seed with complete runs of both"]
    assert abl.ablation_table(ablation).loc["gpc16-no-sum", "Test accuracy %"] == "no complete run yet"


def test_summary_writes_the_ablation_apart_from_table_6_1(ablation_folder):
    written = {p.name for p in write_summary(load_results(ablation_folder), ablation_folder)}
    assert {"ablation.csv", "contrasts.csv", "contrasts_per_seed.csv", "fig_ablation.png"} <= written
    out = ablation_folder / "summary"
    main = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(main.index) == ["mobilenet", "gpc16", "gpc32", "gpc64", "gpc128"]
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 11 * 3  # every run is listed (the five, six ablation variants)
    contrasts = pd.read_csv(out / "contrasts.csv", index_col=0)
    assert contrasts.loc["sum", "mean diff pp"] == pytest.approx(np.mean([3.0, 3.0, 4.5]))
    text = (out / "summary.md").read_text()
    assert "## Ablation: which part of the D6 block does what" in text
    assert "**sum** (gpc16 - gpc16-no-sum): +3.50 pp" in text
    assert "![ablation: test accuracy per variant" in text
    png = (out / "fig_ablation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_a_contrasts_interval_does_not_depend_on_which_others_are_tested(ablation_folder):
    """Runs land one by one: a contrast's bootstrap interval must not move
    when another contrast becomes testable."""
    import shutil

    _, ablation = abl.split_ablation(load_results(ablation_folder))
    _, full = abl.contrast_tests(ablation, n_resamples=300)
    shutil.rmtree(ablation_folder / "runs" / "gpc16-relu6")
    _, ablation = abl.split_ablation(load_results(ablation_folder))
    _, partial = abl.contrast_tests(ablation, n_resamples=300)
    assert "activation, grouped side" not in partial.index
    for name in partial.index:
        assert partial.loc[name, ["ci_low pp", "ci_high pp"]].tolist() == \
            full.loc[name, ["ci_low pp", "ci_high pp"]].tolist(), name


def test_secondary_comparisons_are_listed_apart(ablation_folder):
    """gpc16 - gpc16-k-only and gpc16-no-interleave - gpc16-k-only: tested like
    the five, said after them, and silently absent (no note) while untested."""
    import shutil

    _, ablation = abl.split_ablation(load_results(ablation_folder))
    per_seed, summary = abl.contrast_tests(ablation, n_resamples=300)
    five = abl.contrast_statements(per_seed, summary)
    two = abl.contrast_statements(per_seed, summary, group="rest of block")
    assert len(five) == 5 and len(two) == 2
    # gpc16 560/570/565 vs k-only 450/460/455 right answers: +11 pp each seed
    assert two[0].startswith("**interleave, L and sum together** (gpc16 - gpc16-k-only): +11.00 pp")
    assert two[1].startswith("**L and sum without the interleave** "
                             "(gpc16-no-interleave - gpc16-k-only): +10.67 pp")
    # a contrasts.csv written before the columns existed: the five only, then the five and two
    first = summary["group"].isin(["primary", "rest of block"])
    older = summary[first].drop(columns=["primary", "group"])
    assert abl.contrast_statements(per_seed, older) == five + two
    assert abl.contrast_statements(per_seed, older, primary=False) == []
    old = summary[first].drop(columns="group")
    assert abl.contrast_statements(per_seed, old, primary=False) == two
    assert abl.extra_sections(per_seed, old) == [(abl.SECONDARY_INTRO, two)]
    assert abl.contrast_statements(per_seed, summary, group="primary") == five
    with pytest.raises(ValueError, match="group must be 'primary' or one of"):
        abl.contrast_statements(per_seed, summary, group="secondary")
    # the summary says them after the five
    write_summary(load_results(ablation_folder), ablation_folder)
    text = (ablation_folder / "summary" / "summary.md").read_text()
    assert text.index("**grouping**") < text.index("Beyond the five contrasts") < \
        text.index("**interleave, L and sum together**")
    # without gpc16-k-only: the grouping contrast is noted, the two are not shown
    shutil.rmtree(ablation_folder / "runs" / "gpc16-k-only")
    _, ablation = abl.split_ablation(load_results(ablation_folder))
    per_seed, summary = abl.contrast_tests(ablation, n_resamples=300)
    assert list(summary.index) == [c.name for c in abl.CONTRASTS[:4]] + \
        ["16 channels per group", "L and the sum on top of mixing"]
    assert summary.attrs["notes"] == [
        "grouping (gpc16-k-only - mobilenet-swish): no seed with complete runs of both"]


def test_equal_activation_sets_each_gpc_network_against_mobilenet_swish(ablation_folder):
    """gpcN - mobilenet-swish for N = 16..128: the main study's gpc runs
    (through `others`), said after the rest-of-block comparisons."""
    main, ablation = abl.split_ablation(load_results(ablation_folder))
    per_seed, summary = abl.contrast_tests(ablation, n_resamples=300, others=main)
    sections = abl.extra_sections(per_seed, summary)
    assert [intro for intro, _ in sections] == list(abl.GROUP_INTROS.values())
    four = sections[1][1]
    assert [c.with_part for c in abl.EQUAL_ACTIVATION] == ["gpc16", "gpc32", "gpc64", "gpc128"]
    # gpc128 700/705/690 vs mobilenet-swish 620/640/600 right answers: +8, +6.5, +9 pp
    assert four[3].startswith("**128 channels per group** (gpc128 - mobilenet-swish): +7.83 pp")
    assert "the part helps" in four[3]
    # gpc16 560/570/565 vs 620/640/600: -6, -7, -3.5 pp
    assert four[0].startswith("**16 channels per group** (gpc16 - mobilenet-swish): -5.50 pp")
    rows = per_seed[per_seed["contrast"] == "64 channels per group"]
    assert rows["diff pp"].tolist() == pytest.approx([-0.5, 1.0, 0.0])
    assert rows["seed"].tolist() == [0, 1, 2]
    # without the main study's runs only gpc16 (an ablation reference) is there, silently
    _, alone = abl.contrast_tests(ablation, n_resamples=300)
    assert [n for n in alone.index if alone.loc[n, "group"] == "equal activation"] == \
        ["16 channels per group"]
    assert alone.attrs["notes"] == []
    # the summary passes the main study's runs and says the four last
    write_summary(load_results(ablation_folder), ablation_folder)
    text = (ablation_folder / "summary" / "summary.md").read_text()
    assert text.index("Beyond the five contrasts") < text.index(abl.GROUP_INTROS["equal activation"]) \
        < text.index("**128 channels per group** (gpc128 - mobilenet-swish): +7.83 pp")


def test_without_a_d6_network_the_ablation_has_what_ran_and_the_curves_every_network(tmp_path):
    """A folder like `paper32`: MobileNet-swish and a thinner MobileNet beside
    Table 6.1's networks, no gpc16 ablation network.  The ablation holds only
    the networks that ran (no placeholder, no contrast of networks never
    meant to run) and the curves draw every network with a run (gpc64 has no
    folder: no panel)."""
    runs = tmp_path / "res" / "runs"
    for variant in ("mobilenet", "mobilenet-swish", "mobilenet-swish-a0.5", "gpc16", "gpc32"):
        for seed in (0, 1):
            make_run(runs, variant, seed=seed, correct=_mask(RIGHT.get(variant, (600, 600))[seed]))
    make_run(runs, "gpc128", complete=False)
    results = load_results(tmp_path / "res")
    main, ablation = abl.split_ablation(results)
    assert list(main) == ["mobilenet", "gpc16", "gpc32", "gpc64", "gpc128"]
    assert list(ablation) == ["mobilenet", "mobilenet-swish", "gpc16"]
    per_seed, contrasts = abl.contrast_tests(ablation, n_resamples=200, others=main)
    assert "activation, dense side" in contrasts.index and contrasts.attrs["notes"] == []
    assert "32 channels per group" in contrasts.index  # the equal-activation ones stay
    figure = abl.plot_ablation(ablation, per_seed, contrasts)
    labels = [t.get_text() for t in figure.axes[1].get_yticklabels()]
    assert labels == ["activation, dense side\nmobilenet-swish - MobileNet"]
    assert figure.get_suptitle().endswith("no gpc16 network with a part taken away ran in this folder")
    curves = abl.curve_variants(results)
    assert set(curves) == {"mobilenet", "mobilenet-swish", "mobilenet-swish-a0.5", "gpc16",
                           "gpc32", "gpc128"}
    assert [k for k in curves if k in main] == ["mobilenet", "gpc16", "gpc32", "gpc128"]
    write_summary(results, tmp_path / "res")
    text = (tmp_path / "res" / "summary" / "summary.md").read_text()
    assert "gpc16-relu6" not in text and "gpc16-k-only" not in text


def test_with_an_ablation_the_curves_show_table_6_1_only(ablation_folder):
    results = load_results(ablation_folder)
    assert list(abl.curve_variants(results)) == ["mobilenet", "gpc16", "gpc32", "gpc64", "gpc128"]
