"""The per-cell output table: one row per cell, every column a user reads.

:func:`call_table` turns a batch's :class:`~ephys2type.models.cell_scores.CellScores` into
the table ``predict_table`` returns and ``ephys2type predict`` writes. It computes nothing a
call depends on: the calls, sets, probabilities and reasons are those of the scores.
:data:`COLUMNS` describes every column (the documentation's table of output columns is
built from it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ephys2type.data.columns import SET_SEPARATOR, proba_columns
from ephys2type.models.cell_scores import CellScores, Deciding
from ephys2type.models.conformal import NO_CALL

#: The call of a cell the evidence does not support.
ABSTAIN = "unassigned"


def reason_counts(reasons) -> dict[str, int]:
    """How many cells each kind of reason (the text before its colon) left unassigned, most
    first; empty reasons (cells called) are not counted."""
    kinds = pd.Series(reasons, dtype=object).fillna("").astype(str)
    kinds = kinds.str.split(":", n=1).str[0].str.strip()
    return {str(k): int(v) for k, v in kinds[kinds != ""].value_counts().items()}


#: Every output column with what it holds (``<class>``, ``<level>``: one column per class or
#: level; two-level columns appear only for a model with two-level labels).
COLUMNS: dict[str, str] = {
    "predicted": "the call: a class (two-level labels: at the finest level the sets "
    "support), or `unassigned`",
    "probability": "calibrated probability of the call (empty when unassigned)",
    "set": "the prediction set: the classes the cell may be, at the model's confidence "
    "(`; `-joined); the call is always inside it (two-level labels: no such column, each "
    "level has its own, below)",
    "set_size": "number of classes in the set",
    "<level>, <level>_probability, <level>_set, <level>_set_size": "two-level labels: each "
    "level's top-down call, its probability, its set and the set's size",
    "<level>_expected_accuracy": "two-level labels: the in-distribution accuracy of each "
    "level's calls for this feature set",
    "call_level": "two-level labels: the level the call is made at (`none`: no call)",
    "reason": "why the cell is unassigned (`<kind>: <detail>`; empty when called)",
    "proba:<class>": "calibrated probability of each class (every cell; one no model read, "
    "model_features 0, gets the training class proportions)",
    "top_families": "BiLSTM models: the feature families with the most attention",
    "n_features": "how many of the model's features the cell has",
    "families": "the feature families the cell has",
    "model_features": "how many features the model that served the cell reads",
    "n_imputed, imputed": "features that model reads and the cell lacks (imputed with "
    "training medians)",
    "families_used": "the families of the model that served the cell",
    "expected_accuracy": "in-distribution accuracy of calls from this feature set (measured "
    "on held-out training cells; two-level labels: at the level above); it holds for cells "
    "like the training cells, see the batch's estimated accuracy for the others",
    "expected_accuracy_low, expected_accuracy_high": "its 95% Wilson interval",
    "ood_score": "distance to the training cells, in units of the 99.5% threshold (empty: "
    "no feature measured)",
    "out_of_distribution": "the distance is beyond 99.5% of held-out training cells",
    "qc_flag": "the training QC rule the cell fails on the protocols recorded, if any",
    "recording_checks": "recording checks the cell failed (`ephys2type features`), if any: "
    "the reasons of those that block a call (`may not be an interneuron: ...`, `fires at "
    "rest: ...`), then the names of the others",
}


def call_table(scores: CellScores, clf: Deciding, *, top: int = 2) -> pd.DataFrame:
    """The per-cell table of ``scores`` (see :data:`COLUMNS`)."""
    classes = scores.classes
    n = scores.n
    routed = scores.routed
    out = pd.DataFrame(index=scores.X.index.copy())
    if scores.levels is None:
        proba = scores.proba
        sets = scores.sets
        top = classes[proba.argmax(axis=1)].astype(object)  # the classes' own values
        out["predicted"] = pd.Series(np.where(routed, top, ABSTAIN), dtype=object).to_numpy()
        out["probability"] = np.where(routed, proba.max(axis=1), np.nan)
        out["set"] = [
            SET_SEPARATOR.join(map(str, classes[row])) if s else ""
            for row, s in zip(sets, routed, strict=True)
        ]
        out["set_size"] = np.where(routed, sets.sum(axis=1), 0)
    else:
        levels = scores.levels.copy()
        levels.index = out.index
        out["predicted"] = levels["call"].to_numpy()
        out["probability"] = levels["call_probability"].to_numpy()
        out = pd.concat([out, levels.drop(columns=["call", "call_probability"])], axis=1)
    abstain = scores.reasons != ""
    out.loc[abstain, "predicted"] = ABSTAIN
    out.loc[abstain, "probability"] = np.nan
    if scores.levels is not None:
        out.loc[abstain, "call_level"] = NO_CALL
    out["reason"] = scores.reasons
    for k, cls in enumerate(classes):
        out[proba_columns([cls])[0]] = scores.proba[:, k]
    if scores.top_families is not None:
        out["top_families"] = scores.top_families
    measured = scores.measured
    families = clf.schema_.families
    position = {c: j for j, c in enumerate(clf.schema_.columns)}
    out["n_features"] = measured.sum(axis=1)
    out["families"] = [
        ", ".join(f.name for f, h in zip(families, row, strict=True) if h)
        for row in scores.has_family
    ]
    members = scores.members
    out["model_features"] = [0 if m is None else len(m.features) for m in members]
    imputed = [
        [] if m is None else [c for c in m.features if not measured[i, position[c]]]
        for i, m in enumerate(members)
    ]
    out["n_imputed"] = [len(v) for v in imputed]
    out["imputed"] = ["; ".join(v) for v in imputed]
    if scores.prior_shift is not None:  # what the batch's class mix was estimated to be
        names = [str(c) for c in classes]
        shift = scores.prior_shift
        out.attrs["batch_priors"] = dict(zip(names, shift.priors.tolist(), strict=True))
        out.attrs["training_priors"] = dict(zip(names, shift.training_priors.tolist(), strict=True))
    # per member, not per cell: a schema and an interval for each of 4,000 cells took seconds
    distinct = {id(m): m for m in members if m is not None}
    of_member = {
        key: ("+".join(clf.schema_.select(m.features).family_names), m.interval())
        for key, m in distinct.items()
    }
    out["families_used"] = ["" if m is None else of_member[id(m)][0] for m in members]
    interval = np.array(
        [(np.nan, np.nan) if m is None else of_member[id(m)][1] for m in members], dtype=float
    ).reshape(n, 2)
    out["expected_accuracy"] = scores.expected_accuracy
    out["expected_accuracy_low"] = interval[:, 0]
    out["expected_accuracy_high"] = interval[:, 1]
    if scores.levels is not None:
        up, fine = clf.level_names
        out[f"{up}_expected_accuracy"] = scores.expected_accuracy
        out[f"{fine}_expected_accuracy"] = [np.nan if m is None else m.accuracy for m in members]
    out["ood_score"] = scores.distance
    out["out_of_distribution"] = scores.distance > 1.0
    out["qc_flag"] = clf.qc_flags(scores.X)
    # always written (empty: none failed, or no checks given), so every table has the same
    # columns (new-user trial: the README lists it, and predict_table left it out)
    checks = scores.recording_checks
    out["recording_checks"] = (
        [""] * len(out)
        if checks is None
        else [
            "; ".join(t for t in (b, o) if t)
            for b, o in zip(checks.blocking, checks.other, strict=True)
        ]
    )
    return out
