"""Sparse PCA fitted per feature family (the representation Gouwens et al. 2019/2020 used)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA, SparsePCA
from sklearn.utils.validation import check_is_fitted, validate_data


class FamilySparsePCA(TransformerMixin, BaseEstimator):
    """Sparse PCA fitted separately on each feature family, as Gouwens et al. did.

    For each family (standardized), the number of components is the number of ordinary
    principal components needed to explain ``variance`` of the family's variance; sparse
    components (scikit-learn ``SparsePCA``) are then fitted and those whose
    adjusted explained variance (Zou, Hastie & Tibshirani 2006; the rule of the Allen
    Institute's drcme package) reaches ``min_explained_variance`` of the family's variance are
    kept. The kept components of all families are concatenated and z-scored.

    Parameters
    ----------
    families : sequence of sequence of int, default=None
        Column positions of each family (e.g. ``FeatureSchema.family_index()``); None treats
        all columns as one family.
    family_names : sequence of str, default=None
        Names used in ``get_feature_names_out`` and the loadings plot (default ``f0, f1``).
    variance : float, default=0.9
        Cumulative PCA variance that sets the number of components per family.
    alpha : float, default=0.04
        Sparsity penalty. ``SparsePCA``'s own penalty is not normalised (its data term grows
        like n_samples, its loadings like sqrt(n_samples)), so it is given
        ``alpha * sqrt(n_samples)``: the same ``alpha`` then means the same sparsity for 500
        human or 3,000 mouse cells.
    min_explained_variance : float, default=0.01
        Minimal adjusted explained variance of a kept component.
    max_iter : int, default=1000
        Iterations of the sparse PCA solver.
    random_state : int or None, default=None
        Seed of the sparse PCA solver.

    Attributes
    ----------
    families_ : list of list of int
        Column positions of each kept (non-constant) family.
    models_ : list of sklearn.decomposition.SparsePCA
        The fitted sparse PCA of each kept family.
    kept_ : list of ndarray
        Positions of the components kept in each family.
    explained_variance_ : list of ndarray
        Adjusted explained variance of each kept component (fraction of its family's variance).
    component_names_ : list of str
        ``<family>:spc<k>`` for every output column.
    n_features_in_ : int
        Number of input columns.

    Examples
    --------
    >>> import numpy as np
    >>> from ephys2type.models.sparse_pca import FamilySparsePCA
    >>> X = np.random.default_rng(0).normal(size=(60, 4))
    >>> spca = FamilySparsePCA(families=[[0, 1], [2, 3]], family_names=["a", "b"],
    ...                        random_state=0).fit(X)
    >>> spca.transform(X).shape[0]
    60
    """

    def __init__(
        self,
        *,
        families: Sequence[Sequence[int]] | None = None,
        family_names: Sequence[str] | None = None,
        variance: float = 0.9,
        alpha: float = 0.04,
        min_explained_variance: float = 0.01,
        max_iter: int = 1000,
        random_state: int | None = None,
    ):
        self.families = families
        self.family_names = family_names
        self.variance = variance
        self.alpha = alpha
        self.min_explained_variance = min_explained_variance
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        if X.shape[0] < 2:
            raise ValueError(
                f"FamilySparsePCA needs at least 2 samples, got n_samples = {X.shape[0]}"
            )
        n_families = 1 if self.families is None else len(self.families)
        families = (
            [list(range(X.shape[1]))] if self.families is None else [list(f) for f in self.families]
        )
        names = list(self.family_names or [f"f{i}" for i in range(n_families)])
        self.families_, self.block_mean_, self.block_scale_ = [], [], []
        self.models_, self.kept_, self.explained_variance_, self.component_names_ = [], [], [], []
        for name, all_cols in zip(names, families, strict=True):
            cols = [c for c in all_cols if X[:, c].std() > 0]
            if not cols:  # constant family: nothing to learn
                continue
            mean, scale = X[:, cols].mean(axis=0), X[:, cols].std(axis=0)
            block = (X[:, cols] - mean) / scale
            total = block.var(axis=0, ddof=1).sum()
            ratios = PCA().fit(block).explained_variance_ratio_
            k = int(min(np.searchsorted(np.cumsum(ratios), self.variance) + 1, len(cols)))
            spca = SparsePCA(
                n_components=k,
                alpha=self.alpha * np.sqrt(len(block)),
                max_iter=self.max_iter,
                random_state=self.random_state,
            ).fit(block)
            scores = spca.transform(block)
            order = np.argsort(-scores.var(axis=0))
            r = np.linalg.qr(scores[:, order], mode="r")
            pev = np.diag(r) ** 2 / (len(block) - 1) / total
            keep = order[pev >= self.min_explained_variance]
            if keep.size == 0:
                continue
            self.families_.append(cols)
            self.block_mean_.append(mean)
            self.block_scale_.append(scale)
            self.models_.append(spca)
            self.kept_.append(keep)
            self.explained_variance_.append(pev[pev >= self.min_explained_variance])
            self.component_names_ += [f"{name}:spc{i + 1}" for i in range(keep.size)]
        if not self.models_:
            raise ValueError(
                "sparse PCA kept no component: every family is constant or below "
                "min_explained_variance"
            )
        self.n_iter_ = max(m.n_iter_ for m in self.models_)
        Z = self._scores(X)
        self.mean_, self.scale_ = Z.mean(axis=0), Z.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        return self

    def _scores(self, X: np.ndarray) -> np.ndarray:
        parts = zip(
            self.families_,
            self.block_mean_,
            self.block_scale_,
            self.models_,
            self.kept_,
            strict=True,
        )
        scores = [
            np.atleast_2d(m.transform((X[:, cols] - mu) / sd))[:, keep]
            for cols, mu, sd, m, keep in parts
        ]
        return np.hstack(scores)

    def transform(self, X):
        check_is_fitted(self, "models_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return (self._scores(X) - self.mean_) / self.scale_

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "models_")
        return np.asarray(self.component_names_, dtype=object)

    def loadings(self) -> list[tuple[list[int], np.ndarray]]:
        """Per kept family: its column positions and the (components x columns) loadings."""
        check_is_fitted(self, "models_")
        return [
            (cols, m.components_[keep])
            for cols, m, keep in zip(self.families_, self.models_, self.kept_, strict=True)
        ]
