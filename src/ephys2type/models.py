"""Named models: each name builds a complete in-fold pipeline for a feature schema.

``ephys2type evaluate --model NAME`` and the Python API resolve names here, so a model means
the same thing (preprocessing included) wherever it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from .errors import Ephys2TypeError
from .pipeline import make_pipeline
from .schema import FeatureSchema

Builder = Callable[[FeatureSchema, int], BaseEstimator]


@dataclass(frozen=True)
class ModelSpec:
    """A named model: what it is, and how to build its pipeline for a schema and seed."""

    name: str
    description: str
    build: Builder


def _rf(schema: FeatureSchema, seed: int, *, spca: bool = False, n_jobs: int = 2):
    forest = RandomForestClassifier(
        n_estimators=500, class_weight="balanced", n_jobs=n_jobs, random_state=seed
    )
    return make_pipeline(forest, schema, spca=spca, random_state=seed)


def _hgb(schema: FeatureSchema, seed: int):
    model = HistGradientBoostingClassifier(
        class_weight="balanced", max_iter=300, learning_rate=0.1, random_state=seed
    )
    return make_pipeline(model, schema, random_state=seed)


def _logreg(schema: FeatureSchema, seed: int):
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000, random_state=seed)
    return make_pipeline(model, schema, random_state=seed)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "rf",
            "class-balanced random forest (500 trees) on standardized features",
            lambda schema, seed: _rf(schema, seed),
        ),
        ModelSpec(
            "rf-spca",
            "class-balanced random forest (500 trees) on per-family sparse PCA components",
            lambda schema, seed: _rf(schema, seed, spca=True),
        ),
        ModelSpec(
            "hgb",
            "class-weighted histogram gradient boosting (300 iterations, early stopping)",
            _hgb,
        ),
        ModelSpec(
            "logreg",
            "class-weighted multinomial logistic regression on standardized features",
            _logreg,
        ),
    )
}


def register_model(spec: ModelSpec) -> None:
    """Add a model to the registry (used by the torch models, imported lazily)."""
    MODELS[spec.name] = spec


def get_model(name: str) -> ModelSpec:
    _load_optional_models()
    if name not in MODELS:
        raise Ephys2TypeError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    return MODELS[name]


def model_names() -> list[str]:
    _load_optional_models()
    return list(MODELS)


def _load_optional_models() -> None:
    """Torch-based models register themselves when their module is imported."""
    import importlib.util

    if importlib.util.find_spec("ephys2type.bilstm") is not None:
        importlib.import_module("ephys2type.bilstm")
