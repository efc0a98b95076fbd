"""Cells recorded with fewer protocols: family subsets, routing, the deployed model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ephys2type.data.schema import FeatureSchema, get_schema
from ephys2type.errors import Ephys2TypeWarning, ModelFileError, SchemaError
from ephys2type.evaluation.protocols import ARMS, run_partial_protocols
from ephys2type.evaluation.splits import make_plan
from ephys2type.evaluation.stats import paired_test
from ephys2type.models.cell_classifier import CellTypeClassifier
from ephys2type.models.registry import get_model
from ephys2type.persist.format import load_model, save_model
from ephys2type.persist.train import train_model
from ephys2type.testing.synthetic import make_synthetic

LONG_SQUARE = ("subthreshold", "spike_train", "long_square")


def test_protocol_subsets_of_the_builtin_schemas():
    mouse, human = get_schema("mouse"), get_schema("human")
    assert mouse.protocols == ["long_square", "ramp", "short_square"]
    subsets = mouse.protocol_subsets()
    assert subsets[0] == tuple(mouse.family_names) and subsets[-1] == LONG_SQUARE
    assert len(subsets) == 4 and len(set(subsets)) == 4
    human_subsets = human.protocol_subsets()
    assert len(human_subsets) == 8  # long square + any of ramp, short square, chirp
    core = ("subthreshold", "rheo", "hero", "spike_adaptation")
    assert all(s[:4] == core for s in human_subsets)
    # a schema without protocols: each family is its own protocol
    back = FeatureSchema.from_dict(mouse.to_dict())
    assert back.protocol_subsets() == subsets


def test_restrict_keeps_schema_order_and_refuses_unknown_families():
    mouse = get_schema("mouse")
    sub = mouse.restrict(["long_square", "subthreshold"])
    assert sub.family_names == ["subthreshold", "long_square"]
    assert sub.name == "gouwens2020_mouse[subthreshold+long_square]"
    assert mouse.restrict(mouse.family_names) is mouse
    with pytest.raises(SchemaError, match="no family 'chirp'; families: subthreshold"):
        mouse.restrict(["chirp"])


def test_routing_picks_the_model_of_the_largest_subset_a_cell_has():
    data = make_synthetic(300, random_state=0, missing_families={}, missing_values=0.0)
    clf = CellTypeClassifier(model="logreg", schema=data.schema, random_state=0)
    clf.fit(data.X, data.y)
    sizes = [len(m.features) for m in clf.members_]
    assert sizes == [19, 16, 16, 13]  # every feature; without chirp; without ramp; neither
    X = data.X.iloc[:5].copy()
    X.iloc[0, X.columns.get_indexer(data.schema.family("ramp").columns)] = np.nan
    X.iloc[1, X.columns.get_indexer(data.schema.family("subthreshold").columns)] = np.nan
    X.iloc[2, X.columns.get_indexer(["chirp_0", "chirp_1"])] = np.nan  # 1 of 3 left: absent
    X.iloc[3, X.columns.get_indexer(["chirp_0"])] = np.nan  # 2 of 3 left: present, imputed
    route = clf.route(X)
    assert list(route) == [16, 0, 16, 19, 19]  # 0: no model fits, one is fitted on demand
    table = clf.predict_table(X)
    assert table["families_used"].iloc[0] == "subthreshold+spike_train+long_square+chirp"
    assert table["families_used"].iloc[2] == "subthreshold+spike_train+long_square+ramp"
    assert table["model_features"].iloc[1] == 15 and table["n_imputed"].iloc[1] == 0
    assert table["n_imputed"].iloc[3] == 1 and table["imputed"].iloc[3] == "chirp_0"


def test_a_subset_model_equals_a_model_trained_on_the_subset():
    data = make_synthetic(300, random_state=1)
    clf = clone(CellTypeClassifier(model="rf", schema=data.schema, random_state=3))
    clf.fit(data.X, data.y.to_numpy())
    kept = data.schema.restrict(LONG_SQUARE).columns
    blank = data.X.copy()
    blank[[c for c in data.schema.columns if c not in kept]] = np.nan
    alone = get_model("rf").build(data.schema.restrict(LONG_SQUARE), 3)
    proper = ~clf.calibration_
    alone.fit(data.X.loc[proper, kept], data.y.to_numpy()[proper])
    member = next(m for m in clf.members_ if list(m.features) == kept)
    np.testing.assert_allclose(
        member.estimator.predict_proba(blank[kept]), alone.predict_proba(data.X[kept])
    )
    deployed = clf.predict_proba(blank)
    called = ~np.isnan(deployed).any(axis=1)
    assert called.mean() > 0.9
    np.testing.assert_allclose(deployed[called], member.probabilities(blank, clf.classes_)[called])
    imputed = clf.members_[0].probabilities(blank, clf.classes_)
    assert not np.allclose(deployed[called], imputed[called])


@pytest.fixture(scope="module")
def mouse_split():
    from ephys2type import load_mouse

    data = load_mouse()
    rng = np.random.default_rng(0)
    cells = data.X.index[rng.permutation(len(data))]
    return data.subset(cells[:1200]), data.subset(cells[1200:1800])


@pytest.fixture(scope="module")
def deployed(mouse_split, tmp_path_factory):
    train, _ = mouse_split
    folder = tmp_path_factory.mktemp("protocols") / "rf"
    save_model(train_model(train, "rf", random_state=0), folder)
    return folder


def test_a_lab_without_ramp_and_short_square_gets_the_subset_models_calls(deployed, mouse_split):
    """Real mouse cells with whole families absent: the saved model predicts them with the
    model of the families they have, and far better than by imputation."""
    train, test = mouse_split
    model = load_model(deployed)
    assert [len(m.features) for m in model.members_] == [39, 29, 29, 19]
    kept = train.schema.restrict(LONG_SQUARE).columns
    with pytest.warns(Ephys2TypeWarning, match="20 of the model's 39 feature columns absent"):
        table = model.predict_table(test.X[kept])
    assert set(table["families_used"]) == {"+".join(LONG_SQUARE)}
    assert set(table["model_features"]) == {19}
    called = table["predicted"] != "unassigned"
    member = model.members_[-1]
    np.testing.assert_allclose(
        table.loc[called, [f"proba:{c}" for c in model.classes_]].to_numpy(),
        member.probabilities(test.X[kept], model.classes_)[called.to_numpy()],
    )
    imputed = model.members_[0].probabilities(
        test.X.assign(**{c: np.nan for c in test.X if c not in kept}), model.classes_
    )
    deployed_acc = (table["predicted"] == test.y).mean()
    imputed_acc = (model.classes_[imputed.argmax(axis=1)] == test.y).mean()
    assert deployed_acc > imputed_acc + 0.05, (deployed_acc, imputed_acc)
    # complete cells still use the model of every feature
    assert set(model.route(test.X)) == {39}


def test_members_are_checked_on_load(deployed, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(deployed, folder)
    sidecar = json.loads((folder / "model.json").read_text())
    assert [e["folder"] for e in sidecar["members"]] == [f"members/{k}" for k in range(4)]
    inner = folder / "members" / "2" / "member.json"
    swapped = json.loads(inner.read_text())
    swapped["temperature"] = 1.0  # an edited (or swapped) member
    inner.write_text(json.dumps(swapped))
    with pytest.raises(ModelFileError, match=r"does not match model\.json"):
        load_model(folder)
    shutil.rmtree(folder / "members" / "3")
    with pytest.raises(ModelFileError, match=r"missing|does not match"):
        load_model(folder)


def test_predict_command_on_a_table_without_two_protocols(run_cli, deployed, mouse_split, tmp_path):
    _, test = mouse_split
    kept = test.schema.restrict(LONG_SQUARE).columns
    cells = test.X[kept].head(50).rename_axis("cell_id").reset_index()
    cells.to_csv(tmp_path / "ls_only.csv", index=False)
    out = tmp_path / "calls.csv"
    result = run_cli("predict", "-m", deployed, "-f", tmp_path / "ls_only.csv", "-o", out)
    assert result.code == 0, result
    assert "20 of the model's 39 feature columns absent" in result.err
    flat = " ".join(result.out.split())
    assert "cells called by the model of 19 features (expected accuracy" in flat
    calls = pd.read_csv(out)
    assert set(calls["families_used"]) == {"+".join(LONG_SQUARE)}
    summary = json.loads((tmp_path / "calls.csv.summary.json").read_text())
    assert summary["families_missing"] == ["ramp", "short_square"]
    assert summary["families_used"] == list(LONG_SQUARE)


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_partial_protocol_table_is_deterministic_and_paired():
    data = make_synthetic(240, random_state=2)
    plan = make_plan(data, "strat5x5", seeds=1, n_folds=3)
    first = run_partial_protocols(data, "logreg", plan)
    again = run_partial_protocols(data, "logreg", plan, n_jobs=2)
    pd.testing.assert_frame_equal(
        first.fold_metrics.drop(columns=["fit_seconds", "predict_seconds"]),
        again.fold_metrics.drop(columns=["fit_seconds", "predict_seconds"]),
    )
    table = first.table()
    assert [e["name"] for e in table] == ["+".join(s) for s in data.schema.protocol_subsets()[1:]]
    for entry in table:
        assert set(entry) >= {"imputed", "deployed", "subset", "deployed_minus_imputed"}
        assert 0.5 < entry["deployed_assigned"] <= 1.0
        assert entry["deployed"]["accuracy"]["n_folds"] == 3
        # paired: the difference is taken fold by fold, over the same folds of both arms
        rows = first.fold_metrics[first.fold_metrics["subset"] == entry["name"]]
        arms = {a: rows[rows["arm"] == a].sort_values(["seed", "fold"]) for a in ARMS}
        folds = {a: list(zip(r["seed"], r["fold"], strict=True)) for a, r in arms.items()}
        assert folds["deployed"] == folds["imputed"] == folds["subset"]
        assert len(folds["subset"]) == 3
        # the whole test, not its mean alone (a mean of differences ignores the pairing;
        # review): t and the interval change when folds are matched wrongly
        n_train, n_test = rows["n_train"].mean(), rows["n_test"].mean()
        for other in ("imputed", "subset"):
            paired = paired_test(
                arms["deployed"]["macro_f1"], arms[other]["macro_f1"], n_train, n_test
            )
            assert entry[f"deployed_minus_{other}"] == pytest.approx(paired, nan_ok=True)


@pytest.mark.slow  # a command end to end (make test-slow)
def test_evaluate_with_available_families(run_cli, clean_error, tmp_path):
    out = tmp_path / "ev"
    result = run_cli(
        "evaluate",
        "--species",
        "human",
        "--model",
        "logreg",
        "--seeds",
        "1",
        "--folds",
        "2",
        "--available-families",
        "subthreshold,rheo,hero,spike_adaptation",
        "--out",
        out,
    )
    assert result.code == 0, result
    for arm in ("logreg imputed", "logreg deployed", "logreg subset"):
        assert arm in result.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"logreg imputed", "logreg deployed", "logreg subset"}
    clean_error(
        run_cli("evaluate", "--species", "human", "--available-families", "subthreshold,x"),
        "no family 'x'",
    )
    clean_error(
        run_cli("evaluate", "--available-families", "subthreshold", "--importance"),
        "cannot be combined",
    )


def test_families_command_lists_protocols_and_subsets(run_cli):
    result = run_cli("data", "families", "--species", "human")
    assert result.code == 0, result
    out = " ".join(result.out.split())
    assert "family subsets a lab plausibly has" in out
    assert "subthreshold + rheo + hero + spike_adaptation + chirp" in out
    assert "long_square" in out and "short_square" in out


def test_members_fitted_only_where_cells_need_them_serve_them_as_the_full_classifier():
    """The feature-set table fits a classifier without its protocol-subset members and adds
    those a set's cells would be served by: every cell gets exactly what the classifier
    fitted with all of them gives (sets that need no subset member, and one that does)."""
    from ephys2type import load_human
    from ephys2type.evaluation.feature_subsets import draw_feature_sets
    from ephys2type.evaluation.folds import add_serving_members

    data = load_human()
    train, test = data.X.iloc[:450], data.X.iloc[450:]
    y = data.y.iloc[:450]
    full = CellTypeClassifier(model="logreg", schema=data.schema, random_state=3).fit(train, y)
    lean = CellTypeClassifier(
        model="logreg", schema=data.schema, random_state=3, family_subsets=False
    ).fit(train, y)
    sets = draw_feature_sets(data.schema, 3, random_state=1)
    no_chirp = [c for c in data.schema.columns if c not in data.schema.family("chirp").columns]
    for features in [*sets, tuple(no_chirp)]:
        blanked = test.copy()
        blanked[[c for c in data.schema.columns if c not in features]] = np.nan
        add_serving_members(lean, blanked)
        pd.testing.assert_frame_equal(lean.predict_table(blanked), full.predict_table(blanked))
    # the chirp-less cells needed one subset member, the random sets none
    assert 1 < len(lean.members_) < len(full.members_)
