"""A batch of new cells among the training cells, on two informative feature axes, with the
calls: the figure ``predict --overview`` draws so a person sees at a glance whether the new
cells sit where the training cells of their called class sit, or somewhere no training cell
is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
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
) -> Axes:
    """Training cells as small dots coloured by class; the new cells as large markers
    coloured by their call (hollow when unassigned) and labelled with their ids; a legend
    for each kind of marker. Written as a file (PNG at 150 dpi, or PDF): its text is the
    style's 10 pt."""
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
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    note = f"\n{missing} cell(s) lack one of the two features, not drawn" if missing else ""
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
