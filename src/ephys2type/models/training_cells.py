"""Which cells of a batch are cells the model was trained on, and what to say of them: their
calls are those of cells it learnt, so the batch check leaves them out
(:func:`~ephys2type.models.batch_check.summarize_batch`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ephys2type.data.cell_copies import same_feature_cells, same_id_cells
from ephys2type.wording import plural


def training_copies(clf, cells: pd.DataFrame) -> list[tuple[int, str]]:
    """``(row, training id)`` of the rows of ``cells`` whose features agree with a cell
    ``clf`` was trained on (:func:`~ephys2type.data.cell_copies.same_feature_cells`), or
    that have its id and most of its features (recomputed ones:
    :func:`~ephys2type.data.cell_copies.same_id_cells`), by position, so ids that read alike
    (``1`` and ``"1"``) are not confused."""
    trained = getattr(clf, "X_train_", None)
    if trained is None or not len(cells):
        return []
    found = {
        int(row): theirs
        for row, theirs in same_feature_cells(cells.reset_index(drop=True), trained)
    }
    for row, theirs in same_id_cells(cells, trained):  # the same cell, features recomputed
        found.setdefault(row, theirs)
    return sorted(found.items())


def training_mask(copies: list[tuple[int, str]], n: int) -> np.ndarray:
    """Which of ``n`` rows are training copies (:func:`training_copies`)."""
    mask = np.zeros(n, dtype=bool)
    mask[[row for row, _ in copies]] = True
    return mask


def training_cells_note(
    clf, cells: pd.DataFrame, copies: list[tuple[int, str]] | None = None
) -> str | None:
    """What to say when cells to predict are cells the model was trained on: their features
    agree with a training cell's, under another id, or most of them under its id (``copies``, as
    :func:`training_copies` gives them; found when not given). Their calls are those of
    cells it learnt (new-user trial: 36 of 40 'new' layer-1 cells were bundled training
    cells, and nothing said so), so the batch check leaves them out
    (:func:`summarize_batch`). Cells that only share an id with a training cell are said
    apart: a lab's cell1..cellN are other cells. None when neither."""
    trained = getattr(clf, "X_train_", None)
    if trained is None or not len(cells):
        return None
    copies = training_copies(clf, cells) if copies is None else copies
    copied, ids = {row for row, _ in copies}, set(trained.index.astype(str))
    names = cells.index.astype(str)
    shared_id = [c for k, c in enumerate(names) if c in ids and k not in copied]
    if not copies and not shared_id:
        return None
    parts = []
    if copies:
        row, theirs = copies[0]
        mine = names[row]
        same = "" if mine == theirs else f" as {theirs!r}"
        others = len(cells) - len(copied)
        one = len(copies) == 1
        judged = (  # not "read only the other N": some of those may be unassigned (a trial)
            f"the shift test and the estimated accuracy leave {'it' if one else 'them'} out"
            if others
            else "no shift test or accuracy estimate is made"
        )
        parts.append(
            f"{len(copies)} of its {plural(len(cells), 'cell')} "
            f"{'is a cell' if one else 'are cells'} this model was trained on "
            f"({'its' if one else 'their'} features, or most of them under its id, agree with "
            f"a training cell's, e.g. {mine!r}{same}): "
            f"{'its call is that of a cell' if one else 'their calls are those of cells'} it "
            f"learnt, more often right than a new cell's, so {judged}; measure accuracy on "
            "cells it did not see"
        )
    if shared_id:
        parts.append(
            f"{plural(len(shared_id), 'cell')} "
            f"{'shares' if len(shared_id) == 1 else 'share'} an id with a training cell but few "
            "of its features "
            f"(e.g. {shared_id[0]!r}): "
            + (
                "another cell, or the same cell measured again"
                if len(shared_id) == 1
                else "other cells, or the same cells measured again"
            )
        )
    return "; ".join(parts)
