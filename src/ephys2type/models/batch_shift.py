"""Does a batch of cells look like the cells a model was trained on?

Per cell, a saved model flags cells outside the training distribution. Per batch, this module
compares the batch with the training cells: the share of flagged cells against the share
expected by construction (0.5% of new training-like cells exceed the cross-fitted 99.5th
percentile), and each feature's median shift in training standard deviations, measured on
the cells that have it.
``ephys2type predict`` prints one warning when the batch differs and writes the summary
beside the predictions.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ephys2type.models.cell_classifier import ABSTAIN, CellTypeClassifier
from ephys2type.models.novelty import QUANTILE

#: A batch differs when a feature's median moved by at least SHIFT_SD training SDs, at
#: |z| >= SHIFT_Z. The share of flagged cells is reported beside the share expected, with its
#: binomial p, but does not decide: the 99.5th-percentile threshold is estimated from a few
#: hundred training cells, and new cells of the same kind were flagged at 3%, not 0.5%
#: (11 of 366 held-out human cells, model trained on the other 300).
SHIFT_SD, SHIFT_Z = 0.5, 4.0
#: How many of the most shifted features the summary names.
N_SHIFTED = 5


@dataclass
class BatchSummary:
    """What ``<predictions>.summary.json`` holds (see module docstring)."""

    n_cells: int
    n_out_of_distribution: int
    expected_out_of_distribution: float
    p_flagged: float
    shift_detected: bool
    most_shifted_features: list[dict[str, Any]]
    families_used: list[str]
    families_missing: list[str]
    n_failing_qc: int
    n_unassigned: int
    unassigned_reasons: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def warning(self) -> str | None:
        """One line for the user when the batch differs from the training cells."""
        if not self.shift_detected:
            return None
        named = ", ".join(
            f"{f['feature']} ({f['shift_sd']:+.2f} SD)"
            for f in self.most_shifted_features
            if abs(f["shift_sd"]) >= SHIFT_SD and abs(f["z"]) >= SHIFT_Z
        )
        # what to do about it, as measured (benchmarks/held_out_condition.py): on shifted
        # batches the calls lost 10-60 accuracy points below what the expected accuracy
        # says, while the sets mostly still held the true class; calls with a single-class
        # set were right 82-100% of the time
        return (
            f"these {self.n_cells} cells differ from the training cells (most shifted: "
            f"{named}); {self.n_out_of_distribution} flagged out of distribution, "
            f"{self.expected_out_of_distribution:.1f} expected. Calls on such a batch are "
            "less accurate than their expected accuracy: read each cell's prediction set, "
            "not only its call (calls whose set is that one class held up best)"
        )


def summarize_batch(
    model: CellTypeClassifier, cells: pd.DataFrame, table: pd.DataFrame
) -> BatchSummary:
    """Compare the batch ``cells`` (the model's feature columns) with the training cells.

    ``table`` is ``model.predict_table(cells)`` (its flags are reused).
    """
    prep = model.scaler_
    Z = prep.standardize_measured(cells.reindex(columns=model.schema.columns))
    observed = ~np.isnan(Z)
    counts = observed.sum(axis=0)
    # the median is robust to a few odd cells; its standard error is ~1.2533 / sqrt(n) SD
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no shift known
        # relative to the training median (skewed features: median and mean differ)
        shift = np.nanmedian(Z, axis=0) - (prep.medians_ - prep.means_) / prep.scales_
    z = np.where(counts > 0, shift * np.sqrt(np.maximum(counts, 1)) / 1.2533, np.nan)
    order = [i for i in np.argsort(-np.nan_to_num(np.abs(z))) if counts[i] > 0][:N_SHIFTED]
    shifted = [
        {
            "feature": model.schema.columns[i],
            "shift_sd": float(shift[i]),
            "z": float(z[i]),
            "n_cells": int(counts[i]),
        }
        for i in order
    ]
    n = len(cells)
    flagged = int(table["out_of_distribution"].sum())
    expected_share = 1.0 - QUANTILE
    p_flagged = float(stats.binomtest(flagged, n, expected_share, alternative="greater").pvalue)
    moved = np.nan_to_num(np.abs(shift)) >= SHIFT_SD
    significant = np.nan_to_num(np.abs(z)) >= SHIFT_Z
    families_used, families_missing = [], []
    for fam, cols in zip(model.schema.family_names, model.schema.family_index(), strict=True):
        (families_used if observed[:, cols].any() else families_missing).append(fam)
    return BatchSummary(
        n_cells=n,
        n_out_of_distribution=flagged,
        expected_out_of_distribution=expected_share * n,
        p_flagged=p_flagged,
        shift_detected=bool((moved & significant).any()),
        most_shifted_features=shifted,
        families_used=families_used,
        families_missing=families_missing,
        n_failing_qc=int((table["qc_flag"] != "").sum()),
        n_unassigned=int((table["predicted"] == ABSTAIN).sum()),
        unassigned_reasons=_reasons(table),
    )


def _reasons(table: pd.DataFrame) -> dict[str, int]:
    """Unassigned cells per kind of reason (a reason is ``"<kind>: <detail>"``)."""
    reasons = table.loc[table["predicted"] == ABSTAIN, "reason"].astype(str)
    kinds = reasons.str.split(":", n=1).str[0].str.strip()
    return {str(k): int(v) for k, v in kinds.value_counts().items()}
