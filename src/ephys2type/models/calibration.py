"""Probabilities from scores: softmax with a temperature, and fitting that temperature.

Temperature scaling (Guo et al. 2017) divides a model's logits by one scalar fitted to
minimise the negative log-likelihood on held-out cells: probabilities become calibrated and
the predicted class does not change. The BiLSTM fits it on its inner validation split; a saved
model applies it at prediction time. Both use these two functions.
"""

from __future__ import annotations

import numpy as np


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64 (numerically stable)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def probability_logits(proba) -> np.ndarray:
    """Logits of predicted probabilities, ``log(p + eps)`` as scikit-learn's temperature
    calibration computes them (so a probability of 0 stays finite)."""
    proba = np.asarray(proba, dtype=np.float64)
    return np.log(proba + np.finfo(np.float64).eps)


def fit_temperature(logits, y) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T).

    ``y`` holds class positions (0 .. n_classes - 1). T is searched in [0.05, 20].
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[np.arange(len(y)), y].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))
