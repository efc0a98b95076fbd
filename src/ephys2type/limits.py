"""Caps on how much work a run does: for tests and smoke runs, never for results.

One explicit object, :class:`RunLimits`, holds every cap: seeds and folds of an evaluation,
BiLSTM epochs, trees of a forest, boosting iterations, folds run in parallel, points of a
learning or few-shot curve. It is set for a block of code with
:func:`limited` (a context variable: nothing leaks out of the block, and the parallel fold
runners hand it to their worker processes), and read with :func:`current` where such things
are built: the fold runners for seeds, folds and jobs, and a model's spec for its
hyperparameters (:data:`CAPPED_PARAMETERS`), which it records. Outside a ``limited`` block
every cap is None and nothing changes; a command run under limits says so on stderr.

    from ephys2type.limits import SMOKE, limited

    with limited(SMOKE):   # 1 seed, 2 folds, 3 epochs, 50 trees and iterations, 1 point
        main(["evaluate", "--species", "human"])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class RunLimits:
    """Upper bounds (None: no bound) on seeds, folds, BiLSTM epochs, forest trees,
    gradient-boosting iterations, folds run in parallel and curve points."""

    seeds: int | None = None
    folds: int | None = None
    max_epochs: int | None = None
    max_trees: int | None = None
    max_iter: int | None = None
    #: folds run at a time
    max_jobs: int | None = None
    #: points of a learning or few-shot curve (the first ones)
    curve_points: int | None = None

    def any(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def cap(self, name: str, value: int | None) -> int | None:
        """``value`` bounded by the cap called ``name`` (a None value takes the cap)."""
        bound = getattr(self, name)
        if bound is None:
            return value
        return bound if value is None else min(value, bound)

    def bound(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with each hyperparameter of :data:`CAPPED_PARAMETERS` they hold
        bounded by its cap (the others unchanged)."""
        return {
            k: self.cap(CAPPED_PARAMETERS[k], v) if k in CAPPED_PARAMETERS else v
            for k, v in params.items()
        }

    def note(self) -> str:
        """``"1 seed x 2 folds, BiLSTM capped at 3 epochs, ..."``: what a limited run says."""
        parts = [
            f"{f.name.replace('_', ' ')} {getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) is not None
        ]
        return "limited run (" + ", ".join(parts) + "; a smoke run, not results)"


#: The hyperparameters run limits bound: parameter name -> the :class:`RunLimits` field
#: bounding it. A model's spec applies them (:meth:`ephys2type.models.registry.ModelSpec.
#: limited`), so the parameters a spec records are the ones its estimators are built with.
CAPPED_PARAMETERS = {
    "n_estimators": "max_trees",
    "max_iter": "max_iter",
    "max_epochs": "max_epochs",
}

#: The limits of smoke runs (the test suite's documented commands).
SMOKE = RunLimits(seeds=1, folds=2, max_epochs=3, max_trees=50, max_iter=50, curve_points=1)

#: No caps: what every run outside a :func:`limited` block uses.
NONE = RunLimits()

_CURRENT: ContextVar[RunLimits | None] = ContextVar("ephys2type_run_limits", default=None)


def current() -> RunLimits:
    """The limits in force (no caps outside a :func:`limited` block)."""
    return _CURRENT.get() or NONE


@contextmanager
def limited(limits: RunLimits = SMOKE) -> Iterator[RunLimits]:
    """Run the block under ``limits``."""
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


def default_jobs() -> int:
    """Threads a model may use when nothing says otherwise: the machine's cores, capped by the
    limits' ``max_jobs`` (1 in a fold worker process, so nested parallelism never
    oversubscribes). The one place a default thread count comes from."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return int(current().cap("max_jobs", cores or 1))


def with_jobs(estimator, n_jobs: int):
    """``estimator`` with every ``n_jobs`` parameter that is set (not None) set to
    ``n_jobs``, in place; returned for chaining.

    A parameter left at None keeps the library's default: scikit-learn >= 1.8 warns for any
    value given to ``LogisticRegression(n_jobs=...)``, which has no effect there.
    """
    busy = {
        k: n_jobs
        for k, v in estimator.get_params().items()
        if k.endswith("n_jobs") and v is not None and v != n_jobs
    }
    return estimator.set_params(**busy) if busy else estimator
