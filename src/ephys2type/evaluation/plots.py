"""Figures. Each function takes ``ax=`` (a new figure when None) and returns the axes.

Figures are built with matplotlib's object API (no pyplot state), so they work headless and
never leak open figures. Every function draws in the one text style of
:mod:`ephys2type.figure_style`, and the figures it makes are sized for where the report shows
them (at most :data:`~ephys2type.figure_style.REPORT_INCHES` wide for a figure the report
shows beside another, :data:`~ephys2type.figure_style.REPORT_WIDE_INCHES` for one it shows
across the page), so their text reads at 9 pt or more at 100% zoom.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ephys2type.figure_style import styled

#: One colour per subclass, stable across every figure and species.
CLASS_COLOURS = {
    "Lamp5": "#2CA02C",
    "Pvalb": "#D62728",
    "Sncg": "#E377C2",
    "Sst": "#FF7F0E",
    "Vip": "#6A3D9A",
}


#: Legend label of error bars.
_CI = "95% CI"


def class_colour(cls: str, i: int) -> str:
    if cls in CLASS_COLOURS:
        return CLASS_COLOURS[cls]
    palette = ("#4C72B0", "#55A868", "#C44E52", "#8172B2", "#CCB974", "#64B5CD", "#8C8C8C")
    return palette[i % len(palette)]


def new_axes(figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    """One axes on a new figure (constrained layout); call it inside :func:`styled`."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    fig.savefig(path, dpi=dpi)
    return Path(path)


@styled
def plot_confusion(
    counts: np.ndarray,
    classes: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Row-normalised confusion matrix (recall on the diagonal), with counts in each cell.

    Up to 5 classes the figure fits the report beside another (6 in); more classes (t-types)
    make it grow, to be read as a file."""
    n = len(classes)
    ax = ax or new_axes((max(0.8 * n + 2.0, 5.6), 0.75 * n + 1.9))
    counts = np.asarray(counts, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    image = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            colour = "white" if frac[i, j] > 0.6 else "black"
            ax.text(
                j,
                i,
                f"{frac[i, j]:.2f}\n({int(counts[i, j])})",
                ha="center",
                va="center",
                color=colour,
            )
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    return ax


@styled
def plot_embedding(
    coords: np.ndarray,
    labels: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    axis_label: str = "UMAP",
) -> Axes:
    """2-D embedding of cells coloured by class (the report shows it beside another)."""
    ax = ax or new_axes((6.0, 5.0))
    labels = np.asarray(labels)
    for i, cls in enumerate(sorted(set(labels))):
        sel = labels == cls
        ax.scatter(
            coords[sel, 0],
            coords[sel, 1],
            s=4,
            alpha=0.7,
            color=class_colour(cls, i),
            label=f"{cls} ({sel.sum()})",
            rasterized=True,
        )
    ax.set_xlabel(f"{axis_label} 1")
    ax.set_ylabel(f"{axis_label} 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(markerscale=3, loc="best", title="class (cells)")
    if title:
        ax.set_title(title)
    return ax


@styled
def plot_loadings(
    loadings: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Heat map of sparse-PCA loadings (features x components); zeros left blank. The report
    shows it across the page: at most 13 in wide, the columns narrowing as components are
    added."""
    width = min(0.35 * loadings.shape[1] + 3.5, 13.0)
    ax = ax or new_axes((width, 0.22 * loadings.shape[0] + 1.5))
    values = loadings.to_numpy(dtype=float)
    limit = np.nanmax(np.abs(values)) or 1.0
    masked = np.ma.masked_where(values == 0, values)
    image = ax.imshow(masked, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(loadings.shape[1]), loadings.columns, rotation=90)
    ax.set_yticks(range(loadings.shape[0]), loadings.index)
    ax.figure.colorbar(image, ax=ax, fraction=0.03, label="loading")
    if title:
        ax.set_title(title)
    return ax


@styled
def plot_class_bars(
    values: pd.Series, *, ax: Axes | None = None, xlabel: str = "", title: str | None = None
) -> Axes:
    """Horizontal bars per class (e.g. mean silhouette), coloured by class."""
    ax = ax or new_axes((5.0, 0.4 * len(values) + 1.2))
    colours = [class_colour(str(c), i) for i, c in enumerate(values.index)]
    ax.barh(range(len(values)), values.to_numpy(), color=colours)
    ax.set_yticks(range(len(values)), [str(c) for c in values.index])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax


@styled
def plot_attention(
    table: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Heat map of mean attention (``table``: classes x feature families), drawn with the
    families as rows, as the importance figure beside it in the report lists them, so the
    figure keeps the report's width however many families there are (it grows in height)."""
    values = table.to_numpy(dtype=float).T
    families, classes = list(table.columns), [str(c) for c in table.index]
    ax = ax or new_axes((6.0, 0.42 * len(families) + 1.9))
    image = ax.imshow(values, cmap="viridis", aspect="auto", vmin=0)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            colour = "black" if values[i, j] > 0.6 * values.max() else "white"
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", color=colour)
    if classes[-1] == "all cells":  # the mean over every cell, set apart from the classes
        ax.axvline(len(classes) - 1.5, color="white", lw=3)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(families)), families)
    ax.set_xlabel("true class")
    ax.figure.colorbar(image, ax=ax, fraction=0.05, label="mean attention")
    if title:
        ax.set_title(title)
    return ax


@styled
def plot_importance(
    importance: pd.Series,
    attention: pd.Series | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Family permutation importance (macro-F1 drop, points) and, in a second panel sharing
    the families, the mean attention: each panel has one x-axis, in its own unit. Returns
    the importance panel; with ``attention`` the function makes the figure (``ax`` must be
    None)."""
    has_att = attention is not None and not attention.empty
    if has_att and ax is not None:
        raise ValueError("importance beside attention draws two panels: leave ax=None")
    height = 0.4 * len(importance) + 1.6
    if has_att:
        fig = Figure(figsize=(6.0, height), layout="constrained")
        ax, right = fig.subplots(1, 2, sharey=True, width_ratios=[3, 2])
    else:
        ax, right = ax or new_axes((5.0, height)), None
    pos = np.arange(len(importance))
    ax.barh(pos, 100 * importance.to_numpy(), color="#4C72B0")
    ax.set_yticks(pos, importance.index)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("macro-F1 drop when\npermuted (points)")
    if right is not None:
        right.barh(pos, attention.reindex(importance.index).to_numpy(), color="#DD8452")
        right.set_xlabel("mean attention\n(all cells)")
        right.tick_params(labelleft=False)
    if title and right is not None:
        ax.figure.suptitle(title)
    elif title:
        ax.set_title(title)
    return ax


@styled
def plot_learning_curve(curve: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Macro-F1 of each transfer arm and its reference vs training cells, and the gain; the
    report shows it across the page."""
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    palette = ("#4C72B0", "#DD8452", "#55A868", "#C44E52")
    drawn: set[str] = set()  # an arm compared with two references is drawn once
    for i, ((arm, _), part) in enumerate(curve.groupby(["arm", "reference"], sort=False)):
        part = part.sort_values("n_train_cells")
        x = part["n_train_cells"].to_numpy()
        colour = palette[i % len(palette)]
        lines = [("reference", "--", part["reference"].iloc[0], colour)]
        if arm not in drawn:
            lines.insert(0, ("arm", "-", arm, "#222222"))
            drawn.add(arm)
        for prefix, style, label, line_colour in lines:
            y = 100 * part[f"{prefix}_macro_f1"].to_numpy()
            lo = 100 * part[f"{prefix}_ci_low"].to_numpy()
            hi = 100 * part[f"{prefix}_ci_high"].to_numpy()
            left.plot(x, y, style, marker="o", color=line_colour, label=label)
            left.fill_between(x, lo, hi, alpha=0.12, color=line_colour)
        gain = 100 * part["gain"].to_numpy()
        right.errorbar(
            x,
            gain,
            yerr=[
                gain - 100 * part["gain_ci_low"].to_numpy(),
                100 * part["gain_ci_high"].to_numpy() - gain,
            ],
            marker="o",
            capsize=3,
            color=colour,
            label=f"{arm} - {part['reference'].iloc[0]}",
        )
    ticks = np.unique(np.round(curve["n_train_cells"].to_numpy()).astype(int))
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("target training cells per fold")
    left.set_ylabel("macro-F1 (%; band: 95% CI)")
    left.legend()
    right.axhline(0, color="black", lw=0.8)
    right.set_ylabel("gain in macro-F1 (points, 95% CI)")
    right.legend()
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_reliability(
    calibration: dict, *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Reliability diagram: accuracy vs confidence per bin, with the diagonal and the ECE."""
    ax = ax or new_axes((4.5, 4.2))
    bins = calibration["bins"]
    conf = np.array([b["confidence"] for b in bins])
    acc = np.array([b["accuracy"] for b in bins])
    n = np.array([b["n"] for b in bins], dtype=float)
    ax.plot([0, 1], [0, 1], "--", color="#888888", lw=1, label="perfect calibration")
    ax.plot(conf, acc, "-", color="#4C72B0", lw=1)
    ax.scatter(
        conf, acc, s=20 + 180 * n / n.max(), color="#4C72B0", zorder=3, label="bins (size: cells)"
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (probability of the predicted class)")
    ax.set_ylabel("accuracy")
    ax.text(0.04, 0.92, f"ECE = {100 * calibration['ece']:.2f}%", transform=ax.transAxes)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    return ax


@styled
def plot_partial_protocols(
    table: list[dict], *, metric: str = "macro_f1", ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Per family subset: the imputed, deployed and subset-trained models' scores with their
    95% CIs (the legend under the figure: the bars reach the right edge)."""
    arms = (("imputed", "#8C8C8C"), ("deployed", "#4C72B0"), ("subset", "#55A868"))
    ax = ax or new_axes((6.0, 0.55 * len(table) * len(arms) / 2 + 1.6))
    height = 0.8 / len(arms)
    for j, (arm, colour) in enumerate(arms):
        means = np.array([100 * e[arm][metric]["mean"] for e in table])
        lows = np.array([100 * (e[arm][metric]["ci_low"] or np.nan) for e in table])
        highs = np.array([100 * (e[arm][metric]["ci_high"] or np.nan) for e in table])
        ys = np.arange(len(table)) + (j - 1) * height
        err = np.vstack([means - lows, highs - means])
        ax.barh(ys, means, height=height, color=colour, label=arm)
        if np.isfinite(err).all():
            ax.errorbar(means, ys, xerr=err, fmt="none", ecolor="black", lw=0.8, label=_CI)
    common = set.intersection(*(set(e["families"]) for e in table))
    names = [
        "+ " + ", ".join(f for f in e["families"] if f not in common)
        if set(e["families"]) != common
        else "long-square families only"
        for e in table
    ]
    ax.set_yticks(range(len(table)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric.replace('_', '-')} (%)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))  # the CI once, not once per arm
    order = [arm for arm, _ in arms] + ([_CI] if _CI in unique else [])
    ax.figure.legend([unique[k] for k in order], order, loc="outside lower center", ncols=4)
    if title:
        ax.set_title(title)
    return ax


@styled
def plot_selective(curve: pd.DataFrame, table: pd.DataFrame | None = None) -> Figure:
    """Per level: accuracy of the calls made vs the share of cells called (calling only
    cells above a probability threshold); a star marks where the conformal sets stop the
    calls (cells called at that level and their accuracy). One panel per level, side by
    side: the report shows it across the page."""
    levels = list(dict.fromkeys(curve["level"]))
    fig = Figure(figsize=(min(5.2 * len(levels), 13.0), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(levels)))
    palette = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")
    starred = False
    for ax, level in zip(axes, levels, strict=True):
        part = curve[curve["level"] == level]
        for i, (model, rows) in enumerate(part.groupby("model", sort=False)):
            colour = palette[i % len(palette)]
            ax.plot(
                100 * rows["share_called"],
                100 * rows["accuracy"],
                marker=".",
                color=colour,
                label=model,
            )
            if table is not None:
                point = table[(table["model"] == model) & (table["level"] == level)]
                if len(point) and np.isfinite(point["accuracy_when_called"].iloc[0]):
                    starred = True
                    ax.plot(
                        100 * point["called"].iloc[0],
                        100 * point["accuracy_when_called"].iloc[0],
                        marker="*",
                        markersize=12,
                        color=colour,
                        linestyle="none",
                    )
        ax.set_xlim(0, 102)
        ax.set_xlabel("cells called (%)")
        ax.set_ylabel("accuracy of the calls (%)")
        ax.set_title(level)
        ax.invert_xaxis()
    # one legend for every panel, under them: the models and what a star is
    handles: dict[str, Artist] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if starred:
        handles["where the conformal sets stop the calls (cells called, their accuracy)"] = Line2D(
            [], [], marker="*", markersize=12, color="#555555", linestyle="none"
        )
    fig.legend(
        handles.values(), handles.keys(), loc="outside lower center", ncols=min(len(handles), 3)
    )
    return fig


@styled
def plot_feature_subsets(table: list[dict], *, title: str | None = None) -> Figure:
    """Left: per feature set, the routed model's accuracy against the model trained on
    exactly those features (and the complete model imputing the rest); right: each set's
    expected accuracy (told to the lab) against the accuracy its test cells got. The
    dashed diagonals are equality; the report shows the figure across the page."""
    fig = Figure(figsize=(10.0, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    subset = np.array([100 * e["subset"]["mean"] for e in table])
    for arm, colour, marker in (("routed", "#4C72B0", "o"), ("imputed", "#8C8C8C", "x")):
        values = np.array([100 * e[arm]["mean"] for e in table])
        left.scatter(subset, values, color=colour, marker=marker, label=arm, s=22)
    lo = min(subset.min(), min(100 * e["imputed"]["mean"] for e in table)) - 3
    left.plot([lo, 100], [lo, 100], color="black", lw=0.8, ls="--", label="equal accuracy")
    left.set_xlabel("trained on exactly the set's features: accuracy (%)")
    left.set_ylabel("accuracy (%)")
    left.legend(loc="upper left")
    expected = np.array([100 * e["expected_accuracy"] for e in table])
    realized = np.array([100 * e["routed"]["mean"] for e in table])
    sizes = np.array([e["n_features"] for e in table])
    points = right.scatter(expected, realized, c=sizes, cmap="viridis", s=22)
    fig.colorbar(points, ax=right, label="features in the set")
    low = min(expected.min(), realized.min()) - 3
    right.plot([low, 100], [low, 100], color="black", lw=0.8, ls="--", label="accuracy as expected")
    right.set_xlabel("expected accuracy told to the lab (%)")
    right.set_ylabel("accuracy of the test cells (%)")
    right.legend(loc="upper left")
    if title:
        fig.suptitle(title)
    return fig
