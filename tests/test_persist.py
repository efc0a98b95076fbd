"""Train -> save -> load -> predict, and every way a model folder or features file can be bad."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import ephys2type
from ephys2type import load_human
from ephys2type.errors import Ephys2TypeError, Ephys2TypeWarning, ModelFileError, TableError
from ephys2type.persist.format import load_model, save_model
from ephys2type.persist.train import train_model


@pytest.fixture(scope="module")
def human():
    # 300 cells of Lee, Dalley's table: the thresholds of the distance tests were set on them
    data = load_human(datasets="lee2023")
    rng = np.random.default_rng(3)
    return data.subset(data.X.index[np.sort(rng.choice(len(data), 300, replace=False))])


@pytest.fixture(scope="module")
def saved(human, tmp_path_factory):
    """A trained BiLSTM (without family-subset models and at most 30 epochs, for speed) and a
    random forest (with them, as `train` saves it), each saved once."""
    root = tmp_path_factory.mktemp("models")
    out = {}
    for name in ("bilstm-smote", "rf"):
        trained = train_model(
            human, name, random_state=0, params={"max_epochs": 30}, family_subsets=name == "rf"
        )
        out[name] = (trained, save_model(trained, root / name))
    return out


def _params(clf) -> dict:
    """get_params(deep=False), the model compared by name and parameters."""
    params = clf.get_params(deep=False)
    spec = clf.model_spec()
    params["model"] = (spec.name, dict(spec.params))
    params["schema"] = params["schema"].to_dict()
    return params


@pytest.mark.parametrize("name", ["bilstm-smote", "rf"])
def test_a_loaded_model_predicts_exactly_as_the_fitted_one(saved, human, name):
    trained, path = saved[name]
    loaded = load_model(path)
    # the cells a saved member serves (the BiLSTM has no subset members: cells without
    # chirp would get a network fitted on demand, compared for the forest and in
    # test_cell_classifier)
    cells = human.X if name == "rf" else human.X[loaded.route(human.X) > 0]
    assert len(cells) > 100
    pd.testing.assert_frame_equal(loaded.predict_table(cells), trained.predict_table(cells))
    assert list(loaded.classes_) == list(trained.classes_)
    assert [m.calibration for m in loaded.members_] == [m.calibration for m in trained.members_]
    assert _params(loaded) == _params(trained)
    assert loaded.provenance_["n_cells"] == 300 and loaded.provenance_["species"] == "human"
    assert len(loaded.members_) == (8 if name == "rf" else 1)


def test_tree_weights_are_written_deflated(saved):
    """Forest weights are compressed in their skops archive (a 500-tree forest: 41 MB
    stored, 7 MB deflated) and still read back exactly (the test above)."""
    import zipfile

    files = sorted(saved["rf"][1].rglob("model.skops"))
    assert len(files) == 8
    with zipfile.ZipFile(files[0]) as archive:
        entries = archive.infolist()
    assert {e.compress_type for e in entries} == {zipfile.ZIP_DEFLATED}
    assert sum(e.compress_size for e in entries) < 0.5 * sum(e.file_size for e in entries)


def test_prediction_table(saved, human):
    loaded = ephys2type.load_model(saved["bilstm-smote"][1])
    cells = human.X[loaded.route(human.X) > 0]  # served by the saved network
    preds = loaded.predict_table(cells)
    assert list(preds.index) == list(cells.index)
    called = preds["predicted"] != "unassigned"
    assert set(preds.loc[called, "predicted"]) <= set(loaded.classes_)
    assert np.allclose(preds.loc[called].filter(like="proba:").sum(axis=1), 1)
    assert preds.loc[called, "top_families"].str.count(";").eq(1).all()
    # the training cells themselves are mostly in distribution and called; an absurd cell
    # (every value 50 times its own) among them is left unassigned as implausible, and
    # alone it is a table in another unit
    assert preds["out_of_distribution"].mean() < 0.02 and called.mean() > 0.9
    batch = cells.iloc[:5].copy()
    batch.iloc[0] *= 50
    odd = loaded.predict_table(batch)
    assert odd["predicted"].iloc[0] == "unassigned"
    assert odd["reason"].iloc[0].startswith("implausible value: ")
    with pytest.raises(TableError, match=r"another unit.*and \d+ more such columns"):
        loaded.predict_table(batch.iloc[[0]])
    assert (preds["qc_flag"] == "").all()  # training cells passed QC


def test_missing_values_are_imputed_with_training_medians(saved, human):
    loaded = load_model(saved["bilstm-smote"][1])
    sub = human.schema.family("subthreshold").columns
    chirp = human.schema.family("chirp").columns
    has = human.X[human.X[sub + chirp].notna().all(axis=1)].notna().sum(axis=1)
    complete = has.idxmax()  # nearly complete: with 5 values fewer, the same model serves it
    cell = human.X.loc[[complete]].copy()
    before = int(cell.isna().sum(axis=1).iloc[0])
    gone = sub[:5]  # part of the family: the cell keeps its model, the values are imputed
    cell[gone] = np.nan
    filled = cell.copy()
    prep = loaded.members_[0].estimator.named_steps["prep"]
    idx = [human.schema.columns.index(c) for c in gone]
    filled[gone] = prep.medians_[idx]
    assert np.allclose(loaded.predict_proba(cell), loaded.predict_proba(filled))
    row = loaded.predict_table(cell).iloc[0]
    assert row["model_features"] == 93
    assert row["n_features"] == 93 - before - 5 and row["n_imputed"] == before + 5
    assert set(gone) <= set(row["imputed"].split("; "))


def test_bad_feature_tables_for_prediction(saved, human):
    loaded = load_model(saved["rf"][1])
    # absent single columns are imputed, with one warning naming them
    with pytest.warns(Ephys2TypeWarning, match="2 of the model's 93 feature columns absent.*tau"):
        partial = loaded.predict(human.X.drop(columns=["tau", "sag"]))
    assert np.array_equal(partial, loaded.predict(human.X.assign(tau=np.nan, sag=np.nan)))
    with pytest.raises(TableError, match="none of the model's 93 feature columns"):
        loaded.predict(pd.DataFrame({"a": [1.0]}))
    bad = human.X.astype(object)
    bad.iloc[3, 2] = "oops"
    with pytest.raises(TableError, match=r"row '\w+'.*'oops'"):
        loaded.predict(bad)
    inf = human.X.copy()
    inf.iloc[1, 0] = np.inf
    with pytest.raises(TableError, match="infinite"):
        loaded.predict(inf)
    with pytest.warns(Ephys2TypeWarning, match="ignoring 1 column"):
        loaded.predict(human.X.assign(notes=1.0))
    with pytest.raises(TableError, match="empty"):
        loaded.predict(human.X.iloc[:0])


def _copy(path, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(path, target)
    return target


MEMBER = "members/0"


def _rehash(folder, weights_name):
    """Make the member's sidecar (and the model's record of it) match an edited file."""
    member = folder / MEMBER / "member.json"
    sidecar = json.loads(member.read_text())
    weights = (folder / MEMBER / weights_name).read_bytes()
    sidecar["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    member.write_text(json.dumps(sidecar))
    model = json.loads((folder / "model.json").read_text())
    model["members"][0]["sidecar_sha256"] = hashlib.sha256(member.read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(model))


def _load_all(folder):
    return load_model(folder, load_members=True)


def test_corrupted_and_truncated_weights(saved, tmp_path):
    folder = _copy(saved["bilstm-smote"][1], tmp_path)
    weights = folder / MEMBER / "model.pt"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    loaded = load_model(folder)  # weights are read, and checked, when first needed
    with pytest.raises(ModelFileError, match="SHA-256 does not match"):
        _ = loaded.members_[0].estimator
    _rehash(folder, "model.pt")  # even with a matching hash, a truncated file is refused
    with pytest.raises(ModelFileError, match="not a plain weights file"):
        _load_all(folder)


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_with_code_is_refused(saved, tmp_path, capsys):
    folder = _copy(saved["bilstm-smote"][1], tmp_path)
    weights = folder / MEMBER / "model.pt"
    weights.write_bytes(pickle.dumps({"w": Exploit()}))
    _rehash(folder, "model.pt")
    with pytest.raises(ModelFileError, match="refused to load"):
        _load_all(folder)
    torch_file = tmp_path / "exploit.pt"
    torch.save({"w": Exploit()}, torch_file)
    weights.write_bytes(torch_file.read_bytes())
    _rehash(folder, "model.pt")
    with pytest.raises(ModelFileError, match="refused to load"):
        _load_all(folder)
    assert "this must never run" not in capsys.readouterr().out


def test_untrusted_types_in_a_skops_file_are_refused(saved, tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    folder = _copy(saved["rf"][1], tmp_path)
    sio.dump(FunctionTransformer(func=shutil.rmtree), folder / MEMBER / "model.skops")
    _rehash(folder, "model.skops")
    with pytest.raises(ModelFileError, match="refused to load types"):
        _load_all(folder)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: (f / "model.json").unlink(), "not an ephys2type model folder"),
        (lambda f: (f / "model.json").write_text("{trunc"), "corrupted sidecar"),
        (lambda f: (f / "model.json").write_text('{"format": "other"}'), "not an ephys2type"),
        (lambda f: (f / MEMBER / "model.pt").unlink(), "weights file model.pt is missing"),
        (lambda f: (f / MEMBER / "member.json").write_text("{}"), "does not match model.json"),
        (lambda f: shutil.rmtree(f / MEMBER), "member model is missing"),
        (lambda f: (f / "training_cells.csv").write_text("x\n1\n"), "SHA-256 does not match"),
    ],
)
def test_broken_model_folders(saved, tmp_path, edit, message):
    folder = _copy(saved["bilstm-smote"][1], tmp_path)
    edit(folder)
    with pytest.raises(ModelFileError, match=message):
        _load_all(folder)


def test_newer_format_and_mismatched_sidecar(saved, tmp_path):
    folder = _copy(saved["bilstm-smote"][1], tmp_path)
    sidecar = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(sidecar | {"format_version": 99}))
    with pytest.raises(ModelFileError, match="format version 99"):
        load_model(folder)
    (folder / "model.json").write_text(json.dumps(sidecar))
    member = json.loads((folder / MEMBER / "member.json").read_text())
    member["backend"]["hyperparameters"]["width"] = 16  # weights no longer fit the network
    (folder / MEMBER / "member.json").write_text(json.dumps(member))
    sidecar["members"][0]["sidecar_sha256"] = hashlib.sha256(
        (folder / MEMBER / "member.json").read_bytes()
    ).hexdigest()
    (folder / "model.json").write_text(json.dumps(sidecar))
    with pytest.raises(ModelFileError, match="do not fit"):
        _load_all(folder)
    with pytest.raises(ModelFileError, match="no such model folder"):
        load_model(tmp_path / "nowhere")


def test_models_that_cannot_be_saved(human):
    with pytest.raises(Ephys2TypeError, match="cannot be saved"):
        train_model(human, "rf-spca")


@pytest.mark.slow  # a command end to end (make test-slow)
def test_train_and_predict_commands(run_cli, clean_error, tmp_path, human):
    model_dir = tmp_path / "model"
    result = run_cli("train", "--species", "human", "--model", "logreg", "--out", model_dir)
    assert result.code == 0, result
    # a human model is trained on every bundled human dataset unless told otherwise
    info = load_model(model_dir).provenance_
    assert info["datasets"] == ["lee2023", "chartrand2023_l1"] and info["n_cells"] == 869
    clean_error(
        run_cli("train", "--species", "human", "--model", "logreg", "--out", model_dir),
        "already exists",
    )
    cells = human.X.iloc[:25].copy()
    cells.insert(0, "cell_id", cells.index)
    features = tmp_path / "cells.csv"
    cells.to_csv(features, index=False)
    out = tmp_path / "preds.csv"
    result = run_cli("predict", "--model", model_dir, "--features", features, "--out", out)
    assert result.code == 0, result
    assert "25 cells:" in result.out
    # the rows not shown are in the file it wrote (a trial: "use --out" beside --out)
    assert "... 5 more cells; in " in result.out and "use --out" not in result.out
    preds = pd.read_csv(out, index_col="cell_id", dtype={"cell_id": str})
    assert list(preds.index) == list(human.X.index[:25])
    clean_error(
        run_cli("predict", "--model", model_dir, "--features", features, "--out", out),
        "already exists",
    )
    # --force never writes the predictions over the cells' features (a new-user trial)
    before = features.read_bytes()
    clean_error(
        run_cli(
            "predict", "--model", model_dir, "--features", features, "--out", features, "--force"
        ),
        "is the --features file",
    )
    assert features.read_bytes() == before
    # bad features file: one error naming column and line, and nothing written
    cells = cells.astype(object)
    cells.iloc[4, 3] = "n/a?"
    cells.to_csv(features, index=False)
    clean_error(
        run_cli(
            "predict", "--model", model_dir, "--features", features, "--out", tmp_path / "new.csv"
        ),
        "line 6",
        "not a number",
    )
    assert not (tmp_path / "new.csv").exists()
    clean_error(
        run_cli("predict", "--model", tmp_path / "nope", "--features", features),
        "no such model folder",
    )


@pytest.mark.filterwarnings("ignore:.*cells this model was trained on")  # its own cells
def test_predict_finds_the_id_column_of_the_allen_tables(saved, tmp_path):
    """Rows of the bundled human table predict as they are: no --id-column needed."""
    from ephys2type.data.datasets import HUMAN_FEATURES
    from ephys2type.data.fetch import fetch
    from ephys2type.persist.predict import predict_file

    loaded = load_model(saved["rf"][1])
    assert loaded.id_column == "specimen_id"
    rows = pd.read_csv(fetch(HUMAN_FEATURES).path).head(25)
    rows.to_csv(tmp_path / "allen_rows.csv", index=False)
    preds = predict_file(loaded, tmp_path / "allen_rows.csv")
    assert list(preds.index) == rows["specimen_id"].astype(str).tolist()
    # a renamed id column is still found: a common name, or the one text column
    rows.rename(columns={"specimen_id": "sample_id"}).to_csv(tmp_path / "b.csv", index=False)
    assert len(predict_file(loaded, tmp_path / "b.csv")) == 25


def test_predict_file_gives_the_batch_warning_predict_prints(saved, human, tmp_path):
    """New-user trial: in Python, predict_file gave each cell's in-distribution figure and
    kept the batch warning `predict` prints to itself."""
    from ephys2type.data.datasets import HUMAN_FEATURES
    from ephys2type.data.fetch import fetch
    from ephys2type.persist.predict import predict_cells, predict_file

    loaded = load_model(saved["rf"][1])
    rows = pd.read_csv(fetch(HUMAN_FEATURES).path)
    rows = rows[~rows["specimen_id"].astype(str).isin(human.X.index)].head(40)
    rows["tau"] = rows["tau"] * 3  # another protocol, or another preparation
    rows.to_csv(tmp_path / "slip.csv", index=False)
    expected = predict_cells(loaded, tmp_path / "slip.csv").batch.warning()
    assert expected is not None and "tau" in expected
    with pytest.warns(Ephys2TypeWarning) as caught:
        predict_file(loaded, tmp_path / "slip.csv")
    assert [str(w.message) for w in caught] == [f"{tmp_path / 'slip.csv'}: {expected}"]


def test_id_column_detection_and_its_errors(human, tmp_path):
    from ephys2type.data.id_columns import detect_id_column
    from ephys2type.data.table_formats import UNNAMED_COLUMN
    from ephys2type.data.tables import read_feature_table

    schema = human.schema
    X = human.X.head(4).reset_index(drop=True)
    assert detect_id_column(X.assign(cell_name=list("abcd")), schema) == "cell_name"
    assert detect_id_column(X.assign(my_ids=list("abcd")), schema) == "my_ids"
    both = X.assign(cell_id=list("abcd"), specimen_id=list("abcd"))
    assert detect_id_column(both, schema, preferred="specimen_id") == "specimen_id"
    with pytest.raises(TableError, match=r"--id-column \(id_column=\.\.\.\)"):
        detect_id_column(both, schema)  # the API's users get the argument beside the option
    with pytest.raises(TableError, match=r"cannot tell which column .* \(a, b\)"):
        detect_id_column(X.assign(a=list("abcd"), b=list("wxyz")), schema)
    with pytest.raises(TableError, match="no cell id column found") as err:
        detect_id_column(X, schema)
    assert "whole numbers" not in str(err.value)
    # unique whole numbers are named, not taken (new-user trial: a lab's "Cell" of numbers
    # was told to add the id column it had)
    with pytest.raises(TableError, match="no cell id column found") as err:
        detect_id_column(X.assign(Cell=[101, 102, 103, 104]), schema)
    assert str(err.value).endswith(
        "; Cell holds unique whole numbers: if those are the ids, say so with --id-column Cell"
    )
    # beside one column of unique text, which is taken, they are named in a warning (an app
    # trial: ids read from 'Slice' without a word, beside a 'Cell' of specimen ids)
    with pytest.warns(Ephys2TypeWarning, match=r"cell ids read from column 'Slice'.*Cell holds"):
        picked = detect_id_column(X.assign(Cell=[101, 102, 103, 104], Slice=list("abcd")), schema)
    assert picked == "Slice"
    # the recording checks `features` writes are text, unique when every cell failed one,
    # but never the ids
    reasons = list("pqrs")
    assert detect_id_column(X.assign(name=list("abcd"), checks_blocking=reasons), schema) == "name"
    with pytest.raises(TableError, match="no cell id column found"):
        detect_id_column(X.assign(checks_blocking=reasons, checks_failed=reasons), schema)
    # ids with one repeat are still the ids, and the repeat is what the reading refuses
    # (new-user trial: "no cell id column found" sent the user looking for the column);
    # a text column of a few values (a Cre line) is not taken for ids
    twenty = human.X.head(20).reset_index(drop=True)
    ids = [f"H{k}" for k in range(20)]
    ids[6] = ids[5]
    assert detect_id_column(twenty.assign(Cell=ids), schema) == "Cell"
    with pytest.raises(TableError, match="no cell id column found"):
        detect_id_column(twenty.assign(line=["Sst-Cre", "Vip-Cre"] * 10), schema)
    five = twenty.head(5).assign(Cell=["a", "b", "b", "c", "d"])  # one repeat, a small table
    assert detect_id_column(five, schema) == "Cell"
    # a pandas index written beside them is row numbers, not the ids (review)
    numbered = five.reset_index(drop=True).reset_index(names=UNNAMED_COLUMN)
    assert detect_id_column(numbered, schema) == "Cell"
    path = tmp_path / "dup.csv"
    twenty.assign(Cell=ids).to_csv(path, index=False)
    with pytest.raises(TableError, match=r"duplicate cell id 'H5' in column 'Cell' \(lines 7, 8\)"):
        read_feature_table(path, schema, id_column=None)


def test_predict_command_on_allen_rows_without_id_column(saved, run_cli, tmp_path):
    """The reported failure: `predict --model M --features F.csv` on bundled-table rows."""
    from ephys2type.data.datasets import HUMAN_FEATURES
    from ephys2type.data.fetch import fetch

    rows = pd.read_csv(fetch(HUMAN_FEATURES).path).head(10)
    rows.to_csv(tmp_path / "F.csv", index=False)
    result = run_cli("predict", "--model", saved["rf"][1], "--features", tmp_path / "F.csv")
    assert result.code == 0, result
    assert str(rows["specimen_id"].iloc[0]) in result.out
    # two text columns, neither an id column's usual name: the command line names its option
    # alone (the library's message adds the Python argument, for the API's users)
    two = rows.drop(columns="specimen_id").assign(a=list("abcdefghij"), b=list("klmnopqrst"))
    two.to_csv(tmp_path / "two.csv", index=False)
    result = run_cli("predict", "--model", saved["rf"][1], "--features", tmp_path / "two.csv")
    assert result.code == 2 and "name one with --id-column" in result.err
    assert "id_column=" not in result.err and result.err.count("\n") == 1


def test_a_loaded_model_behaves_like_a_fitted_classifier(saved, human):
    loaded = load_model(saved["rf"][1])
    X = human.X.iloc[:40]
    proba = loaded.predict_proba(X)
    labels = loaded.predict(X)
    assert isinstance(labels, np.ndarray) and labels.shape == (40,)
    called = labels != "unassigned"
    assert not np.isnan(proba).any() and np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(labels[called], loaded.classes_[proba[called].argmax(axis=1)])
    assert list(loaded.feature_names_in_) == human.schema.columns
    assert loaded.n_features_in_ == len(human.schema.columns)
    assert np.array_equal(loaded.predict(X.to_numpy()), labels)  # arrays in feature order
    assert loaded.score(X, human.y.iloc[:40]) == np.mean(labels == human.y.iloc[:40].to_numpy())
    with pytest.raises(TableError, match="X has 5 features, but CellTypeClassifier is expecting"):
        loaded.predict(X.to_numpy()[:, :5])


def test_the_table_keeps_the_callers_ids(saved, human):
    """Rows with an Allen id column keep their ids (no warning, no 0..n index)."""
    loaded = load_model(saved["rf"][1])
    rows = human.X.iloc[:5].reset_index(drop=True)
    rows.insert(0, "specimen_id", [f"s{i}" for i in range(5)])
    table = loaded.predict_table(rows)
    assert list(table.index) == ["s0", "s1", "s2", "s3", "s4"]
    kept = loaded.predict_table(human.X.iloc[:5])
    assert list(kept.index) == list(human.X.index[:5])
    named = loaded.predict_table(rows.rename(columns={"specimen_id": "x"}), id_column="x")
    assert list(named.index) == list(table.index)


def test_cells_unlike_training_cells_are_flagged_with_the_rule(saved, human):
    """A cell missing 30% of its features, or a whole essential family, is flagged by the
    training QC rule it fails; the distance uses only what was measured."""
    loaded = load_model(saved["rf"][1])
    cells = human.X.iloc[:3].copy()
    counted = human.schema.counted_columns()
    cells.loc[cells.index[0], counted[1::3]] = np.nan  # a third of them, in every family
    cells.loc[cells.index[1], human.schema.family("subthreshold").columns] = np.nan
    table = loaded.predict_table(cells)
    assert table["qc_flag"].iloc[0].startswith("max_missing: ")
    assert table["qc_flag"].iloc[1] == "missing_family: no subthreshold features"
    assert table["qc_flag"].iloc[2] == ""
    # a lab that records steps only: the protocols it did not run are not missing values
    # (new-user trial: every cell of step-only recordings was flagged max_missing); a gap in
    # the step families it has still counts
    steps = human.X.iloc[3:5].copy()
    for fam in human.schema.families:
        if fam.stimulus != "long_square":
            steps[fam.columns] = np.nan
    steps.loc[steps.index[1], human.schema.family("hero").columns] = np.nan
    flags = loaded.predict_table(steps)["qc_flag"]
    assert flags.iloc[0] == "" and flags.iloc[1].startswith("max_missing: ")
    # a cell whose few measured values are all unusual is far, however much is missing
    prep = loaded.scaler_
    complete = human.X.iloc[[3]].copy()
    complete.loc[:, :] = prep.means_ + 4 * prep.scales_  # 4 SD off in every feature
    partial = complete.copy()
    partial.iloc[0, 10:] = np.nan  # only 10 of 93 features measured
    full_score = loaded.predict_table(complete)["ood_score"].iloc[0]
    measured = loaded.predict_table(partial)["ood_score"].iloc[0]
    filled = np.nan_to_num((partial.to_numpy() - prep.means_) / prep.scales_)
    imputed = loaded.distance_.distance(filled)[0]  # the old way: missing looks typical
    assert measured > 1 > imputed and measured > 0.75 * full_score


def test_train_on_your_own_table(run_cli, tmp_path):
    """`train --table` takes evaluate's data options; --labels maps through a scheme (the
    logistic regression: the table options are under test, not the model)."""
    from ephys2type import load_human, load_table

    data = load_human()
    cells = data.y.groupby(data.y).head(15).index
    feats = data.X.loc[cells].copy()
    feats.insert(0, "cell_name", [f"c{i}" for i in range(len(cells))])
    raw = data.meta.loc[cells, "revised_subclass"].to_numpy()
    labels = pd.DataFrame({"cell_name": feats["cell_name"], "label": raw})
    feats.to_csv(tmp_path / "f.csv", index=False)
    labels.to_csv(tmp_path / "l.csv", index=False)
    # the Python API: a built-in scheme reads the user's label column
    mine = load_table(
        tmp_path / "f.csv",
        tmp_path / "l.csv",
        "human",
        id_column="cell_name",
        label_column="label",
        label_scheme="revised",
    )
    assert mine.classes == ["Lamp5", "Pvalb", "Sst", "Vip"] and len(mine) == 60
    args = ("--table", tmp_path / "f.csv", "--table-labels", tmp_path / "l.csv")
    args += ("--schema", "human", "--id-column", "cell_name", "--label-column", "label")
    result = run_cli(
        "train", *args, "--labels", "revised", "--model", "logreg", "--out", tmp_path / "m",
        "--record-folds", "2",
    )  # fmt: skip
    assert result.code == 0, result
    # the expected accuracy of every training cell's out-of-fold call, as it says
    assert "(out-of-fold calls of 60 training cells)" in " ".join(result.out.split()), result
    model = load_model(tmp_path / "m")
    assert model.record_folds == 2 and model.members_[0].n_record == 60
    assert list(model.classes_) == ["Lamp5", "Pvalb", "Sst", "Vip"]
    assert model.provenance_["n_cells"] == 60 and model.id_column == "cell_name"
    result = run_cli("predict", "--model", tmp_path / "m", "--features", tmp_path / "f.csv")
    assert result.code == 0 and "c0" in result.out, result


def _unseen_batch(saved, human):
    """The saved forest, the rest of the table it was trained on (the layer-1 cells of another
    lab, in load_human()'s default, are not like its cells: their estimated accuracy falls
    short), and the batch summary of any cells."""
    from ephys2type.models.batch_check import summarize_batch

    loaded = load_model(saved["rf"][1])
    everyone = load_human(datasets="lee2023")
    unseen = everyone.X.loc[everyone.X.index.difference(human.X.index)]

    def summary(cells):
        scores = loaded.score_cells(cells)
        return summarize_batch(loaded, scores, loaded.table_of(scores))

    return loaded, unseen, summary


def test_the_batch_check_passes_like_cells_and_catches_a_unit_slip(saved, human):
    """The shift test on real cells (make test's short version of the test below): cells of
    the table the model never saw pass, in any order; a unit slip in tau is caught."""
    _, unseen, summary = _unseen_batch(saved, human)
    same = summary(unseen)
    assert not same.shift_detected and same.warning() is None
    assert summary(unseen.iloc[::-1]).to_dict() == same.to_dict()
    moved = summary(unseen.assign(tau=unseen["tau"] * 3))
    assert moved.shift_detected and moved.most_shifted_features[0]["feature"] == "tau"
    # a batch declared shifted: its interval holds the estimate +- the shift allowance, one
    # not declared keeps its bootstrap interval
    from ephys2type.models.batch_check import SHIFT_ALLOWANCE

    assert same.shift_allowance == 0.0 and moved.shift_allowance == SHIFT_ALLOWANCE
    estimate = moved.estimated_accuracy
    assert moved.estimated_accuracy_low <= max(0.0, estimate - SHIFT_ALLOWANCE) + 1e-12
    assert moved.estimated_accuracy_high >= min(1.0, estimate + SHIFT_ALLOWANCE) - 1e-12
    assert "the interval is at least ±21 points because" in moved.accuracy_line()
    assert "the interval is" not in same.accuracy_line()


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_batch_summary_detects_a_shifted_batch_and_not_a_like_one(saved, human, run_cli, tmp_path):
    """Cells of the same table that the model never saw pass; a unit slip in tau is caught."""
    loaded, unseen, summary = _unseen_batch(saved, human)
    same = summary(unseen)
    assert not same.shift_detected and same.warning() is None
    # the same cells in another order are the same batch: the same p-value and interval
    shuffled = unseen.sample(frac=1.0, random_state=1)
    assert summary(shuffled).to_dict() == same.to_dict()
    # the same table read from an .xlsx differs in the last digit: still the same batch (the
    # order and the ties with training values were once taken from the float64 digits)
    last_digit = unseen.apply(lambda c: np.nextafter(c.to_numpy(), np.inf)).set_axis(unseen.index)
    assert summary(last_digit).to_dict() == same.to_dict()
    assert same.n_cells == len(unseen) and same.families_missing == []
    assert same.estimated_accuracy_low <= same.estimated_accuracy <= same.estimated_accuracy_high
    slipped = unseen.assign(tau=unseen["tau"] * 3)  # e.g. a unit slip in one feature
    moved = summary(slipped)
    assert moved.shift_detected and moved.most_shifted_features[0]["feature"] == "tau"
    assert "tau (+" in moved.warning()
    # a feature's shift is judged by the cells that have it (the margin of their median)
    sparse = slipped.assign(tau=slipped["tau"].where(np.arange(len(slipped)) % 3 == 0))
    tau = [f for f in summary(sparse).most_shifted_features if f["feature"] == "tau"]
    assert tau and tau[0]["n_cells"] == int(sparse["tau"].notna().sum()) < len(sparse)
    # a feature's shift is in SDs of the training cells that have it: a sparse chirp
    # feature (measured in under half the cells), set in every cell to values above any
    # training cell's (the same leaves of every tree, so the same calls and class mix), and
    # then 1 such SD higher, moves exactly 1 SD (the imputed column's SD would say 1.5)
    col = "peak_freq_chirp"
    values = loaded.X_train_[col][loaded.repeats_ == 1]
    sd = float(np.nanstd(values))
    assert values.isna().mean() > 0.4

    def chirp_shift(value):
        moved = summary(unseen.assign(**{col: value})).most_shifted_features
        return next(f["shift_sd"] for f in moved if f["feature"] == col)

    top = float(values.max()) + sd
    assert chirp_shift(top + sd) - chirp_shift(top) == pytest.approx(1.0)
    no_chirp = unseen.assign(**{c: np.nan for c in human.schema.family("chirp").columns})
    assert summary(no_chirp).families_missing == ["chirp"]
    # the command: one warning line, and the summary beside the predictions
    slipped.to_csv(tmp_path / "batch.csv", index_label="specimen_id")
    out = tmp_path / "calls.csv"
    result = run_cli(
        "predict", "--model", saved["rf"][1], "--features", tmp_path / "batch.csv", "--out", out
    )
    assert result.code == 0, result
    warned = [ln for ln in result.err.splitlines() if ln.startswith("warning:")]
    assert len(warned) == 1 and "tau (+" in warned[0]
    # of the cells a model read, when some were not (unassigned for their features)
    batch = json.loads((tmp_path / "calls.csv.summary.json").read_text())
    which = (
        "this batch"
        if batch["n_read"] == batch["n_cells"]
        else f"the {batch['n_read']} of the batch's {batch['n_cells']} cells a model read"
    )
    assert f"estimated accuracy on {which}" in warned[0]
    assert f"estimated accuracy on {which}" in " ".join(result.out.split())
    table = pd.read_csv(out, index_col=0, keep_default_na=False)
    called = table["predicted"] != "unassigned"
    single = int((called & (table["set_size"] == 1)).sum())
    assert f"{single} of {int(called.sum())} calls are the only class in their 90%" in (
        " ".join(result.out.split())
    )
    summary = json.loads((tmp_path / "calls.csv.summary.json").read_text())
    assert {
        "n_cells",
        "n_out_of_distribution",
        "expected_out_of_distribution",
        "shift_detected",
        "families_used",
        "families_missing",
        "most_shifted_features",
        "shift_p",
        "estimated_accuracy",
        "estimated_accuracy_low",
        "estimated_accuracy_high",
        "stated_accuracy",
    } <= set(summary)
    assert summary["shift_detected"] is True and summary["shift_p"] < 0.05


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_predicting_training_cells_is_said(saved, human, tmp_path):
    """Cells the model was trained on, by id or under another id with fewer digits, get one
    warning naming both (new-user trial: 36 of 40 'new' cells were training cells); cells it
    never saw get none."""
    from ephys2type import load_human
    from ephys2type.errors import Ephys2TypeWarning
    from ephys2type.persist.predict import predict_cells

    everyone = load_human(datasets="lee2023")
    unseen = everyone.X.loc[everyone.X.index.difference(human.X.index)].head(5)
    seen = human.X.head(5)
    renamed = human.X.iloc[5:8].map(lambda v: float(f"{v:.4g}")).set_axis(["a", "b", "c"])
    path = tmp_path / "mixed.csv"
    pd.concat([unseen, seen, renamed]).to_csv(path, index_label="cell_id")
    with pytest.warns(Ephys2TypeWarning, match="trained on") as caught:
        predict_cells(saved["rf"][1], path)
    (said,) = [str(w.message) for w in caught if "trained on" in str(w.message)]
    assert "8 of its 13 cells are cells this model was trained on" in said
    assert f"agree with a training cell's, e.g. '{seen.index[0]}')" in said
    assert "share an id" not in said
    # a lab's own cells under ids that training cells have: other cells, said apart (review)
    other = unseen.set_axis(list(human.X.index[:5]))
    other.to_csv(path, index_label="cell_id")
    with pytest.warns(Ephys2TypeWarning, match="share an id") as caught:
        predict_cells(saved["rf"][1], path)
    (said,) = [str(w.message) for w in caught if "share an id" in str(w.message)]
    assert "5 cells share an id with a training cell but few of its features" in said
    assert "trained on" not in said
    unseen.to_csv(path, index_label="cell_id")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Ephys2TypeWarning)
        predict_cells(saved["rf"][1], path)


def test_the_accuracy_interval_counts_each_calls_own_chance(saved, human):
    """A few confident cells: a bootstrap alone over them and the calibration cells gave a
    zero-width interval (every replicate 100%); each call is right only with its calibrated
    chance, so the interval reaches below 100%, and it still holds the estimate."""
    from ephys2type import load_human
    from ephys2type.models.batch_check import MIN_ESTIMATE_CELLS, estimate_accuracy

    loaded = load_model(saved["rf"][1])
    everyone = load_human(datasets="lee2023")
    unseen = everyone.X.loc[everyone.X.index.difference(human.X.index)]
    scores = loaded.score_cells(unseen)
    confident = unseen.index[np.argsort(-scores.proba.max(axis=1))[:MIN_ESTIMATE_CELLS]]
    few = estimate_accuracy(loaded, loaded.score_cells(unseen.loc[confident]), random_state=0)
    assert few.estimate == 1.0 and few.low < few.high == 1.0
    # the lowest a replicate can give: one of the five calls wrong
    assert few.low >= 1.0 - 1.0 / MIN_ESTIMATE_CELLS - 0.05
    every = estimate_accuracy(loaded, scores, random_state=0)
    assert every.low <= every.estimate <= every.high


def test_the_accuracy_estimate_shrinks_a_batchs_class_mix_towards_the_training_mix(saved, human):
    """The estimate re-weights the calibration cells to the batch's class mix, pulled towards
    the training mix by CLASS_MIX_PRIOR_CELLS pseudo-cells: nothing pulled is the batch's own
    EM mix; pulled all the way, the training mix, i.e. ATC on unweighted calibration cells."""
    from ephys2type import load_human
    from ephys2type.models.batch_check import CLASS_MIX_PRIOR_CELLS, estimate_accuracy

    loaded = load_model(saved["rf"][1])
    everyone = load_human(datasets="lee2023")
    unseen = everyone.X.index.difference(human.X.index)
    lamp5 = unseen[(everyone.y.loc[unseen] == "Lamp5").to_numpy()][:30]
    scores = loaded.score_cells(everyone.X.loc[lamp5])  # one class: the mix matters most

    def estimate(**kw) -> float:
        return estimate_accuracy(loaded, scores, random_state=0, **kw).estimate

    shipped = estimate()
    assert shipped == estimate(shrink=CLASS_MIX_PRIOR_CELLS) and CLASS_MIX_PRIOR_CELLS == 30
    limit = estimate_accuracy(loaded, scores, random_state=0, shrink=1e15)
    plain = estimate_accuracy(loaded, scores, random_state=0, weighted=False)
    assert (limit.estimate, limit.low, limit.high) == pytest.approx(
        (plain.estimate, plain.low, plain.high), abs=1e-12
    )
    with pytest.raises(ValueError, match="shrink must be >= 0"):
        estimate(shrink=-1.0)
    own_mix, training_mix = estimate(shrink=0.0), estimate(weighted=False)
    assert own_mix != training_mix  # the batch's mix moves the threshold on this batch
    assert min(own_mix, training_mix) <= shipped <= max(own_mix, training_mix)


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_the_shift_test_can_take_the_largest_p_value_over_candidate_class_mixes(saved, human):
    """Re-weighted to a wrong class mix, training-like cells look shifted; with several
    candidate mixes the batch is declared shifted only when none explains it (the larger
    p-value), its features named by that test, and the mix reported stays the EM mix."""
    from ephys2type import load_human
    from ephys2type.models.batch_check import ALPHA, CLASS_MIXES, shift_test

    loaded = load_model(saved["rf"][1])
    everyone = load_human(datasets="lee2023")
    unseen = everyone.X.index.difference(human.X.index)
    lamp5 = unseen[(everyone.y.loc[unseen] == "Lamp5").to_numpy()][:30]
    scores = loaded.score_cells(everyone.X.loc[lamp5])  # one class: the mixes differ most
    assert CLASS_MIXES == ("em", "mean")
    em = shift_test(loaded, scores, random_state=0, mixes=("em",))
    mean = shift_test(loaded, scores, random_state=0, mixes=("mean",))
    assert mean.p != em.p  # another reference: another p-value
    both = shift_test(loaded, scores, random_state=0, every_mix=True)
    assert both.p_by_mix == {"em": em.p, "mean": mean.p}
    larger = mean if mean.p > em.p else em
    assert both.p == larger.p and both.shifted == larger.shifted
    np.testing.assert_array_equal(both.priors, em.priors)  # the mix reported is EM's
    # the mixes are tried in order: a batch not shifted under the first is not tested again
    # (its decision is made), one shifted under it is
    quiet = loaded.score_cells(everyone.X.loc[unseen[:30]])
    first = shift_test(loaded, quiet, random_state=0)
    assert first.p_by_mix["em"] >= ALPHA and list(first.p_by_mix) == ["em"]
    slipped = everyone.X.loc[lamp5].assign(tau=lambda t: t["tau"] * 3)
    moved = shift_test(loaded, loaded.score_cells(slipped), random_state=0)
    assert list(moved.p_by_mix) == ["em", "mean"] and moved.detected
    with pytest.raises(ValueError, match="mixes must be some of"):
        shift_test(loaded, scores, mixes=("training",))


def test_a_batch_the_second_class_mix_explains_is_not_declared_shifted(saved, human, monkeypatch):
    """The case the second mix is for: shifted under EM's mix, not under the mean mix. The
    batch is not declared shifted, its p-value and most shifted features are the mean mix's;
    two equal mixes (no cell a model read: both are the training mix) are one test."""
    from ephys2type import load_human
    from ephys2type.models import batch_shift

    loaded = load_model(saved["rf"][1])
    everyone = load_human(datasets="lee2023")
    unseen = everyone.X.index.difference(human.X.index)
    scores = loaded.score_cells(everyone.X.loc[unseen[:30]])
    calls = []

    def fake(clf, scores, q, rng, order):
        calls.append(q)
        return [(0.01, [{"feature": "under EM"}]), (0.3, [{"feature": "under the mean"}])][
            len(calls) - 1
        ]

    monkeypatch.setattr(batch_shift, "_shift_test", fake)
    cleared = batch_shift.shift_test(loaded, scores, random_state=0)
    assert not cleared.detected and cleared.p == 0.3
    assert cleared.p_by_mix == {"em": 0.01, "mean": 0.3}
    assert cleared.shifted == [{"feature": "under the mean"}]
    assert not np.allclose(calls[0], calls[1])  # EM's mix, then the mean of the probabilities
    calls.clear()
    unread = loaded.score_cells(everyone.X.loc[unseen[:30]] * np.nan)  # no features: unassigned
    assert not unread.routed.any()
    alone = batch_shift.shift_test(loaded, unread, random_state=0)
    assert len(calls) == 1 and alone.p_by_mix == {"em": 0.01, "mean": 0.01} and alone.detected


def test_the_difference_of_confidences_is_the_mean_confidence_plus_the_calibration_gap(
    saved, human
):
    """The DoC variant the benchmark measures: per model, the batch's mean confidence (a cell
    flagged out of distribution counted 0) plus its calibration cells' accuracy minus their
    mean confidence; unweighted here, so computed by hand from the members' calibration."""
    from ephys2type import load_human
    from ephys2type.models.batch_check import estimate_accuracy

    loaded = load_model(saved["rf"][1])
    everyone = load_human(datasets="lee2023")
    unseen = everyone.X.loc[everyone.X.index.difference(human.X.index)[:60]]
    scores = loaded.score_cells(unseen)
    doc = estimate_accuracy(loaded, scores, random_state=0, method="doc", weighted=False)
    conf = np.where(scores.distance > 1.0, 0.0, scores.proba.max(axis=1))
    routed = np.flatnonzero(scores.routed)
    by_member: dict[int, list[int]] = {}
    for i in routed:
        by_member.setdefault(id(scores.members[i]), []).append(i)
    total = 0.0
    for rows in by_member.values():
        cal = scores.members[rows[0]].calibration
        total += (conf[rows].mean() + np.mean(cal.correct) - np.mean(cal.confidence)) * len(rows)
    assert doc.estimate == pytest.approx(total / len(routed), abs=1e-12)
    assert doc.low <= doc.estimate <= doc.high and doc.n == len(routed)
    assert estimate_accuracy(loaded, scores, random_state=0).estimate != doc.estimate
    with pytest.raises(ValueError, match="method must be 'atc' or 'doc'"):
        estimate_accuracy(loaded, scores, method="aline")


def test_the_accuracy_estimate_can_count_cells_unlike_the_training_cells_at_chance(saved, human):
    """The shipped estimate counts a cell flagged out of distribution as wrong; the variant
    the benchmark measures counts it as right by chance (one in as many classes), so the two
    differ by exactly that share over the cells a model read."""
    from ephys2type.models.batch_check import estimate_accuracy

    loaded = load_model(saved["rf"][1])
    cells = human.X.iloc[:40].copy()
    cells.iloc[:8] = cells.iloc[:8] * 5.0  # far from every training cell
    scores = loaded.score_cells(cells)
    unlike = (scores.distance > 1.0) & scores.routed
    assert unlike.sum() >= 1  # the rest are unassigned as implausible, so not read
    shipped = estimate_accuracy(loaded, scores, random_state=0)
    at_chance = estimate_accuracy(loaded, scores, random_state=0, unlike_at_chance=True)
    share = unlike.sum() / scores.routed.sum() / len(loaded.classes_)
    assert at_chance.estimate == pytest.approx(shipped.estimate + share, abs=1e-12)
    assert at_chance.low <= at_chance.estimate <= at_chance.high


def test_out_of_distribution_on_a_wide_schema_uses_family_components():
    """Thousands of vector elements: the distance is taken on each family's principal
    components, so fitting stays fast and small, and it still flags shifted cells."""
    from ephys2type.models.novelty import MAX_FEATURES, FeatureDistance

    rng = np.random.default_rng(0)
    families = [list(range(k * 150, (k + 1) * 150)) for k in range(3)]  # 450 > 256 columns
    assert MAX_FEATURES < 450
    latent = rng.normal(size=(400, 3))
    loadings = rng.normal(size=(3, 450))
    Z = latent @ loadings + rng.normal(scale=0.5, size=(400, 450))
    train, new = Z[:300], Z[300:]
    ood = FeatureDistance(families=families).fit(train)
    assert ood.projection_ is not None and ood.precision_.shape == (15, 15)
    assert (ood.distance(new) > 1).mean() < 0.05  # held-out cells like the training ones
    assert (ood.predict(new) == 1).mean() > 0.95
    shifted = new + 8.0 * loadings[0]  # 8 standard deviations along a direction of variation
    assert (ood.distance(shifted) > 1).mean() > 0.9
    # a family not measured (NaN) is left out of the distance, not scored
    partial = new.copy()
    partial[:, families[2]] = np.nan
    scores = ood.distance(partial)
    assert np.isfinite(scores).all() and (scores > 1).mean() < 0.05
    again = FeatureDistance.from_dict(ood.to_dict())
    np.testing.assert_allclose(again.distance(new), ood.distance(new))
    assert np.isinf(ood.distance(np.full((1, 450), np.nan)))[0]


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_a_tree_model_loads_and_predicts_without_torch_or_imbalanced_learn(saved, human, tmp_path):
    """Importing torch and dask (via skops' scan of scikit-learn) and imbalanced-learn cost a
    20-cell predict about 1.6 s; a tree model needs none of them, and the adapters
    scikit-learn would import them through stay importable afterwards."""
    import subprocess
    import sys

    cells = tmp_path / "cells.csv"
    human.X.head(20).to_csv(cells, index_label="specimen_id")
    code = (
        "import sys, pandas as pd\n"
        "from ephys2type.persist.format import load_model\n"
        "model = load_model(sys.argv[1])\n"
        "table = model.predict_table(pd.read_csv(sys.argv[2], index_col=0))\n"
        "assert len(table) == 20 and table['predicted'].notna().all()\n"
        "print('torch' in sys.modules, 'imblearn' in sys.modules, 'dask.array' in sys.modules)\n"
        "import importlib.util\n"
        "for lib in ('torch', 'dask'):\n"
        "    spec = importlib.util.find_spec(f'sklearn.externals.array_api_compat.{lib}')\n"
        "    print(spec is not None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(saved["rf"][1]), str(cells)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["False", "False", "False", "True", "True"], out.stderr


def test_top_families_never_name_a_family_the_cell_lacks():
    """A cell served by a network with families it was never recorded with (imputed) is not
    told those families drove its call (issue: ABF cells labelled with ramp and chirp)."""
    from ephys2type.models.cell_classifier import _top

    att = pd.DataFrame(
        {"attention:ramp": [0.5, 0.5], "attention:rheo": [0.3, 0.3], "attention:hero": [0.2, 0.2]}
    )
    has = {"ramp": np.array([True, False]), "rheo": np.array([True, True])}
    assert _top(att, 2, has) == ["ramp (0.50); rheo (0.30)", "rheo (0.30); hero (0.20)"]
    assert _top(att, 3, {"ramp": np.array([False, False])})[0] == "rheo (0.30); hero (0.20)"


def test_no_accuracy_estimate_from_fewer_than_five_calls(saved, human):
    """The estimate is a share of the cells a model read: one cell gives 0% or 100%, with a
    zero-width interval (new-user trial: '0% [0%, 0%]' for one call); fewer than five: none."""
    from ephys2type.models.batch_check import MIN_ESTIMATE_CELLS, estimate_accuracy

    loaded = load_model(saved["rf"][1])
    few = loaded.score_cells(human.X.iloc[: MIN_ESTIMATE_CELLS - 1])
    assert few.routed.all() and estimate_accuracy(loaded, few) is None
    enough = estimate_accuracy(loaded, loaded.score_cells(human.X.iloc[:MIN_ESTIMATE_CELLS]))
    assert enough is not None and enough.n == MIN_ESTIMATE_CELLS


def test_few_calibration_cells_of_a_class_are_said(saved):
    """New-user trial: a model with 10 Lamp5 calibration cells put Lamp5 in sets at 0.015,
    and nothing said why; `train` now names the classes of few calibration cells."""
    from ephys2type.persist.train import FEW_CALIBRATION_CELLS, calibration_note

    trained = saved["rf"][0]
    counts = trained.calibration_counts()
    assert int(counts.sum()) == int(trained.calibration_.sum())
    assert set(counts.index) == set(trained.classes_) and counts.is_monotonic_increasing
    few = counts[counts < FEW_CALIBRATION_CELLS]
    note = calibration_note(trained)
    assert not few.empty  # 300 cells: 60 calibration cells over four classes
    assert note.startswith(f"few calibration cells of {few.index[0]} {few.iloc[0]}")
    assert all(f"{c} {n}" in note for c, n in few.items())
