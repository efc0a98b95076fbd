"""The page's figures: the batch overview (``predict --overview``'s figure) and, per cell, its
features among the training cells of a class, as PNG bytes for the page and the downloads.

Figures are built with matplotlib's object API (no pyplot state), so sessions drawing at the
same time never share a figure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ephys2type.persist.predict import Prediction

#: Share of the training cells inside the grey band drawn behind each feature.
BAND = (5, 95)


def png_bytes(fig: Figure, dpi: int = 120) -> bytes:
    """The figure as PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def overview_png(prediction: Prediction) -> bytes:
    """The batch among the model's training cells with its calls, as ``ephys2type predict
    --overview`` draws it; a ``ValueError`` says why it cannot be drawn (fewer than two
    features shared by most cells)."""
    from ephys2type.evaluation.overview import plot_batch_overview
    from ephys2type.models.cell_classifier import ABSTAIN

    model, cells, table = prediction.model, prediction.cells, prediction.table
    ax = plot_batch_overview(
        model.X_train_,
        model.y_train_,
        cells,
        table.loc[cells.index, "predicted"].astype(str),
        abstain=ABSTAIN,
        title=f"{len(cells)} new cells among {len(model.X_train_)} training cells",
    )
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


def plot_cell_among_class(
    X_train: pd.DataFrame,
    in_class: Sequence[bool],
    cell: pd.Series,
    *,
    units: dict[str, str] | None = None,
    families: dict[str, str] | None = None,
    cls: str = "",
    ax: Axes | None = None,
) -> Axes:
    """Each feature the cell has, in training SDs from the training median: a grey band for
    the middle 90% of all training cells, a box for the training cells of the class and a
    red dot for the cell, with its value and unit at the right."""
    measured = [c for c in cell.index if c in X_train.columns and np.isfinite(cell[c])]
    if ax is None:
        fig = Figure(figsize=(8.0, 1.2 + 0.32 * max(len(measured), 1)), layout="constrained")
        ax = fig.add_subplot()
    in_class = np.asarray(in_class, dtype=bool)
    if not measured:
        ax.text(0.5, 0.5, "the cell has no feature of the model", ha="center", va="center")
        ax.set_axis_off()
        return ax
    positions = np.arange(len(measured))[::-1]
    for y, column in zip(positions, measured, strict=True):
        values = X_train[column].to_numpy(float)
        centre = np.nanmedian(values)
        scale = np.nanstd(values) or 1.0
        low, high = (np.nanpercentile(values, BAND) - centre) / scale
        ax.fill_betweenx([y - 0.4, y + 0.4], low, high, color="#dddddd", zorder=1)
        own = (values[in_class] - centre) / scale
        own = own[np.isfinite(own)]
        if own.size:
            ax.boxplot(
                own,
                positions=[y],
                orientation="horizontal",
                widths=0.5,
                showfliers=False,
                patch_artist=True,
                boxprops={"facecolor": "#9ecae1", "edgecolor": "#3182bd"},
                medianprops={"color": "#08519c"},
                whiskerprops={"color": "#3182bd"},
                capprops={"color": "#3182bd"},
                manage_ticks=False,
                zorder=2,
            )
        z = (float(cell[column]) - centre) / scale
        ax.scatter([z], [y], color="#d62728", s=36, zorder=3)
        unit = (units or {}).get(column, "")
        ax.annotate(
            f"{float(cell[column]):.4g} {unit if unit != '1' else ''}".strip(),
            (1.0, y),
            xycoords=("axes fraction", "data"),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    labels = [f"{families[c]}: {c}" if families and c in families else c for c in measured]
    ax.set_yticks(positions, labels, fontsize=7)
    ax.axvline(0.0, color="#888888", linewidth=0.8, zorder=0)
    ax.set_ylim(-0.8, len(measured) - 0.2)
    ax.set_xlabel("(value - training median) / training SD")
    n_class = int(in_class.sum())
    ax.set_title(
        f"{cell.name}: red dot; blue boxes: the {n_class} training cells of {cls}; "
        f"grey: middle {BAND[1] - BAND[0]}% of all {len(X_train)} training cells",
        fontsize=8,
    )
    return ax


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
