"""Scores of an evaluation broken down by a property of the cells (dataset, layer, ...).

An evaluation's headline numbers pool every test cell. Cells from another dataset or layer
can fare very differently, and a lab needs to know which. :func:`breakdown` scores each
model on each group of test cells (per seed, then the mean and range over seeds), with what
the deployed classifier says about them: the share it calls, the share flagged out of
distribution, and whether flagged cells are less often right. Scores use the classes
present among the group's cells (balanced accuracy is their mean recall, macro-F1 their mean
F1), so a group of two classes is not marked down for the classes it does not hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from ephys2type.evaluation.results import Evaluation
from ephys2type.models.cell_classifier import ABSTAIN

#: Columns of :func:`breakdown`'s table (beside ``model`` and the group column).
SCORES = (
    "cells",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "called",
    "flagged",
    "accuracy_flagged",
    "accuracy_unflagged",
)


def group_scores(part: pd.DataFrame) -> dict[str, float]:
    """The scores of one group of test cells (columns ``true``, ``predicted`` and, for a
    deployed model, ``out_of_distribution``): see :data:`SCORES` and the module docstring."""
    truth = part["true"].to_numpy(dtype=object)
    called = part["predicted"].to_numpy(dtype=object)
    right = truth == called
    present = sorted(set(truth))
    out = {
        "cells": float(len(part)),
        "accuracy": float(right.mean()),
        "balanced_accuracy": float(np.mean([right[truth == c].mean() for c in present])),
        "macro_f1": float(
            f1_score(truth, called, labels=present, average="macro", zero_division=0)
        ),
        "called": float(np.mean(called != ABSTAIN)),
        "flagged": np.nan,
        "accuracy_flagged": np.nan,
        "accuracy_unflagged": np.nan,
    }
    if "out_of_distribution" in part.columns and part["out_of_distribution"].notna().all():
        flagged = part["out_of_distribution"].astype(bool).to_numpy()
        out["flagged"] = float(flagged.mean())
        if flagged.any():
            out["accuracy_flagged"] = float(right[flagged].mean())
        if (~flagged).any():
            out["accuracy_unflagged"] = float(right[~flagged].mean())
    return out


def breakdown(predictions: pd.DataFrame, groups: pd.Series, name: str) -> pd.DataFrame:
    """Per model and group: the mean over seeds of each score (:data:`SCORES`), with the
    lowest and highest seed's accuracy. ``predictions`` holds one row per model, seed and
    test cell (``model``, ``seed``, ``cell_id``, ``true``, ``predicted``, as
    :attr:`Evaluation.predictions`); ``groups`` maps cell ids to a group (cells without one
    are left out); ``name`` names the group column."""
    preds = predictions
    group = groups.astype(object).reindex(preds["cell_id"].astype(str)).to_numpy()
    frame = preds.assign(**{name: group}).dropna(subset=[name])
    rows = []
    for (model, value, seed), part in frame.groupby(["model", name, "seed"], sort=True):
        rows.append({"model": model, name: value, "seed": seed, **group_scores(part)})
    if not rows:
        return pd.DataFrame(columns=["model", name, *SCORES])
    per_seed = pd.DataFrame(rows)
    mean = per_seed.groupby(["model", name], sort=True)[list(SCORES)].mean()
    spread = per_seed.groupby(["model", name], sort=True)["accuracy"].agg(["min", "max"])
    out = mean.join(spread.rename(columns={"min": "accuracy_min", "max": "accuracy_max"}))
    out["seeds"] = per_seed.groupby(["model", name], sort=True)["seed"].nunique()
    return out.reset_index()


def batch_checks(evaluation: Evaluation) -> pd.DataFrame | None:
    """Per model (deployed models only) and fold: the held-out cells' flagged share, whether
    the batch shift test fired, and the batch's estimated and stated accuracy, as the
    evaluation recorded them; None when no model recorded them."""
    rows = evaluation.fold_metrics
    if "batch_shift_detected" not in rows.columns:
        return None
    keep = rows.dropna(subset=["batch_shift_detected"])
    columns = ["model", "seed", "fold", "n_test", "out_of_distribution", "batch_shift_detected"]
    extra = (
        "batch_warned",
        "estimated_accuracy",
        "estimated_accuracy_low",
        "estimated_accuracy_high",
        "batch_shift_allowance",
        "stated_accuracy",
        "real_accuracy",
    )
    columns += [c for c in extra if c in keep.columns]
    return keep[columns]


#: Cell properties an evaluation is broken down by, when the cells carry them.
GROUP_COLUMNS = ("dataset", "layer")


def group_breakdowns(evaluation: Evaluation, meta: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """:func:`breakdown` by each of :data:`GROUP_COLUMNS` the cells carry with two values
    or more (keyed by the column)."""
    out = {}
    for column in GROUP_COLUMNS:
        if column in meta.columns and meta[column].nunique() > 1:
            values = meta[column].copy()
            values.index = values.index.astype(str)
            out[column] = breakdown(evaluation.predictions, values, column)
    return out
