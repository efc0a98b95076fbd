"""Named models: each name builds a complete in-fold pipeline for a feature schema.

``ephys2type evaluate --model NAME``, ``train``, ``reproduce`` and the Python API resolve names
here, so a model means the same thing (preprocessing included) wherever it is used.

The registry is explicit: every built-in model is listed in :func:`_builtin_models` below,
and users add their own with :func:`register_model`. Nothing registers itself on import, and
looking up a model does not import torch: BiLSTM builders import it when they build.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sklearn.base import BaseEstimator

from ephys2type.data.schema import FeatureSchema
from ephys2type.errors import Ephys2TypeError
from ephys2type.limits import current
from ephys2type.models.baselines import BASELINE_PARAMS, make_baseline
from ephys2type.models.bilstm import MAX_EPOCHS
from ephys2type.models.preprocessing import make_pipeline

Builder = Callable[[FeatureSchema, int], BaseEstimator]

#: Kinds of model: how a model is trained, saved and tuned.
KINDS = ("sklearn", "bilstm", "transfer", "deployed", "custom")
#: Suffix naming a savable model as it ships (``rf-deployed``), see
#: :func:`ephys2type.models.deployed.deployed`.
DEPLOYED = "-deployed"


@dataclass(frozen=True)
class ModelSpec:
    """A named model: what it is, and how to build its pipeline for a schema and seed.

    Parameters
    ----------
    name, description : how the model is named and described in results and reports.
    build : ``build(schema, random_state)`` returns a fresh, unfitted estimator.
    kind : ``"sklearn"``, ``"bilstm"``, ``"transfer"`` or ``"custom"``.
    params : the keyword arguments ``factory`` turned into ``build`` (recorded for reports).
    factory : ``factory(**params)`` returns a builder; lets :meth:`with_params` derive a
        variant (e.g. fewer epochs) of a registered model.
    fit_params : keyword arguments passed to ``fit`` besides ``X`` and ``y`` (data that is
        not a hyperparameter, such as a transfer estimator's source cells).
    savable : ``ephys2type train`` can save it as a model folder.
    """

    name: str
    description: str
    build: Builder
    kind: str = "custom"
    params: Mapping[str, Any] = field(default_factory=dict)
    factory: Callable[..., Builder] | None = field(default=None, repr=False)
    fit_params: Mapping[str, Any] = field(default_factory=dict, repr=False)
    savable: bool = False

    def __repr__(self) -> str:
        """Its name and parameters (a classifier's repr showed the builder's address)."""
        return f"ModelSpec({self.name!r}, kind={self.kind!r}, params={dict(self.params)!r})"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    def with_params(self, **params: Any) -> ModelSpec:
        """The same model with some builder parameters changed (same name and description),
        within the run limits in force (:meth:`limited`)."""
        if self.factory is None:
            raise Ephys2TypeError(f"model {self.name!r} has no adjustable parameters")
        merged = current().bound({**self.params, **params})
        return replace(self, params=merged, build=self.factory(**merged))

    def limited(self) -> ModelSpec:
        """The model within the run limits in force (:mod:`ephys2type.limits`): its trees,
        iterations or epochs bounded, and recorded in ``params``. The one place limits
        reach a model's hyperparameters; the same spec outside a limited block."""
        if self.factory is None or current().bound(self.params) == dict(self.params):
            return self
        return self.with_params()


def _sklearn(model: str, *, spca: bool = False) -> Callable[..., Builder]:
    """The factory of a baseline's builders (its parameters: :data:`BASELINE_PARAMS`)."""

    def factory(**params: Any) -> Builder:
        def build(schema: FeatureSchema, seed: int) -> BaseEstimator:
            return make_pipeline(
                make_baseline(model, random_state=seed, **params),
                schema,
                spca=spca,
                random_state=seed,
            )

        return build

    return factory


def _spec(
    name: str,
    description: str,
    kind: str,
    factory: Callable[..., Builder],
    params: dict[str, Any],
    *,
    savable: bool = True,
) -> ModelSpec:
    """A registered model whose parameters are recorded (so run limits can bound them)."""
    return ModelSpec(
        name,
        description,
        factory(**params),
        kind=kind,
        params=params,
        factory=factory,
        savable=savable,
    )


def _sklearn_spec(
    name: str, description: str, model: str, *, spca: bool = False, savable: bool = True
) -> ModelSpec:
    params = dict(BASELINE_PARAMS[model])
    return _spec(name, description, "sklearn", _sklearn(model, spca=spca), params, savable=savable)


def _bilstm(**params: Any) -> Builder:
    def build(schema: FeatureSchema, seed: int) -> BaseEstimator:
        from ephys2type.models.bilstm.estimator import bilstm_pipeline  # imports torch

        return bilstm_pipeline(schema, seed, **params)

    return build


def _bilstm_spec(name: str, description: str, **params: Any) -> ModelSpec:
    return _spec(name, description, "bilstm", _bilstm, {"max_epochs": MAX_EPOCHS, **params})


def _builtin_models() -> list[ModelSpec]:
    """The models ephys2type ships, in the order they are listed and reported."""
    return [
        _sklearn_spec(
            "rf", "class-balanced random forest (500 trees) on standardized features", "rf"
        ),
        _sklearn_spec(
            "rf-spca",
            "class-balanced random forest (500 trees) on per-family sparse PCA components",
            "rf",
            spca=True,
            savable=False,
        ),
        _sklearn_spec(
            "hgb",
            "class-weighted histogram gradient boosting (300 iterations, 63 bins, no early "
            "stopping)",
            "hgb",
        ),
        _sklearn_spec(
            "logreg",
            "class-weighted multinomial logistic regression on standardized features",
            "logreg",
        ),
        # the paper's model (attention, SMOTE, cross-entropy, linear head) and one-factor
        # ablations
        _bilstm_spec(
            "bilstm-smote",
            "attention BiLSTM over feature families, SMOTE, class-weighted cross-entropy, "
            "linear head",
            resample="smote",
        ),
        _bilstm_spec("bilstm", "attention BiLSTM, no SMOTE (class-weighted cross-entropy)"),
        _bilstm_spec(
            "bilstm-smote-mean",
            "BiLSTM with mean pooling instead of attention, SMOTE",
            resample="smote",
            attention=False,
        ),
        _bilstm_spec(
            "bilstm-smote-focal",
            "attention BiLSTM, SMOTE, focal loss (gamma 2, class-balanced alpha)",
            resample="smote",
            loss="focal",
        ),
        _bilstm_spec(
            "bilstm-smote-arcface",
            "attention BiLSTM, SMOTE, ArcFace head (scale 16, margin 0.2)",
            resample="smote",
            head="arcface",
        ),
        # not an ablation of the paper: trained for cells recorded with fewer protocols
        _bilstm_spec(
            "bilstm-smote-famdrop",
            "attention BiLSTM, SMOTE, random family dropout (each family hidden from a "
            "training cell with chance 0.25)",
            resample="smote",
            family_dropout=0.25,
        ),
    ]


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _builtin_models()}


def register_model(spec: ModelSpec, *, overwrite: bool = False) -> ModelSpec:
    """Add a model to the registry; an existing name is an error unless ``overwrite``."""
    if spec.name in MODELS and not overwrite:
        raise Ephys2TypeError(f"a model named {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def get_model(name: str) -> ModelSpec:
    """The registered model ``name`` within the run limits in force
    (:meth:`ModelSpec.limited`); one clear error listing the names otherwise."""
    if name not in MODELS:
        raise Ephys2TypeError(
            f"unknown model {name!r}; models: {', '.join(MODELS)} (and <savable model>{DEPLOYED})"
        )
    return MODELS[name].limited()


def model_names(kind: str | None = None, *, savable: bool | None = None) -> list[str]:
    """Registered names in order, optionally only those of one ``kind`` or savability."""
    return [
        name
        for name, spec in MODELS.items()
        if (kind is None or spec.kind == kind) and (savable is None or spec.savable == savable)
    ]
