"""The evaluation harness and `ephys2type evaluate` on the real data (small, fast settings)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ephys2type import load_human
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.evaluation.writers import write_evaluation
from ephys2type.models.registry import get_model, model_names


@pytest.fixture(scope="module")
def human():
    return load_human(datasets="lee2023")  # Lee, Dalley's table: its class counts are checked


@pytest.fixture(scope="module")
def evaluation(human):
    plan = make_plan(human, "strat5x5", seeds=2, n_folds=3)
    return run_evaluation(human, ["logreg", "rf"], plan)


def test_every_cell_is_predicted_once_per_seed(evaluation, human):
    preds = evaluation.predictions
    for _, part in preds.groupby(["model", "seed"]):
        assert sorted(part["cell_id"]) == sorted(human.X.index)
        assert np.allclose(part.filter(like="proba:").sum(axis=1), 1.0)
    assert set(preds["model"]) == {"logreg", "rf"}
    truth = human.y.reindex(preds["cell_id"]).to_numpy()
    assert (preds["true"].to_numpy() == truth).all()


def test_scores_match_the_predictions(evaluation):
    preds = evaluation.predictions
    rows = evaluation.fold_metrics
    for _, row in rows.iterrows():
        part = preds[
            (preds.model == row.model) & (preds.seed == row.seed) & (preds.fold == row.fold)
        ]
        assert row["accuracy"] == pytest.approx((part.true == part.predicted).mean())


def test_summary_and_paired_comparison(evaluation):
    s = evaluation.summary("rf")
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert s[metric]["ci_low"] < s[metric]["mean"] < s[metric]["ci_high"]
        assert s[metric]["n_folds"] == 6
    assert set(s["per_class"]) == {"Lamp5", "Pvalb", "Sst", "Vip"}
    comp = evaluation.compare("rf", "logreg", "macro_f1")
    diff = evaluation.scores("rf", "macro_f1") - evaluation.scores("logreg", "macro_f1")
    assert comp["mean_diff"] == pytest.approx(diff.mean())
    assert 0 <= comp["p"] <= 1


def test_results_folder(evaluation, tmp_path):
    out = write_evaluation(evaluation, tmp_path / "run")
    names = {p.name for p in out.iterdir()}
    assert names == {
        "metrics.json",
        "split_plan.json",
        "fold_metrics.csv",
        "oof_predictions.csv",
        "timings.json",
        "confusion_logreg.png",
        "confusion_rf.png",
        "reliability_logreg.png",
        "reliability_rf.png",
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"]["name"] == "strat5x5"
    assert metrics["protocol"]["seeds"] == [0, 1]
    assert metrics["protocol"]["split_plan_sha256"] == evaluation.plan.sha256
    assert metrics["dataset"]["class_counts"] == {"Lamp5": 66, "Pvalb": 350, "Sst": 144, "Vip": 106}
    assert metrics["dataset"]["sources"]["lee2023_human/LeeDalley_ephys_fx.csv"].startswith(
        "1ec12b02"
    )
    assert "scikit-learn" in metrics["versions"] and "torch" in metrics["versions"]
    assert {c["metric"] for c in metrics["comparisons"]} == {
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
    }
    calibration = metrics["models"]["rf"]["calibration"]
    assert 0 <= calibration["ece"] < 0.5 and sum(b["n"] for b in calibration["bins"]) == 1332
    oof = pd.read_csv(out / "oof_predictions.csv", dtype={"cell_id": str})
    assert len(oof) == 2 * 2 * 666
    with pytest.raises(Exception, match="already exists"):
        write_evaluation(evaluation, out)


def test_same_seed_gives_identical_metrics_file(human, tmp_path):
    plan = make_plan(human, "strat5x5", seeds=1, n_folds=3)
    a = write_evaluation(run_evaluation(human, ["rf"], plan), tmp_path / "a")
    b = write_evaluation(run_evaluation(human, ["rf"], plan), tmp_path / "b")
    assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()
    assert (a / "oof_predictions.csv").read_bytes() == (b / "oof_predictions.csv").read_bytes()


def test_model_registry():
    assert {"rf", "rf-spca", "hgb", "logreg"} <= set(model_names())
    assert "500 trees" in get_model("rf").description
    with pytest.raises(Exception, match="unknown model"):
        get_model("svm")


@pytest.mark.slow  # a command end to end (make test-slow)
def test_evaluate_command(run_cli, clean_error, tmp_path):
    out = tmp_path / "run"
    args = [
        "evaluate",
        "--species",
        "human",
        "--model",
        "logreg",
        "--model",
        "rf",
        "--seeds",
        "1",
        "--folds",
        "3",
        "--out",
        out,
    ]
    result = run_cli(*args)
    assert result.code == 0, result
    assert "logreg - rf" in result.out and "macro_f1" in result.out
    assert (out / "metrics.json").exists()
    clean_error(run_cli(*args), "already exists")
    # reuse the plan of the first run: identical folds, identical plan hash
    again = run_cli(
        "evaluate",
        "--species",
        "human",
        "--model",
        "logreg",
        "--plan",
        out / "split_plan.json",
        "--out",
        tmp_path / "again",
    )
    assert again.code == 0, again
    first = json.loads((out / "metrics.json").read_text())
    second = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert first["protocol"]["split_plan_sha256"] == second["protocol"]["split_plan_sha256"]
    assert first["models"]["logreg"] == second["models"]["logreg"]
    clean_error(
        run_cli(
            "evaluate",
            "--species",
            "mouse",
            "--model",
            "logreg",
            "--plan",
            out / "split_plan.json",
            "--out",
            tmp_path / "x",
        ),
        "cannot be reused",
    )
    clean_error(run_cli("evaluate", "--model", "svm", "--out", tmp_path / "y"), "unknown model")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_gradient_boosting_runs_all_iterations_as_described(no_limits):
    """The hgb description says no early stopping: true at our cell counts."""
    from ephys2type.testing.synthetic import make_synthetic

    data = make_synthetic(400, random_state=3)
    pipe = get_model("hgb").build(data.schema, 0).fit(data.X, data.y)
    assert pipe[-1].n_iter_ == 300 and "no early stopping" in get_model("hgb").description


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_evaluate_default_output_folder(run_cli, clean_error, tmp_path, monkeypatch, smoke_run):
    """Without --out: a folder under results/, printed, never replaced by a second run."""
    monkeypatch.chdir(tmp_path)
    smoke_run()
    args = ("evaluate", "--species", "human", "--model", "logreg")
    result = run_cli(*args)
    assert result.code == 0, result
    out = "results/human_revised_native_strat5x5_logreg"
    assert f"results: {out}" in result.out and "limited run" in result.err
    assert (tmp_path / out / "metrics.json").is_file()
    clean_error(run_cli(*args), "already exists")


def test_a_model_on_the_first_seed_only_is_compared_on_those_folds(evaluation, human):
    """A model run on the plan's first seed joins an evaluation of every seed; its
    comparisons pair the folds both ran on, as if the others had run on that seed alone."""
    plan = evaluation.plan
    only_rf = type(evaluation)(
        plan=plan,
        classes=evaluation.classes,
        models={"rf": evaluation.models["rf"]},
        fold_metrics=evaluation.fold_metrics[evaluation.fold_metrics["model"] == "rf"],
        predictions=evaluation.predictions[evaluation.predictions["model"] == "rf"],
    )
    first = run_evaluation(human, ["logreg"], plan.first_seeds(1))
    combined = only_rf.combine(first)
    assert combined.n_fits("rf") == 6 and combined.n_fits("logreg") == 3
    expected = evaluation.on_plan(plan.first_seeds(1)).compare("logreg", "rf", "accuracy")
    got = combined.compare("logreg", "rf", "accuracy")
    assert got["n_folds"] == 3
    assert got["mean_diff"] == pytest.approx(expected["mean_diff"])
    assert got["p"] == pytest.approx(expected["p"])
    assert combined.to_metrics()["protocol"]["fewer_fits"] == {"logreg": 3}
    with pytest.raises(ValueError, match="share models"):
        combined.combine(first)
    with pytest.raises(ValueError, match="outside this plan"):
        first.combine(only_rf)


def test_model_names_are_never_cut_in_a_narrow_table():
    """A trial read 'rf-depl…' at 100 columns: the model column keeps its longest name whole
    and the other columns wrap."""
    import io

    from rich.console import Console
    from rich.table import Table

    from ephys2type.cli.evaluate import _model_column

    table = Table()
    _model_column(table, ["rf", "rf-hier-deployed"])
    for col in ("accuracy", "balanced accuracy", "macro-F1"):
        table.add_column(col)
    table.add_row("rf-hier-deployed", *["91.23 ± 1.00 [88.00, 94.00]"] * 3)
    out = io.StringIO()
    Console(file=out, width=60).print(table)
    assert "rf-hier-deployed" in out.getvalue() and "…" not in out.getvalue()
