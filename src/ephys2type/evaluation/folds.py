"""Fit one model on one fold and score it: the one fold loop every protocol goes through.

Like scikit-learn's ``_fit_and_score``, :func:`fit_and_score` builds the model with the
fold's seed, keeps it to one thread in a worker process, fits it on the fold's training cells
(or the rows an arm names), times the fit, and hands the fitted model to the protocol's
``score`` function, which computes that protocol's arms from it. The protocols (models on a
split plan, the partial-protocol and feature-set tables, the training-set comparison and,
through the models runner, transfer) differ only in what they fit and how they score.

:func:`fold_predictions` is how any fitted model's calls and probabilities are read on test
cells: a deployed classifier's one table per batch (its calls include ``unassigned``), any
other model's ``predict_proba``.

The seed a model gets on a fold is :func:`fold_seed` of the plan's seed and the fold;
:func:`plan_seed` inverts it, for estimators that share work across the folds of one seed
(the pretrained network of a transfer arm).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from ephys2type.data.columns import proba_columns
from ephys2type.limits import with_jobs
from ephys2type.models.cell_classifier import ABSTAIN, CellTypeClassifier
from ephys2type.models.inspection import explain
from ephys2type.models.members import class_probabilities
from ephys2type.models.routing import MemberRouter

#: fold_seed(seed, fold) = SEED_STRIDE * seed + fold; folds per seed must stay below it.
SEED_STRIDE = 1000

#: The fits made by :func:`fit_and_score` in the block of :func:`counting_fits` (this
#: process; a serial run counts them all).
_FITS: ContextVar[list[int] | None] = ContextVar("ephys2type_fold_fits", default=None)


@contextmanager
def counting_fits() -> Iterator[list[int]]:
    """Count the models :func:`fit_and_score` fits in the block (``counter[0]``): what a
    stage's planned fit count is checked against."""
    counter = [0]
    token = _FITS.set(counter)
    try:
        yield counter
    finally:
        _FITS.reset(token)


T = TypeVar("T")


def fold_seed(seed: int, fold: int) -> int:
    """The random_state a model gets on one fold: distinct per fold, fixed by the plan."""
    if not 0 <= fold < SEED_STRIDE:
        raise ValueError(f"fold must be in [0, {SEED_STRIDE}), not {fold}")
    return SEED_STRIDE * seed + fold


def plan_seed(random_state: int) -> int:
    """The plan seed a fold's ``random_state`` came from (inverse of :func:`fold_seed`)."""
    return int(random_state) // SEED_STRIDE


@dataclass(frozen=True)
class FittedFold:
    """A model fitted on one fold: the model, its seed, the rows it was fitted on and how
    long the fit took."""

    estimator: Any
    seed: int
    rows: np.ndarray
    fit_seconds: float


def one_thread(estimator: BaseEstimator) -> BaseEstimator:
    """``estimator`` kept to one thread (a fold worker among several), in place: every
    ``n_jobs`` it sets becomes 1, and a deployed classifier's members are built with one."""
    if isinstance(estimator, CellTypeClassifier):
        estimator.set_params(n_jobs=1)  # None would leave its members' own n_jobs
    return with_jobs(estimator, 1)


def fit_and_score(
    build: Callable[[int], BaseEstimator],
    X: pd.DataFrame,
    y: np.ndarray,
    fold,
    score: Callable[[FittedFold], T],
    *,
    one_job: bool,
    rows: np.ndarray | None = None,
    fit_params: Mapping[str, Any] | None = None,
) -> T:
    """Build (``build(seed)``) and fit a model on ``fold``'s training cells (or ``rows``,
    positions in ``X``), then return ``score(fitted)``. ``one_job``: a worker process among
    several, the model keeps to one thread."""
    seed = fold_seed(fold.seed, fold.fold)
    counter = _FITS.get()
    if counter is not None:
        counter[0] += 1
    estimator = clone(build(seed))
    if one_job:
        one_thread(estimator)
    rows = fold.train if rows is None else rows
    t0 = time.perf_counter()
    estimator.fit(X.iloc[rows], y[rows], **dict(fit_params or {}))
    return score(FittedFold(estimator, seed, np.asarray(rows), time.perf_counter() - t0))


@dataclass
class FoldPredictions:
    """A fitted model's reading of test cells: calls (``unassigned`` allowed), class
    probabilities (``classes`` order), per-cell explanations (or None) and, for a deployed
    classifier, its table."""

    predicted: np.ndarray
    proba: np.ndarray
    explanation: pd.DataFrame | None = None
    table: pd.DataFrame | None = None
    seconds: float = 0.0
    scores: Any = None  # a deployed classifier's CellScores


def fold_predictions(
    estimator, X: pd.DataFrame, classes: Sequence[str], *, explained: bool = True
) -> FoldPredictions:
    """Calls and probabilities of ``estimator`` on the cells ``X`` (one table for a deployed
    classifier: its calls, probabilities and explanations come from the same numbers);
    ``explained=False`` skips another model's per-cell explanation."""
    t0 = time.perf_counter()
    if isinstance(estimator, CellTypeClassifier):
        scores = estimator.score_cells(X)
        table = estimator.table_of(scores)
        proba = table.reindex(columns=proba_columns(classes)).fillna(0.0).to_numpy(dtype=float)
        return FoldPredictions(
            table["predicted"].to_numpy(dtype=object),
            proba,
            CellTypeClassifier.explanation(table),
            table,
            time.perf_counter() - t0,
            scores,
        )
    proba = class_probabilities(estimator, X, classes)
    seconds = time.perf_counter() - t0
    extra = explain(estimator, X) if explained else None
    return FoldPredictions(calls(proba, classes), proba, extra, None, seconds)


def calls(proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """The most probable class of each cell; :data:`ABSTAIN` for a NaN row."""
    proba = np.asarray(proba, dtype=float)
    scored = ~np.isnan(proba).any(axis=1)
    best = np.asarray(classes, dtype=object)[np.nan_to_num(proba).argmax(axis=1)]
    return np.where(scored, best, ABSTAIN).astype(object)


def add_serving_members(clf: CellTypeClassifier, X: pd.DataFrame) -> None:
    """Fit, into a classifier fitted without its protocol-subset members
    (``family_subsets=False``), those of them that would serve a cell of ``X``, in the place
    ``fit`` gives them, so the cells are served exactly as by the classifier with every
    member. Routing reads only the members' features, so the members a cell would go to are
    known before any is fitted."""
    schema = clf.schema_
    planned = list(
        dict.fromkeys(
            [tuple(schema.columns)]
            + [tuple(schema.restrict(f).columns) for f in schema.protocol_subsets()]
        )
    )
    fitted = {m.features: m for m in clf.members_}
    stubs = [fitted.get(features) or _Unfitted(features) for features in planned]
    router = MemberRouter(
        schema, stubs, clf.on_demand_.values(), clf.usually_measured_, clf.max_imputed_share
    )
    patterns = np.unique(X.reindex(columns=schema.columns).notna().to_numpy(), axis=0)
    for pattern in patterns:
        member = router.member_for(pattern)
        if isinstance(member, _Unfitted) and member.features not in fitted:
            fitted[member.features] = clf.fit_member(member.features)
    clf.members_ = [fitted[f] for f in planned if f in fitted]


@dataclass(frozen=True)
class _Unfitted:
    """A member not fitted yet: its features are all routing needs."""

    features: tuple[str, ...]
