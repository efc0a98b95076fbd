"""Family sparse PCA (scikit-learn conformance) and the subclass-separation analysis."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from ephys2type.models.preprocessing import FamilySparsePCA


@pytest.mark.slow  # scikit-learn's checks of a slow estimator (make test-slow): make test's time
@parametrize_with_checks([FamilySparsePCA(random_state=0)])
def test_sklearn_conformance(estimator, check):
    check(estimator)


def test_components_are_sparse_and_per_family():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(300, 2))
    X = np.hstack(
        [
            latent[:, [0]] + 0.1 * rng.normal(size=(300, 4)),
            latent[:, [1]] + 0.1 * rng.normal(size=(300, 3)),
        ]
    )
    spca = FamilySparsePCA(
        families=[[0, 1, 2, 3], [4, 5, 6]], family_names=["a", "b"], random_state=0
    ).fit(X)
    names = list(spca.get_feature_names_out())
    assert names[0] == "a:spc1" and any(n.startswith("b:") for n in names)
    for cols, comps in spca.loadings():
        assert comps.shape[1] == len(cols)
    Z = spca.transform(X)
    assert np.allclose(Z.mean(axis=0), 0, atol=1e-9) and np.allclose(Z.std(axis=0), 1)
    # one strong factor per family -> one dominant component each
    assert abs(np.corrcoef(Z[:, 0], latent[:, 0])[0, 1]) > 0.95


@pytest.mark.slow
def test_spca_command(run_cli, clean_error, tmp_path, monkeypatch):
    """Default output folder: made, printed, never replaced by a second run (mouse: its
    39 features make the per-family sparse PCA fast; the human table runs in reproduce)."""
    monkeypatch.chdir(tmp_path)
    args = ("spca", "--species", "mouse", "--embedding", "pca", "--folds", "2")
    result = run_cli(*args)
    assert result.code == 0, result
    out = tmp_path / "results" / "spca_mouse_mouse5"
    assert "results: results/spca_mouse_mouse5" in result.out
    assert {
        "embedding.png",
        "loadings.png",
        "silhouette.png",
        "metrics.json",
        "components.csv",
        "embedding.csv",
        "loadings.csv",
    } <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"]["n_cells"] == 3906 and metrics["embedding"] == "PCA"
    assert set(metrics["silhouette_per_class"]) == {"Lamp5", "Pvalb", "Sncg", "Sst", "Vip"}
    assert all(-1 <= v <= 1 for v in metrics["silhouette_per_class"].values())
    knn = metrics["knn"]["spca"]["accuracy"]
    # well above the 44% a majority-class guess gets (1,717 of 3,906 cells are Sst)
    assert knn["mean"] > 0.6 and knn["n_folds"] == 2
    assert metrics["n_components"] == sum(metrics["components_per_family"].values())
    embedding = pd.read_csv(out / "embedding.csv", index_col=0)
    assert embedding.shape == (3906, 3)
    loadings = pd.read_csv(out / "loadings.csv", index_col=0)
    assert loadings.shape == (39, metrics["n_components"])
    assert ((loadings != 0).sum() >= 1).all()  # every component loads on some feature
    assert (loadings == 0).to_numpy().mean() > 0.5  # and it is sparse
    clean_error(run_cli(*args), "already exists")
