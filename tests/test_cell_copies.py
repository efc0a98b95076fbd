"""Copies of known cells under other ids: the sorted search finds exactly the cells that a
comparison with every known cell finds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ephys2type.data.cell_copies import COPY_RTOL, MIN_SHARED_FEATURES, same_feature_cells


def _every_pair(cells: pd.DataFrame, known: pd.DataFrame) -> set[str]:
    """The rule itself, each cell against every known cell at once."""
    a = cells.to_numpy(float)[:, None, :]
    b = known.to_numpy(float)[None, :, :]
    shared = ~np.isnan(a) & ~np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= COPY_RTOL * np.maximum(np.abs(a), np.abs(b))
    same = (close | ~shared).all(axis=2) & (shared.sum(axis=2) >= MIN_SHARED_FEATURES)
    return {str(c) for c, hit in zip(cells.index, same.any(axis=1), strict=True) if hit}


def test_the_sorted_search_finds_what_every_pair_finds():
    rng = np.random.default_rng(0)
    for case in range(30):
        n_features = 8
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
