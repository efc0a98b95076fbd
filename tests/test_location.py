"""The soma's layer as an optional input family (data/location.py, train/evaluate --location):
parsed from each dataset's metadata, routed like any family when a lab's cells lack it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ephys2type import load_human, load_mouse
from ephys2type.data.container import PatchSeqData
from ephys2type.data.location import LAYER, LOCATION, layer_number, with_location
from ephys2type.errors import Ephys2TypeError


@pytest.fixture(scope="module")
def mouse():
    return load_mouse()


@pytest.fixture(scope="module")
def human():
    return load_human(datasets="lee2023,chartrand2023_l1")


def test_layer_labels_of_both_species_become_numbers():
    values = pd.Series(
        ["VISp2/3", "VISp6a", "VISp6b", "VISpm1", "2_3", "5_6", "3", "L5", None, "VISp"]
    )
    expected = [2.5, 6.0, 6.5, 1.0, 2.5, 5.5, 3.0, 5.0, np.nan, np.nan]
    np.testing.assert_array_equal(layer_number(values).to_numpy(), expected)


def test_every_bundled_dataset_gets_its_layer(mouse, human):
    for data, source in ((mouse, "structure"), (human, "layer")):
        located = with_location(data)
        assert (
            located.schema.family_names[-1] == LOCATION
            and len(located.X.columns) == len(data.X.columns) + 1
        )
        assert located.schema.family(LOCATION).optional  # never counted by missing-value QC
        assert LAYER not in located.schema.counted_columns()
        np.testing.assert_array_equal(
            located.X[LAYER].to_numpy(), layer_number(data.meta[source].astype(object)).to_numpy()
        )
        assert located.X[LAYER].notna().mean() > 0.9 and set(located.X[LAYER].dropna()) <= {
            1,
            2,
            2.5,
            3,
            4,
            5,
            5.5,
            6,
            6.5,
        }
        assert with_location(located) is located
    bare = PatchSeqData(
        X=human.X.iloc[:5], meta=human.meta.iloc[:5][["donor"]], schema=human.schema, species="h"
    )
    with pytest.raises(Ephys2TypeError, match="needs each cell's layer"):
        with_location(bare)


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_train_with_location_serves_cells_with_and_without_it(run_cli, tmp_path, human):
    model = tmp_path / "model"
    r = run_cli("train", "--species", "human", "--model", "logreg", "--location", "--out", model)
    assert r.code == 0, r
    assert "features of schema lee2023_human+location)" in r.out
    assert "saved 16 feature-set models" in r.out
    cells = human.X.iloc[:6]
    cells.to_csv(tmp_path / "without.csv")
    cells.assign(layer=[1, 2, 3, 5, 2.5, 6]).to_csv(tmp_path / "with.csv")
    used = {}
    for name in ("without", "with"):
        out = tmp_path / f"{name}.pred.csv"
        r = run_cli(
            "predict", "--model", model, "--features", tmp_path / f"{name}.csv", "--out", out
        )
        assert r.code == 0, r
        preds = pd.read_csv(out)
        assert (preds["predicted"] != "unassigned").all()
        used[name] = preds["families_used"]
    assert not used["without"].str.contains(LOCATION).any()
    assert used["with"].str.endswith("+location").all()


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_evaluate_with_location(run_cli, tmp_path, smoke_run):
    smoke_run()
    out = tmp_path / "eval"
    r = run_cli("evaluate", "--species", "human", "--model", "logreg", "--location", "--out", out)
    assert r.code == 0, r
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"]["features"] == "lee2023_human+location"
