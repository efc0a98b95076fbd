"""Held-out-dataset evaluation on the real human tables: the plan, the per-dataset and
per-layer breakdown, and the batch check on each held-out dataset."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ephys2type import load_human
from ephys2type.errors import Ephys2TypeError
from ephys2type.evaluation.breakdown import breakdown
from ephys2type.evaluation.splits import make_plan


@pytest.fixture(scope="module")
def both():
    return load_human(datasets="lee2023,chartrand2023_l1")


def test_one_fold_per_dataset_and_no_donor_on_both_sides(both):
    plan = make_plan(both, "leave-dataset-out", seeds=2)
    assert len(plan.folds) == 4 and plan.n_folds == 2
    dataset = both.meta["dataset"].to_numpy()
    donors = both.groups.to_numpy()
    for fold, name in zip(plan.folds, ["lee2023", "chartrand2023_l1"] * 2, strict=True):
        assert set(dataset[fold.test]) == {name} and len(fold.test) == (dataset == name).sum()
        assert not set(donors[fold.train]) & set(donors[fold.test])
        assert name not in set(dataset[fold.train])
    notes = {n["held_out"]: n for n in plan.dataset["held_out_folds"]}
    # the layer-1 table holds only Lamp5 and Vip cells: Lee, Dalley's Pvalb and Sst cells
    # cannot be right when it is all the training data, and the plan says so
    assert notes["lee2023"]["test_classes_missing_from_training"] == ["Pvalb", "Sst"]
    assert notes["lee2023"]["test_cells_of_those_classes"] == 494
    assert notes["chartrand2023_l1"]["test_classes_missing_from_training"] == []
    assert notes["chartrand2023_l1"]["n_train"] == 414
    assert plan.description.startswith("leave-one-dataset-out (lee2023, chartrand2023_l1)")
    with pytest.raises(Ephys2TypeError, match="two datasets or more"):
        make_plan(load_human(datasets="lee2023"), "leave-dataset-out")


@pytest.mark.slow  # a command end to end (make test-slow)
def test_evaluate_breaks_down_by_dataset_and_layer_and_checks_each_held_out_batch(
    both, run_cli, tmp_path
):
    """One held-out-dataset evaluation through the command: the plan's notes, the breakdown
    files (each dataset and layer scored on its own cells), the batch check."""
    out = tmp_path / "ldo"
    result = run_cli(
        "evaluate", "--species", "human", "--datasets", "lee2023,chartrand2023_l1",
        "--protocol", "leave-dataset-out", "--model", "logreg", "--model", "logreg-deployed",
        "--seeds", "1", "--out", out,
    )  # fmt: skip
    assert result.code == 0, result
    assert "holding out lee2023: 666 test cells, 39 training cells" in result.out
    assert "the training cells hold no Pvalb, Sst" in result.out
    assert "batch check of logreg-deployed on each held-out dataset" in result.out
    preds = pd.read_csv(out / "oof_predictions.csv", dtype={"cell_id": str})
    by_dataset = pd.read_csv(out / "by_dataset.csv").set_index(["model", "dataset"])
    assert sorted(set(by_dataset.index.get_level_values("dataset"))) == [
        "chartrand2023_l1",
        "lee2023",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {r["dataset"] for r in metrics["by_dataset"]} == {"chartrand2023_l1", "lee2023"}
    # the two folds are two datasets: no pooled interval, no paired test (a reviewer found an
    # interval clipped to [0, 1] and a paired difference of ±234 points)
    pooled = metrics["models"]["logreg"]["accuracy"]
    assert pooled["ci_low"] is None and pooled["no_interval"] == "folds are datasets"
    assert all(c["p"] is None and c["ci_low"] is None for c in metrics["comparisons"])
    assert "folds are datasets: no SD or CI" in result.out
    for (model, name), row in by_dataset.iterrows():
        cells = both.meta.index[both.meta["dataset"] == name]
        mine = preds[(preds["model"] == model) & preds["cell_id"].isin(cells)]
        assert row["cells"] == len(cells)
        assert row["accuracy"] == pytest.approx(
            np.mean(mine["true"] == mine["predicted"]), abs=1e-5
        )
    # only the deployed classifier flags cells; its flags are fractions of the cells
    assert np.isnan(by_dataset.loc[("logreg", "lee2023"), "flagged"])
    assert 0 <= by_dataset.loc[("logreg-deployed", "chartrand2023_l1"), "flagged"] < 0.5
    # the layer-1 cells predicted from Lee, Dalley's cells alone: far below Lee, Dalley's own
    # cross-validated accuracy (85%), and the batch check fires on that held-out dataset
    assert by_dataset.loc[("logreg", "chartrand2023_l1"), "accuracy"] < 0.7
    folds = pd.read_csv(out / "fold_metrics.csv")
    checks = folds.dropna(subset=["batch_shift_detected"])
    assert list(checks["model"].unique()) == ["logreg-deployed"]
    assert checks["batch_shift_detected"].tolist() == [1.0, 1.0]
    # the estimated accuracy is in metrics.json beside the stated and the real one; the
    # stated (in-distribution) figure is far above the real one on these held-out datasets
    recorded = pd.DataFrame(metrics["batch_checks"])
    assert len(recorded) == 2
    assert (recorded["estimated_accuracy_low"] <= recorded["estimated_accuracy"]).all()
    assert (recorded["estimated_accuracy"] <= recorded["estimated_accuracy_high"]).all()
    assert (recorded["stated_accuracy"] - recorded["real_accuracy"] > 0.2).all()
    # ... and the estimate says so: below the stated figure, its interval too
    assert (recorded["estimated_accuracy_high"] < recorded["stated_accuracy"]).all()
    by_layer = pd.read_csv(out / "by_layer.csv", dtype={"layer": str})
    assert set(by_layer["layer"]) >= {"1", "2", "3", "4", "5", "6"}
    assert (
        by_layer.groupby("model")["cells"].sum().tolist() == [both.meta["layer"].notna().sum()] * 2
    )
    # breakdown() on the predictions gives the file's numbers
    direct = breakdown(preds, both.meta["dataset"], "dataset").set_index(["model", "dataset"])
    assert direct["accuracy"].to_numpy() == pytest.approx(
        by_dataset["accuracy"].to_numpy(), abs=1e-5
    )


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_training_on_both_datasets_helps_layer1_cells_and_the_arms_train_on_what_they_say(both):
    from ephys2type.evaluation.training_sets import compare_training_sets

    plan = make_plan(both, "group5x5", seeds=1)
    result = compare_training_sets(both, "rf", plan)
    scores = result.scores
    arms = [a.name for a in result.arms]
    assert arms == ["lee2023 only", "all datasets", "all datasets, common features"]
    lee_only = scores[scores["arm"] == "lee2023 only"]
    every = scores[scores["arm"] == "all datasets"]
    # the first arm trains on Lee, Dalley's training cells only: fewer cells, same folds
    assert (lee_only["n_train"].to_numpy() < every["n_train"].to_numpy()).all()
    common = scores[scores["arm"] == "all datasets, common features"]
    assert set(common["n_features"]) == {82} and set(every["n_features"]) == {93}
    # each dataset's test cells are scored apart, and all of them are scored
    assert set(scores["dataset"]) == {"lee2023", "chartrand2023_l1"}
    per_fold = every.groupby("fold")["n_test"].sum().to_numpy()
    assert per_fold.tolist() == [len(f.test) for f in plan.folds]
    # the measured claim behind train's default: layer-1 cells gain a lot
    gain = result.compare("all datasets", "lee2023 only", "chartrand2023_l1")
    assert gain["mean_diff"] > 0.15 and gain["p"] < 0.05
    assert len(result.predictions) == 3 * len(both)
    layers = result.by(both.meta["layer"], "layer")
    assert set(layers["arm"]) == set(arms) and "1" in set(layers["layer"])
