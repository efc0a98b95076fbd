"""A lab's own labelled cells trained on beside the bundled ones (``train --add-table``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ephys2type import load_human
from ephys2type.data.datasets import added_repeats, with_added_cells
from ephys2type.errors import TableError


@pytest.fixture(scope="module")
def layer1_only():
    """Layer-1 cells that Lee, Dalley does not hold, with their labels."""
    l1 = load_human(datasets="chartrand2023_l1")
    lee = load_human(labels=None, qc=None, datasets="lee2023")
    keep = ~l1.X.index.isin(lee.X.index)
    return l1.subset(l1.X.index[keep])


def _write(cells, tmp_path, labels=None):
    features = tmp_path / "mine.csv"
    cells.X.to_csv(features, index_label="cell_id")
    table = tmp_path / "mine_labels.csv"
    pd.DataFrame(
        {"cell_id": cells.X.index, "subclass": cells.y if labels is None else labels}
    ).to_csv(table, index=False)
    return features, table


def test_added_cells_join_the_bundled_ones(layer1_only, tmp_path):
    lee = load_human(datasets="lee2023")
    mine = layer1_only.subset(layer1_only.X.index[:12])
    features, labels = _write(mine, tmp_path)
    both = with_added_cells(lee, features, labels, name="my lab")
    assert len(both) == len(lee) + 12 and both.classes == lee.classes
    assert (both.meta["dataset"].iloc[-12:] == "my lab").all()
    pd.testing.assert_frame_equal(both.X.iloc[-12:], mine.X, check_names=False)
    assert both.datasets == ["lee2023", "my lab"]
    # the added files are recorded by name and content, as the bundled ones are
    import hashlib

    digest = hashlib.sha256(features.read_bytes()).hexdigest()
    assert both.sources["my lab/features/mine.csv"] == digest
    assert "my lab/labels/mine_labels.csv" in both.sources
    assert set(lee.sources) < set(both.sources)


def test_added_cells_that_failed_a_blocking_check_are_said(layer1_only, tmp_path):
    """A features table from `ephys2type features` carries its cells' checks: cells that
    predict would leave unassigned are trained on, with a warning naming how many."""
    from ephys2type.errors import Ephys2TypeWarning

    lee = load_human(datasets="lee2023")
    mine = layer1_only.subset(layer1_only.X.index[:12])
    features, labels = _write(mine, tmp_path)
    table = pd.read_csv(features)
    table["checks_failed"] = ["spike_shape", "fi_slope"] + [""] * 10
    table.to_csv(features, index=False)
    with pytest.warns(Ephys2TypeWarning, match="1 of its 12 cells failed a recording check"):
        both = with_added_cells(lee, features, labels)
    assert len(both) == len(lee) + 12


def test_bad_added_cells_are_refused(layer1_only, tmp_path):
    lee = load_human(datasets="lee2023")
    mine = layer1_only.subset(layer1_only.X.index[:4])
    features, labels = _write(mine, tmp_path, labels=["Lamp5", "Chandelier", "Vip", "Vip"])
    with pytest.raises(TableError, match="'Chandelier' are not classes") as err:
        with_added_cells(lee, features, labels)
    assert f"(first: cell {mine.X.index[1]}); remove the cells labelled 'Chandelier'" in str(
        err.value
    )
    # a lab's own spelling of a class: the class it probably is, to rename it to
    features, labels = _write(mine, tmp_path, labels=["LAMP5", "Vipp", "PV", "Chandelier"])
    with pytest.raises(TableError) as err:
        with_added_cells(lee, features, labels)
    message = str(err.value)
    assert "rename them in the labels file: 'Chandelier'" not in message
    assert "'LAMP5' -> 'Lamp5', 'PV' -> 'Pvalb', 'Vipp' -> 'Vip'" in message
    assert message.endswith(
        "remove the cells labelled 'Chandelier', or train on labels that have that class (--labels)"
    )
    # a labels file whose columns are named otherwise: which name each needs
    pd.DataFrame({"cell": mine.X.index, "type": mine.y}).to_csv(labels, index=False)
    with pytest.raises(TableError, match="called as in the features table \\('cell_id'\\)"):
        with_added_cells(lee, features, labels)
    pd.DataFrame({"cell_id": mine.X.index, "type": mine.y}).to_csv(labels, index=False)
    with pytest.raises(TableError, match=r"no column 'subclass'.*--label-column"):
        with_added_cells(lee, features, labels)
    with pytest.raises(TableError, match=r"no donor column 'Type' .*; --donor-column type\?"):
        with_added_cells(lee, features, labels, label_column="type", donor_column="Type")
    # ids a spreadsheet wrote as decimals in one file: the fix is named
    decimal_ids = [f"{i}.0" for i in mine.X.index]
    pd.DataFrame({"cell_id": decimal_ids, "subclass": mine.y}).to_csv(labels, index=False)
    with pytest.raises(TableError, match=r"written as decimals .*without the '\.0'"):
        with_added_cells(lee, features, labels)
    bundled = lee.subset(lee.X.index[:3])
    features, labels = _write(bundled, tmp_path)
    with pytest.raises(TableError, match="also bundled cells"):
        with_added_cells(lee, features, labels)
    # the same bundled cells under the lab's own ids, written with 4 digits and one column
    # fewer: copies all the same (review: exact equality missed copies written as %.6g)
    renamed = bundled.X.rename(index=lambda i: f"mylab_{i}").drop(columns="tau")
    renamed.to_csv(features, index_label="cell_id", float_format="%.4g")
    pd.DataFrame({"cell_id": renamed.index, "subclass": bundled.y.to_numpy()}).to_csv(
        labels, index=False
    )
    copied = f"3 added cell.*'mylab_{lee.X.index[0]}' as bundled cell '{lee.X.index[0]}'"
    with pytest.raises(TableError, match=copied):
        with_added_cells(lee, features, labels)
    assert added_repeats(666, 40) == 4 and added_repeats(666, 400) == 1
    assert added_repeats(666, 2) == 20 and added_repeats(666, 40, 7) == 7
    with pytest.raises(TableError, match=">= 1"):
        added_repeats(666, 40, 0)


def test_a_label_is_renamed_only_to_the_one_class_it_can_mean():
    """A guess among several classes would mislabel the cells: subclass names given to a
    t-type model, or a t-type no class is, get no suggestion (review)."""
    from ephys2type.data.added_cells import _probable_class

    ttypes = ["Lamp5 Lsp1", "Lamp5 Plch2", "Pvalb Tpbg", "Pvalb Vipr2", "Sst Nts"]
    assert _probable_class("Lamp5", ttypes) is None  # two t-types start with it
    assert _probable_class("Sst", ttypes) == "Sst Nts"  # one does
    assert _probable_class("Pvalb ChC", ttypes) is None  # no near spelling of two words
    assert _probable_class("lamp5 plch2", ttypes) == "Lamp5 Plch2"
    subclasses = ["Lamp5", "Pvalb", "Sncg", "Sst", "Vip"]
    assert _probable_class("Vipp", subclasses) == "Vip"
    assert _probable_class("Chandelier", subclasses) is None
    # spaces and signs a lab writes (new-user trial: 'Lamp 5' got no suggestion)
    assert [_probable_class(x, subclasses) for x in ("Lamp 5", "VIP+", "sst-")] == [
        "Lamp5", "Vip", "Sst"
    ]  # fmt: skip


def test_repeated_cells_count_more_and_never_calibrate():
    from ephys2type.models.cell_classifier import CellTypeClassifier

    lee = load_human(datasets="lee2023")
    y = lee.y.to_numpy(dtype=object).copy()
    pvalb = np.flatnonzero(y == "Pvalb")[:10]
    y[pvalb] = "Sst"  # ten cells a lab (wrongly) calls Sst
    repeats = np.ones(len(y), dtype=int)
    repeats[pvalb] = 20

    def fit(r):
        clf = CellTypeClassifier(model="logreg", schema=lee.schema, family_subsets=False)
        return clf.fit(lee.X, y, sample_repeats=r)

    weighted, plain = fit(repeats), fit(None)
    assert not weighted.calibration_[pvalb].any()
    sst = lambda clf: np.mean(clf.predict(lee.X.iloc[pvalb]) == "Sst")  # noqa: E731
    assert sst(weighted) > sst(plain)
    with pytest.raises(ValueError, match="whole number >= 1"):
        fit(np.zeros(len(y), dtype=int))


def test_train_add_table_command(run_cli, clean_error, layer1_only, tmp_path):
    from ephys2type.persist.format import load_model

    mine = layer1_only.subset(layer1_only.X.index[:20])
    features, labels = _write(mine, tmp_path)
    out = tmp_path / "model"
    result = run_cli(
        "train", "--species", "human", "--datasets", "lee2023", "--model", "logreg",
        "--add-table", features, "--add-labels", labels, "--out", out,
    )  # fmt: skip
    assert result.code == 0, result
    assert "666 cells of human + 20 added cells counted 8 times each" in result.out
    said = " ".join(result.out.split())
    assert "measured on bundled calibration cells, not yours" in said
    assert (
        "`ephys2type evaluate-added --species human --datasets lee2023 --add-table "
        f"{features} --add-labels {labels} --model logreg` measures" in said
    )
    model = load_model(out)
    assert (
        model.provenance_["datasets"] == ["lee2023", "added"]
        and model.provenance_["n_cells"] == 686
    )
    assert (model.repeats_[-20:] == 8).all() and (model.repeats_[:-20] == 1).all()
    assert not model.calibration_[-20:].any()
    assert "__repeats__" in (out / "training_cells.csv").read_text().splitlines()[0]
    # counted once, the added cells calibrate like bundled ones, and the line says how many
    # (a trial: "not yours" where 33 of 161 calibration cells were theirs)
    once = run_cli(
        "train", "--species", "human", "--datasets", "lee2023", "--model", "logreg",
        "--add-table", features, "--add-labels", labels, "--add-weight", "1",
        "--out", tmp_path / "once",
    )  # fmt: skip
    trained_once = load_model(tmp_path / "once")
    assert list(trained_once.X_train_.index[-20:]) == list(mine.X.index.astype(str))  # last
    calibrating = int(trained_once.calibration_[-20:].sum())
    said = " ".join(once.out.split())
    assert "20 added cells counted once each" in said and calibrating > 0
    assert f"calibration cells, {calibrating} of them yours" in said
    clean_error(
        run_cli("train", "--species", "human", "--add-table", features, "--out", tmp_path / "x"),
        "--add-table and --add-labels go together",
    )
    clean_error(
        run_cli("train", "--species", "human", "--add-weight", "3", "--out", tmp_path / "y"),
        "applies to --add-table",
    )


def test_a_data_request_adds_and_weighs_the_cells(layer1_only, tmp_path):
    """What `train --add-table` prints and fits on comes from the library's DataRequest."""
    from ephys2type.data.requests import DataRequest

    mine = layer1_only.subset(layer1_only.X.index[:20])
    features, labels = _write(mine, tmp_path)
    request = DataRequest(
        species="human", datasets="lee2023", add_table=features, add_labels=labels
    )
    loaded = request.load()
    assert loaded.repeats == [1] * 666 + [8] * 20
    assert loaded.description == (
        "666 cells of human + 20 added cells counted 8 times each (datasets lee2023; revised "
        "labels; features of schema lee2023_human)"
    )
    assert loaded.data.datasets == ["lee2023", "added"]
    heavier = DataRequest(
        species="human", datasets="lee2023", add_table=features, add_labels=labels, add_weight=3
    ).load()
    assert heavier.repeats[-20:] == [3] * 20


def test_evaluate_added_predicts_each_cell_without_itself(
    run_cli, clean_error, layer1_only, tmp_path, monkeypatch
):
    """`evaluate-added`: every lab cell is predicted by a model that never saw it (the
    bundled cells alone, and the bundled cells with the lab's other folds), and the numbers
    printed and written are those of the calls. A cell whose recording check blocks a call
    (the table's checks_failed column) is unassigned by both, as predict leaves it."""
    import json

    from ephys2type.evaluation import added_check

    mine = layer1_only.subset(layer1_only.y.groupby(layer1_only.y).head(6).index)
    features, labels = _write(mine, tmp_path)
    table = pd.read_csv(features)
    table["checks_failed"] = ["spike_shape"] + [""] * (len(table) - 1)
    table.to_csv(features, index=False)
    blocked = str(table["cell_id"].iloc[0])
    fitted_with = []
    real_fit = added_check._fit

    def spy(data, bundled, lab, *rest):
        fitted_with.append((len(bundled), set(map(str, lab))))
        return real_fit(data, bundled, lab, *rest)

    monkeypatch.setattr(added_check, "_fit", spy)
    out = tmp_path / "check.csv"
    args = (
        "evaluate-added", "--species", "human", "--datasets", "lee2023", "--model", "logreg",
        "--add-table", features, "--add-labels", labels, "--folds", "3",
    )  # fmt: skip
    result = run_cli(*args, "--out", out)
    assert result.code == 0, result
    cells = pd.read_csv(out, index_col=0, keep_default_na=False, dtype={0: str})
    assert sorted(cells.index) == sorted(map(str, mine.X.index))
    assert fitted_with[0] == (666, set()) and len(fitted_with) == 4
    for fold, (n_bundled, lab) in enumerate(fitted_with[1:]):
        held = set(cells.index[cells["fold"] == fold])
        assert n_bundled == 666 and held and not lab & held and lab | held == set(cells.index)
    summary = json.loads(out.with_name("check.csv.summary.json").read_text())
    assert (cells.loc[blocked, ["without", "with"]] == "unassigned").all()
    assert summary["n_blocked"] == 1 and summary["with"]["n_called"] <= 11
    right = {arm: (cells[arm] == cells["label"]).mean() for arm in ("without", "with")}
    assert summary["with"]["accuracy"] == pytest.approx(right["with"])
    assert summary["difference"]["mean"] == pytest.approx(right["with"] - right["without"])
    said = " ".join(result.out.split())
    assert f"with them: accuracy {right['with']:.1%}" in said
    assert "12 cells (Lamp5 6, Vip 6) in 3 folds" in said and "not yours" in said
    assert "1 of your cells failed a recording check that blocks a call" in said
    low = 100 * summary["difference"]["low"]
    assert "Lamp5 (6 cells)" in said and f"[95% CI {low:+.1f}," in said
    assert summary["verdict"] in said and "run again with other --seed values" in said
    assert summary["cautions"] == [] and "caution:" not in said  # 6 cells per class
    fits = len(fitted_with)
    clean_error(run_cli(*args, "--out", out), "already exists")
    assert len(fitted_with) == fits  # refused before any fitting


def test_the_paired_difference_against_hand_computed_values():
    """Bonett-Price (2012): each discordant count plus one over n plus two; McNemar's exact
    test is two-sided (10 gained, 2 lost of 40: 2 P(X <= 2), X ~ Bin(12, 1/2) = 0.0386)."""
    from ephys2type.evaluation.added_check import paired_difference

    without = np.array([True] * 20 + [False] * 20)
    with_ = without.copy()
    with_[20:30] = True  # 10 gained
    with_[:2] = False  # 2 lost
    d = paired_difference(with_, without)
    assert (d["gained"], d["lost"], d["mean"]) == (10, 2, pytest.approx(0.2))
    assert d["low"] == pytest.approx(0.025645, abs=1e-6)
    assert d["high"] == pytest.approx(0.355308, abs=1e-6)
    assert d["p"] == pytest.approx(0.038574, abs=1e-6)
    swapped = paired_difference(without, with_)  # the other way round: the mirror image
    assert swapped["low"] == pytest.approx(-d["high"]) and swapped["p"] == d["p"]
    same = paired_difference(without, without)  # no cell changed: not a zero-width interval
    assert same["p"] == 1.0 and same["low"] == pytest.approx(-0.065995, abs=1e-6)
    assert same["high"] == pytest.approx(-same["low"])


def test_the_verdict_follows_the_interval_and_few_cells_are_cautioned():
    from ephys2type.evaluation.added_check import AddedCheck

    def check(low, high, counts):
        per_class = pd.DataFrame({"n": counts}, index=pd.Index(list(counts), name="class"))
        return AddedCheck(
            cells=pd.DataFrame(), without=None, with_added=None, per_class=per_class,
            difference={"low": low, "high": high}, stated=0.8, weights=(5,), folds=5,
            folds_asked=5, fold_limit="", model="rf", n_bundled=100, provenance={},
        )  # fmt: skip

    assert check(0.05, 0.3, {"Vip": 8}).verdict().startswith("your cells helped")
    assert check(-0.3, -0.01, {"Vip": 8}).verdict().startswith("your cells made it worse")
    assert check(-0.1, 0.3, {"Vip": 8}).verdict().startswith("not clearly better or worse")
    (one,) = check(-0.1, 0.3, {"Vip": 8}).cautions()
    assert one.startswith("all your cells are Vip") and "not how often it now calls" in one
    assert check(0, 1, {"Lamp5": 3, "Vip": 8}).cautions() == [
        "few cells of Lamp5 (3): their counts say little (at least 5 per class)"
    ]


def test_a_cell_without_a_donor_is_its_own_donor(layer1_only, user_tables, tmp_path):
    """Lab metadata has gaps (new-user trial: 4 of 40 layer-1 cells without a donor ended
    `evaluate-added --donor-column` and `evaluate --protocol group5x5` in an internal
    error): each such cell is its own donor, and a warning says which."""
    from sklearn.model_selection import GroupKFold

    from ephys2type import load_table
    from ephys2type.errors import Ephys2TypeWarning

    lee = load_human(datasets="lee2023")
    mine = layer1_only.subset(layer1_only.X.index[:8])
    features, labels = _write(mine, tmp_path)
    donors = ["H1", None, "H1", "", "H2", "H2", "Unknown", "H3"]
    pd.read_csv(labels).assign(donor=donors).to_csv(labels, index=False)
    with pytest.warns(Ephys2TypeWarning, match=r"3 cell\(s\) have no donor in column 'donor'"):
        both = with_added_cells(lee, features, labels, donor_column="donor")
    added = both.groups.iloc[-8:]
    ids = mine.X.index.astype(str)
    # "Unknown" is no donor of its own: each such cell is its own, as a blank one
    assert added.tolist() == ["H1", ids[1], "H1", ids[3], "H2", "H2", ids[6], "H3"]
    list(GroupKFold(5).split(both.X, both.y, both.groups))  # the folds are drawn
    # a user's own table, too
    fpath, lpath = user_tables
    table = pd.read_csv(lpath)
    table.loc[:1, "donor"] = np.nan
    table.to_csv(lpath, index=False)
    with pytest.warns(Ephys2TypeWarning, match=r"2 cell\(s\) have no donor"):
        data = load_table(fpath, lpath, "mouse", donor_column="donor")
    assert data.groups.iloc[:2].tolist() == table["cell_id"].astype(str).iloc[:2].tolist()


def test_a_labels_column_named_donor_is_read_with_its_blanks(user_tables):
    """Without --donor-column, a labels column named `donor` is the donors: its blanks too
    are each cell's own (review: they stayed NaN, and donor-grouped folds failed)."""
    from sklearn.model_selection import GroupKFold

    from ephys2type import load_table
    from ephys2type.errors import Ephys2TypeWarning

    fpath, lpath = user_tables
    table = pd.read_csv(lpath)
    table.loc[:2, "donor"] = np.nan
    table.to_csv(lpath, index=False)
    with pytest.warns(Ephys2TypeWarning, match=r"3 cell\(s\) have no donor in column 'donor'"):
        data = load_table(fpath, lpath, "mouse")
    assert data.groups.notna().all()
    list(GroupKFold(5).split(data.X, data.y, data.groups))
