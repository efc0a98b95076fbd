"""How right were a batch's calls, once its cells' labels are known?

``predict`` can only estimate a batch's accuracy: on cells unlike the training cells the
label-free estimate is good to about 20 points, not to a few (docs: "Cells unlike the
training cells"). A lab that later learns the types of some of the cells it predicted
(sequencing, a reporter line, morphology) can measure instead: :func:`score_calls` sets the
predictions table ``predict`` wrote beside those labels and counts, with 95% Wilson
intervals, how many cells were called and how many calls were right, how often the most
probable class was right (the quantity ``expected_accuracy`` and the batch estimate describe,
so the three can be read side by side) and how often the true class lay inside the
prediction set (promised for 90% of cells like the training cells). Cells the model was
trained on (the batch summary lists them) are left out: their calls are more often right
than a new cell's. A label the model does not have (a class it was never trained on) cannot
be called right; such cells are counted, as wrong, and named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.columns import level_names, proba_class, set_classes
from ephys2type.errors import TableError
from ephys2type.models.call_table import ABSTAIN
from ephys2type.models.members import wilson_interval

__all__ = ["BatchScore", "Rate", "score_calls"]


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its 95% Wilson interval (None when ``n`` is 0)."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.k, self.n) if self.n else None

    def said(self) -> str:
        """``"18 of 30 (60.0% [42.3%, 75.4%])"``."""
        if not self.n:
            return "0 of 0"
        low, high = self.interval
        return f"{self.k} of {self.n} ({self.value:.1%} [{low:.1%}, {high:.1%}])"

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval or (None, None)
        return {"k": self.k, "n": self.n, "value": self.value, "low": low, "high": high}


@dataclass
class BatchScore:
    """What :func:`score_calls` measured (module docstring).

    n_predicted : cells in the predictions table; n_labelled : of them, with a label;
    training_cells : labelled cells the model was trained on, left out; scored : the
    labelled cells scored (``n_labelled`` less those); classes : scored cells per label;
    unknown_labels : scored cells per label the model does not have (counted wrong);
    called : scored cells given a class; calls_right : calls that are right;
    right : scored cells whose call is right (an unassigned cell counted wrong);
    top_right : scored cells whose most probable class is right, called or not (None
    without the table's probabilities); in_set : scored cells whose prediction set holds
    their label; mean_set_size; stated : the mean ``expected_accuracy`` of the scored cells
    a model read; estimated : the batch summary's label-free estimate and its interval, made
    on the whole batch's ``estimated_cells`` cells a model read (None without a summary, or
    at another level); level : the level scored (two-level models); per_class : cells,
    called, right and in-set per label.
    """

    n_predicted: int
    n_labelled: int
    training_cells: list[str]
    classes: dict[str, int]
    unknown_labels: dict[str, int]
    called: Rate
    calls_right: Rate
    right: Rate
    top_right: Rate | None
    in_set: Rate
    mean_set_size: float | None
    stated: float | None
    estimated: tuple[float, float, float] | None
    estimated_cells: int | None
    level: str | None
    per_class: pd.DataFrame = field(repr=False)

    @property
    def scored(self) -> int:
        return self.called.n

    def holds(self) -> bool | None:
        """Whether the stated accuracy lies inside the measured interval of the most probable
        class's accuracy (the quantity it states); None when either is missing."""
        if self.stated is None or self.top_right is None or not self.top_right.n:
            return None
        low, high = self.top_right.interval
        return low <= self.stated <= high

    def lines(self) -> list[str]:
        """What the command line prints."""
        left = (
            f"; {len(self.training_cells)} the model was trained on left out"
            if self.training_cells
            else ""
        )
        mix = ", ".join(f"{label} {n}" for label, n in self.classes.items())
        at = f" at the {self.level} level" if self.level else ""
        out = [
            f"scored {self.scored} of {self.n_predicted} predicted cells{at} "
            f"({self.n_labelled} with a label{left}): {mix}"
        ]
        if self.unknown_labels:
            names = ", ".join(f"{label} {n}" for label, n in self.unknown_labels.items())
            out.append(
                f"labels the model does not have (it cannot call them; counted wrong): {names}"
            )
        out.append(f"called: {self.called.said()}; of the calls, right: {self.calls_right.said()}")
        out.append(f"every scored cell, an unassigned one counted wrong: {self.right.said()}")
        if self.top_right is not None:
            beside = []
            if self.stated is not None:
                beside.append(f"stated (cells like the training cells) {self.stated:.0%}")
            if self.estimated is not None:
                est, low, high = self.estimated
                whole = (
                    f" for the batch's {self.estimated_cells} cells" if self.estimated_cells else ""
                )
                beside.append(f"estimated without labels{whole} {est:.0%} [{low:.0%}, {high:.0%}]")
            extra = f"; {', '.join(beside)}" if beside else ""
            out.append(
                f"most probable class right, called or not, of the cells a model read: "
                f"{self.top_right.said()} (what expected_accuracy and the batch estimate "
                f"describe{extra})"
            )
            if self.holds() is False:
                out.append(
                    f"the stated accuracy did not hold on these cells: {self.stated:.0%} lies "
                    "outside the measured interval; judge this model on cells like these by "
                    "the measured figure"
                )
        size = f"; mean set size {self.mean_set_size:.2f}" if self.mean_set_size else ""
        out.append(
            f"true class inside the prediction set: {self.in_set.said()}{size} (the sets "
            "promise 90% for cells like the training cells)"
        )
        for label, row in self.per_class.iterrows():
            out.append(
                f"  {label}: {row['cells']} cells, {row['called']} called, {row['right']} "
                f"right, {row['in_set']} inside their set"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``score --out``)."""
        return {
            "n_predicted": self.n_predicted,
            "n_labelled": self.n_labelled,
            "training_cells": self.training_cells,
            "classes": self.classes,
            "unknown_labels": self.unknown_labels,
            "called": self.called.to_dict(),
            "calls_right": self.calls_right.to_dict(),
            "right": self.right.to_dict(),
            "top_right": None if self.top_right is None else self.top_right.to_dict(),
            "in_set": self.in_set.to_dict(),
            "mean_set_size": self.mean_set_size,
            "stated": self.stated,
            "level": self.level,
            "estimated_cells": self.estimated_cells,
            "estimated": None if self.estimated is None else list(self.estimated),
            "stated_holds": self.holds(),
            "per_class": {
                str(label): {k: int(v) for k, v in row.items()}
                for label, row in self.per_class.iterrows()
            },
        }


def score_calls(
    predictions: pd.DataFrame,
    labels: pd.Series,
    summary: Mapping[str, Any] | None = None,
    *,
    level: str | None = None,
) -> BatchScore:
    """Score a predictions table (as ``predict`` writes it, indexed by cell id) against
    ``labels`` (cell id -> label; cells without one are not scored). ``summary``: the batch
    summary written beside the table (its ``training_cells`` are left out, its estimate
    shown). ``level``: with a two-level model, the level to score (its ``<level>`` and
    ``<level>_set`` columns, its stated accuracy ``<level>_expected_accuracy``; a cell is
    called at it when its ``call_level`` is that level or finer); default, the summary's
    level (the one its estimate was made at), else the ``predicted`` and ``set`` columns."""
    levels = level_names(predictions)
    if level is None and levels:
        level = (summary or {}).get("level")
        if level is None:
            raise TableError(
                f"these predictions have two levels ({', '.join(levels)}): name the one your "
                "labels are at with --level (level=...)"
            )
    call_col, set_col = (level, f"{level}_set") if level else ("predicted", "set")
    missing = [c for c in (call_col, set_col) if c not in predictions.columns]
    if missing:
        if levels:
            raise TableError(
                f"no level {level!r} in these predictions: its levels are {', '.join(levels)}"
            )
        raise TableError(
            f"the predictions have no column {missing[0]!r}: score the table `predict` wrote"
        )
    ids = pd.Index(predictions.index.astype(str))
    if ids.has_duplicates:
        raise TableError(f"the predictions list cell {ids[ids.duplicated()][0]!r} twice")
    table = predictions.set_axis(ids)
    given = labels.set_axis(pd.Index(labels.index.astype(str)))
    if given.index.has_duplicates:
        dup = given.index[given.index.duplicated()][0]
        raise TableError(f"the labels give cell {dup!r} twice: keep one row per cell")
    text = given.astype(object).where(given.notna(), "").astype(str).str.strip()
    truth = text[text.ne("") & text.str.casefold().ne("nan")]
    labelled = ids[ids.isin(truth.index)]
    if not len(labelled):
        blank = ids.isin(given.index).any()
        raise TableError(
            "the labels of the predicted cells are empty: fill in the label column"
            if blank
            else f"no labelled cell is among the predictions (prediction ids look like "
            f"{ids[0]!r}, label ids like {given.index[0] if len(given) else 'none'!r}): "
            "give the labels the predictions' cell ids"
        )
    training = set(map(str, (summary or {}).get("training_cells", [])))
    trained = [c for c in labelled if c in training]
    cells = labelled[~labelled.isin(trained)]
    if not len(cells):
        raise TableError(
            "every labelled cell is a cell the model was trained on: score cells it did not see"
        )
    rows = table.loc[cells]
    y = truth.loc[cells].to_numpy(dtype=object)
    call = rows[call_col].astype(object).where(rows[call_col].notna(), ABSTAIN).astype(str)
    called = np.array(rows["predicted"].astype(str) != ABSTAIN, dtype=bool)
    if level and "call_level" in rows.columns:
        finer = levels[levels.index(level) :] if level in levels else [level]
        called = called & rows["call_level"].astype(str).isin(finer).to_numpy()
    call = call.to_numpy(dtype=object)
    sets = [frozenset(set_classes(v)) for v in rows[set_col]]
    proba = [c for c in rows.columns if proba_class(c) is not None]
    names = np.asarray([proba_class(c) for c in proba], dtype=object)
    # the level's classes: its probabilities' when they are of this level, else every class
    # its calls and sets name anywhere in the table (a two-level table's parent level)
    level_calls = set(table[call_col].dropna().astype(str)) - {ABSTAIN}
    of_level = bool(proba) and level_calls <= set(names)
    known = set(names) if of_level else level_calls.union(*(set_classes(v) for v in table[set_col]))
    right = called & (call == y)
    inside = np.array([label in s for label, s in zip(y, sets, strict=True)])
    # what expected_accuracy and the estimate describe: the cells a model read
    read = np.ones(len(rows), dtype=bool)
    if "model_features" in rows.columns:
        read = pd.to_numeric(rows["model_features"], errors="coerce").fillna(0).to_numpy() > 0
    top = None
    if of_level:
        values = rows[proba].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        read &= ~np.isnan(values).any(axis=1)
        best = names[np.nan_to_num(values, nan=-1.0).argmax(axis=1)]
        top = Rate(int((best == y)[read].sum()), int(read.sum()))
    stated_col = f"{level}_expected_accuracy" if level else "expected_accuracy"
    if stated_col not in rows.columns:
        stated_col = "expected_accuracy"
    stated = None
    if stated_col in rows.columns:
        expected = pd.to_numeric(rows[stated_col], errors="coerce")[read]
        stated = float(expected.mean()) if expected.notna().any() else None
    estimate = None
    # the estimate is of one level (a two-level model's: the parent's, the summary's level)
    same_level = summary is not None and summary.get("level") in (None, level)
    if same_level and summary.get("estimated_accuracy") is not None:
        estimate = tuple(
            float(summary[k])
            for k in ("estimated_accuracy", "estimated_accuracy_low", "estimated_accuracy_high")
        )
    classes = pd.Series(y).value_counts().sort_index()
    per_class = (
        pd.DataFrame(
            {
                "cells": classes,
                "called": pd.Series(y[called]).value_counts(),
                "right": pd.Series(y[right]).value_counts(),
                "in_set": pd.Series(y[inside]).value_counts(),
            }
        )
        .reindex(classes.index)
        .fillna(0)
        .astype(int)
    )
    sizes = [len(s) for s in sets if s]
    return BatchScore(
        n_predicted=len(table),
        n_labelled=len(labelled),
        training_cells=trained,
        classes={str(k): int(v) for k, v in classes.items()},
        unknown_labels={str(k): int(v) for k, v in classes.items() if k not in known},
        called=Rate(int(called.sum()), len(cells)),
        calls_right=Rate(int(right.sum()), int(called.sum())),
        right=Rate(int(right.sum()), len(cells)),
        top_right=top,
        in_set=Rate(int(inside.sum()), len(cells)),
        mean_set_size=float(np.mean(sizes)) if sizes else None,
        stated=stated,
        estimated=estimate,
        estimated_cells=None if estimate is None else summary.get("n_read"),
        level=level,
        per_class=per_class,
    )
