"""Copies of known cells under other ids: the sorted search finds exactly the cells that a
comparison with every known cell finds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ephys2type.data.cell_copies import (
    COPY_RTOL,
    MIN_SHARED_FEATURES,
    MIN_SHARED_FEATURES_ROUNDED,
    ROUNDED_RTOL,
    same_feature_cells,
    same_id_cells,
)
from ephys2type.data.datasets import load_species


def _every_pair(cells: pd.DataFrame, known: pd.DataFrame) -> set[str]:
    """The rule itself, each cell against every known cell at once."""
    a = cells.to_numpy(float)[:, None, :]
    b = known.to_numpy(float)[None, :, :]
    shared = ~np.isnan(a) & ~np.isnan(b)
    n_shared = shared.sum(axis=2)
    with np.errstate(invalid="ignore"):
        scale = np.maximum(np.abs(a), np.abs(b))
        close = np.abs(a - b) <= COPY_RTOL * scale
        rounded = np.abs(a - b) <= ROUNDED_RTOL * scale
    same = ((close | ~shared).all(axis=2) & (n_shared >= MIN_SHARED_FEATURES)) | (
        (rounded | ~shared).all(axis=2) & (n_shared >= MIN_SHARED_FEATURES_ROUNDED)
    )
    return {str(c) for c, hit in zip(cells.index, same.any(axis=1), strict=True) if hit}


def test_the_sorted_search_finds_what_every_pair_finds():
    rng = np.random.default_rng(0)
    for case in range(30):
        n_features = (8, 12)[case % 2]  # below and above MIN_SHARED_FEATURES_ROUNDED
        known = pd.DataFrame(
            rng.normal(size=(40, n_features)) * 10.0 ** rng.integers(-3, 4, size=n_features),
            index=[f"k{i}" for i in range(40)],
        )
        known[known.abs() < 0.3 * known.abs().median()] *= -1  # both signs, values near 0
        known = known.mask(rng.random(known.shape) < 0.2)  # the anchor missing in some
        copied = known.sample(10, random_state=case)
        cells = pd.concat(
            [
                copied.map(lambda v: float(f"{v:.4g}")),  # fewer digits: still copies
                copied.map(lambda v: float(f"{v:.3g}")),  # copies if 10 features agree
                copied * (1 + 1.5 * COPY_RTOL),  # beyond the tolerance: no copies
                copied.mask(rng.random(copied.shape) < 0.3),  # fewer columns
                pd.DataFrame(rng.normal(size=(10, n_features)), columns=known.columns),
            ]
        )
        cells.index = [f"c{i}" for i in range(len(cells))]
        found = {mine for mine, _ in same_feature_cells(cells, known)}
        assert found and found == _every_pair(cells, known), case
    assert same_feature_cells(cells.head(0), known) == []
    assert same_feature_cells(cells, known.head(0)) == []


def test_three_significant_digits_of_the_bundled_cells_are_copies():
    """Rows of the bundled tables written with 3 significant digits (as a spreadsheet shows
    them) are found as copies of their own cells, and no bundled cell is taken for a copy of
    another: the mouse table's one pair of identical rows (680898048, 680563587) aside."""
    for species in ("mouse", "human"):
        X = load_species(species).X
        rows = X.sample(200, random_state=0)
        rounded = rows.map(lambda v: float(f"{v:.3g}"))
        found = dict(same_feature_cells(rounded, X))
        assert set(found) == set(rows.index.astype(str))
        twin = {"680898048", "680563587"}
        assert all(mine == theirs or {mine, theirs} == twin for mine, theirs in found.items())
        others = same_feature_cells(X, X.iloc[::-1])  # each cell's first match, last to first
        assert {mine for mine, theirs in others if mine != theirs} <= twin


def test_the_same_id_with_most_features_is_the_same_cell():
    """New-user trial: layer-1 cells under their bundled ids, three sag features of 93
    recomputed, were read as new cells. Under a known id, three quarters of the shared
    features agreeing make a copy; another cell under that id (a lab's own) does not."""
    X = load_species("human").X
    known = X.iloc[:50]
    again = known.iloc[:10].copy()
    again.iloc[:, :3] = again.iloc[:, :3] * 1.5 + 1  # a few features recomputed
    other = X.iloc[50:60].set_axis(known.index[10:20])  # other cells under known ids
    cells = pd.concat([again, other, X.iloc[60:62]])
    assert same_id_cells(cells, known) == [(i, str(known.index[i])) for i in range(10)]
    # by their features alone none is a copy: three of them were recomputed
    assert same_feature_cells(cells.reset_index(drop=True), known) == []
