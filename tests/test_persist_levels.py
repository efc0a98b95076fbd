"""A saved model of two-level labels: per cell and level the call (top-down), its
probability and the conformal set, a call at the subclass when the t-type set is large, no
call when the subclass set is, and the same after loading."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ephys2type import load_human
from ephys2type.errors import Ephys2TypeError
from ephys2type.persist.format import load_model, save_model
from ephys2type.persist.train import train_model
from ephys2type.testing.synthetic import make_synthetic


def _split_children(n, seed=0):
    """Four well separated parents, each split at random into two children the features
    cannot tell apart."""
    data = make_synthetic(
        n, n_classes=4, separation=4.0, missing_families={}, missing_values=0.0, random_state=seed
    )
    rng = np.random.default_rng(seed)
    child = np.array(
        [f"{p}.{k}" for p, k in zip(data.y, rng.integers(0, 2, n), strict=True)], dtype=object
    )
    parent_of = {c: c.split(".")[0] for c in np.unique(child)}
    return replace(data, y=pd.Series(child, index=data.X.index, name="label")), parent_of


def test_sets_keep_their_coverage_and_calls_stop_at_the_parent(tmp_path):
    data, parent_of = _split_children(3000)
    train = replace(data, X=data.X.iloc[:1500], y=data.y.iloc[:1500], meta=data.meta.iloc[:1500])
    model = train_model(train, "logreg", parent_of=parent_of, family_subsets=False, max_set_size=1)
    assert model.parent_of is not None and int(model.calibration_.sum()) == 300
    test = data.X.iloc[1500:]
    truth = data.y.iloc[1500:].to_numpy(dtype=object)
    table = model.predict_table(test)
    covered = [t in s.split("; ") for t, s in zip(truth, table["t_type_set"], strict=True)]
    up = [parent_of[t] for t in truth]
    covered_up = [t in s.split("; ") for t, s in zip(up, table["subclass_set"], strict=True)]
    assert abs(np.mean(covered) - 0.9) < 0.04 and abs(np.mean(covered_up) - 0.9) < 0.04
    assert all(parent_of[c] == p for c, p in zip(table["t_type"], table["subclass"], strict=True))
    # children are a coin flip: most cells are called at the (right) parent only
    at_parent = (table["call_level"] == "subclass").to_numpy()
    assert at_parent.mean() > 0.5
    assert (table.loc[at_parent, "predicted"] == np.asarray(up)[at_parent]).mean() > 0.97
    at_type = (table["call_level"] == "t_type").to_numpy()
    assert (table.loc[at_type, "t_type_set_size"] <= 1).all()
    assert (table.loc[at_type, "predicted"] == table.loc[at_type, "t_type"]).all()
    none = (table["call_level"] == "none").to_numpy()
    assert (table.loc[none, "predicted"] == "unassigned").all()
    kinds = table.loc[none, "reason"].str.split(":").str[0]
    assert kinds.isin(["large prediction set", "no typical class"]).all()
    assert (
        table.loc[none & (table["subclass_set_size"] > 1).to_numpy(), "reason"]
        .str.startswith("large prediction set: more than one")
        .all()
    )
    # every call lies inside its own set, at the level it is made
    for level in ("subclass", "t_type"):
        made = (table["call_level"] == level).to_numpy()
        sets = table.loc[made, f"{level}_set"].str.split("; ")
        assert all(c in s for c, s in zip(table.loc[made, "predicted"], sets, strict=True))
    save_model(model, tmp_path / "m")
    pd.testing.assert_frame_equal(load_model(tmp_path / "m").predict_table(test), table)


@pytest.mark.slow
def test_human_t_types_from_the_label_scheme(tmp_path, run_cli):
    out = tmp_path / "tt"
    r = run_cli(
        "train", "--species", "human", "--labels", "ttype", "--model", "rf",
        "--no-family-subsets", "--out", str(out),
    )  # fmt: skip
    assert r.code == 0, r
    assert "prediction sets at 90% at the subclass and t_type levels" in r.out
    cells = load_human(labels="ttype")
    features = tmp_path / "cells.csv"
    cells.X.iloc[::10].to_csv(features)
    r = run_cli("predict", "--model", str(out), "--features", str(features),
                "--out", str(tmp_path / "p.csv"))  # fmt: skip
    assert r.code == 0, r
    assert "cells called at the t_type" in r.out
    preds = pd.read_csv(tmp_path / "p.csv", index_col=0, keep_default_na=False)
    preds = preds[preds["reason"] == ""]  # the cells called
    for col in ("subclass", "subclass_set", "t_type", "t_type_probability", "t_type_set"):
        assert col in preds.columns
    parents = cells.label_parents()
    assert all(parents[t] == s for t, s in zip(preds["t_type"], preds["subclass"], strict=True))
    assert set(preds["call_level"]) <= {"t_type", "subclass", "none"}
    sizes = preds["t_type_set"].map(lambda s: len(s.split("; ")) if s else 0)
    assert (sizes == preds["t_type_set_size"]).all()


def test_a_class_of_one_cell_is_refused():
    data, parent_of = _split_children(200)
    y = data.y.copy()
    y.iloc[0] = "type_A.lonely"
    with pytest.raises(Ephys2TypeError, match="single cell"):
        train_model(
            replace(data, y=y),
            "logreg",
            parent_of={**parent_of, "type_A.lonely": "type_A"},
            family_subsets=False,
        )
