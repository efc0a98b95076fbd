"""The baseline estimators and their hyperparameters, defined once.

The registry's ``rf``/``rf-spca``/``hgb``/``logreg`` and the pooled cross-species baselines
of :mod:`ephys2type.models.transfer` build their estimators here, so a hyperparameter
change reaches every use.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

#: Baseline name -> what it is (used in model descriptions).
BASELINES = {
    "rf": "class-balanced random forest (500 trees)",
    "hgb": "class-weighted histogram gradient boosting (300 iterations)",
    "logreg": "class-weighted multinomial logistic regression",
}


def make_baseline(name: str, *, random_state: int | None = None, n_jobs: int = 2) -> BaseEstimator:
    """A fresh, unfitted baseline estimator (``n_jobs`` only applies to the forest)."""
    if name == "rf":
        return RandomForestClassifier(
            n_estimators=500, class_weight="balanced", n_jobs=n_jobs, random_state=random_state
        )
    if name == "hgb":
        # early_stopping stays "auto": scikit-learn turns it on only above 10,000 samples,
        # so on these tables (at most ~4,000 cells) all 300 iterations run
        return HistGradientBoostingClassifier(
            class_weight="balanced", max_iter=300, learning_rate=0.1, random_state=random_state
        )
    if name == "logreg":
        return LogisticRegression(
            C=1.0, class_weight="balanced", max_iter=5000, random_state=random_state
        )
    raise ValueError(f"unknown baseline {name!r}; baselines: {', '.join(BASELINES)}")
