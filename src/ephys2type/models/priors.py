"""Class proportions of a batch that differ from the training cells' (label shift).

A layer-1 batch is mostly Lamp5 and Vip cells; the training cells are mostly Pvalb and Sst.
Calibrated class probabilities carry the training proportions in them, so under such a batch
they lean towards the classes common in training. The EM procedure of Saerens, Latinne &
Decaestecker (2002, Neural Computation 14:21-41) re-estimates the batch's class proportions
from its unlabelled cells and re-weights each cell's probabilities by new / old proportion.

Written here rather than taken from a library: the procedure is ten lines, and the package
that implements it with others (QuaPy) would bring its own dependency tree for that.
It assumes the probabilities are calibrated to ``priors`` and that only the proportions
changed, not what a class looks like; where cells of a class look different in the batch
(another recording condition), it can make calls worse: measure before using it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PriorShift:
    """The result of :func:`adapt_priors`."""

    probabilities: np.ndarray  # cells x classes, re-weighted to ``priors``
    priors: np.ndarray  # the batch's estimated class proportions
    training_priors: np.ndarray
    n_iter: int
    converged: bool


def adapt_priors(
    probabilities: np.ndarray,
    training_priors: np.ndarray,
    *,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> PriorShift:
    """Saerens et al.'s EM on a batch's class probabilities (rows: cells; each row sums to
    1, calibrated to ``training_priors``). Returns the re-weighted probabilities and the
    batch's class proportions."""
    p = np.asarray(probabilities, dtype=float)
    old = np.asarray(training_priors, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(old):
        raise ValueError(f"probabilities of shape {p.shape} do not match {len(old)} priors")
    if not len(p):
        return PriorShift(p.copy(), old.copy(), old.copy(), 0, True)
    if (old <= 0).any():
        raise ValueError("every training prior must be positive")
    priors = old.copy()
    adjusted = p
    for n_iter in range(1, max_iter + 1):
        weighted = p * (priors / old)
        adjusted = weighted / weighted.sum(axis=1, keepdims=True)
        new = adjusted.mean(axis=0)
        if np.abs(new - priors).max() < tol:
            priors = new
            return PriorShift(adjusted, priors, old, n_iter, True)
        priors = new
    return PriorShift(adjusted, priors, old, max_iter, False)
