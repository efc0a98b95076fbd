"""Which cells of a table are copies of known cells: the same features under another id,
written with fewer digits or fewer columns. A lab's table that holds bundled cells under its
own ids trains a model on cells it already has (``--add-table``), or is scored by a model
that learnt those very cells (``predict``): both look better than they are."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Fewest features two cells must share to be called copies of each other.
MIN_SHARED_FEATURES = 5
#: Two values agree when they differ by at most this share of the larger: a copy written
#: with 4 significant digits still agrees, two real cells on 5 or more features do not.
COPY_RTOL = 1e-3
#: A copy written with 3 significant digits differs by up to half a percent; values agree at
#: that looser tolerance when the cells share at least :data:`MIN_SHARED_FEATURES_ROUNDED`
#: features. Measured on the bundled tables (each cell against every other, 10 random
#: feature subsets each): at 0.5% on 5 mouse features 2.8 cells of 3,906 found a twin that is
#: another cell (0 at 0.1%); on 7 or more, and on any number of human features, none.
ROUNDED_RTOL = 5e-3
MIN_SHARED_FEATURES_ROUNDED = 10
#: Cells compared with every candidate at once.
COPY_CHUNK = 64


def same_feature_cells(cells: pd.DataFrame, known: pd.DataFrame) -> list[tuple[str, str]]:
    """``(cell id, known id)`` of the ``cells`` whose features agree with a ``known`` cell's
    (within :data:`COPY_RTOL` on every one of at least :data:`MIN_SHARED_FEATURES` features
    both have, or within :data:`ROUNDED_RTOL` on every one of at least
    :data:`MIN_SHARED_FEATURES_ROUNDED`: a copy written with 3 significant digits), one pair
    per copied cell, in the order of ``cells``.

    A copy agrees on the feature the known cells measure most often, so each cell is compared
    only with the known cells within :data:`ROUNDED_RTOL` of it there (sorted, binary
    search); a cell without that feature is compared with all of them."""
    theirs = known.to_numpy(dtype=float)
    mine = cells.reindex(columns=known.columns).to_numpy(dtype=float)
    if not len(mine) or not len(theirs):
        return []
    anchor = int(np.argmax((~np.isnan(theirs)).sum(axis=0)))
    order = np.argsort(theirs[:, anchor], kind="stable")  # NaN last
    keys = theirs[order, anchor]
    n_keyed = int((~np.isnan(keys)).sum())
    unkeyed = order[n_keyed:]
    keys = keys[:n_keyed]
    found: list[tuple[str, str]] = []
    for i, row in enumerate(mine):
        value = row[anchor]
        if np.isnan(value):
            candidates = np.arange(len(theirs))
        else:
            # |value - key| <= rtol max(|value|, |key|) bounds |value - key| by
            # rtol |value| / (1 - rtol)
            slack = ROUNDED_RTOL * abs(value) / (1.0 - ROUNDED_RTOL)
            lo = np.searchsorted(keys, value - slack, side="left")
            hi = np.searchsorted(keys, value + slack, side="right")
            candidates = np.concatenate([order[lo:hi], unkeyed])
        if not len(candidates):
            continue
        match = _first_copy(row, theirs[candidates])
        if match is not None:
            found.append((str(cells.index[i]), str(known.index[candidates[match]])))
    return found


def _agree(a: np.ndarray, b: np.ndarray, rtol: float) -> np.ndarray:
    """Where two arrays of values differ by at most ``rtol`` of the larger (False at NaN)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b))


def _first_copy(row: np.ndarray, theirs: np.ndarray) -> int | None:
    """The first row of ``theirs`` that ``row`` copies (see :func:`same_feature_cells`)."""
    for start in range(0, len(theirs), COPY_CHUNK * 16):
        block = theirs[start : start + COPY_CHUNK * 16]
        shared = ~np.isnan(row)[None, :] & ~np.isnan(block)
        n_shared = shared.sum(axis=1)
        agree = _agree(row[None, :], block, COPY_RTOL)
        rounded = _agree(row[None, :], block, ROUNDED_RTOL)
        same = ((agree | ~shared).all(axis=1) & (n_shared >= MIN_SHARED_FEATURES)) | (
            (rounded | ~shared).all(axis=1) & (n_shared >= MIN_SHARED_FEATURES_ROUNDED)
        )
        if same.any():
            return start + int(np.argmax(same))
    return None


#: A cell under a known cell's id is that cell when at least this share of the features both
#: have agree (within :data:`ROUNDED_RTOL`): the same recording, some features recomputed
#: (new-user trial: layer-1 cells whose three sag features of 93 a later release
#: recomputed). Two different bundled cells agree on at most 36% (mouse) and 15% (human) of
#: their features (20,000 random pairs each).
SAME_ID_AGREEMENT = 0.75


def same_id_cells(cells: pd.DataFrame, known: pd.DataFrame) -> list[tuple[int, str]]:
    """``(row, known id)`` of the ``cells`` (by position) under a ``known`` cell's id whose
    features mostly agree with it (:data:`SAME_ID_AGREEMENT` of at least
    :data:`MIN_SHARED_FEATURES` shared), in row order: the same cell measured or exported
    again. Two cells that only share an id (a lab's ``1``, ``2``, ... beside Allen ids) agree
    on few features."""
    known = known[~known.index.astype(str).duplicated()]
    where = pd.Index(known.index.astype(str)).get_indexer(cells.index.astype(str))
    mine = cells.reindex(columns=known.columns).to_numpy(dtype=float)
    theirs = known.to_numpy(dtype=float)
    found: list[tuple[int, str]] = []
    for row in np.flatnonzero(where >= 0):
        a, b = mine[row], theirs[where[row]]
        shared = ~np.isnan(a) & ~np.isnan(b)
        if shared.sum() < MIN_SHARED_FEATURES:
            continue
        if _agree(a[shared], b[shared], ROUNDED_RTOL).mean() >= SAME_ID_AGREEMENT:
            found.append((int(row), str(known.index[where[row]])))
    return found
