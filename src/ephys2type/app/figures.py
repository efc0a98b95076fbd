"""The page's figures: the batch overview (``predict --overview``'s figure) and, per cell, its
features among the training cells of a class, as PNG bytes for the page and the downloads.

Figures are built with matplotlib's object API (no pyplot state), so sessions drawing at the
same time never share a figure.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ephys2type.evaluation.overview import plot_cell_among_class
from ephys2type.persist.predict import Prediction


def png_bytes(fig: Figure, dpi: int = 120) -> bytes:
    """The figure as PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def overview_png(prediction: Prediction) -> bytes:
    """The batch among the model's training cells with its calls, as ``ephys2type predict
    --overview`` draws it; a ``ValueError`` says why it cannot be drawn (fewer than two
    features shared by most cells)."""
    from ephys2type.evaluation.overview import plot_prediction_overview

    ax = plot_prediction_overview(prediction.model, prediction.cells, prediction.table)
    return png_bytes(ax.figure, dpi=150)


def comparison_class(prediction: Prediction, cell: str) -> str:
    """The class a cell's features are shown against by default: its call, or for an
    unassigned cell its most probable class."""
    from ephys2type.data.columns import proba_columns
    from ephys2type.models.cell_classifier import ABSTAIN

    row = prediction.table.loc[cell]
    if row["predicted"] != ABSTAIN:
        return str(row["predicted"])
    classes = [str(c) for c in prediction.model.classes_]
    proba = pd.to_numeric(row.reindex(proba_columns(classes)), errors="coerce").to_numpy(float)
    return classes[int(np.nanargmax(proba))] if np.isfinite(proba).any() else classes[0]


def training_members(prediction: Prediction, cls: str) -> np.ndarray:
    """Which training cells are of ``cls`` (for two-level labels, a class of the upper level
    holds the training cells of its lower-level classes)."""
    labels = np.asarray(prediction.model.y_train_, dtype=str)
    members = labels == cls
    parents = getattr(prediction.model, "parent_of", None) or {}
    if not members.any() and parents:
        members = np.array([parents.get(label) == cls for label in labels])
    return members


def cell_features_png(prediction: Prediction, cell: str, cls: str) -> bytes:
    """:func:`plot_cell_among_class` of one predicted cell against the class ``cls``."""
    schema = prediction.model.schema
    units = {f.name: f.unit for f in schema.features}
    families = {c: fam.name for fam in schema.families for c in fam.columns}
    ax = plot_cell_among_class(
        prediction.model.X_train_,
        training_members(prediction, cls),
        prediction.cells.loc[cell],
        units=units,
        families=families,
        cls=cls,
    )
    return png_bytes(ax.figure)
