"""Run one function over the folds of a split plan, serially or in parallel processes.

Every fold runner (models, the partial-protocol table, the feature-set table) goes through
:func:`map_folds`, so the rules hold everywhere: results come back in task order and are
identical to a serial run; a worker process uses one thread (joblib's workers, OpenMP in
gradient boosting and torch would otherwise oversubscribe the cores), the caller's
:mod:`ephys2type.limits` and the caller's warning filters (a worker process does not inherit
them, so library warnings the command line hides would reach the terminal).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ephys2type.limits import RunLimits, current, limited


def map_folds(
    function: Callable[..., Any], tasks: Sequence[tuple], *, n_jobs: int = 1
) -> Iterator[Any]:
    """``function(*task, one_job=...)`` for each task, in order. ``one_job`` is True in a
    worker process (the function then fits its models with ``n_jobs=1``). The limits in
    force may cap ``n_jobs``."""
    n_jobs = current().cap("max_jobs", n_jobs)
    if n_jobs == 1:
        return (function(*task, one_job=False) for task in tasks)
    from joblib import Parallel, delayed

    limits, filters = current(), list(warnings.filters)
    results: Iterable[Any] = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_in_worker)(function, task, limits, filters) for task in tasks
    )
    return iter(results)


def _in_worker(function: Callable[..., Any], task: tuple, limits: RunLimits, filters: list) -> Any:
    from threadpoolctl import threadpool_limits

    # max_jobs 1 inside: a model built here with no n_jobs of its own uses one thread
    with threadpool_limits(1), limited(replace(limits, max_jobs=1)), warnings.catch_warnings():
        warnings.filters[:] = filters
        return function(*task, one_job=True)
