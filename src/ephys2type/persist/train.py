"""Train a registered model on every cell of a dataset and package it as a
:class:`~ephys2type.persist.format.TrainedModel` (ready to save and to predict)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split

from ephys2type._version import __version__, package_versions
from ephys2type.data.container import PatchSeqData
from ephys2type.errors import Ephys2TypeError
from ephys2type.models.registry import SAVABLE_MODELS, get_model
from ephys2type.persist.format import OutOfDistribution, TrainedModel


def train_model(
    data: PatchSeqData,
    model: str = "bilstm-smote",
    *,
    random_state: int = 0,
    params: Mapping[str, Any] | None = None,
    family_subsets: bool = True,
    parent_of: Mapping[str, str] | None = None,
    confidence: float = 0.9,
    max_set_size: int = 3,
    calibration_size: float = 0.2,
) -> TrainedModel:
    """Fit ``model`` on every cell of ``data`` and package it for saving and prediction.

    The BiLSTM takes its early-stopping and temperature-scaling split from the cells
    (20%, stratified). Tree and linear models are fitted on 80% of the cells and their
    probability temperature on the other 20%, the same split, by scikit-learn's
    ``CalibratedClassifierCV(FrozenEstimator(...), method="temperature")``. ``params``
    change a BiLSTM's parameters (e.g. ``{"max_epochs": 50}``); other models ignore them.

    With ``family_subsets`` (default), the same model is also trained on each family subset
    a lab plausibly has (:meth:`FeatureSchema.protocol_subsets`: the long-square families
    with any combination of the other protocols), so cells recorded without some protocols
    are predicted by a model trained on the families they have, not by imputation.

    Labels with a level above them (``ttype``: subclass, then t-type) give a model with
    per-level calls and class-conditional conformal sets at ``confidence``
    (:class:`~ephys2type.persist.levels.LevelCalibration`): ``calibration_size`` of the
    cells (stratified) are kept apart to calibrate the sets and never fit the model; a cell
    whose t-type set holds more than ``max_set_size`` types is called at the subclass.
    ``parent_of`` (class -> parent class) gives that hierarchy for labels of your own.
    """
    if data.y is None or data.y.isna().any():
        raise Ephys2TypeError("training needs a label for every cell (apply QC first)")
    parent_of = dict(parent_of) if parent_of is not None else data.label_parents(required=False)
    if parent_of is not None:
        return _train_levels(
            data,
            parent_of,
            model,
            random_state=random_state,
            params=params,
            family_subsets=family_subsets,
            confidence=confidence,
            max_set_size=max_set_size,
            calibration_size=calibration_size,
        )
    spec = get_model(model)
    if not spec.savable:
        raise Ephys2TypeError(
            f"model {model!r} cannot be saved; savable models: {', '.join(SAVABLE_MODELS)}"
        )
    if params and spec.kind == "bilstm":
        spec = spec.with_params(**params)
    X, y = data.X, data.y.to_numpy()
    pipe = spec.build(data.schema, random_state)
    info = {
        "model": model,
        "description": spec.description,
        "species": data.species,
        "label_scheme": data.label_scheme,
        "qc_profile": data.qc.profile if data.qc else None,
        "n_cells": len(data),
        "id_column": data.id_column,
        "class_counts": {str(k): int(v) for k, v in data.class_counts().items()},
        "sources": dict(sorted(data.sources.items())),
        "random_state": random_state,
        "ephys2type": __version__,
        "versions": package_versions(),
    }
    calibrated = None
    if spec.kind == "bilstm":
        pipe.fit(X, y)
        net = pipe.named_steps["model"]
        hyper = {
            k: v
            for k, v in net.get_params().items()
            if k not in ("families", "family_names", "random_state")
        }
        hyper["epochs_trained"], hyper["best_epoch"] = net.n_epochs_, net.best_epoch_
        predictor, temperature, kind = net.module_, net.temperature_, "bilstm"
        classes = list(net.classes_)
    else:
        fit_idx, val_idx = train_test_split(
            np.arange(len(y)), test_size=0.2, stratify=y, random_state=random_state
        )
        pipe.fit(X.iloc[fit_idx], y[fit_idx])
        # the estimator is frozen, so the split only batches its predictions (one calibrator
        # is fitted on all of them); a single split of every cell works for classes with one
        # calibration cell, where k folds (k >= 2) are refused
        every = np.arange(len(val_idx))
        calibrated = CalibratedClassifierCV(
            FrozenEstimator(pipe), method="temperature", cv=[(every, every)]
        ).fit(X.iloc[val_idx], y[val_idx])
        temperature = 1.0 / float(calibrated.calibrated_classifiers_[0].calibrators[0].beta_)
        predictor = pipe.named_steps["model"]
        classes = list(predictor.classes_)
        hyper = {k: v for k, v in predictor.get_params().items() if _jsonable(v)}
        kind = "sklearn"
    prep = pipe.named_steps["prep"]
    Z, _ = prep.standardize(X)
    trained = TrainedModel(
        kind=kind,
        schema=data.schema,
        classes=classes,
        preprocessing=prep,
        predictor=predictor,
        temperature=temperature,
        ood=OutOfDistribution.fit(
            Z,
            X.notna().to_numpy(),
            random_state=random_state,
            families=data.schema.family_index(),
        ),
        info=info,
        hyperparameters=hyper,
    )
    if family_subsets:
        full = set(data.schema.family_names)
        for subset in data.schema.protocol_subsets():
            if set(subset) != full:
                sub = train_model(
                    data.restrict(subset),
                    model,
                    random_state=random_state,
                    params=params,
                    family_subsets=False,
                )
                trained.add_subset(sub)
    trained.pipeline_ = pipe  # the fitted scikit-learn pipeline (in memory only, not saved)
    trained.calibrated_ = calibrated  # scikit-learn's calibrated classifier (sklearn kinds)
    return trained


def _train_levels(
    data: PatchSeqData,
    parent_of: dict[str, str],
    model: str,
    *,
    confidence: float,
    max_set_size: int,
    calibration_size: float,
    **options: Any,
) -> TrainedModel:
    """Train on the proper part of the cells; calibrate each (subset) model's per-level
    conformal sets on the calibration part."""
    from dataclasses import replace

    from ephys2type.persist.levels import LevelCalibration

    if not 0 < confidence < 1:
        raise Ephys2TypeError(f"confidence must lie between 0 and 1, not {confidence}")
    y = data.y.to_numpy(dtype=object)
    counts = data.y.value_counts()
    if (counts < 2).any():
        raise Ephys2TypeError(
            f"{int((counts < 2).sum())} class(es) have a single cell (e.g. {counts.idxmin()!r}); "
            "prediction sets need at least 2 cells per class (one to train, one to calibrate)"
        )
    proper, calibration = train_test_split(
        np.arange(len(y)),
        test_size=calibration_size,
        stratify=y,
        random_state=options["random_state"],
    )
    fit_part = replace(
        data, X=data.X.iloc[proper], meta=data.meta.iloc[proper], y=data.y.iloc[proper]
    )
    one_level = replace(fit_part, label_scheme=None)  # no recursion into levels
    trained = train_model(one_level, model, **options)
    X_cal, y_cal = data.X.iloc[calibration], y[calibration]
    for part in [trained, *trained.subsets]:
        proba = part._scores(X_cal[part.schema.columns])[0]
        part.levels = LevelCalibration.calibrate(
            proba,
            part.classes,
            y_cal,
            parent_of,
            confidence=confidence,
            max_set_size=max_set_size,
        )
        part.info.update(
            label_scheme=data.label_scheme,
            n_cells=len(data),
            n_calibration_cells=len(calibration),
            class_counts={str(k): int(v) for k, v in data.class_counts().items()},
        )
    return trained


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False
