"""The baseline estimators and their hyperparameters, defined once.

The registry's ``rf``/``rf-spca``/``hgb``/``logreg`` and the pooled cross-species baselines
of :mod:`ephys2type.models.transfer` build their estimators here, so a hyperparameter
change reaches every use.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from ephys2type.limits import default_jobs

#: Baseline name -> what it is (used in model descriptions).
BASELINES = {
    "rf": "class-balanced random forest (500 trees)",
    "hgb": "class-weighted histogram gradient boosting (300 iterations, 63 bins)",
    "logreg": "class-weighted multinomial logistic regression",
}


#: The hyperparameters of each baseline a model's spec records (and run limits bound).
BASELINE_PARAMS: dict[str, dict[str, int]] = {
    "rf": {"n_estimators": 500},
    "hgb": {"max_iter": 300},
    "logreg": {},
}


def make_baseline(
    name: str,
    *,
    random_state: int | None = None,
    n_jobs: int | None = None,
    **params: int,
) -> BaseEstimator:
    """A fresh, unfitted baseline estimator (``n_jobs`` only applies to the forest; None:
    :func:`ephys2type.limits.default_jobs`); ``params`` override :data:`BASELINE_PARAMS`
    (trees of the forest, iterations of boosting)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; baselines: {', '.join(BASELINES)}")
    unknown = set(params) - set(BASELINE_PARAMS[name])
    if unknown:
        raise ValueError(f"baseline {name!r} takes no parameter {', '.join(sorted(unknown))}")
    params = {**BASELINE_PARAMS[name], **params}
    if name == "rf":
        return RandomForestClassifier(
            n_estimators=params["n_estimators"],
            class_weight="balanced",
            n_jobs=default_jobs() if n_jobs is None else n_jobs,
            random_state=random_state,
        )
    if name == "hgb":
        # early_stopping stays "auto": scikit-learn turns it on only above 10,000 samples,
        # so on these tables (at most ~4,000 cells) all 300 iterations run. 63 bins, not
        # 255: scikit-learn >= 1.8 bins with the (class) weights through one weighted
        # percentile per bin edge (issue #34304, fixed upstream but not in 1.9.1), most of
        # the fit here; with 63 bins fits are 2-2.5x faster at the same accuracy
        # (benchmarks/hgb_bins.py, 5 folds: mouse 93.57 -> 93.60%, human 86.49 -> 86.64%)
        return HistGradientBoostingClassifier(
            class_weight="balanced",
            max_iter=params["max_iter"],
            max_bins=63,
            learning_rate=0.1,
            random_state=random_state,
        )
    return LogisticRegression(
        C=1.0, class_weight="balanced", max_iter=5000, random_state=random_state
    )
