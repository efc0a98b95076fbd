"""AnnData ``.h5ad`` in and out: files written by the real anndata, our round trip, predict."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from ephys2type.data.h5ad import (
    PROBABILITIES_KEY,
    _read_frame,
    annotate_h5ad,
    read_h5ad_features,
    write_h5ad,
)
from ephys2type.errors import TableError

DATA = Path(__file__).parent / "data"
DENSE, CSR = DATA / "anndata_dense.h5ad", DATA / "anndata_csr.h5ad"
CELLS = ["cell_a", "cell_b", "cell_c", "cell_d", "cell_e"]
X = np.array(
    [
        [1.5, -70.0, np.nan, 0.25],
        [2.0, -65.5, 12.0, 0.5],
        [0.5, -80.25, 3.0, 0.0],
        [4.0, -60.0, 7.5, 1.0],
        [3.25, -72.0, 9.0, 0.75],
    ]
)


def test_reads_what_anndata_writes():
    dense = read_h5ad_features(DENSE)
    assert list(dense.index) == CELLS and dense.index.name == "obs_names"
    assert list(dense.columns) == ["tau", "v_baseline", "rheobase_i", "sag"]
    np.testing.assert_array_equal(dense.to_numpy(), X)  # the NaN stays missing
    # a compressed sparse .X: implicit zeros are zeros (the fixture stored the NaN as 0)
    np.testing.assert_array_equal(read_h5ad_features(CSR).to_numpy(), np.nan_to_num(X))
    ipfx = read_h5ad_features(DENSE, obsm_key="ipfx")
    assert list(ipfx.columns) == ["tau", "v_baseline", "sag"] and list(ipfx.index) == CELLS
    np.testing.assert_array_equal(ipfx["tau"], X[:, 0] * 2)
    with h5py.File(DENSE) as store:
        obs = _read_frame(store["obs"], "obs")
    assert list(obs["subclass"]) == ["Pvalb", "Sst", "Pvalb", "Vip", "Lamp5"]
    assert list(obs["donor"]) == ["d1", "d1", "d2", "d2", "d3"]
    assert np.isnan(obs["n_sweeps"].iloc[1]) and obs["n_sweeps"].iloc[0] == 12
    assert list(obs["passed"]) == [True, True, False, True, True]


def test_clear_errors_for_files_it_cannot_use(tmp_path):
    with pytest.raises(TableError, match=r"array without feature names"):
        read_h5ad_features(DENSE, obsm_key="X_pca")
    with pytest.raises(TableError, match=r"no \.obsm\['pca'\] \(has: X_pca, ipfx\)"):
        read_h5ad_features(DENSE, obsm_key="pca")
    text = tmp_path / "cells.h5ad"
    text.write_text("cell_id,tau\na,1\n")
    with pytest.raises(TableError, match=r"not an HDF5/\.h5ad file"):
        read_h5ad_features(text)
    with pytest.raises(TableError, match="no such file"):
        read_h5ad_features(tmp_path / "none.h5ad")
    old = tmp_path / "old.h5ad"  # anndata <= 0.7 stored obs as one compound dataset
    with h5py.File(old, "w") as store:
        store.create_dataset("obs", data=np.zeros(3, dtype=[("index", "S4"), ("x", "f8")]))
    with pytest.raises(TableError, match=r"anndata 0\.7 or older"):
        read_h5ad_features(old)


def _calls() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "predicted": ["Pvalb", "Sst", "Pvalb", "Vip", "Lamp5"],
            "probability": [0.9, 0.5, 0.7, 0.8, 0.6],
            "out_of_distribution": [False, True, False, False, False],
            "n_missing_features": [1, 0, 0, 0, 0],
            "qc_flag": ["", "", "sag: missing", "", ""],
        },
        index=pd.Index(CELLS, name="cell_id"),
    )


def test_round_trip_of_a_new_file(tmp_path):
    features = pd.DataFrame(X, index=CELLS, columns=["tau", "v_baseline", "rheobase_i", "sag"])
    proba = pd.DataFrame({"Pvalb": [0.9, 0.1, 0.7, 0.1, 0.2]}, index=CELLS)
    path = write_h5ad(tmp_path / "new.h5ad", features, _calls(), {"p": proba})
    back = read_h5ad_features(path)
    pd.testing.assert_frame_equal(back, features.rename_axis("obs_names"))
    with h5py.File(path) as store:
        obs = _read_frame(store["obs"], "obs")
        assert store.attrs["encoding-type"] == "anndata"
    assert list(obs.columns) == list(_calls().columns)
    assert list(obs["predicted"]) == list(_calls()["predicted"])
    assert obs["out_of_distribution"].dtype == bool and obs["n_missing_features"].iloc[0] == 1
    assert list(obs["qc_flag"]) == list(_calls()["qc_flag"])
    assert list(read_h5ad_features(path, obsm_key="p")["Pvalb"]) == list(proba["Pvalb"])
    with pytest.raises(Exception, match="already exists"):
        write_h5ad(path, features, _calls())


def test_annotating_a_copy_keeps_the_users_data(tmp_path):
    out = annotate_h5ad(DENSE, tmp_path / "annotated.h5ad", _calls().add_prefix("e2t_"))
    with h5py.File(out) as store:
        obs = _read_frame(store["obs"], "obs")
        assert sorted(store["obsm"].keys()) == ["X_pca", "ipfx"]
    assert list(obs.columns[:4]) == ["subclass", "donor", "n_sweeps", "passed"]
    assert list(obs["e2t_predicted"]) == list(_calls()["predicted"])
    np.testing.assert_array_equal(read_h5ad_features(out).to_numpy(), X)
    # annotating again replaces the columns of the same name, adds none twice
    changed = _calls().assign(predicted="Sst").add_prefix("e2t_")
    again = annotate_h5ad(out, tmp_path / "again.h5ad", changed)
    with h5py.File(again) as store:
        obs = _read_frame(store["obs"], "obs")
    assert list(obs.columns).count("e2t_predicted") == 1 and set(obs["e2t_predicted"]) == {"Sst"}


def test_calls_in_another_order_are_refused(tmp_path):
    with pytest.raises(TableError, match="not in the order of the file's cells"):
        annotate_h5ad(DENSE, tmp_path / "x.h5ad", _calls().iloc[::-1])
    assert not (tmp_path / "x.h5ad").exists()  # nothing half-written is left


# -- predict on real cells ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def human_model(tmp_path_factory):
    from ephys2type import load_human
    from ephys2type.persist.format import save_model
    from ephys2type.persist.train import train_model

    data = load_human()
    folder = tmp_path_factory.mktemp("h5ad") / "model"
    save_model(train_model(data, "logreg", random_state=0), folder)
    return folder, data.X.iloc[:30]


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_predict_command_reads_and_writes_anndata(run_cli, human_model, tmp_path):
    folder, cells = human_model
    source = write_h5ad(tmp_path / "cells.h5ad", cells, pd.DataFrame(index=cells.index))
    out_csv, out_h5ad = tmp_path / "calls.csv", tmp_path / "cells_with_calls.h5ad"
    result = run_cli("predict", "--model", folder, "--features", source, "--out", out_h5ad)
    assert result.code == 0, result
    assert "30 cells:" in result.out
    assert (tmp_path / "cells_with_calls.h5ad.summary.json").exists()
    assert run_cli("predict", "-m", folder, "-f", source, "-o", out_csv).code == 0
    expected = pd.read_csv(out_csv, index_col=0, dtype={0: str})
    with h5py.File(out_h5ad) as store:
        obs = _read_frame(store["obs"], "obs")
    assert list(obs.index) == list(cells.index.astype(str))
    assert list(obs["ephys2type_predicted"]) == list(expected["predicted"])
    np.testing.assert_allclose(obs["ephys2type_probability"], expected["probability"], rtol=1e-5)
    proba = read_h5ad_features(out_h5ad, obsm_key=PROBABILITIES_KEY)
    proba_cols = [c for c in expected.columns if c.startswith("proba:")]
    assert list(proba.columns) == [c.removeprefix("proba:") for c in proba_cols]
    np.testing.assert_allclose(proba.to_numpy(), expected[proba_cols].to_numpy(), rtol=1e-5)
    np.testing.assert_array_equal(read_h5ad_features(out_h5ad).to_numpy(), cells.to_numpy())


@pytest.mark.filterwarnings("ignore:.*cells this model was trained on")  # its own cells
def test_recording_checks_in_obs_reach_the_calls(human_model, tmp_path):
    """The checks `ephys2type features` writes as a CSV's columns, copied into `.obs`, block
    a call as they do in a CSV (before, an .h5ad needed --checks)."""
    from ephys2type.persist.predict import predict_cells

    folder, cells = human_model
    obs = pd.DataFrame(
        {"checks_failed": ["spike_shape", "fi_slope"] + [""] * (len(cells) - 2)},
        index=cells.index.astype(str),
    )
    source = write_h5ad(tmp_path / "cells.h5ad", cells, obs)
    calls = predict_cells(folder, source).table
    assert calls["reason"].iloc[0].startswith("failed recording check: spike_shape")
    assert calls["predicted"].iloc[0] == "unassigned" and calls["reason"].iloc[1] == ""
    assert calls["recording_checks"].iloc[1] == "fi_slope"
    np.testing.assert_array_equal(read_h5ad_features(source).to_numpy(), cells.to_numpy())
    # a repeated obs_name is named with its two lines, checks or not (review: a join on the
    # repeated ids multiplied the rows, and the error named four)
    from ephys2type.data.tables import read_feature_table
    from ephys2type.persist.format import load_model

    twice = cells.head(6).set_axis([str(cells.index[0])] * 2 + list(cells.index[2:6].astype(str)))
    schema = load_model(folder).schema
    for extra in (obs.head(6).set_axis(twice.index), pd.DataFrame(index=twice.index)):
        dup = write_h5ad(tmp_path / "dup.h5ad", twice, extra, overwrite=True)
        with pytest.raises(TableError, match=r"duplicate cell id .* \(lines 2, 3\)"):
            read_feature_table(dup, schema, id_column=None)


def test_predict_from_a_csv_into_a_new_anndata_file(run_cli, human_model, tmp_path):
    folder, cells = human_model
    csv = tmp_path / "cells.csv"
    cells.rename_axis("specimen_id").to_csv(csv)
    out = tmp_path / "new.h5ad"
    assert run_cli("predict", "-m", folder, "-f", csv, "-o", out).code == 0
    features = read_h5ad_features(out)
    assert list(features.index) == list(cells.index.astype(str))
    np.testing.assert_array_equal(features.to_numpy(), cells.to_numpy())


def test_predict_from_an_obsm_table(run_cli, clean_error, human_model, tmp_path):
    folder, cells = human_model
    blank = pd.DataFrame(np.zeros((len(cells), 1)), index=cells.index, columns=["other"])
    source = write_h5ad(
        tmp_path / "c.h5ad", blank, pd.DataFrame(index=cells.index), {"ipfx": cells}
    )
    result = run_cli("predict", "-m", folder, "-f", source, "--obsm", "ipfx")
    assert result.code == 0, result
    assert "30 cells:" in result.out
    clean_error(run_cli("predict", "-m", folder, "-f", source), "none of the columns")
    clean_error(
        run_cli("predict", "-m", folder, "-f", source, "--id-column", "x"),
        "cell ids of an .h5ad file are its obs_names",
    )


def test_written_anndata_follows_the_umask(human_model, tmp_path):
    _, cells = human_model
    old = os.umask(0o022)
    try:
        path = write_h5ad(tmp_path / "m.h5ad", cells, pd.DataFrame(index=cells.index))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_the_python_api_takes_an_anndata_like_object(human_model):
    """Anything with ``obs_names`` and ``to_df()`` (AnnData's interface) predicts like its table."""
    from ephys2type import load_model

    folder, cells = human_model

    class AnnDataLike:
        obs_names = cells.index

        def to_df(self):
            return cells.copy()

    model = load_model(folder)
    assert np.array_equal(model.predict(AnnDataLike()), model.predict(cells))
    table = model.predict_table(AnnDataLike())
    assert list(table.index) == list(cells.index)


ANNDATA_PYTHON = os.environ.get("EPHYS2TYPE_ANNDATA_PYTHON")


@pytest.mark.skipif(
    not ANNDATA_PYTHON,
    reason="set EPHYS2TYPE_ANNDATA_PYTHON to a Python with anndata (needs pandas<3)",
)
def test_anndata_reads_what_we_write(human_model, tmp_path):
    _, cells = human_model
    proba = pd.DataFrame({"Pvalb": np.linspace(0, 1, len(cells))}, index=cells.index)
    calls = pd.DataFrame({"label": ["a", "b"] * 15, "flag": [True, False] * 15}, index=cells.index)
    path = write_h5ad(tmp_path / "ours.h5ad", cells, calls, {"p": proba})
    annotated = annotate_h5ad(DENSE, tmp_path / "annotated.h5ad", _calls().add_prefix("e2t_"))
    script = (
        "import sys, anndata as ad\n"
        "a = ad.read_h5ad(sys.argv[1]); b = ad.read_h5ad(sys.argv[2])\n"
        "print(a.shape, list(a.obs.columns), a.obs['label'].dtype, a.obsm['p'].shape)\n"
        "print(b.shape, list(b.obs.columns), sorted(b.obsm))\n"
    )
    out = subprocess.run(
        [ANNDATA_PYTHON, "-c", script, str(path), str(annotated)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0] == f"({len(cells)}, {cells.shape[1]}) ['label', 'flag'] category (30, 1)"
    assert "'e2t_predicted'" in out[1] and "['X_pca', 'ipfx']" in out[1]


def test_a_new_file_without_the_cells_features_says_how_to_give_them(tmp_path):
    from ephys2type.persist.predict import write_predictions

    with pytest.raises(TableError, match=r"pass them as cells= .*\(cells\.csv is not one\)"):
        write_predictions(_calls(), tmp_path / "calls.h5ad", features="cells.csv")
