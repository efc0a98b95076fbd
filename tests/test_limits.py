"""The run limits: one explicit object, set for a block, read where models are built, and
handed to the parallel fold workers."""

from __future__ import annotations

import sys

import pytest

from ephys2type.data.schema import get_schema
from ephys2type.evaluation.parallel import map_folds
from ephys2type.limits import NONE, SMOKE, RunLimits, current, limited
from ephys2type.models.baselines import make_baseline
from ephys2type.models.bilstm import MAX_EPOCHS
from ephys2type.models.deployed import resolve_model
from ephys2type.models.registry import get_model
from ephys2type.testing.synthetic import make_synthetic


def _caps(k: int, *, one_job: bool) -> tuple[int, int | None, bool]:
    return k, current().max_trees, one_job


def _estimator(spec, schema):
    pipeline = spec.build(schema, 0)
    return pipeline.steps[-1][1]


def test_limits_hold_in_their_block_only():
    schema = get_schema("mouse")
    with limited(RunLimits()):  # the suite's own caps are off here
        assert _estimator(get_model("rf"), schema).n_estimators == 500
        assert _estimator(get_model("hgb"), schema).max_iter == 300
        with limited(SMOKE):
            assert _estimator(get_model("rf"), schema).n_estimators == 50
            assert current().note().startswith("limited run (seeds 1, folds 2")
        assert current() == NONE and not current().any()


def test_a_spec_records_the_hyperparameters_its_estimators_are_built_with():
    """Limits reach hyperparameters in one place, the model's spec, which records them: what
    ``ModelSpec.params`` says is what the estimator gets, limited or not."""
    schema = get_schema("mouse")
    with limited(RunLimits()):
        assert get_model("rf").params == {"n_estimators": 500}
        assert get_model("bilstm-smote").params["max_epochs"] == MAX_EPOCHS
        with limited(SMOKE):
            for name in ("rf", "rf-spca", "hgb", "logreg"):
                spec = get_model(name)
                built = _estimator(spec, schema)
                for param, value in spec.params.items():
                    assert getattr(built, param) == value <= 50, (name, param)
            bilstm = get_model("bilstm-smote")
            assert bilstm.params["max_epochs"] == 3
            assert _estimator(bilstm, schema).max_epochs == 3
            # a variant asking for more stays within the limits, and says so
            longer = bilstm.with_params(max_epochs=40)
            assert longer.params["max_epochs"] == _estimator(longer, schema).max_epochs == 3
            deployed = resolve_model("rf-deployed")
            assert deployed.params["n_estimators"] == 50
        # the estimators themselves read no limits: a caller's value is kept as given
        with limited(SMOKE):
            assert make_baseline("rf").n_estimators == 500
            assert make_baseline("rf", n_estimators=7).n_estimators == 7


def test_transfer_arms_record_their_limited_hyperparameters():
    from ephys2type.evaluation.transfer import TransferSettings, transfer_arms
    from ephys2type.models.transfer.estimators import SourceData

    source = make_synthetic(60, n_classes=3, random_state=0)
    settings = TransferSettings(
        strategies=("joint",), adapters=("coral",), heterogeneous=(), native=()
    )
    with limited(SMOKE):
        arms = transfer_arms(SourceData.from_data(source), "human", settings)
    schema = source.schema
    assert arms["joint"].spec.params["max_epochs"] == 3
    assert arms["joint"].spec.build(schema, 0).bilstm_params["max_epochs"] == 3
    assert arms["human_bilstm"].spec.params["max_epochs"] == 3
    for name in ("pooled_hgb", "pooled_hgb_coral"):
        spec = arms[name].spec
        assert spec.params == {"max_iter": 50} == spec.build(schema, 0).params
    assert arms["human_rf"].spec.params == {"n_estimators": 50}


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


@pytest.mark.slow  # end to end (make test-slow): make test's time
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


def test_a_classifier_fitted_under_limits_keeps_and_saves_the_parameters_it_was_fitted_with(
    tmp_path,
):
    """Fitted under limits, used and saved outside them: members fitted later and the saved
    record say what the fit used (50 trees), not the registry's 500."""
    import json

    from ephys2type.models.cell_classifier import CellTypeClassifier
    from ephys2type.persist.format import save_model

    data = make_synthetic(120, n_classes=3, random_state=1)
    with limited(RunLimits(max_trees=50)):
        clf = CellTypeClassifier(model="rf", schema=data.schema, random_state=0).fit(data.X, data.y)
    with limited(RunLimits()):
        assert clf.model_params_ == {"n_estimators": 50}
        member = clf.fit_member(data.schema.columns[:4])
        assert member.estimator.steps[-1][1].n_estimators == 50
        folder = save_model(clf, tmp_path / "model")
    assert json.loads((folder / "model.json").read_text())["model_params"] == {"n_estimators": 50}
