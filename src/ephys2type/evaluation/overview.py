"""A batch of new cells among the training cells, on two informative feature axes, with the
calls: the figure ``predict --overview`` draws so a person sees at a glance whether the new
cells sit where the training cells of their called class sit, or somewhere no training cell
is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ephys2type.evaluation.plots import class_colour, new_axes
from ephys2type.figure_style import styled

#: Share of the batch's cells (and of the training cells) that must have a feature for it to
#: be an axis.
MIN_MEASURED = 0.8
#: Two axes more correlated than this (training cells) say the same thing; the second is
#: skipped.
MAX_AXIS_CORRELATION = 0.8


def informative_axes(
    X_train: pd.DataFrame, y_train: Sequence[str], X_cells: pd.DataFrame
) -> tuple[str, str]:
    """The two features that best separate the training classes (ANOVA F on the training
    cells) among those most new cells and training cells have, the second not a near-copy
    of the first. Needs at least two such features."""
    from sklearn.feature_selection import f_classif

    measured = [
        c
        for c in X_train.columns
        if c in X_cells.columns
        and X_cells[c].notna().mean() >= MIN_MEASURED
        and X_train[c].notna().mean() >= MIN_MEASURED
    ]
    if len(measured) < 2:
        raise ValueError(
            f"the cells share fewer than two features measured in {MIN_MEASURED:.0%} of them "
            "and of the training cells: no overview axes"
        )
    X = X_train[measured]
    filled = X.fillna(X.median())
    scores = pd.Series(f_classif(filled.to_numpy(), np.asarray(y_train, dtype=str))[0], measured)
    order = scores.fillna(0).sort_values(ascending=False).index
    first = order[0]
    for second in order[1:]:
        r = filled[first].corr(filled[second])
        if abs(r) <= MAX_AXIS_CORRELATION:
            return first, second
    return first, order[1]


#: The most new cells :func:`plot_batch_overview` labels with their ids: 30 labels piled
#: on each other unreadably (new-user trial).
MAX_LABELLED = 12


@styled
def plot_batch_overview(
    X_train: pd.DataFrame,
    y_train: Sequence[str],
    X_cells: pd.DataFrame,
    calls: Sequence[str],
    *,
    axes: tuple[str, str] | None = None,
    abstain: str = "unassigned",
    ax: Axes | None = None,
    title: str | None = None,
    units: Mapping[str, str] | None = None,
) -> Axes:
    """Training cells as small dots coloured by class; the new cells as large markers
    coloured by their call (hollow when unassigned) and, up to :data:`MAX_LABELLED` of them,
    labelled with their ids; a legend for each kind of marker; each axis with its feature's
    unit from ``units`` (a trial: a width in seconds read as one in ms). Written as a file
    (PNG at 150 dpi, or PDF): its text is the style's 10 pt."""
    x, y = axes or informative_axes(X_train, y_train, X_cells)
    ax = ax or new_axes((8.5, 6.0))
    labels = np.asarray(y_train, dtype=str)
    classes = sorted(set(labels))
    colours = {c: class_colour(c, i) for i, c in enumerate(classes)}
    for c in classes:
        rows = labels == c
        ax.scatter(
            X_train.loc[rows, x], X_train.loc[rows, y], s=6, alpha=0.25, color=colours[c], label=c
        )
    calls = np.asarray(calls, dtype=str)
    drawn = X_cells.reindex(columns=[x, y]).apply(np.isfinite).all(axis=1)
    labelled = int(drawn.sum()) <= MAX_LABELLED  # the cells drawn, not those lacking an axis
    for (cell, row), call in zip(X_cells.iterrows(), calls, strict=True):
        if not (np.isfinite(row.get(x, np.nan)) and np.isfinite(row.get(y, np.nan))):
            continue
        colour = colours.get(call, "#333333")
        hollow = call == abstain
        ax.scatter(
            row[x],
            row[y],
            s=90,
            marker="o",
            facecolor="none" if hollow else colour,
            edgecolor="black",
            linewidth=1.2,
            zorder=3,
        )
        if labelled:
            ax.annotate(
                f"{cell} ({call})",
                (row[x], row[y]),
                xytext=(5, 5),
                textcoords="offset points",
            )
    # the view: the bulk of the training cells (0.5-99.5th percentiles) and every new cell
    for column, set_lim in ((x, ax.set_xlim), (y, ax.set_ylim)):
        values = np.concatenate(
            [
                np.nanpercentile(X_train[column].to_numpy(float), [0.5, 99.5]),
                X_cells[column].to_numpy(float),
            ]
        )
        low, high = np.nanmin(values), np.nanmax(values)
        margin = 0.05 * (high - low or 1.0)
        set_lim(low - margin, high + margin)
    missing = int((X_cells.reindex(columns=[x, y]).isna().any(axis=1)).sum())
    for name, set_label in ((x, ax.set_xlabel), (y, ax.set_ylabel)):
        unit = (units or {}).get(name, "")
        set_label(f"{name} ({unit})" if unit not in ("", "1") else name)
    note = f"\n{missing} cell(s) lack one of the two features, not drawn" if missing else ""
    if not labelled:
        note += f"\ncells not labelled (more than {MAX_LABELLED}): their colour is their call"
    ax.set_title((title or "new cells among the training cells") + note)
    # the legends go right of the axes, never over a cell
    training = ax.legend(
        markerscale=2, title="training cells", loc="upper left", bbox_to_anchor=(1.02, 1.0)
    )
    ax.add_artist(training)
    marker = {"marker": "o", "markersize": 9, "markeredgecolor": "black", "linestyle": "none"}
    new = [
        Line2D([], [], color="#999999", label="called (colour: the call)", **marker),
        Line2D([], [], markerfacecolor="none", label=abstain, **marker),
    ]
    ax.legend(handles=new, title="new cells", loc="lower left", bbox_to_anchor=(1.02, 0.0))
    return ax


def plot_prediction_overview(model, cells: pd.DataFrame, table: pd.DataFrame) -> Axes:
    """A predicted batch among the training cells of the model that called it
    (``predict --overview`` and the app): ``cells`` as the model read them, ``table`` its
    per-cell table."""
    from ephys2type.models.call_table import ABSTAIN

    return plot_batch_overview(
        model.X_train_,
        model.y_train_,
        cells,
        table.loc[cells.index, "predicted"].astype(str),
        abstain=ABSTAIN,
        # not "new": a batch may hold training cells (predict then says so)
        title=f"{len(cells)} predicted cells among the {len(model.X_train_)} training cells",
        units={f.name: f.unit for f in model.schema_.features},
    )


#: The share of all training cells drawn as the grey band of :func:`plot_cell_among_class`.
BAND = (5, 95)


@styled
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
        )
    labels = [f"{families[c]}: {c}" if families and c in families else c for c in measured]
    ax.set_yticks(positions, labels)
    ax.axvline(0.0, color="#888888", linewidth=0.8, zorder=0)
    ax.set_ylim(-0.8, len(measured) - 0.2)
    ax.set_xlabel("(value - training median) / training SD")
    n_class = int(in_class.sum())
    # one line each: a lab's long cell id made one line wider than the figure
    ax.set_title(
        f"{cell.name} (red dot)\nblue boxes: the {n_class} training cells of {cls}\n"
        f"grey: the middle {BAND[1] - BAND[0]}% of all {len(X_train)} training cells"
    )
    return ax
