"""The models ``ephys2type train`` saves and ``evaluate`` scores under a name: a registered
model inside a :class:`~ephys2type.models.cell_classifier.CellTypeClassifier`
(``<model>-deployed``, ``<model>-hier-deployed``, ``<model>-deployed-adapt``), built in one
place so that what ``train`` saves, what ``evaluate --model rf-deployed`` scores and what
``evaluate-added`` cross-validates are the same classifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sklearn.base import BaseEstimator

from ephys2type.data.schema import FeatureSchema
from ephys2type.errors import Ephys2TypeError
from ephys2type.models.cell_classifier import CellTypeClassifier
from ephys2type.models.registry import DEPLOYED, MODELS, ModelSpec, get_model, model_names

__all__ = ["ADAPTED", "HIER", "deployed", "resolve_model", "shipped_classifier"]

#: ``<savable model>-deployed-adapt``: the deployed classifier with ``adapt_priors``.
ADAPTED = "-adapt"
#: ``<savable model>-hier-deployed``: the deployed classifier with ``hierarchical`` members.
HIER = "-hier"


def deployed(spec: ModelSpec, **options: Any) -> ModelSpec:
    """``spec`` as ``ephys2type train`` saves it and ``predict`` runs it: inside a
    :class:`CellTypeClassifier` (``options`` are its parameters). ``evaluate --model
    rf-deployed`` scores exactly what ``train --model rf`` saves; with
    ``hierarchical=True`` it is named ``<model>-hier-deployed``."""

    # a registered model with its own parameters by name (as a loaded folder gives it), so
    # the trained and the loaded classifier have the same get_params()
    own = spec.name in MODELS and dict(MODELS[spec.name].params) == dict(spec.params)
    model = spec.name if own else spec

    def build(schema: FeatureSchema, seed: int) -> BaseEstimator:
        return CellTypeClassifier(model=model, schema=schema, random_state=seed, **options)

    hier = bool(options.get("hierarchical"))
    return ModelSpec(
        spec.name + (HIER if hier else "") + DEPLOYED,
        f"{spec.description}; as deployed (routed by the features each cell has, "
        "calibrated, conformal sets, unassigned without evidence)"
        + ("; parent level, then the classes within it" if hier else ""),
        build,
        kind="deployed",
        params={"model": spec.name, **spec.params, **options},
        savable=spec.savable,
    )


def shipped_classifier(
    model: str,
    schema: FeatureSchema,
    *,
    random_state: int = 0,
    params: Mapping[str, Any] | None = None,
    **options: Any,
) -> CellTypeClassifier:
    """The unfitted classifier ``ephys2type train`` fits for the savable registry ``model``
    (:func:`deployed`; ``params`` change a BiLSTM's parameters, ``options`` are
    :class:`CellTypeClassifier` parameters): one place, so that what ``train`` saves and
    what ``evaluate-added`` cross-validates are built alike."""
    spec = get_model(model)
    if not spec.savable:
        raise Ephys2TypeError(
            f"model {model!r} cannot be saved; savable models: "
            f"{', '.join(model_names(savable=True))}"
        )
    if params and spec.kind == "bilstm":
        spec = spec.with_params(**params)
    return deployed(spec, **options).build(schema, random_state)


def resolve_model(name: str) -> ModelSpec:
    """A model by name: a registered one, ``<savable model>-deployed`` (:func:`deployed`), or
    ``<savable model>-deployed-adapt`` (the same re-weighting each test fold to its
    estimated class proportions, ``adapt_priors``)."""
    adapt = name.endswith(DEPLOYED + ADAPTED)
    base = (
        name.removesuffix(ADAPTED).removesuffix(DEPLOYED) if adapt else name.removesuffix(DEPLOYED)
    )
    if base != name and base in MODELS and MODELS[base].savable:
        if not adapt:
            return deployed(get_model(base))
        spec = deployed(get_model(base), adapt_priors=True)
        return replace(
            spec,
            name=spec.name + ADAPTED,
            description=spec.description + "; class proportions re-estimated per batch",
        )
    return get_model(name)
