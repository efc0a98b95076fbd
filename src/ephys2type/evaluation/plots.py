"""Figures. Each function takes ``ax=`` (a new figure when None) and returns the axes.

Figures are built with matplotlib's object API (no pyplot state), so they work headless and
never leak open figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: One colour per subclass, stable across every figure and species.
CLASS_COLOURS = {
    "Lamp5": "#2CA02C",
    "Pvalb": "#D62728",
    "Sncg": "#E377C2",
    "Sst": "#FF7F0E",
    "Vip": "#6A3D9A",
}


def class_colour(cls: str, i: int) -> str:
    if cls in CLASS_COLOURS:
        return CLASS_COLOURS[cls]
    palette = ("#4C72B0", "#55A868", "#C44E52", "#8172B2", "#CCB974", "#64B5CD", "#8C8C8C")
    return palette[i % len(palette)]


def new_axes(figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    fig.savefig(path, dpi=dpi)
    return Path(path)


def plot_confusion(
    counts: np.ndarray,
    classes: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Row-normalised confusion matrix (recall on the diagonal), with counts in each cell."""
    ax = ax or new_axes((0.8 * len(classes) + 2.0, 0.75 * len(classes) + 1.5))
    counts = np.asarray(counts, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    image = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if frac[i, j] > 0.6 else "black"
            ax.text(
                j,
                i,
                f"{frac[i, j]:.2f}\n({int(counts[i, j])})",
                ha="center",
                va="center",
                fontsize=9,
                color=colour,
            )
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    return ax


def plot_embedding(
    coords: np.ndarray,
    labels: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    axis_label: str = "UMAP",
) -> Axes:
    """2-D embedding of cells coloured by class."""
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
    ax.legend(markerscale=3, fontsize=8, frameon=False, loc="best")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_loadings(
    loadings: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Heat map of sparse-PCA loadings (features x components); zeros left blank."""
    ax = ax or new_axes((0.35 * loadings.shape[1] + 3.5, 0.22 * loadings.shape[0] + 1.5))
    values = loadings.to_numpy(dtype=float)
    limit = np.nanmax(np.abs(values)) or 1.0
    masked = np.ma.masked_where(values == 0, values)
    image = ax.imshow(masked, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(loadings.shape[1]), loadings.columns, rotation=90, fontsize=8)
    ax.set_yticks(range(loadings.shape[0]), loadings.index, fontsize=8)
    ax.figure.colorbar(image, ax=ax, fraction=0.03, label="loading")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


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
        ax.set_title(title, fontsize=9)
    return ax


def plot_attention(
    table: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Heat map of mean attention (rows: classes, columns: feature families)."""
    ax = ax or new_axes((0.75 * table.shape[1] + 2.2, 0.5 * table.shape[0] + 1.6))
    values = table.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="viridis", aspect="auto", vmin=0)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            colour = "black" if values[i, j] > 0.6 * values.max() else "white"
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=9, color=colour)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=45, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, label="mean attention")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_importance(
    importance: pd.Series,
    attention: pd.Series | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Family permutation importance (macro-F1 drop), with mean attention beside it."""
    ax = ax or new_axes((6.0, 0.45 * len(importance) + 1.5))
    pos = np.arange(len(importance))
    has_att = attention is not None and not attention.empty
    height = 0.4 if has_att else 0.8
    ax.barh(
        pos - (height / 2 if has_att else 0),
        100 * importance.to_numpy(),
        height=height,
        color="#4C72B0",
        label="macro-F1 drop when permuted (points)",
    )
    ax.set_yticks(pos, importance.index)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("macro-F1 drop (points)")
    if has_att:
        twin = ax.twiny()
        twin.barh(
            pos + height / 2,
            attention.reindex(importance.index).to_numpy(),
            height=height,
            color="#DD8452",
            label="mean attention",
        )
        twin.set_xlabel("mean attention")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(
            handles=handles,
            fontsize=7,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=2,
            frameon=False,
        )
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_learning_curve(curve: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Macro-F1 of each transfer arm and its reference vs training cells, and the gain."""
    fig = Figure(figsize=(9.5, 4.0), layout="constrained")
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
    left.set_ylabel("macro-F1 (%)")
    left.legend(fontsize=7, frameon=False)
    right.axhline(0, color="black", lw=0.8)
    right.set_ylabel("gain in macro-F1 (points, 95% CI)")
    right.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_reliability(
    calibration: dict, *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Reliability diagram: accuracy vs confidence per bin, with the diagonal and the ECE."""
    ax = ax or new_axes((4.2, 4.0))
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
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_partial_protocols(
    table: list[dict], *, metric: str = "macro_f1", ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Per family subset: the imputed, deployed and subset-trained models' scores with CIs."""
    arms = (("imputed", "#8C8C8C"), ("deployed", "#4C72B0"), ("subset", "#55A868"))
    ax = ax or new_axes((6.5, 0.55 * len(table) * len(arms) / 2 + 1.5))
    height = 0.8 / len(arms)
    for j, (arm, colour) in enumerate(arms):
        means = np.array([100 * e[arm][metric]["mean"] for e in table])
        lows = np.array([100 * (e[arm][metric]["ci_low"] or np.nan) for e in table])
        highs = np.array([100 * (e[arm][metric]["ci_high"] or np.nan) for e in table])
        ys = np.arange(len(table)) + (j - 1) * height
        err = np.vstack([means - lows, highs - means])
        ax.barh(ys, means, height=height, color=colour, label=arm)
        if np.isfinite(err).all():
            ax.errorbar(means, ys, xerr=err, fmt="none", ecolor="black", lw=0.8)
    common = set.intersection(*(set(e["families"]) for e in table))
    names = [
        "+ " + ", ".join(f for f in e["families"] if f not in common)
        if set(e["families"]) != common
        else "long-square families only"
        for e in table
    ]
    ax.set_yticks(range(len(table)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric.replace('_', '-')} (%)")
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_selective(curve: pd.DataFrame, table: pd.DataFrame | None = None) -> Figure:
    """Per level: accuracy of the calls made vs the share of cells called (calling only
    cells above a probability threshold); a star marks where the conformal sets stop the
    calls (cells called at that level and their accuracy)."""
    levels = list(dict.fromkeys(curve["level"]))
    fig = Figure(figsize=(4.5 * len(levels), 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(levels)))
    palette = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")
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
        ax.set_title(level, fontsize=10)
        ax.invert_xaxis()
        ax.legend(fontsize=7, frameon=False)
    return fig


def plot_feature_subsets(table: list[dict], *, title: str | None = None) -> Figure:
    """Left: per feature set, the routed model's accuracy against the model trained on
    exactly those features (and the complete model imputing the rest); right: each set's
    expected accuracy (told to the lab) against the accuracy its test cells got."""
    fig = Figure(figsize=(9.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    subset = np.array([100 * e["subset"]["mean"] for e in table])
    for arm, colour, marker in (("routed", "#4C72B0", "o"), ("imputed", "#8C8C8C", "x")):
        values = np.array([100 * e[arm]["mean"] for e in table])
        left.scatter(subset, values, color=colour, marker=marker, label=arm, s=22)
    lo = min(subset.min(), min(100 * e["imputed"]["mean"] for e in table)) - 3
    left.plot([lo, 100], [lo, 100], color="black", lw=0.8, ls="--")
    left.set_xlabel("trained on exactly the set's features: accuracy (%)")
    left.set_ylabel("accuracy (%)")
    left.legend(fontsize=7, loc="upper left")
    expected = np.array([100 * e["expected_accuracy"] for e in table])
    realized = np.array([100 * e["routed"]["mean"] for e in table])
    sizes = np.array([e["n_features"] for e in table])
    points = right.scatter(expected, realized, c=sizes, cmap="viridis", s=22)
    fig.colorbar(points, ax=right, label="features in the set")
    low = min(expected.min(), realized.min()) - 3
    right.plot([low, 100], [low, 100], color="black", lw=0.8, ls="--")
    right.set_xlabel("expected accuracy told to the lab (%)")
    right.set_ylabel("accuracy of the test cells (%)")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
