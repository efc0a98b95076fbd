"""The loaders on the real Allen tables: exact cell counts, labels, metadata, schemas."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ephys2type import PatchSeqData, load_human, load_mouse, load_table
from ephys2type.data.schema import get_schema
from ephys2type.errors import SchemaError


def test_mouse_raw_table(mouse_raw):
    assert isinstance(mouse_raw, PatchSeqData)
    assert mouse_raw.X.shape == (4435, 39)
    assert list(mouse_raw.X.columns) == get_schema("mouse").columns
    assert (mouse_raw.X.dtypes == "float64").all()
    assert mouse_raw.X.index.is_unique and mouse_raw.X.index.name == "cell_id"
    # the subclass counts given in ../shared/data/README.md
    counts = mouse_raw.meta["subclass"].value_counts(dropna=False)
    assert counts.to_dict() == {
        "Sst": 1824,
        "Pvalb": 888,
        "Vip": 797,
        "Lamp5": 477,
        "Sncg": 235,
        np.nan: 165,
        "Serpinf1": 47,
        "Meis2": 1,
        "L2/3": 1,
    }
    assert mouse_raw.meta["donor"].nunique() == 1040
    assert (mouse_raw.meta["species"] == "mouse").all()


def test_mouse_ids_join_features_to_metadata(mouse_raw):
    # cell 601506507 is ephys session 601506492 (first metadata row), a Vip Gpc3 Slc18a3 cell
    meta = mouse_raw.meta.loc["601506507"]
    assert meta["ephys_session_id"] == "601506492"
    assert meta["t_type"] == "Vip Gpc3 Slc18a3"
    assert meta["nwb_file"] == "sub-599387254_ses-601506492_icephys.nwb"


def test_human_raw_table():
    human = load_human(labels=None, qc=None, datasets="lee2023")
    assert human.X.shape == (704, 93)
    assert human.meta["subclass"].value_counts().to_dict() == {
        "PVALB": 297,
        "SST": 229,
        "VIP": 103,
        "LAMP5/PAX6/Other": 75,
    }
    assert human.meta["revised_subclass"].value_counts().to_dict() == {
        "PVALB": 370,
        "SST": 156,
        "VIP": 111,
        "LAMP5/PAX6/Other": 67,
    }
    assert human.meta["condition"].value_counts().to_dict() == {"culture": 457, "acute": 247}
    assert human.meta["donor"].nunique() == 109
    # the metadata lists specimen 819133824 twice with identical rows, and 74 without ephys
    assert any("819133824" in n for n in human.notes)
    assert any("74 metadata rows have no electrophysiology" in n for n in human.notes)


@pytest.mark.parametrize(
    ("labels", "profile", "n", "counts"),
    [
        (
            "mouse5",
            "default",
            3906,
            {"Lamp5": 466, "Pvalb": 764, "Sncg": 230, "Sst": 1717, "Vip": 729},
        ),
        ("aligned4", "default", 3906, {"Lamp5": 466, "Pvalb": 764, "Sst": 1717, "Vip": 959}),
        (
            "mouse5",
            "complete",
            3618,
            {"Lamp5": 449, "Pvalb": 719, "Sncg": 214, "Sst": 1551, "Vip": 685},
        ),
        ("aligned4", "complete", 3618, {"Lamp5": 449, "Pvalb": 719, "Sst": 1551, "Vip": 899}),
    ],
)
def test_mouse_counts_after_qc(labels, profile, n, counts):
    data = load_mouse(labels=labels, qc=profile)
    assert len(data) == n
    assert data.class_counts().to_dict() == counts
    assert data.y.notna().all() and data.groups.notna().all()


def test_mouse_qc_drops_per_rule():
    report = load_mouse().qc
    assert report.rule_counts().to_dict() == {
        "unlabeled": 165,
        "excluded_subclass": 49,
        "missing_family": 43,
        "max_missing": 272,
        "out_of_bounds": 0,
        "rare_class": 0,
    }
    assert report.n_input == 4435 and report.n_kept == 3906


@pytest.mark.parametrize(
    ("labels", "profile", "n", "counts"),
    [
        ("revised", "default", 666, {"Lamp5": 66, "Pvalb": 350, "Sst": 144, "Vip": 106}),
        ("aligned4", "default", 666, {"Lamp5": 66, "Pvalb": 350, "Sst": 144, "Vip": 106}),
        ("subclass", "default", 666, {"Lamp5": 74, "Pvalb": 280, "Sst": 214, "Vip": 98}),
        ("revised", "complete", 532, {"Lamp5": 53, "Pvalb": 283, "Sst": 120, "Vip": 76}),
        ("subclass", "complete", 532, {"Lamp5": 59, "Pvalb": 222, "Sst": 181, "Vip": 70}),
    ],
)
def test_human_counts_after_qc(labels, profile, n, counts):
    data = load_human(labels=labels, qc=profile, datasets="lee2023")
    assert len(data) == n
    assert data.class_counts().to_dict() == counts


def test_human_qc_drops_per_rule():
    report = load_human(datasets="lee2023").qc
    assert report.rule_counts().to_dict() == {
        "unlabeled": 0,
        "excluded_subclass": 0,
        "missing_family": 25,
        "max_missing": 11,
        "out_of_bounds": 2,
        "rare_class": 0,
    }
    assert set(report.drops.loc[report.drops.rule == "out_of_bounds", "detail"].str[:16]) == {
        "input_resistance"
    }


def test_ttype_scheme_counts():
    mouse = load_mouse(labels="ttype")
    human = load_human(labels="ttype", datasets="lee2023")
    assert (len(mouse), len(mouse.classes)) == (3892, 55)
    assert (len(human), len(human.classes)) == (565, 17)
    assert mouse.class_counts().min() >= 10 and human.class_counts().min() >= 10
    # no out-of-scope subclass sneaks in through its t-type
    assert not mouse.y.str.startswith(("Serpinf1", "Meis2", "L2/3")).any()


def test_default_labels_are_the_papers_choice():
    assert load_mouse().label_scheme == "mouse5"
    assert load_human().label_scheme == "revised"


def test_default_datasets_are_every_bundled_dataset_of_the_species():
    """One default for ``load_*``, ``evaluate``, ``train`` and the app: every bundled
    dataset of the species (human: Lee, Dalley and the layer-1 cells, 869 cells after QC)."""
    from ephys2type.data.datasets import DEFAULT_DATASETS, dataset_names, load_species

    for species in ("mouse", "human"):
        assert list(DEFAULT_DATASETS[species]) == dataset_names(species)
    human = load_human()
    assert human.datasets == ["lee2023", "chartrand2023_l1"] and len(human) == 869
    assert human.class_counts().to_dict() == {"Lamp5": 142, "Pvalb": 350, "Sst": 144, "Vip": 233}
    assert load_species("human").X.index.equals(human.X.index)
    assert load_mouse().datasets == ["gouwens2020"]


def test_aligned_features_keep_cells_and_labels():
    native = load_human(labels="aligned4", datasets="lee2023")
    aligned = load_human(labels="aligned4", features="aligned", datasets="lee2023")
    assert aligned.X.shape == (666, 25)
    assert aligned.X.index.equals(native.X.index)
    assert aligned.y.equals(native.y)
    assert aligned.schema.name == "aligned"


def test_wrong_scheme_for_species_is_clear():
    with pytest.raises(SchemaError, match="defined for mouse, not human"):
        load_human(labels="mouse5")
    with pytest.raises(SchemaError, match="unknown label scheme"):
        load_mouse(labels="mouse6")


def test_subset_keeps_everything_aligned(mouse_raw):
    part = mouse_raw.subset(mouse_raw.X.index[:10])
    assert len(part) == 10 and part.meta.index.equals(part.X.index)
    mask = np.zeros(len(mouse_raw), dtype=bool)
    mask[:3] = True
    assert len(mouse_raw.subset(mask)) == 3


def test_load_table_round_trips_the_bundled_values(user_tables):
    fpath, lpath = user_tables
    data = load_table(fpath, lpath, "mouse", donor_column="donor")
    reference = load_mouse()
    pd.testing.assert_frame_equal(
        data.X, reference.X.loc[data.X.index], check_names=False, check_exact=False, rtol=1e-12
    )
    assert data.y.equals(reference.y.loc[data.X.index].rename("label"))
    assert data.label_scheme == "as_is"
    assert data.groups.equals(reference.groups.loc[data.X.index].rename("donor"))


def test_load_table_with_builtin_scheme(user_tables):
    fpath, lpath = user_tables
    data = load_table(fpath, lpath, "mouse", species="mouse", label_scheme="aligned4")
    assert set(data.classes) <= {"Lamp5", "Pvalb", "Sst", "Vip"}
    assert "Sncg" not in data.classes


def test_load_table_without_labels(user_tables):
    fpath, _ = user_tables
    data = load_table(fpath)
    assert data.y is None and len(data) == 40
    assert (data.groups == data.X.index.to_series()).all()  # each cell its own group


def test_labels_carry_no_stray_whitespace():
    """Upstream t-types such as 'Inh L1-4 LAMP5 LCP2 ' end in a space; loaders strip it."""
    for data in (load_human(labels=None, qc=None), load_mouse(labels=None, qc=None)):
        t_types = data.meta["t_type"].dropna().astype(str)
        assert (t_types == t_types.str.strip()).all(), data.species
    assert "Inh L1-4 LAMP5 LCP2" in set(load_human(labels=None, qc=None).meta["t_type"])


def test_human_layer1_dataset_alone_and_with_lee_dalley():
    """Chartrand et al. 2023's Allen cells: 263 with features, labels in the human schemes,
    and the 38 cells Lee, Dalley also holds counted once, with their Lee, Dalley row."""
    l1 = load_human(labels=None, qc=None, datasets="chartrand2023_l1")
    assert l1.X.shape == (263, 93) and l1.datasets == ["chartrand2023_l1"]
    assert l1.X["adapt_max"].isna().all() and l1.X["input_resistance"].notna().mean() > 0.8
    assert l1.meta["subclass"].value_counts().to_dict() == {"LAMP5/PAX6/Other": 216, "VIP": 46}
    assert l1.meta["revised_subclass"].value_counts().to_dict() == {
        "VIP": 150,
        "LAMP5/PAX6/Other": 112,
    }
    assert l1.meta["layer"].value_counts().to_dict() == {"1": 172, "2": 46, "3": 19, "4": 5}
    assert l1.meta["donor"].notna().all()  # a cell without a donor is its own group

    lee = load_human(labels=None, qc=None, datasets="lee2023")
    both = load_human(labels=None, qc=None, datasets=["lee2023", "chartrand2023_l1"])
    assert len(both) == 704 + 263 - 38 and not both.X.index.has_duplicates
    assert both.meta["dataset"].value_counts().to_dict() == {
        "lee2023": 704,
        "chartrand2023_l1": 225,
    }
    shared = l1.X.index.intersection(lee.X.index)
    assert len(shared) == 38
    pd.testing.assert_frame_equal(both.X.loc[shared], lee.X.loc[shared])
    assert (both.meta.loc[shared, "dataset"] == "lee2023").all()
    # the revision rule on the L1 cells agrees with Lee, Dalley's own revised label for 37 of 38
    agree = l1.meta.loc[shared, "revised_subclass"] == lee.meta.loc[shared, "revised_subclass"]
    assert int(agree.sum()) == 37
    # donors keep their H-numbers, so donor-grouped folds keep a donor's cells together
    # across the two datasets
    donors = both.meta.groupby("dataset")["donor"].apply(set)
    assert len(donors["lee2023"] & donors["chartrand2023_l1"]) == 46
    assert "chartrand2023_l1: 38 cell(s) also in lee2023; counted once, from there" in both.notes


def test_layer1_ttypes_share_the_mtg_names_and_fall_in_one_revised_subclass():
    both = load_human(labels="ttype", datasets="lee2023,chartrand2023_l1")
    l1 = both.meta["dataset"] == "chartrand2023_l1"
    # with the Lee, Dalley cells of the same names, more L1 types reach 10 cells
    assert set(both.y[l1]) == {
        "Inh L1 SST NMBR",
        "Inh L1-2 ADARB2 MC4R",
        "Inh L1-2 PAX6 CDH12",
        "Inh L1-2 VIP PCDH20",
        "Inh L1-2 VIP TSPAN12",
        "Inh L1-3 VIP ADAMTSL1",
        "Inh L1-4 LAMP5 LCP2",
        "Inh L2-6 LAMP5 CA1",
    }
    parents = both.label_parents()
    assert parents["Inh L1 SST NMBR"] == "Vip" and parents["Inh L1-4 LAMP5 LCP2"] == "Lamp5"


def test_dataset_names_are_checked():
    from ephys2type.errors import TableError

    for bad, message in (
        ("lee2023,nope", "unknown dataset 'nope'"),
        ("gouwens2020", "holds mouse cells, not human"),
        ("lee2023,lee2023", "named twice"),
        (",", "no dataset named"),
    ):
        with pytest.raises(TableError, match=message):
            load_human(datasets=bad)


@pytest.mark.slow  # a command end to end (make test-slow)
def test_datasets_option_of_the_commands(run_cli, clean_error, tmp_path):
    """``evaluate`` reads every bundled dataset of the species unless told otherwise (the
    cells ``train`` fits on), and ``--datasets`` chooses among them."""
    for datasets, expected, n_cells in (
        ((), ["lee2023", "chartrand2023_l1"], 869),
        (("--datasets", "lee2023"), ["lee2023"], 666),
    ):
        out = tmp_path / ("ev" + "-".join(datasets))
        result = run_cli(
            "evaluate",
            "--species",
            "human",
            *datasets,
            "--model",
            "logreg",
            "--seeds",
            "1",
            "--folds",
            "2",
            "--out",
            out,
        )
        assert result.code == 0, result
        plan = json.loads((out / "split_plan.json").read_text())
        assert plan["dataset"]["datasets"] == expected
        assert plan["dataset"]["n_cells"] == n_cells
    clean_error(
        run_cli("evaluate", "--species", "mouse", "--datasets", "lee2023", "--model", "rf"),
        "holds human cells, not mouse",
    )


def test_names_moved_out_of_datasets_are_still_imported_from_it():
    """The registry module re-exports what other modules now define, as the same objects."""
    from ephys2type.data import added_cells, allen, datasets, prepare, user_tables

    assert all(hasattr(datasets, name) for name in datasets.__all__)
    assert datasets.load_table is user_tables.load_table
    assert datasets.with_added_cells is added_cells.with_added_cells
    assert datasets.added_repeats is added_cells.added_repeats
    assert datasets.HUMAN_FEATURES == allen.HUMAN_FEATURES
    assert datasets.Features is prepare.Features
    assert datasets.DATASETS["lee2023"].read is allen.read_lee2023
