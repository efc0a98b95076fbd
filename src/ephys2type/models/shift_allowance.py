"""How far a label-free accuracy estimate has been off on batches whose cells changed.

The batch check (:mod:`ephys2type.models.batch_check`) widens the accuracy interval of a batch
the shift test declares shifted so that it also holds the estimate plus and minus this
allowance: split-conformal prediction over shifts (Vovk et al. 2005; Angelopoulos & Bates
2023). The allowance is read from what it was measured on, not written as a number: the
packaged table ``resources/shift_allowance_sets.csv`` holds one row per declared-shifted whole
held-out set of ``benchmarks/shift_allowance.py`` (its split, seed, cells, real accuracy and
the shipped estimate), which that benchmark writes, so a re-run of the benchmarks changes the
allowance ``predict`` gives in a diff a reviewer sees.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

#: The coverage the allowance aims at over shifts like the measured ones.
LEVEL = 0.9
#: The packaged table of the declared-shifted sets the allowance is computed from.
SETS_RESOURCE = "shift_allowance_sets.csv"
#: Its columns (``benchmarks/shift_allowance.py`` writes them).
SETS_COLUMNS = ("split", "fresh", "seed", "n", "real", "estimate")


def conformal_quantile(errors: Sequence[float] | np.ndarray, level: float = LEVEL) -> float:
    """The split-conformal ``level`` quantile of ``errors``: their ceil(level (n + 1))-th
    smallest (infinite when there are too few for that level)."""
    values = np.sort(np.asarray(errors, dtype=float))
    k = math.ceil(level * (len(values) + 1))
    return float(values[k - 1]) if k <= len(values) else math.inf


def shift_sets() -> pd.DataFrame:
    """The declared-shifted whole held-out sets the allowance was measured on, one row each
    (:data:`SETS_COLUMNS`), as packaged."""
    text = resources.files("ephys2type").joinpath("resources", SETS_RESOURCE).read_text("utf-8")
    # comment lines say where the rows come from
    return pd.read_csv(io.StringIO(text), comment="#")


def shift_allowance(sets: pd.DataFrame | None = None, level: float = LEVEL) -> float:
    """The conformal ``level`` quantile of the estimate's absolute error (as a fraction of
    cells) over ``sets`` (default: :func:`shift_sets`)."""
    sets = shift_sets() if sets is None else sets
    return conformal_quantile((sets["estimate"] - sets["real"]).abs(), level)
