"""The run limits: one explicit object, set for a block, read where models are built, and
handed to the parallel fold workers."""

from __future__ import annotations

import sys

from ephys2type.evaluation.parallel import map_folds
from ephys2type.limits import NONE, SMOKE, RunLimits, current, limited
from ephys2type.models.baselines import make_baseline


def _caps(k: int, *, one_job: bool) -> tuple[int, int | None, bool]:
    return k, current().max_trees, one_job


def test_limits_hold_in_their_block_only():
    with limited(RunLimits()):  # the suite's own caps are off here
        assert make_baseline("rf").n_estimators == 500
        assert make_baseline("hgb").max_iter == 300
        with limited(SMOKE):
            assert make_baseline("rf").n_estimators == 50
            assert current().note().startswith("limited run (seeds 1, folds 2")
        assert current() == NONE and not current().any()


def test_limits_reach_the_worker_processes():
    import cloudpickle  # what joblib pickles tasks with

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # a test module
    with limited(RunLimits(max_trees=7)):
        serial = list(map_folds(_caps, [(0,), (1,)], n_jobs=1))
        parallel = list(map_folds(_caps, [(0,), (1,)], n_jobs=2))
    assert serial == [(0, 7, False), (1, 7, False)]
    assert parallel == [(0, 7, True), (1, 7, True)]
    with limited(RunLimits(max_jobs=1)):  # a cap on parallel folds runs them here
        assert [r[2] for r in map_folds(_caps, [(0,), (1,)], n_jobs=2)] == [False, False]


def _warns(k: int, *, one_job: bool) -> tuple[int, bool]:
    import warnings

    warnings.warn("a library's chatter", UserWarning, stacklevel=1)
    return k, one_job


def test_worker_processes_follow_the_callers_warning_filters():
    """The command line hides library warnings; a fold worker (its own process) must too."""
    import warnings

    import cloudpickle
    import pytest

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert list(map_folds(_warns, [(0,), (1,)], n_jobs=2)) == [(0, True), (1, True)]
        warnings.simplefilter("error")  # the same filters, now turning the warning into an error
        with pytest.raises(UserWarning, match="chatter"):
            list(map_folds(_warns, [(0,), (1,)], n_jobs=2))


def _forest_jobs(k: int, *, one_job: bool) -> tuple[int, int]:
    return k, make_baseline("rf").n_jobs


def test_a_default_thread_count_comes_from_one_place():
    """No hyperparameter holds a thread count of its own: the forest's default is the
    machine's cores, capped by the run's max_jobs, and one thread in a fold worker."""
    import os

    import cloudpickle

    from ephys2type.limits import default_jobs

    cores = len(os.sched_getaffinity(0))
    with limited(RunLimits()):
        assert default_jobs() == cores and make_baseline("rf").n_jobs == cores
        assert make_baseline("rf", n_jobs=3).n_jobs == 3  # a caller's choice wins
        with limited(RunLimits(max_jobs=1)):
            assert make_baseline("rf").n_jobs == 1
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        serial = list(map_folds(_forest_jobs, [(0,), (1,)], n_jobs=1))
        parallel = list(map_folds(_forest_jobs, [(0,), (1,)], n_jobs=2))
    assert serial == [(0, cores), (1, cores)]
    assert parallel == [(0, 1), (1, 1)]
