"""Classifiers of target-species cells that also learn from a source species' cells.

Every estimator here is a scikit-learn classifier *of target cells*: ``fit(X_target, y,
source=SourceData(...))`` and ``predict_proba(X_target)``. The source cells are data, so they
are passed to ``fit`` (the evaluation runner forwards a model's ``fit_params``), never stored
as a hyperparameter; without a source each estimator reduces to a target-only model.

Each species is imputed and standardized on its own cells (the target on its training fold
only, the source on all its cells), with the one
:class:`~ephys2type.models.preprocessing.FamilyPreprocessor`; optionally CORAL (Sun et al.
2016, skada's) then maps the standardized source features onto the target training fold's
covariance, and the pooled baselines can learn on both species after a skada adapter
(:mod:`.adaptation`: CORAL, subspace alignment, class-aware optimal transport).

Strategies of :class:`TransferClassifier`: ``zero-shot`` (trained on the source only),
``finetune`` (pretrain on the source, fine-tune all weights on the target), ``freeze-warmup``
(pretrain, train the head alone first, then unfreeze), ``joint`` (shared encoder with a
source head and a target head trained together, then a target-only fine-tune).
:class:`PooledClassifier` fits a baseline on source + target cells with a species indicator.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ephys2type.data.container import PatchSeqData
from ephys2type.models.baselines import make_baseline
from ephys2type.models.inspection import explain
from ephys2type.models.preprocessing import FamilyPreprocessor
from ephys2type.models.transfer.adaptation import SpeciesAdapter, get_adapter
from ephys2type.models.transfer.names import STRATEGIES


@dataclass(frozen=True, eq=False)
class SourceData:
    """The source species' cells (features in the target's column order, and labels)."""

    X: pd.DataFrame
    y: pd.Series
    name: str = "mouse"

    def __repr__(self) -> str:
        return f"SourceData({self.name}: {len(self.X)} cells)"

    @property
    def fingerprint(self) -> str:
        """A short hash of the cells and labels (identifies a pretrained network)."""
        digest = hashlib.sha256(np.ascontiguousarray(self.X.to_numpy(np.float64)).tobytes())
        digest.update("|".join(map(str, self.y)).encode())
        return digest.hexdigest()[:16]

    @classmethod
    def from_data(cls, data: PatchSeqData) -> SourceData:
        """The labelled cells of ``data`` (for species, use the aligned schema)."""
        if data.y is None:
            raise ValueError("source data needs labels")
        return cls(data.X, data.y, f"{data.species} {data.label_scheme}")


class PretrainedNetworks:
    """Networks pretrained on a source, kept in a folder the caller owns and passes to each
    :class:`TransferClassifier` (``pretrain_cache``). A pretrained network is a pure function
    of (source cells, network parameters, families, ``pretrain_seed``); the file name holds
    all of them, so folds that pass the same ``pretrain_seed`` share one network, in this
    process or in a fold worker's, and nothing else does. Files are written atomically; the
    folder holds only what the caller's run wrote (a temporary folder in
    :func:`~ephys2type.evaluation.transfer.run_transfer`)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _path(self, key: tuple) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode())
        return self.folder / f"pretrained-{digest.hexdigest()[:24]}.joblib"

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        """The network of ``key``: read back, or built now and kept."""
        import joblib

        path = self._path(key)
        if path.is_file():
            return joblib.load(path)
        model = build()
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        joblib.dump(model, tmp)
        os.replace(tmp, path)
        return model


def _check_source(source: SourceData | None, n_features: int) -> None:
    if source is not None and source.X.shape[1] != n_features:
        raise ValueError(
            f"source has {source.X.shape[1]} features, the target {n_features}; both must "
            f"use the same (aligned) columns"
        )


class TransferClassifier(ClassifierMixin, BaseEstimator):
    """An attention-BiLSTM classifier of target cells that learns from source cells too.

    Parameters
    ----------
    strategy : {"zero-shot", "finetune", "freeze-warmup", "joint"}, default="finetune"
        How the source cells are used (see the module docstring). Without a source in
        ``fit``, every strategy but ``zero-shot`` trains on the target cells alone.
    families : sequence of sequence of int, default=None
        Column positions of each feature family (None: every column is its own family).
    family_names : sequence of str, default=None
        Names of the families (for explanations).
    coral : bool, default=False
        Map the standardized source features to the target training fold's covariance.
    bilstm_params : dict, default=None
        Keyword arguments of
        :class:`~ephys2type.models.bilstm.estimator.FamilyBiLSTMClassifier` for
        pretraining and fine-tuning (e.g. ``{"resample": "smote"}``).
    finetune_lr : float, default=5e-4
        Learning rate of the target fine-tuning stage.
    warmup_epochs : int, default=10
        Head-only epochs of ``freeze-warmup``.
    source_weight : float, default=1.0
        Weight of the source loss in ``joint`` training.
    pretrain_seed : int or None, default=None
        Seed of the network pretrained on the source (None: ``random_state``). The
        evaluation of transfer arms passes the split plan's seed, so all folds of one seed
        start from the same pretrained network.
    pretrain_cache : str or None, default=None
        A folder of :class:`PretrainedNetworks`: estimators given the same folder, source,
        parameters and ``pretrain_seed`` share one pretrained network (not with ``coral``,
        whose source features depend on the fold). None: each fit pretrains its own.
    random_state : int or None, default=None
        Seed of the target-side training (None means 0).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    model_ : FamilyBiLSTMClassifier
        The final network (on target-preprocessed inputs).
    target_prep_, source_prep_ : FamilyPreprocessor
        Each species' imputation and standardization (``source_prep_`` is None without a
        source).
    stages_ : dict
        Epochs run in each training stage.
    n_features_in_ : int
        Number of feature columns.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ephys2type.models.transfer.estimators import SourceData, TransferClassifier
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(120, 4)); ys = np.where(Xs[:, 0] > 0, "a", "b")
    >>> Xt = rng.normal(size=(60, 4)) + 0.3; yt = np.where(Xt[:, 0] > 0.3, "a", "b")
    >>> source = SourceData(pd.DataFrame(Xs), pd.Series(ys), "toy")
    >>> clf = TransferClassifier(families=[[0, 1], [2, 3]], bilstm_params={"max_epochs": 5},
    ...                          random_state=0)
    >>> clf.fit(Xt, yt, source=source).predict(Xt[:3]).shape
    (3,)
    """

    def __init__(
        self,
        *,
        strategy: str = "finetune",
        families: Sequence[Sequence[int]] | None = None,
        family_names: Sequence[str] | None = None,
        coral: bool = False,
        bilstm_params: dict | None = None,
        finetune_lr: float = 5e-4,
        warmup_epochs: int = 10,
        source_weight: float = 1.0,
        pretrain_seed: int | None = None,
        pretrain_cache: str | None = None,
        random_state: int | None = None,
    ):
        self.strategy = strategy
        self.families = families
        self.family_names = family_names
        self.coral = coral
        self.bilstm_params = bilstm_params
        self.finetune_lr = finetune_lr
        self.warmup_epochs = warmup_epochs
        self.source_weight = source_weight
        self.pretrain_seed = pretrain_seed
        self.pretrain_cache = pretrain_cache
        self.random_state = random_state

    def _network(self, seed: int):
        from ephys2type.models.bilstm.estimator import FamilyBiLSTMClassifier  # imports torch

        return FamilyBiLSTMClassifier(
            families=self.families_,
            family_names=self.family_names,
            mask_columns=True,
            random_state=seed,
            **dict(self.bilstm_params or {}),
        )

    def _prepare(self, X: np.ndarray, source: SourceData | None):
        """Fit each species' preprocessing; return (source, target) network inputs."""
        self.target_prep_ = FamilyPreprocessor(families=self.families_, flags=True).fit(X)
        target = self.target_prep_.transform(X)
        if source is None:
            self.source_prep_ = None
            return None, target
        Xs = source.X.to_numpy(np.float64)
        self.source_prep_ = FamilyPreprocessor(families=self.families_, flags=True).fit(Xs)
        prepared = self.source_prep_.transform(Xs)
        if self.coral:
            n = X.shape[1]
            adapter = SpeciesAdapter("coral").fit(prepared[:, :n], None, target[:, :n], None)
            prepared[:, :n] = adapter.source_onto_target(prepared[:, :n])
        return prepared, target

    def _pretrained(self, prepared: np.ndarray, source: SourceData, seed: int):
        """The network trained on the source species (shared through ``pretrain_cache``)."""

        def build():
            return self._network(seed).fit(prepared, source.y.to_numpy())

        if self.coral or self.pretrain_cache is None:
            return build()
        key = (
            source.fingerprint,
            # JSON, not a tuple of items: a value may be a dict (e.g. class_weight)
            json.dumps(dict(self.bilstm_params or {}), sort_keys=True, default=str),
            [list(map(int, f)) for f in self.families_],
            int(seed),
        )
        return PretrainedNetworks(self.pretrain_cache).get(key, build)

    def fit(self, X, y, *, source: SourceData | None = None):
        """Fit on target cells ``X, y``, learning from ``source`` as the strategy says."""
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        if self.strategy == "zero-shot" and source is None:
            raise ValueError("the zero-shot strategy needs source data: fit(X, y, source=...)")
        _check_source(source, X.shape[1])
        self.families_ = (
            [[i] for i in range(X.shape[1])]
            if self.families is None
            else [list(f) for f in self.families]
        )
        seed = 0 if self.random_state is None else int(self.random_state)
        pretrain_seed = seed if self.pretrain_seed is None else int(self.pretrain_seed)
        prepared, target = self._prepare(X, source)
        if self.strategy == "joint":
            joint = self._network(seed)
            extra = (
                [(prepared, source.y.to_numpy(), "source", self.source_weight)] if source else []
            )
            joint.fit_from(target, y, extra=extra)
            model = self._network(seed)
            model.fit_from(target, y, init_module=joint.module_, lr=self.finetune_lr)
            self.stages_ = {"joint_epochs": joint.n_epochs_, "finetune_epochs": model.n_epochs_}
        elif source is None:
            model = self._network(seed).fit(target, y)
            self.stages_ = {"target_epochs": model.n_epochs_}
        else:
            pretrained = self._pretrained(prepared, source, pretrain_seed)
            self.stages_ = {"pretrain_epochs": pretrained.n_epochs_}
            if self.strategy == "zero-shot":
                model = pretrained
            else:
                model = self._network(seed)
                frozen = self.warmup_epochs if self.strategy == "freeze-warmup" else 0
                model.fit_from(
                    target,
                    y,
                    init_module=pretrained.module_,
                    lr=self.finetune_lr,
                    frozen_epochs=frozen,
                )
                self.stages_["finetune_epochs"] = model.n_epochs_
        self.model_ = model
        self.classes_ = model.classes_
        return self

    def _target_inputs(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self.target_prep_.transform(X)

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._target_inputs(X))

    def predict(self, X):
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def explain(self, X) -> pd.DataFrame:
        """Per-cell attention over families (``attention:<family>`` columns)."""
        check_is_fitted(self, "model_")
        return self.model_.explain(self._target_inputs(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.non_deterministic = False
        return tags


class PooledClassifier(ClassifierMixin, BaseEstimator):
    """A baseline fitted on source + target training cells with a species indicator.

    Each species is imputed and standardized on its own cells; with ``adapter``, a skada
    adapter fitted on the source cells and the target training cells then maps both into a
    shared space (new target cells go through the same map). The indicator column is 1 for
    target cells and 0 for source cells, and every prediction is made as a target cell.

    Parameters
    ----------
    model : {"rf", "hgb"}, default="rf"
        Random forest or gradient boosting, with the hyperparameters of
        :mod:`ephys2type.models.baselines`.
    adapter : {"coral", "sa", "ot"} or None, default=None
        Domain adaptation between the species (:mod:`.adaptation`); None: none.
    params : dict or None, default=None
        Hyperparameters of the baseline (trees of the forest, iterations of boosting; see
        :data:`~ephys2type.models.baselines.BASELINE_PARAMS`); None: its defaults.
    n_jobs : int or None, default=None
        Parallel jobs of the random forest (None: :func:`ephys2type.limits.default_jobs`).
    random_state : int or None, default=None
        Seed of the estimator.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (source and target).
    estimator_ : estimator
        The fitted baseline.
    target_prep_, source_prep_ : FamilyPreprocessor
        Each species' preprocessing (``source_prep_`` is None without a source).
    adapter_ : SpeciesAdapter or None
        The fitted adapter (None without ``adapter`` or without a source).
    n_features_in_ : int
        Number of feature columns.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ephys2type.models.transfer.estimators import PooledClassifier, SourceData
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(80, 3)); Xt = rng.normal(size=(40, 3))
    >>> source = SourceData(pd.DataFrame(Xs), pd.Series(np.where(Xs[:, 0] > 0, "a", "b")))
    >>> clf = PooledClassifier(model="hgb", random_state=0)
    >>> clf.fit(Xt, np.where(Xt[:, 0] > 0, "a", "b"), source=source).classes_.tolist()
    ['a', 'b']
    """

    def __init__(
        self,
        *,
        model: str = "rf",
        adapter: str | None = None,
        params: Mapping[str, int] | None = None,
        n_jobs: int | None = None,
        random_state: int | None = None,
    ):
        self.model = model
        self.adapter = adapter
        self.params = params
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y, *, source: SourceData | None = None):
        """Fit on target cells ``X, y`` pooled with the ``source`` cells."""
        if self.model not in ("rf", "hgb"):
            raise ValueError(f"model must be 'rf' or 'hgb', not {self.model!r}")
        if self.adapter is not None:
            get_adapter(self.adapter)  # unknown names fail here, with the list
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        _check_source(source, X.shape[1])
        self.target_prep_ = FamilyPreprocessor().fit(X)
        Xt = self.target_prep_.transform(X)
        self.source_prep_ = self.adapter_ = None
        parts, labels = [], []
        if source is not None:
            Xs_raw = source.X.to_numpy(np.float64)
            self.source_prep_ = FamilyPreprocessor().fit(Xs_raw)
            Xs = self.source_prep_.transform(Xs_raw)
            ys = source.y.to_numpy()
            if self.adapter is not None:
                self.adapter_ = SpeciesAdapter(self.adapter, self.random_state)
                self.adapter_.fit(Xs, ys, Xt, np.asarray(y))
                Xs, Xt = self.adapter_.source(Xs), self.adapter_.target(Xt)
            parts.append(np.column_stack([Xs, np.zeros(len(Xs))]))
            labels.append(ys)
        parts.append(np.column_stack([Xt, np.ones(len(Xt))]))
        labels.append(np.asarray(y))
        est = make_baseline(
            self.model, random_state=self.random_state, n_jobs=self.n_jobs, **(self.params or {})
        )
        self.estimator_ = est.fit(np.vstack(parts), np.concatenate(labels))
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        Xt = self.target_prep_.transform(X)
        if self.adapter_ is not None:
            Xt = self.adapter_.target(Xt)
        return self.estimator_.predict_proba(np.column_stack([Xt, np.ones(len(Xt))]))

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class Subsample(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` on a stratified ``fraction`` of the training cells, or on at most
    ``per_class`` cells of each class (learning curves, few-shot).

    Parameters
    ----------
    estimator : estimator
        The classifier to fit (cloned).
    fraction : float, default=1.0
        Share of the training cells kept (stratified by class); 1 keeps all.
    per_class : int or None, default=None
        Keep at most this many cells of each class (a class with fewer keeps all); replaces
        ``fraction``.
    random_state : int or None, default=None
        Seed of the subsampling.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.
    classes_ : ndarray
        Class labels.
    n_train_ : int
        Cells it was fitted on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from ephys2type.models.transfer.estimators import Subsample
    >>> X = np.arange(40.0).reshape(20, 2); y = np.repeat(["a", "b"], 10)
    >>> Subsample(estimator=LogisticRegression(), fraction=0.5, random_state=0).fit(X, y).n_train_
    10
    """

    def __init__(
        self,
        *,
        estimator=None,
        fraction: float = 1.0,
        per_class: int | None = None,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.fraction = fraction
        self.per_class = per_class
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            inner = self.estimator.__sklearn_tags__()
            tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` on the subsample (``fit_params`` are passed on)."""
        if self.estimator is None:
            raise ValueError("Subsample needs an estimator")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], not {self.fraction!r}")
        y = np.asarray(y)
        keep = None
        if self.per_class is not None:
            if self.per_class < 1:
                raise ValueError(f"per_class must be at least 1, not {self.per_class!r}")
            rng = np.random.default_rng(self.random_state)
            keep = np.sort(
                np.concatenate(
                    [
                        rng.permutation(np.flatnonzero(y == c))[: self.per_class]
                        for c in np.unique(y)
                    ]
                )
            )
        elif self.fraction < 1.0:
            keep, _ = train_test_split(
                np.arange(len(y)),
                train_size=self.fraction,
                stratify=y,
                random_state=self.random_state,
            )
            keep = np.sort(keep)
        if keep is not None:
            X = X.iloc[keep] if hasattr(X, "iloc") else np.asarray(X)[keep]
            y = y[keep]
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        self.n_train_ = len(y)
        self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def explain(self, X) -> pd.DataFrame | None:
        """The wrapped estimator's per-cell explanation, if it has one."""
        check_is_fitted(self, "estimator_")
        return explain(self.estimator_, X)


class NativeFeatures(ClassifierMixin, BaseEstimator):
    """Fit and predict ``estimator`` on another feature table of the same cells.

    The transfer experiment runs on the features both species share (25 aligned features);
    the best model a human lab has uses all its own features (93). This wrapper lets that
    model sit on the same folds: the runner hands it the aligned rows, it looks the same
    cells up (by index) in ``table`` and fits the estimator (its own in-fold preprocessing
    included) on those columns.

    Parameters
    ----------
    estimator : estimator
        The classifier (cloned), built for ``table``'s columns.
    table : pandas.DataFrame
        The cells' own features, indexed like the X it receives.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.
    classes_ : ndarray
        Class labels.
    """

    def __init__(self, *, estimator=None, table: pd.DataFrame | None = None):
        self.estimator = estimator
        self.table = table

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _rows(self, X) -> pd.DataFrame:
        if self.table is None or not hasattr(X, "index"):
            raise ValueError("NativeFeatures needs a table and cells given as a DataFrame")
        missing = X.index.difference(self.table.index)
        if len(missing):
            raise ValueError(
                f"{len(missing)} cell(s) not in the native feature table, e.g. {missing[0]!r}"
            )
        return self.table.loc[X.index]

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` on the same cells' rows of ``table``."""
        if self.estimator is None:
            raise ValueError("NativeFeatures needs an estimator")
        self.estimator_ = clone(self.estimator).fit(self._rows(X), np.asarray(y), **fit_params)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(self._rows(X))

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(self._rows(X))
