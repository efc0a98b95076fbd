"""``ephys2type score``: predictions measured against labels that came later."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ephys2type.errors import TableError
from ephys2type.evaluation.batch_score import Rate, score_calls
from ephys2type.models.members import wilson_interval


def _predictions() -> pd.DataFrame:
    """Six cells as ``predict`` writes them (the columns score reads)."""
    return pd.DataFrame(
        {
            "predicted": ["Lamp5", "Vip", "unassigned", "Sst", "Vip", "Lamp5"],
            "set": ["Lamp5", "Sst; Vip", "Lamp5; Vip", "Sst", "Vip", "Lamp5; Sst"],
            "expected_accuracy": [0.8, 0.8, 0.8, 0.9, 0.8, 0.8],
            "proba:Lamp5": [0.7, 0.1, 0.45, 0.1, 0.1, 0.6],
            "proba:Sst": [0.2, 0.3, 0.05, 0.8, 0.2, 0.3],
            "proba:Vip": [0.1, 0.6, 0.5, 0.1, 0.7, 0.1],
        },
        index=pd.Index(["a", "b", "c", "d", "e", "f"], name="cell_id"),
    )


# a right; b wrong, inside its set; c unassigned, its top class Vip right; d right; e a class
# the model lacks; f a training cell; g has no prediction
LABELS = pd.Series(
    {"a": "Lamp5", "b": "Sst", "c": "Vip", "d": "Sst", "e": "Sncg", "f": "Lamp5", "g": "Vip"}
)
SUMMARY = {
    "training_cells": ["f"],
    "estimated_accuracy": 0.5,
    "estimated_accuracy_low": 0.3,
    "estimated_accuracy_high": 0.7,
}


def test_score_counts_calls_sets_and_the_most_probable_class():
    score = score_calls(_predictions(), LABELS, SUMMARY)
    assert (score.n_predicted, score.n_labelled, score.scored) == (6, 6, 5)
    assert score.training_cells == ["f"]
    assert score.classes == {"Lamp5": 1, "Sncg": 1, "Sst": 2, "Vip": 1}
    assert score.unknown_labels == {"Sncg": 1}
    assert (score.called.k, score.called.n) == (4, 5)
    assert (score.calls_right.k, score.calls_right.n) == (2, 4)
    assert (score.right.k, score.right.n) == (2, 5)
    assert (score.top_right.k, score.top_right.n) == (3, 5)  # a, c and d
    assert (score.in_set.k, score.in_set.n) == (4, 5)  # all but the Sncg cell
    assert score.mean_set_size == pytest.approx(np.mean([1, 2, 2, 1, 1]))
    assert score.stated == pytest.approx(np.mean([0.8, 0.8, 0.8, 0.9, 0.8]))
    assert score.estimated == (0.5, 0.3, 0.7)
    assert score.per_class.loc["Sst"].to_dict() == {
        "cells": 2,
        "called": 2,
        "right": 1,
        "in_set": 2,
    }
    assert score.per_class.loc["Sncg"].to_dict() == {
        "cells": 1,
        "called": 1,
        "right": 0,
        "in_set": 0,
    }
    # 3 of 5 right: Wilson [23.1%, 88.2%] holds the stated 82%
    assert score.top_right.interval == pytest.approx(wilson_interval(3, 5))
    assert score.holds() is True
    text = "\n".join(score.lines())
    assert (
        "scored 5 of 6 predicted cells (6 with a label; 1 the model was trained on left out)"
        in text
    )
    assert "labels the model does not have (it cannot call them; counted wrong): Sncg 1" in text
    assert "of the calls, right: 2 of 4 (50.0%" in text
    assert "estimated without labels 50% [30%, 70%]" in text
    assert "did not hold" not in text
    saved = json.loads(json.dumps(score.to_dict()))
    assert saved["calls_right"]["k"] == 2 and saved["stated_holds"] is True


def test_a_stated_accuracy_outside_the_measured_interval_is_said():
    table = pd.concat([_predictions()] * 8)
    table.index = [f"c{i}" for i in range(len(table))]
    wrong = pd.Series("Pvalb", index=table.index)  # a class the model has, never called
    table["proba:Pvalb"] = 0.0
    score = score_calls(table, wrong)
    assert score.top_right.k == 0 and score.holds() is False
    assert "the stated accuracy did not hold on these cells" in "\n".join(score.lines())


def test_a_two_level_table_is_scored_at_the_level_named():
    """A t-type model's predictions: no plain set column, probabilities of t-types, the
    batch estimate at the subclass level."""
    table = pd.DataFrame(
        {
            "predicted": ["Sst A", "Sst", "Vip B"],
            "call_level": ["t_type", "subclass", "t_type"],
            "subclass": ["Sst", "Sst", "Vip"],
            "subclass_set": ["Sst", "Sst; Pvalb", "Vip"],
            "t_type": ["Sst A", "unassigned", "Vip B"],
            "t_type_set": ["Sst A", "Sst A; Sst B", "Vip B"],
            "expected_accuracy": [0.9, 0.9, 0.9],
            "subclass_expected_accuracy": [0.9, 0.9, 0.9],
            "t_type_expected_accuracy": [0.4, 0.4, 0.4],
            "proba:Sst A": [0.6, 0.4, 0.1],
            "proba:Sst B": [0.3, 0.5, 0.1],
            "proba:Vip B": [0.1, 0.1, 0.8],
        },
        index=["x", "y", "z"],
    )
    summary = {
        "level": "subclass",
        "estimated_accuracy": 0.8,
        "estimated_accuracy_low": 0.6,
        "estimated_accuracy_high": 0.9,
    }
    with pytest.raises(TableError, match=r"two levels \(subclass, t_type\)"):
        score_calls(table, pd.Series({"x": "Sst"}))
    sub = score_calls(
        table, pd.Series({"x": "Sst", "y": "Pvalb", "z": "Vip"}), summary, level="subclass"
    )
    assert sub.unknown_labels == {}  # Pvalb: in a set, so a class the model has
    assert (sub.calls_right.k, sub.in_set.k) == (2, 3) and sub.top_right is None
    assert sub.estimated == (0.8, 0.6, 0.9) and sub.stated == pytest.approx(0.9)
    assert score_calls(table, pd.Series({"x": "Sst"}), summary).level == "subclass"  # default
    fine = score_calls(
        table, pd.Series({"x": "Sst A", "y": "Sst B", "z": "Vip A"}), summary, level="t_type"
    )
    assert fine.unknown_labels == {"Vip A": 1}
    assert (fine.called.k, fine.calls_right.k, fine.top_right.k) == (2, 1, 2)
    assert fine.stated == pytest.approx(0.4) and fine.estimated is None  # not its level


def test_rate_said_and_empty():
    assert Rate(0, 0).value is None and Rate(0, 0).said() == "0 of 0"
    low, high = wilson_interval(18, 30)
    assert Rate(18, 30).said() == f"18 of 30 (60.0% [{low:.1%}, {high:.1%}])"


def test_cells_no_model_read_are_left_out_of_the_most_probable_class():
    """What expected_accuracy and the estimate describe: the cells a model read."""
    table = _predictions()
    table["model_features"] = [84, 84, 84, 84, 84, 0]  # f: no model read it
    table.loc["f", [c for c in table if c.startswith("proba:")]] = np.nan
    score = score_calls(table, pd.Series({"a": "Lamp5", "f": "Lamp5"}))
    assert (score.top_right.k, score.top_right.n) == (1, 1) and score.scored == 2
    assert score.stated == pytest.approx(0.8)


def test_bad_inputs_are_one_clear_error():
    with pytest.raises(TableError, match="no labelled cell is among the predictions"):
        score_calls(_predictions(), pd.Series({"x": "Vip"}))
    with pytest.raises(TableError, match="labels of the predicted cells are empty"):
        score_calls(_predictions(), pd.Series({"a": " ", "b": np.nan}))
    with pytest.raises(TableError, match="the labels give cell 'a' twice"):
        score_calls(_predictions(), pd.Series(["Lamp5", "Vip"], index=["a", "a"]))
    no_expected = _predictions().drop(columns="expected_accuracy")
    assert score_calls(no_expected, LABELS).stated is None
    with pytest.raises(TableError, match="every labelled cell is a cell the model was trained"):
        score_calls(_predictions(), pd.Series({"f": "Lamp5"}), SUMMARY)
    with pytest.raises(TableError, match="no column 't_type'"):
        score_calls(_predictions(), LABELS, level="t_type")


@pytest.mark.slow  # trains a forest (make test-slow): make test's time
def test_score_command_on_predictions_of_a_trained_model(run_cli, clean_error, tmp_path):
    """train -> predict --out -> score: the numbers are the predictions file's own, the cells
    the model was trained on are left out, and a second --out is refused."""
    from ephys2type import load_human
    from ephys2type.persist.format import save_model
    from ephys2type.persist.train import train_model

    lee = load_human(datasets="lee2023")
    train = lee.subset(lee.X.index[::3])
    save_model(train_model(train, "rf", random_state=0, family_subsets=False), tmp_path / "m")
    new = lee.X.index[1::3][:30]
    batch = pd.concat([lee.X.loc[new], train.X.iloc[:3]])  # 3 training cells among them
    batch.rename_axis("cell_id").to_csv(tmp_path / "cells.csv")
    truth = lee.y.loc[batch.index]
    pd.DataFrame({"cell_id": batch.index, "subclass": truth}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    pred = tmp_path / "pred.csv"
    assert (
        run_cli(
            "predict",
            "--model",
            tmp_path / "m",
            "--features",
            tmp_path / "cells.csv",
            "--out",
            pred,
        ).code
        == 0
    )
    score_args = ("score", "-p", pred, "-l", tmp_path / "labels.csv", "-o", tmp_path / "s.json")
    result = run_cli(*score_args)
    assert result.code == 0, result.err
    assert "3 the model was trained on left out" in result.out
    saved = json.loads((tmp_path / "s.json").read_text())
    table = pd.read_csv(pred, index_col=0, dtype={"cell_id": str})
    table.index = table.index.astype(str)
    mine = table.loc[[str(c) for c in new]]
    y = lee.y.loc[new].to_numpy(dtype=object)
    called = (mine["predicted"] != "unassigned").to_numpy()
    right = called & (mine["predicted"].to_numpy(dtype=object) == y)
    assert saved["called"]["k"] == called.sum() and saved["called"]["n"] == 30
    assert saved["calls_right"]["k"] == right.sum()
    assert sorted(saved["training_cells"]) == sorted(map(str, train.X.index[:3]))
    clean_error(run_cli(*score_args), "already exists")
    # without the summary beside it, the training cells cannot be left out: said, and scored
    (tmp_path / "bare.csv").write_text(pred.read_text())
    bare = run_cli(
        "score", "--predictions", tmp_path / "bare.csv", "--labels", tmp_path / "labels.csv"
    )
    assert bare.code == 0 and "no batch summary beside" in bare.err
    assert "scored 33 of 33 predicted cells" in bare.out
    clean_error(
        run_cli(
            "score", "--predictions", tmp_path / "none.csv", "--labels", tmp_path / "labels.csv"
        ),
        "no such predictions file",
    )
