"""How well do subclasses separate in per-family sparse-PCA space? Numbers and figures.

"Separated" is made measurable two ways. The silhouette of each subclass (mean over its
cells) in the z-scored sPCA space, fitted once on all cells, describes the geometry. The
k-nearest-neighbour accuracy is predictive and honest: it is cross-validated with the sparse
PCA refitted inside each training fold, and set beside the same k-NN on the standardized
features so the effect of the sPCA step itself is visible.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score, silhouette_samples
from sklearn.neighbors import KNeighborsClassifier

from ephys2type.data.container import PatchSeqData
from ephys2type.evaluation.parallel import map_folds
from ephys2type.evaluation.splits import SplitPlan, make_plan
from ephys2type.evaluation.stats import summarize
from ephys2type.models.preprocessing import FamilySparsePCA, make_pipeline, preprocessing_steps


@dataclass
class Separation:
    """sPCA components of all cells, their 2-D embedding, and the separation numbers."""

    components: pd.DataFrame
    embedding: pd.DataFrame
    embedding_method: str
    loadings: pd.DataFrame
    silhouette: pd.Series
    knn: dict[str, dict[str, Any]]
    plan: SplitPlan
    n_neighbors: int

    def to_metrics(self) -> dict[str, Any]:
        return {
            "n_components": int(self.components.shape[1]),
            "components_per_family": self.components.columns.str.split(":")
            .str[0]
            .value_counts(sort=False)
            .to_dict(),
            "silhouette_per_class": self.silhouette.drop("all").to_dict(),
            "silhouette_all": float(self.silhouette["all"]),
            "knn": self.knn,
            "knn_neighbors": self.n_neighbors,
            "embedding": self.embedding_method,
            "split_plan_sha256": self.plan.sha256,
        }


def fit_components(
    data: PatchSeqData, *, random_state: int = 0
) -> tuple[pd.DataFrame, FamilySparsePCA]:
    """Impute, standardize and fit family sparse PCA on all cells (descriptive use only)."""
    steps = preprocessing_steps(data.schema, spca=True, random_state=random_state)
    Z = data.X.to_numpy()
    for _, step in steps:
        Z = step.fit_transform(Z)
    spca = steps[-1][1]
    return pd.DataFrame(Z, index=data.X.index, columns=spca.get_feature_names_out()), spca


def loadings_table(data: PatchSeqData, spca: FamilySparsePCA) -> pd.DataFrame:
    """Features x kept components, zeros where a feature does not load."""
    names = spca.get_feature_names_out()
    table = pd.DataFrame(0.0, index=data.schema.columns, columns=names)
    start = 0
    for cols, comps in spca.loadings():
        for i, comp in enumerate(comps):
            table.iloc[cols, start + i] = comp
        start += len(comps)
    return table


#: Below this many cells UMAP computes every distance (umap-learn's own threshold).
_UMAP_EXACT = 4096


def embed_2d(Z: np.ndarray, method: str = "umap", random_state: int = 0) -> tuple[np.ndarray, str]:
    """A 2-D view of the components: UMAP if installed (and asked for), else PCA."""
    if method == "umap":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numba/umap deprecation chatter
                import umap

                if len(Z) < _UMAP_EXACT:
                    # UMAP computes all distances of a table this small anyway, one pair at
                    # a time through a Python loop (10 s for the mouse table); given them
                    # computed at once it builds the same neighbour graph (to rounding), and
                    # its random layout lands the clusters elsewhere on the page
                    reducer = umap.UMAP(
                        n_neighbors=30,
                        min_dist=0.3,
                        metric="precomputed",
                        random_state=random_state,
                        n_jobs=1,
                    )
                    return reducer.fit_transform(cdist(Z, Z)), "UMAP"
                reducer = umap.UMAP(
                    n_neighbors=30, min_dist=0.3, random_state=random_state, n_jobs=1
                )
                return reducer.fit_transform(Z), "UMAP"
        except ImportError:
            pass
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=random_state).fit_transform(Z), "PCA"


def knn_accuracy(
    data: PatchSeqData,
    plan: SplitPlan,
    *,
    spca: bool,
    n_neighbors: int = 15,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Cross-validated k-NN accuracy, with everything (sPCA included) fitted in-fold
    (``n_jobs`` folds at a time: each fold's sparse PCA is the slow part)."""
    y = data.y.to_numpy()
    tasks = [(data, fold, spca, n_neighbors) for fold in plan.folds]
    predicted = list(map_folds(_knn_fold, tasks, n_jobs=n_jobs))
    acc = [float(np.mean(p == y[f.test])) for p, f in zip(predicted, plan.folds, strict=True)]
    bal = [
        float(balanced_accuracy_score(y[f.test], p))
        for p, f in zip(predicted, plan.folds, strict=True)
    ]
    seeds = [fold.seed for fold in plan.folds]
    n_train = float(np.mean([len(f.train) for f in plan.folds]))
    n_test = float(np.mean([len(f.test) for f in plan.folds]))
    return {
        "accuracy": summarize(acc, n_train, n_test, seeds),
        "balanced_accuracy": summarize(bal, n_train, n_test, seeds),
    }


def _knn_fold(
    data: PatchSeqData, fold, spca: bool, n_neighbors: int, *, one_job: bool
) -> np.ndarray:
    """One fold of :func:`knn_accuracy`: the test cells' predicted classes."""
    return knn_fit(data, fold, spca, n_neighbors).predict(data.X.iloc[fold.test])


def knn_fit(data: PatchSeqData, fold, spca: bool, n_neighbors: int):
    """The k-NN pipeline of :func:`knn_accuracy` (imputation, scaling, sparse PCA when
    ``spca``) fitted on ``fold``'s training cells alone."""
    pipe = clone(
        make_pipeline(
            KNeighborsClassifier(n_neighbors=n_neighbors),
            data.schema,
            spca=spca,
            random_state=fold.seed,
        )
    )
    return pipe.fit(data.X.iloc[fold.train], data.y.to_numpy()[fold.train])


def separation(
    data: PatchSeqData,
    *,
    embedding: str = "umap",
    seeds: int = 1,
    n_folds: int = 5,
    n_neighbors: int = 15,
    random_state: int = 0,
    n_jobs: int = 1,
) -> Separation:
    """Fit sPCA on all cells, embed, and measure subclass separation (see module docstring;
    ``n_jobs``: folds of the k-NN accuracy run at a time)."""
    components, spca = fit_components(data, random_state=random_state)
    Z = components.to_numpy()
    sil = pd.Series(silhouette_samples(Z, data.y.to_numpy()), index=data.X.index)
    per_class = sil.groupby(data.y.to_numpy()).mean()
    per_class["all"] = float(sil.mean())
    coords, method = embed_2d(Z, embedding, random_state)
    plan = make_plan(data, "strat5x5", seeds=seeds, n_folds=n_folds)
    knn = {
        "spca": knn_accuracy(data, plan, spca=True, n_neighbors=n_neighbors, n_jobs=n_jobs),
        "standardized": knn_accuracy(
            data, plan, spca=False, n_neighbors=n_neighbors, n_jobs=n_jobs
        ),
    }
    return Separation(
        components=components,
        embedding=pd.DataFrame(coords, index=data.X.index, columns=[f"{method}1", f"{method}2"]),
        embedding_method=method,
        loadings=loadings_table(data, spca),
        silhouette=per_class,
        knn=knn,
        plan=plan,
        n_neighbors=n_neighbors,
    )


def write_separation(result: Separation, data: PatchSeqData, folder: Path) -> None:
    """Write metrics.json, components/embedding/loadings CSVs and the three figures."""
    from ephys2type.evaluation.plots import (
        plot_class_bars,
        plot_embedding,
        plot_loadings,
        save_figure,
    )
    from ephys2type.files import dumps_json

    metrics = {"dataset": result.plan.dataset, **result.to_metrics()}
    (folder / "metrics.json").write_text(dumps_json(metrics))
    result.components.to_csv(folder / "components.csv", float_format="%.6g")
    result.embedding.assign(label=data.y).to_csv(folder / "embedding.csv", float_format="%.6g")
    result.loadings.to_csv(folder / "loadings.csv", float_format="%.6g")
    desc = f"{data.species}, {data.label_scheme}, {len(data)} cells"
    ax = plot_embedding(
        result.embedding.to_numpy(),
        data.y.to_numpy(),
        title=f"sparse PCA ({result.components.shape[1]} components), {desc}",
        axis_label=result.embedding_method,
    )
    save_figure(ax.figure, folder / "embedding.png")
    ax = plot_loadings(result.loadings, title=f"sparse PCA loadings per family, {data.species}")
    save_figure(ax.figure, folder / "loadings.png")
    ax = plot_class_bars(
        result.silhouette.drop("all"),
        xlabel="mean silhouette",
        title=f"silhouette in sPCA space, {desc}",
    )
    save_figure(ax.figure, folder / "silhouette.png")
