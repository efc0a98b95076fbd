"""Train a registered model, as it ships, on every cell of a dataset.

The classifier is :func:`~ephys2type.models.registry.deployed` of the registry model: the
same :class:`~ephys2type.models.cell_classifier.CellTypeClassifier` that ``evaluate --model
<name>-deployed`` scores on each fold. Training adds only provenance; saving it is
:func:`~ephys2type.persist.format.save_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ephys2type._version import __version__, package_versions
from ephys2type.data.container import PatchSeqData
from ephys2type.errors import Ephys2TypeError
from ephys2type.models.cell_classifier import CellTypeClassifier
from ephys2type.models.defaults import DEFAULT_MODEL
from ephys2type.models.deployed import shipped_classifier
from ephys2type.models.registry import get_model


def train_model(
    data: PatchSeqData,
    model: str = DEFAULT_MODEL,
    *,
    random_state: int = 0,
    params: Mapping[str, Any] | None = None,
    family_subsets: bool = True,
    parent_of: Mapping[str, str] | None = None,
    confidence: float = 0.9,
    max_set_size: int = 3,
    calibration_size: float = 0.2,
    sample_repeats: Any = None,
    **options: Any,
) -> CellTypeClassifier:
    """Fit ``model`` as it ships on every cell of ``data`` (see the module docstring).

    ``params`` change a BiLSTM's parameters (e.g. ``{"max_epochs": 50}``); other models
    ignore them. Labels with a level above them (``ttype``: subclass, then t-type; or
    ``parent_of`` for labels of your own) give per-level calls and sets. The other arguments
    (and ``options``) are :class:`CellTypeClassifier` parameters: a fifth of the cells
    (``calibration_size``, stratified) never fit a model and calibrate the probabilities,
    the prediction sets at ``confidence`` and each feature set's expected accuracy.
    ``sample_repeats`` (one whole number per cell) makes some cells count more, e.g. a lab's
    own cells added with :func:`~ephys2type.data.added_cells.with_added_cells`.
    """
    if data.y is None or data.y.isna().any():
        raise Ephys2TypeError("training needs a label for every cell (apply QC first)")
    spec = get_model(model)
    parent_of = dict(parent_of) if parent_of is not None else data.label_parents(required=False)
    clf = shipped_classifier(
        model,
        data.schema,
        random_state=random_state,
        params=params,
        family_subsets=family_subsets,
        parent_of=parent_of,
        confidence=confidence,
        max_set_size=max_set_size,
        calibration_size=calibration_size,
        id_column=data.id_column,
        qc_profile=data.qc.profile if data.qc else "default",
        **options,
    )
    provenance = {
        "model": model,
        "description": spec.description,
        "species": data.species,
        "label_scheme": data.label_scheme,
        "qc_profile": data.qc.profile if data.qc else None,
        "n_cells": len(data),
        "id_column": data.id_column,
        "class_counts": {str(k): int(v) for k, v in data.class_counts().items()},
        "sources": dict(sorted(data.sources.items())),
        "datasets": data.datasets,
        "random_state": random_state,
        "ephys2type": __version__,
        "versions": package_versions(),
    }
    clf.fit(
        data.X,
        data.y.to_numpy(dtype=object),
        sample_repeats=sample_repeats,
        provenance=provenance,
    )
    return clf


#: Fewer calibration cells than this make a class's prediction sets coarse
#: (:meth:`~ephys2type.models.cell_classifier.CellTypeClassifier.calibration_counts`).
FEW_CALIBRATION_CELLS = 20


def calibration_note(clf: CellTypeClassifier) -> str | None:
    """One line when some classes have few calibration cells, naming them (new-user trial:
    a model of 10 Lamp5 calibration cells put Lamp5 in sets at probability 0.015, and
    nothing said why); None when every class has :data:`FEW_CALIBRATION_CELLS` or more."""
    counts = clf.calibration_counts()
    few = counts[counts < FEW_CALIBRATION_CELLS]
    if few.empty:
        return None
    named = ", ".join(f"{c} {n}" for c, n in list(few.items())[:5])
    more = f" and {len(few) - 5} more" if len(few) > 5 else ""
    return (
        f"few calibration cells of {named}{more}: the prediction sets of a class rest on its "
        f"own, and with fewer than {FEW_CALIBRATION_CELLS} they are coarse: the class can "
        "join a cell's set at a low probability, or be left out of it at a high one, and how "
        "often its sets hold the true class varies from batch to batch; more cells of it make "
        "them steadier"
    )
