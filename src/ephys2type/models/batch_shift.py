"""Does a batch differ from the training cells beyond its class mix? The batch check's shift
test (:func:`shift_test`; the whole check: :mod:`ephys2type.models.batch_check`).

A lab that records
one Cre line sends a batch of one class; that is composition, not shift. The batch's class
proportions are estimated from its cells' calibrated probabilities (EM, Saerens et al. 2002),
and the calibration cells are re-weighted to them (weight q(y) / p(y) of a cell of class y).
Under a pure change of class mix, the batch's features are then distributed as the weighted
calibration cells' (Lipton et al. 2018). Per feature, the Kolmogorov-Smirnov distance between
the batch and the weighted calibration cells, scaled by its effective sample size; the batch
statistic is the largest over features, and its p-value comes from pseudo-batches of the same
size drawn from the weighted calibration cells (a max-statistic test: one p-value for the
whole batch, the family-wise error controlled across features without assuming them
independent). The batch is declared shifted at p < :data:`ALPHA`. EM's mix can be wrong on a
batch whose mix is the training mix (random human batches: off by an L1 distance of about 0.3,
and the re-weighted cells then differ from the batch by that error alone), so the test is
repeated with a second candidate mix, the mean of the cells' calibrated probabilities (steadier
on such batches; pulled towards the training mix on a one-class batch, where EM is close), and
the batch is declared shifted only when neither mix explains it (its p-value: EM's when EM's
mix explains it, else the larger of the two; its most shifted features: that test's).
Measured by ``benchmarks/batch_check.py`` over five splits: training-like batches declared
shifted, human 24 -> 16 of 260, mouse 23 -> 16 of 400; every shifted split still declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.models.batch_cells import call_confidence, canonical_order, canonical_values
from ephys2type.models.cell_scores import CellScores
from ephys2type.models.priors import adapt_priors

#: A batch is declared shifted when the max-statistic test's p-value is below this.
ALPHA = 0.05
#: Pseudo-batches drawn for the shift test's null distribution.
N_NULL = 500
#: Fewest cells of the batch that must have a feature for it to be tested.
MIN_CELLS = 3
#: Fewest cells (not training cells) for the shift test: its false-alarm rate was measured
#: on batches of 10 to 300 cells, and on two or three cells it declared shifts of medians
#: 0.01 SD apart (new-user trial).
MIN_SHIFT_CELLS = 5
#: How many of the most shifted features the summary names.
N_SHIFTED = 5
#: The candidate class mixes the shift test re-weights the training cells to, in the order
#: tried (:func:`shift_test`): the batch's EM mix, then the mean of its cells' calibrated
#: probabilities. ``benchmarks/batch_check.py`` records the EM mix alone beside it.
CLASS_MIXES: tuple[str, ...] = ("em", "mean")
#: The variable of the shift test that is not a feature: the confidence of each call (the
#: probability of its most probable class), whose shift is in probability, not SDs.
CONFIDENCE = "model confidence"


@dataclass(frozen=True)
class ShiftTest:
    """The shift test's result: its p-value (None: nothing to test), the batch's estimated
    class mix, the most shifted features, and the p-value under each candidate class mix
    tested (:data:`CLASS_MIXES`)."""

    p: float | None
    priors: np.ndarray
    shifted: list[dict[str, Any]]
    p_by_mix: dict[str, float | None] = field(default_factory=dict)

    @property
    def detected(self) -> bool:
        return self.p is not None and self.p < ALPHA


def shift_test(
    clf,
    scores: CellScores,
    *,
    random_state: int | None = None,
    mixes: Sequence[str] = CLASS_MIXES,
    every_mix: bool = False,
) -> ShiftTest:
    """Does the batch differ from the training cells beyond its class mix? (module
    docstring)

    ``mixes`` are the candidate class mixes the training cells are re-weighted to: ``"em"``,
    the batch's EM mix; ``"mean"``, the mean of its cells' calibrated probabilities. With
    several, the batch is declared shifted only when it is shifted under each (each tested
    with the same seed), and its p-value is the largest found. They are tried in order, and
    testing stops at the first under which the batch is not shifted (p >= :data:`ALPHA`: the
    decision is then made whatever the others give, so a batch like the training cells pays
    for one test); ``every_mix`` tests each all the same (``p_by_mix`` then holds them all)."""
    if not mixes or set(mixes) - set(CLASS_MIXES):
        raise ValueError(f"mixes must be some of {CLASS_MIXES}, got {tuple(mixes)}")
    seed = clf.random_state if random_state is None else random_state
    order = canonical_order(scores)
    proba = scores.proba[order[scores.routed[order]]]
    q = _batch_priors(proba, clf.training_priors())
    candidates = {"em": q, "mean": _mean_priors(proba, clf.training_priors())}
    found: dict[str, tuple[float | None, list[dict[str, Any]]]] = {}
    for name in mixes:
        # the same mix twice (e.g. no cell a member read: both are the training mix) is one test
        same = next((t for t in found if np.allclose(candidates[t], candidates[name])), None)
        found[name] = (
            found[same]
            if same is not None
            else _shift_test(clf, scores, candidates[name], np.random.default_rng(seed), order)
        )
        if not every_mix and found[name][0] is not None and found[name][0] >= ALPHA:
            break
    tested = [name for name in found if found[name][0] is not None]
    by_mix = {name: p for name, (p, _) in found.items()}
    if not tested:
        return ShiftTest(None, q, [], by_mix)
    p, shifted = found[max(tested, key=lambda name: found[name][0])]
    return ShiftTest(p, q, shifted, by_mix)


def _batch_priors(proba: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """The batch's class proportions, estimated from calibrated probabilities (EM); the
    training proportions when the batch has no cell a member read."""
    if not len(proba):
        return priors.copy()
    # proportions to 1e-4 are plenty for weights; the default 1e-6 takes ~10x the iterations
    return adapt_priors(proba, np.maximum(priors, 1e-6), tol=1e-4).priors


def _mean_priors(proba: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """The batch's class proportions as the mean of its cells' calibrated probabilities (no
    EM: pulled towards the training mix, but steadier on a random batch); the training
    proportions when the batch has no cell a member read."""
    if not len(proba):
        return priors.copy()
    mean = np.asarray(proba, dtype=float).mean(axis=0)
    return mean / mean.sum()


def _label_weights(y, classes, q: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Weight q(y) / p(y) of each calibration cell (class ``y``)."""
    ratio = dict(zip(classes, q / np.maximum(priors, 1e-12), strict=True))
    return np.array([ratio[c] for c in y], dtype=float)


def _ks(values: np.ndarray, ref_sorted: np.ndarray, ref_cum: np.ndarray) -> float:
    """KS distance between the sorted ``values`` of the batch and a weighted reference
    (sorted values, cumulative normalised weights)."""
    k = len(values)
    points = np.concatenate([values, ref_sorted])
    f_batch = np.searchsorted(values, points, side="right") / k
    where = np.searchsorted(ref_sorted, points, side="right")
    f_ref = np.where(where > 0, ref_cum[np.maximum(where - 1, 0)], 0.0)
    # left limits at the batch's own points, where its ECDF jumps
    left = np.searchsorted(values, values, side="left") / k
    where_l = np.searchsorted(ref_sorted, values, side="left")
    f_ref_l = np.where(where_l > 0, ref_cum[np.maximum(where_l - 1, 0)], 0.0)
    return float(max(np.abs(f_batch - f_ref).max(), np.abs(left - f_ref_l).max()))


def _ks_null(
    codes: np.ndarray, ref_cum: np.ndarray, ref_total: np.ndarray, n_values: int
) -> tuple[np.ndarray, np.ndarray]:
    """KS distances under the null, between pseudo-batches and pseudo-references both drawn
    from the reference (the real comparison has the sampling error of both sides): ``codes``
    (pseudo-batches x cells) hold each drawn value's position among the reference's
    ``n_values`` distinct values (-1: missing); ``ref_cum`` (pseudo-batches x values) is a
    bootstrap of the reference's cumulative weight at each of them, ``ref_total``
    (pseudo-batches x 1) its total. Both ECDFs jump only at the reference's values, so
    comparing them there is exact. Returns the distances and the pseudo-batches' cell
    counts."""
    n_null, n = codes.shape
    counts = (codes >= 0).sum(axis=1)
    if 2 * n + 2 > n_values // 10:  # a large batch: both ECDFs at every value
        # values x replicates, the faster way round for numpy's cumulative sum
        valid = codes >= 0
        flat = (codes * n_null + np.arange(n_null)[:, None])[valid]
        hist = np.bincount(flat, minlength=n_null * n_values).reshape(n_values, n_null)
        batch = np.cumsum(hist, axis=0) / np.maximum(counts, 1e-300)[None, :]
        return np.abs(batch - ref_cum.T / ref_total.T).max(axis=0), counts
    # a small batch's ECDF is flat between its few values, and the reference's is monotone:
    # the largest gap lies at an end of a flat stretch (a batch value c, or c - 1), so the
    # same distances are read there, not at every value (the same numbers, 2x faster)
    ordered = np.sort(codes, axis=1)  # missing (-1) first
    width = n_values + 2
    rows = np.arange(n_null)[:, None]
    keys = (ordered + 1 + rows * width).ravel()  # each row's values, rows apart: sorted
    ends = np.broadcast_to(np.array([0, n_values - 1]), (n_null, 2))
    at = np.concatenate([ordered, ordered - 1, ends], axis=1).clip(0, n_values - 1)
    upto = np.searchsorted(keys, (at + 1 + rows * width).ravel(), side="right")
    upto = upto.reshape(at.shape) - rows * n - (n - counts)[:, None]  # batch values <= at
    batch = upto / np.maximum(counts, 1e-300)[:, None]
    reference = np.take_along_axis(ref_cum, at, axis=1) / ref_total
    return np.abs(batch - reference).max(axis=1), counts


def _bootstrap_cumulative(
    codes: np.ndarray, mix: np.ndarray, drawn: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each bootstrap replicate of a reference whose cell ``r`` takes, in group ``g``, the
    value coded ``codes[g, r]`` (-1: none) with weight ``mix[g, r]``, drawn ``drawn[r, b]``
    times in replicate ``b``: the cumulative weight at each distinct value (replicates x
    values) and the total (replicates x 1). Every code from 0 to its largest must occur.
    Summed cell by cell in the order of their values (cells x replicates, the faster way
    round for numpy), read at each value's last cell: a histogram of each replicate's
    draws, summed in another order (equal to about 1e-14; the p-values of 32 bundled batches
    and of 720 random cases the same), 3x faster on the bundled tables."""
    g, c = np.nonzero(codes >= 0)
    by_value = np.argsort(codes[g, c], kind="stable")
    g, c = g[by_value], c[by_value]
    cum = np.cumsum(drawn[c] * mix[g, c][:, None], axis=0)
    last = np.append(np.flatnonzero(np.diff(codes[g, c])), len(c) - 1)
    return cum[last].T, np.maximum(cum[-1], 1e-300)[:, None]


def _variable(
    table: np.ndarray,
    group: np.ndarray,
    values: np.ndarray,
    w: np.ndarray,
    draws: np.ndarray,
    drawn: np.ndarray,
) -> tuple[float, np.ndarray, float, float] | None:
    """One tested variable: the batch's ``values`` (NaN: not measured) against the weighted
    calibration cells, where calibration cell ``r`` takes the value ``table[g, r]`` for a batch
    cell of group ``g`` (``group``, -1: none); one group for a feature, one per member for the
    confidence. Returns the observed statistic, its null (pseudo-batches), the KS distance
    and the reference's weighted median; None when too little to test."""
    measured = ~np.isnan(values) & (group >= 0)
    if measured.sum() < MIN_CELLS:
        return None
    n_groups = table.shape[0]
    share = np.bincount(group[measured], minlength=n_groups) / measured.sum()
    mix = w[None, :] * share[:, None]  # the reference: a mixture of the groups' values
    have = ~np.isnan(table) & (mix > 0)
    if have.sum() < 10:
        return None
    distinct, code = np.unique(table[have], return_inverse=True)
    codes = np.full(table.shape, -1)
    codes[have] = code.ravel()
    cw = np.bincount(code.ravel(), weights=mix[have], minlength=len(distinct))
    cdf = np.cumsum(cw) / cw.sum()
    m_eff = mix[have].sum() ** 2 / (mix[have] ** 2).sum()
    mine = np.sort(values[measured])
    d = _ks(mine, distinct, cdf)
    observed = d * np.sqrt(len(mine) * m_eff / (len(mine) + m_eff))
    batch_codes = np.where(measured[None, :], codes[np.maximum(group, 0)[None, :], draws], -1)
    d_null, n_null = _ks_null(batch_codes, *_bootstrap_cumulative(codes, mix, drawn), len(distinct))
    null = d_null * np.sqrt(n_null * m_eff / np.maximum(n_null + m_eff, 1e-12))
    return observed, null, d, _weighted_median(distinct, cw)


def _reference(weights: np.ndarray, n: int, rng: np.random.Generator):
    """Normalised weights, and the null's draws from a reference of ``len(weights)`` cells:
    pseudo-batches of ``n`` cells (drawn by weight) and bootstraps of the reference (cells x
    replicates: how many times each replicate drew each cell)."""
    w = weights / weights.sum()
    draws = rng.choice(len(w), size=(N_NULL, n), p=w)
    resampled = rng.integers(0, len(w), size=(N_NULL, len(w)))
    offset = np.arange(N_NULL)[:, None] * len(w)
    drawn = np.bincount((resampled + offset).ravel(), minlength=N_NULL * len(w))
    return w, draws, np.ascontiguousarray(drawn.reshape(N_NULL, len(w)).T)


def _shift_test(
    clf, scores: CellScores, q: np.ndarray, rng: np.random.Generator, order: np.ndarray
) -> tuple[float | None, list[dict[str, Any]]]:
    """The max-statistic KS test of the batch against the training cells re-weighted to its
    class mix ``q``, over every feature and the confidence of the calls (module docstring),
    the batch's cells taken in ``order`` (:func:`canonical_order`); the p-value and the most
    shifted variables.

    The features are compared with every training cell (each once): a cell's features do
    not depend on what was fitted on it, only its label counts, so all of them are valid
    reference cells and the test's power grows with them. The confidence is compared with
    the calibration cells only (a cell a member was fitted on is more confident than a new
    one)."""
    once = clf.repeats_ == 1
    y_all = np.asarray(clf.y_train_, dtype=object)
    classes = clf.classes_
    fitted_share = pd.Series(y_all[once]).value_counts().reindex(classes).fillna(0)
    fitted_share = (fitted_share / fitted_share.sum()).to_numpy(dtype=float)
    weights = _label_weights(y_all[once], classes, q, fitted_share)
    if weights.sum() <= 0:
        return None, []
    ref = canonical_values(clf.X_train_)[once]
    batch = canonical_values(scores.X)[order]
    n = len(batch)
    w, draws, drawn = _reference(weights, n, rng)
    one_group = np.zeros(n, dtype=int)
    tested: list[tuple[dict[str, Any], float, np.ndarray]] = []
    for j, column in enumerate(clf.schema_.columns):
        found = _variable(ref[None, :, j], one_group, batch[:, j], w, draws, drawn)
        if found is None:
            continue
        observed, null, d, centre = found
        mine = batch[~np.isnan(batch[:, j]), j]
        # the SD of the training cells that have the feature (the imputed column's SD is
        # smaller, the more so the sparser the feature: 1.5 times for human chirp features)
        scale = float(np.nanstd(ref[:, j])) or 1.0
        entry = {
            "feature": column,
            "ks": d,
            "statistic": float(observed),
            "shift_sd": float((np.median(mine) - centre) / scale),
            "n_cells": len(mine),
        }
        tested.append((entry, observed, null))
    confidence = _confidence_variable(clf, scores)
    y_cal = np.asarray(clf.y_train_[clf.calibration_], dtype=object)
    cal_weights = _label_weights(y_cal, classes, q, clf.training_priors())
    if confidence is not None and cal_weights.sum() > 0:
        table, group, values = confidence
        group, values = group[order], values[order]
        w_cal, draws_cal, drawn_cal = _reference(cal_weights, n, rng)
        found = _variable(table, group, values, w_cal, draws_cal, drawn_cal)
        if found is not None:
            observed, null, d, centre = found
            entry = {
                "feature": CONFIDENCE,
                "ks": d,
                "statistic": float(observed),
                "shift_sd": float(np.nanmedian(values) - centre),  # in probability
                "n_cells": int((~np.isnan(values)).sum()),
            }
            tested.append((entry, observed, null))
    if not tested:
        return None, []
    observed = np.array([t[1] for t in tested])
    null = np.column_stack([t[2] for t in tested])
    p = float((1 + (null.max(axis=1) >= observed.max()).sum()) / (N_NULL + 1))
    shifts = sorted((t[0] for t in tested), key=lambda f: -f["statistic"])
    return p, shifts[:N_SHIFTED]


def _confidence_variable(clf, scores: CellScores):
    """The confidence of each routed cell's call, with its member's calibration cells'
    confidences as the reference (one group per member); None when none was routed or a
    member lacks its calibration cells' confidences."""
    members: dict[int, int] = {}
    table = []
    group = np.full(scores.n, -1)
    n_cal = int(clf.calibration_.sum())
    for i, member in enumerate(scores.members):
        if member is None or not scores.routed[i]:
            continue
        if id(member) not in members:
            if len(member.calibration.confidence) != n_cal:
                return None
            members[id(member)] = len(table)
            table.append(np.asarray(member.calibration.confidence, dtype=float))
        group[i] = members[id(member)]
    if not table:
        return None
    values = np.where(group >= 0, call_confidence(clf, scores.proba), np.nan)
    return np.vstack(table), group, values


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of sorted ``values`` under ``weights``."""
    cum = np.cumsum(weights) / weights.sum()
    return float(values[min(np.searchsorted(cum, 0.5), len(values) - 1)])
