"""Two-level labels (subclass, then t-type): the hierarchy from the label scheme, top-down
calls that never disagree, conformal sets at both levels, abstention, and the per-level
evaluation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ephys2type import load_human, load_mouse
from ephys2type.data.labels import label_hierarchy
from ephys2type.errors import SchemaError, TableError
from ephys2type.evaluation.levels import run_levels
from ephys2type.evaluation.splits import make_plan
from ephys2type.models.conformal import ConformalClassifier
from ephys2type.models.hierarchy import parent_probabilities, top_down
from ephys2type.testing.synthetic import make_synthetic


def test_real_t_types_fall_in_one_subclass_each():
    mouse = load_mouse(labels="ttype")
    parents = mouse.label_parents()
    assert len(parents) == 55 and set(parents.values()) == {"Lamp5", "Pvalb", "Sncg", "Sst", "Vip"}
    # independent reading: a mouse t-type's first word is its subclass
    assert all(t.split()[0] == p for t, p in parents.items())
    human = load_human(labels="ttype", datasets="lee2023")
    parents = human.label_parents()
    assert len(parents) == 17 and set(parents.values()) == {"Lamp5", "Pvalb", "Sst", "Vip"}
    # the name holds the subclass, except two SST-named types that Revised_subclass_label
    # (the parent scheme) moves to PVALB
    moved = {t for t, p in parents.items() if p.upper() not in t}
    assert moved == {"Inh L2-4 SST FRZB", "Inh L5-6 SST MIR548F2"}
    assert all(parents[t] == "Pvalb" for t in moved)


def test_a_t_type_in_two_subclasses_is_refused():
    meta = pd.DataFrame(
        {"t_type": ["Sst A", "Sst A", "Pvalb B"], "subclass": ["Sst", "Pvalb", "Pvalb"]},
        index=["c1", "c2", "c3"],
    )
    with pytest.raises(TableError, match="'Sst A' falls in several mouse5 classes"):
        label_hierarchy(meta, meta["t_type"].rename("label"), "ttype", "mouse")


def test_a_labs_subclass_column_gives_its_t_types_their_subclass():
    """A lab's labels without Allen's revised_subclass column: its own subclass column, as
    written (spaces around a name ignored); a t-type whose subclass is blank is named."""
    meta = pd.DataFrame(
        {"t_type": ["a", "a", "b"], "subclass": ["Pvalb", "Pvalb ", "Sst"]}, index=list("xyz")
    )
    assert label_hierarchy(meta, meta["t_type"], "ttype", "human") == {"a": "Pvalb", "b": "Sst"}
    meta.loc["z", "subclass"] = " "
    with pytest.raises(TableError, match=r"1 ttype label.*no value in the 'subclass' column: 'b'"):
        label_hierarchy(meta, meta["t_type"], "ttype", "human")
    with pytest.raises(SchemaError, match="a 'subclass' column beside 't_type'"):
        label_hierarchy(meta[["t_type"]], meta["t_type"], "ttype", "human")


def test_top_down_calls_never_disagree():
    rng = np.random.default_rng(0)
    classes = np.array(["a1", "a2", "b1", "b2", "b3", "c1"], dtype=object)
    parent_of = {c: c[0].upper() for c in classes}
    proba = rng.dirichlet(np.ones(len(classes)) * 0.5, size=500)
    calls = top_down(proba, classes, parent_of)
    parents, top = parent_probabilities(proba, classes, parent_of)
    assert list(parents) == ["A", "B", "C"]
    np.testing.assert_allclose(top.sum(axis=1), 1.0)
    assert (calls["parent"].to_numpy() == parents[top.argmax(axis=1)]).all()
    assert all(parent_of[c] == p for c, p in zip(calls["child"], calls["parent"], strict=True))
    # the child is the best within its parent, not necessarily the best overall
    assert (calls["child_probability"] <= proba.max(axis=1)).all()
    assert (calls["child_probability"] < proba.max(axis=1)).any()


def _split_children(n, seed=0):
    """Four well separated parents, each split at random into two children that the features
    cannot tell apart: the known answer is 'parent yes, child no'."""
    data = make_synthetic(
        n, n_classes=4, separation=4.0, missing_families={}, missing_values=0.0, random_state=seed
    )
    rng = np.random.default_rng(seed)
    parent = data.y.to_numpy(dtype=object)
    child = np.array([f"{p}.{k}" for p, k in zip(parent, rng.integers(0, 2, n), strict=True)])
    parent_of = {c: c.split(".")[0] for c in np.unique(child)}
    return data, child, parent_of


def test_sets_at_both_levels_and_abstention_follow_the_known_answer():
    data, child, parent_of = _split_children(4000)
    X = data.X.to_numpy()
    train, test = slice(0, 2000), slice(2000, None)
    clf = ConformalClassifier(
        estimator=LogisticRegression(max_iter=2000),
        confidence=0.9,
        parent_of=parent_of,
        max_set_size=1,
        random_state=0,
    ).fit(X[train], child[train])
    levels = clf.predict_levels(X[test])
    truth_up = np.array([parent_of[c] for c in child[test]])
    up_sets = clf.predict_set(X[test], level="parent")
    position = {p: j for j, p in enumerate(clf.parents_)}
    covered_up = up_sets[np.arange(len(truth_up)), [position[p] for p in truth_up]]
    assert abs(covered_up.mean() - 0.9) < 0.03
    sets = clf.predict_set(X[test])
    position = {c: k for k, c in enumerate(clf.classes_)}
    covered = sets[np.arange(len(truth_up)), [position[c] for c in child[test]]]
    assert abs(covered.mean() - 0.9) < 0.03
    # children are indistinguishable: a child set mostly holds both children of the parent
    assert levels["set_size"].mean() > 1.5
    assert (levels["parent_probability"] >= levels["child_probability"] - 1e-12).all()
    assert all(parent_of[c] == p for c, p in zip(levels["child"], levels["parent"], strict=True))
    # abstention: at most 1 type allowed -> most cells stop at the (single) parent
    fine = levels["set_size"] <= 1
    assert (levels.loc[fine, "call_level"] == "class").all()
    coarse = ~fine & (levels["parent_set_size"] == 1)
    assert (levels.loc[coarse, "call_level"] == "parent").all()
    assert (levels.loc[~fine & ~coarse, "call_level"] == "none").all()
    assert coarse.mean() > 0.5
    # parent calls made are right (the parents are well separated)
    assert (levels.loc[coarse, "parent"].to_numpy() == truth_up[coarse.to_numpy()]).mean() > 0.97
    # allowing 3 types: every non-empty child set here holds at most the 2 children
    loose = clf.set_params(max_set_size=3).predict_levels(X[test])
    assert (loose["call_level"] == "class").mean() > 0.97
    assert set(loose["set"].iloc[0].split("; ")) <= set(clf.classes_)


def test_parent_sets_need_the_hierarchy():
    data = make_synthetic(200, missing_families={}, missing_values=0.0, random_state=0)
    clf = ConformalClassifier(estimator=LogisticRegression(max_iter=500)).fit(
        data.X.to_numpy(), data.y.to_numpy()
    )
    with pytest.raises(ValueError, match="parent-level sets need parent_of"):
        clf.predict_set(data.X.to_numpy(), level="parent")


def test_per_level_evaluation_on_the_known_answer():
    data, child, parent_of = _split_children(600, seed=1)
    data = replace(data, y=pd.Series(child, index=data.X.index, name="label"))
    plan = make_plan(data, "strat5x5", seeds=1, n_folds=2)
    result = run_levels(
        data, ["logreg"], plan, parent_of=parent_of, max_set_size=1, hierarchical=True
    )
    table = result.table().set_index(["model", "level"])
    models = ("logreg-deployed", "logreg-hier-deployed")
    assert set(table.index) == {(m, lv) for m in models for lv in ("subclass", "t-type")}
    for model in models:
        up, down = table.loc[(model, "subclass")], table.loc[(model, "t-type")]
        assert up["accuracy"] > 0.95  # parents are separable
        assert 0.35 < down["accuracy"] < 0.65  # children are a coin flip within the parent
        assert down["top3_accuracy"] > 0.95  # both children are in the top 3
        assert down["mean_set_size"] > up["mean_set_size"]
        assert abs(up["coverage"] - 0.9) < 0.06 and abs(down["coverage"] - 0.9) < 0.06
        assert up["called"] > 0.5 and down["called"] < 0.5
    per_class = result.per_class()
    assert len(per_class) == 2 * (4 + 8)
    assert per_class.groupby(["model", "level"])["n_cells"].sum().eq(600).all()
    curve = result.selective_curve()
    first = curve.groupby(["model", "level"]).first()
    assert (first["share_called"] == 1.0).all()
    assert np.isclose(
        first.loc[("logreg-deployed", "t-type"), "accuracy"], down["accuracy"], atol=0.05
    )


@pytest.mark.slow
def test_evaluate_labels_ttype_scores_each_level(run_cli, tmp_path):
    out = tmp_path / "tt"
    r = run_cli(
        "evaluate", "--species", "human", "--labels", "ttype", "--model", "logreg",
        "--seeds", "1", "--folds", "3", "--jobs", "1", "--out", str(out),
    )  # fmt: skip
    assert r.code == 0, r
    assert "t-type" in r.out and "logreg-deployed" in r.out and "coverage" in r.out
    levels = pd.read_csv(out / "levels.csv")
    assert set(levels["level"]) == {"subclass", "t-type"}
    # the calls' own accuracy is printed beside the top class's (a trial read the subclass
    # accuracy of every cell as the model's, against a flat run's with unassigned as wrong)
    assert "every cell counted" in r.out and "right: of those calls" in " ".join(r.out.split())
    subclass = levels.set_index("level").loc["subclass"]
    assert f"{100 * subclass['accuracy_when_called']:.1f}" in r.out
    assert levels["coverage"].between(0.7, 1.0).all()
    assert (out / "accuracy_vs_called.png").stat().st_size > 1000
    per_class = pd.read_csv(out / "coverage_per_class.csv")
    assert set(per_class.loc[per_class["level"] == "t-type", "class"]) == set(
        load_human(labels="ttype").classes
    )
    r = run_cli("evaluate", "--species", "human", "--labels", "ttype", "--importance")
    assert r.code != 0 and "scored per level" in r.err
    r = run_cli("evaluate", "--species", "human", "--hierarchical")
    assert r.code == 2 and "--hierarchical needs two-level labels" in r.err


def test_what_is_evaluated_for_t_types_is_what_ships(tmp_path):
    """`evaluate --labels ttype` scores the object `train --labels ttype` saves: on a fold,
    the same calls, sets and probabilities as a model trained on that fold's training
    cells, saved and loaded; hierarchical members too (`train --hierarchical`)."""
    from ephys2type.evaluation.folds import fold_seed
    from ephys2type.persist.format import load_model, save_model
    from ephys2type.persist.train import train_model

    data, child, parent_of = _split_children(500, seed=2)
    data = replace(data, y=pd.Series(child, index=data.X.index, name="label"))
    plan = make_plan(data, "strat5x5", seeds=1, n_folds=2)
    result = run_levels(data, ["logreg"], plan, parent_of=parent_of, hierarchical=True)
    fold = plan.folds[1]
    train = data.subset(data.X.index[fold.train])
    test = data.X.iloc[fold.test]
    preds = result.evaluation.predictions.query("fold == 1")
    for name, hier in (("logreg-deployed", False), ("logreg-hier-deployed", True)):
        trained = train_model(
            train,
            "logreg",
            random_state=fold_seed(fold.seed, fold.fold),
            parent_of=parent_of,
            hierarchical=hier,
        )
        shipped = load_model(save_model(trained, tmp_path / name))
        table = shipped.predict_table(test)
        evaluated = preds[preds["model"] == name].set_index("cell_id").loc[test.index]
        assert list(table["predicted"]) == list(evaluated["predicted"])
        assert list(table["t_type_set"]) == list(evaluated["set"].fillna(""))
        columns = [f"proba:{c}" for c in data.classes]
        np.testing.assert_allclose(table[columns].to_numpy(), evaluated[columns].to_numpy())


@pytest.mark.slow  # a command end to end (make test-slow)
def test_a_labs_own_t_type_table_trains_and_says_what_qc_left_out(run_cli, tmp_path):
    """A lab's table with t-types beside its own subclass column (a trial): the subclass
    column gives the hierarchy (no Allen column needed); t-types of one cell are an error that
    names the QC profile that leaves them out; with it, train says what QC left out and gives
    the expected accuracy at both levels."""
    human = load_human(labels="ttype", qc=None, datasets="lee2023")
    subclass = load_human(qc=None, datasets="lee2023").y
    cells = human.y.dropna().index.intersection(subclass.dropna().index)[:300]
    human.X.loc[cells].rename_axis("cell_id").to_csv(tmp_path / "f.csv")
    pd.DataFrame(
        {"cell_id": cells, "subclass": subclass.loc[cells], "t_type": human.y.loc[cells]}
    ).to_csv(tmp_path / "l.csv", index=False)
    counts = human.y.loc[cells].value_counts()
    assert (counts == 1).any() and (counts < 10).any()  # what the errors and QC are about
    args = ("train", "--table", tmp_path / "f.csv", "--table-labels", tmp_path / "l.csv")
    r = run_cli(*args, "--labels", "ttype", "--out", tmp_path / "m0")
    assert r.code == 2 and "--profile default" in r.err and "fewer than 10 cells" in r.err
    r = run_cli(*args, "--labels", "ttype", "--profile", "default", "--out", tmp_path / "m")
    assert r.code == 0, r
    text = " ".join(r.out.split())
    # the rare rule counts classes after the other rules, so read the line's own numbers
    import re

    line = re.search(r"QC \(profile default\) left out (\d+) of 300 cells: (.*?) saved", text)
    assert line is not None, text
    parts = [int(n) for n in re.findall(r"(\d+) (?:without|with|of)", line.group(2))]
    assert sum(parts) == int(line.group(1)) == 300 - int(re.search(r"on (\d+) cells", text)[1])
    assert re.search(r"\d+ of a class too rare to train on \(\d+ classes\)", line.group(2))
    assert "at the subclass level" in text and "at the t_type level" in text
