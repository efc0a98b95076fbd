"""How accurate are a batch's calls likely to be? The batch check's label-free accuracy
estimate (:func:`estimate_accuracy`; the whole check: :mod:`ephys2type.models.batch_check`).

Average thresholded confidence (ATC; Garg et al.
2022, ICLR, "Leveraging unlabeled data to predict out-of-distribution performance"): on the
calibration cells, the confidence threshold above which their share equals their accuracy;
the batch's estimated accuracy is the share of its cells above it. A cell flagged out of
distribution (farther from the training cells than 99.5% of held-out training cells) is not
counted, whatever its confidence: far from the training cells a model's confidence says
little, and ATC alone over-estimated such batches (a model of layer-1 cells predicting deeper
ones: 76% estimated, 16% right). The calibration cells are
re-weighted to the batch's estimated class mix first, so a batch of other proportions (the
case where plain ATC failed: layer-1 cells of two classes) is judged against cells of its own
mix; that mix is shrunk towards the training mix as :data:`CLASS_MIX_PRIOR_CELLS`
training-like cells would, because a small batch's EM mix is noisy and a mix of one class
rests the threshold on that class's few calibration cells (measured by
``benchmarks/batch_check.py``: on 1,040 training-like mouse batches it cut the warnings whose
accuracy held from 48 to 31, with no loss on the shifted splits; the shift test and the
reported ``estimated_priors`` keep the batch's own mix). Per member (feature set)
its own calibration cells; a 95% interval from a bootstrap over the batch's and the
calibration cells, each replicate's calls then right or wrong by their own chance (their
calibrated confidence; without it a few confident cells got a zero-width interval). The
quantity is the accuracy of each cell's most probable class (what ``expected_accuracy``
measures, at the parent level for two-level labels), before abstention. That interval counts
chance, not the estimate's bias where the cells changed (a mouse model on human cells: 18-32
points too high), so a batch declared shifted gets an interval that also holds the estimate
plus and minus :data:`SHIFT_ALLOWANCE`, the error that held 90% of shifted sets in
``benchmarks/shift_allowance.py`` (split-conformal over shifts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ephys2type.models.batch_cells import call_confidence, canonical_order
from ephys2type.models.batch_shift import ALPHA
from ephys2type.models.cell_scores import CellScores
from ephys2type.models.shift_allowance import shift_allowance

#: Bootstrap replicates of the accuracy estimate's interval.
N_BOOT = 200
#: Fewest cells a model read for an accuracy estimate: the estimate is a share of them, so
#: one cell gives 0% or 100%, and its bootstrap a zero-width interval (new-user trial: one
#: cell called of five, "0% [0%, 0%]").
MIN_ESTIMATE_CELLS = 5
#: The estimated accuracy "holds" the stated one unless it lies more than this below it and
#: is lower than a batch of its size of the training kind gives by chance (one-sided binomial
#: p < :data:`ALPHA`, :func:`below_stated_p`): 30 cells miss a stated 85% by 10 points by
#: chance, 300 do not.
TOLERANCE = 0.05
#: The accuracy estimate's class mix is ``(n q + c p) / (n + c)`` for n cells a model read, with
#: EM mix q and training mix p: c training-like pseudo-cells (30 fixed before measuring, not
#: tuned; benchmarks/batch_check.py records the unshrunk estimate beside it).
CLASS_MIX_PRIOR_CELLS = 30.0
#: How far the estimate of a batch declared shifted may be off, beyond its sampling error: the
#: interval of such a batch also holds the estimate plus and minus this (split-conformal over
#: shifts; :mod:`ephys2type.models.shift_allowance` computes it from the sets it was measured
#: on, packaged). ``benchmarks/shift_allowance.py`` (rule written before it was computed,
#: 2026-12-07): the conformal 90% quantile of the estimate's absolute error on the 39
#: declared-shifted whole held-out sets of 13 shifted splits, three seeds each (the old eight
#: of batch_check.py and five of the six of fresh_shift_splits.py; mouse VISp -> other areas
#: was never declared shifted), 21.1 points. Left one split out at a time, the widened
#: interval held the real accuracy of 95% of those sets (the bootstrap interval alone 82%), at
#: a median width of 49 points (24 before); this value on the same sets 37 of 39, median width
#: 42 points. A split's seeds share its shift: counted once per split, by its largest error,
#: the quantile would be the largest of the 13, 32 points.
SHIFT_ALLOWANCE: float = shift_allowance()


@dataclass(frozen=True)
class AccuracyEstimate:
    """The label-free accuracy estimate: ``estimate`` with its interval (``low``, ``high``;
    95% bootstrap, or :meth:`widened` for a batch declared shifted), ``stated``, the mean
    expected accuracy of the same cells, and ``n``, how many cells they are."""

    estimate: float
    low: float
    high: float
    stated: float
    n: int

    def widened(self, allowance: float) -> AccuracyEstimate:
        """The same estimate with an interval that also holds ``estimate +- allowance``
        (within [0, 1]): what a batch declared shifted gets (:data:`SHIFT_ALLOWANCE`)."""
        return replace(
            self,
            low=max(0.0, min(self.low, self.estimate - allowance)),
            high=min(1.0, max(self.high, self.estimate + allowance)),
        )

    @property
    def holds(self) -> bool:
        """The estimate is not both more than :data:`TOLERANCE` below the stated accuracy and
        lower than chance allows for a batch of its size (:func:`below_stated_p`)."""
        return not (
            self.estimate < self.stated - TOLERANCE
            and below_stated_p(self.estimate, self.stated, self.n) < ALPHA
        )


def below_stated_p(estimate: float, stated: float, n: int) -> float:
    """How often ``n`` cells of the training kind, each right with probability ``stated``,
    have an accuracy as low as ``estimate`` or lower (binomial; by construction the share of
    calibration cells above the ATC threshold is their accuracy). Measured
    (benchmarks/batch_check.py): on the whole held-out set of six shifted human splits it
    separated the four whose accuracy fell 24-66 points from the two where it held."""
    return float(stats.binom.cdf(round(estimate * n), n, stated))


def estimate_accuracy(
    clf,
    scores: CellScores,
    *,
    random_state: int | None = None,
    count_unlike: bool = False,
    unlike_at_chance: bool = False,
    weighted: bool = True,
    shrink: float = CLASS_MIX_PRIOR_CELLS,
    flatten: float = 1.0,
    method: str = "atc",
) -> AccuracyEstimate | None:
    """The batch's accuracy, estimated without labels (module docstring); None when fewer
    than :data:`MIN_ESTIMATE_CELLS` cells were routed to a member. A cell flagged out of
    distribution is not counted as a likely right call, whatever its confidence (far from
    the training cells a model's confidence means little); ``count_unlike`` counts it as ATC
    alone would; ``unlike_at_chance`` counts it as right by chance (one in as many classes as
    the level has), its confidence ignored (measured, not shipped: on two cross-species
    splits it changed the error by at most 0.3 points, too few cells being flagged there).
    ``weighted=False`` leaves the calibration cells unweighted (ATC as published, blind to
    the batch's class mix).

    Variants measured by ``benchmarks/batch_check.py`` (the defaults are what ships):
    ``shrink`` pulls the batch's estimated class mix towards the training mix as that many
    training-like cells would (``(n q + shrink p) / (n + shrink)`` for a batch of n cells; 0:
    the batch's own EM mix);
    ``flatten`` raises the class weights to that power (1: the weights; 0: none; Shimodaira
    2000's flattened importance weights); ``method="doc"`` takes the batch's mean confidence
    plus the (weighted) calibration cells' accuracy minus their mean confidence in place of
    ATC (difference of confidences, Guillory et al. 2021)."""
    if shrink < 0:
        raise ValueError(f"shrink must be >= 0 (pseudo-cells of the training mix), got {shrink}")
    if method not in ("atc", "doc"):
        raise ValueError(f"method must be 'atc' or 'doc', got {method!r}")
    rng = np.random.default_rng(clf.random_state if random_state is None else random_state)
    found = _accuracy(
        clf,
        scores,
        clf.training_priors(),
        rng,
        count_unlike=count_unlike,
        unlike_at_chance=unlike_at_chance,
        weighted=weighted,
        shrink=shrink,
        flatten=flatten,
        method=method,
    )
    return None if not found else AccuracyEstimate(**found)


#: How often the shipped allowance held the real accuracy of declared-shifted whole held-out
#: sets (benchmarks/shift_allowance.py: the forest's 39, left one split out, 95%; the
#: BiLSTM's 39, 79%), by the kind of model; said in a shifted batch's accuracy line.
ALLOWANCE_HELD = {
    "forest": "9 in 10 of a random forest's",
    "bilstm": "8 in 10 of a BiLSTM's",
    "other": "9 in 10 of a random forest's and 8 in 10 of a BiLSTM's",
}


def allowance_held(clf) -> str:
    """:data:`ALLOWANCE_HELD` of ``clf``'s kind of model (the two measured kinds; both
    figures for another)."""
    spec = clf.model_spec()
    if spec.kind == "bilstm":
        return ALLOWANCE_HELD["bilstm"]
    return ALLOWANCE_HELD["forest" if spec.name == "rf" else "other"]


def shrunk_mix(q: np.ndarray, priors: np.ndarray, n: int, pseudo_cells: float) -> np.ndarray:
    """A batch's class mix ``q`` (of ``n`` cells) pulled towards the training mix ``priors``
    as ``pseudo_cells`` training-like cells would: ``(n q + c p) / (n + c)``."""
    if pseudo_cells < 0:
        raise ValueError(f"pseudo_cells must be >= 0, got {pseudo_cells}")
    return (n * q + pseudo_cells * priors) / (n + pseudo_cells)


def _em(proba: np.ndarray, priors: np.ndarray, *, tol: float = 1e-3) -> np.ndarray:
    """Saerens et al.'s EM for many batches at once: ``proba`` (batches x cells x classes,
    calibrated to ``priors``) -> each batch's class proportions (batches x classes), to
    ``tol`` (weights need no more; near-empty classes converge slowly below it)."""
    old = np.maximum(priors, 1e-6)
    q = np.tile(old, (len(proba), 1))
    for _ in range(1000):
        weighted = proba * (q / old)[:, None, :]
        new = (weighted / weighted.sum(axis=2, keepdims=True)).mean(axis=1)
        done = np.abs(new - q).max() < tol
        q = new
        if done:
            break
    return q


def _atc(conf_cal: np.ndarray, right: np.ndarray, w: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """ATC for many replicates at once (rows): per row, the threshold t where the weighted
    share of calibration cells (``conf_cal``, ``right``, weights ``w``) above t equals their
    weighted accuracy; the share of the row's batch confidences ``conf`` above it."""
    total = w.sum(axis=1)
    accuracy = (w * right).sum(axis=1) / total
    order = np.argsort(conf_cal, axis=1, kind="stable")
    sorted_conf = np.take_along_axis(conf_cal, order, axis=1)
    cum = np.cumsum(np.take_along_axis(w, order, axis=1), axis=1) / total[:, None]
    # the share above t is 1 - cum(t): it equals the accuracy where cum reaches 1 - accuracy
    k = np.minimum((cum < (1.0 - accuracy)[:, None] - 1e-12).sum(axis=1), conf_cal.shape[1] - 1)
    threshold = sorted_conf[np.arange(len(k)), k]
    return (conf > threshold[:, None]).mean(axis=1)


def _doc(conf_cal: np.ndarray, right: np.ndarray, w: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Difference of confidences for many replicates at once (rows): the mean of the row's
    batch confidences ``conf`` (a cell never counted as right, -inf, taken at confidence 0, so
    it adds the gap alone) plus the weighted calibration cells' accuracy minus their weighted
    mean confidence."""
    total = w.sum(axis=1)
    gap = ((w * right).sum(axis=1) - (w * conf_cal).sum(axis=1)) / total
    return np.clip(np.where(np.isfinite(conf), conf, 0.0).mean(axis=1) + gap, 0.0, 1.0)


def _accuracy(
    clf,
    scores: CellScores,
    priors: np.ndarray,
    rng: np.random.Generator,
    *,
    count_unlike: bool,
    unlike_at_chance: bool,
    weighted: bool,
    shrink: float,
    flatten: float,
    method: str = "atc",
) -> dict:
    """The ATC estimate over the routed cells, per member, with its bootstrap interval
    (``shrink``, ``flatten``: :func:`estimate_accuracy`)."""
    order = canonical_order(scores)
    routed = order[scores.routed[order]]
    if len(routed) < MIN_ESTIMATE_CELLS:
        return {}
    conf = call_confidence(clf, scores.proba)
    chance = np.clip(conf, 0.0, 1.0)  # each call's own chance of being right (the interval)
    unlike = scores.distance > 1.0
    # right by chance: one in as many classes as the level the accuracy is judged at has
    guess = 1.0 / len(clf.classes_ if clf.parent_of is None else set(clf.parent_of.values()))
    at_chance = unlike if unlike_at_chance and not count_unlike else np.zeros_like(unlike)
    chance = np.where(at_chance, guess, chance)
    if not count_unlike:  # below every threshold: never counted as a likely right call
        conf = np.where(unlike, -np.inf, conf)
    groups: dict[int, tuple[Any, list[int]]] = {}
    for i in routed:
        member = scores.members[i]
        groups.setdefault(id(member), (member, []))[1].append(i)
    # the reference: every training cell's out-of-fold call when every member keeps that
    # record (record_folds), else the calibration cells
    once = clf.repeats_ == 1
    records = [member.calibration.record for member, _ in groups.values()]
    if all(r is not None and r.n == once.sum() for r in records):
        y_cal = np.asarray(clf.y_train_[once], dtype=object)
        # the record's class shares (stratified: the calibration cells' within rounding)
        shares = pd.Series(y_cal).value_counts(normalize=True)
        priors = shares.reindex(clf.classes_).fillna(0.0).to_numpy(dtype=float)
        references = records
    else:
        y_cal = np.asarray(clf.y_train_[clf.calibration_], dtype=object)
        references = [member.calibration for member, _ in groups.values()]
    position = {c: k for k, c in enumerate(clf.classes_)}
    y_pos = np.array([position[c] for c in y_cal])
    ratio_of = 1.0 / np.maximum(priors, 1e-12)
    members = []
    for (_, rows), ref in zip(groups.values(), references, strict=True):
        if len(ref.confidence) != len(y_cal):  # a member saved without its calibration cells
            return {}
        members.append(
            (
                np.asarray(rows),
                np.asarray(ref.confidence, dtype=float),
                np.asarray(ref.correct, dtype=float),
            )
        )

    def estimate(batch_rows: list[np.ndarray], cal_rows: np.ndarray) -> np.ndarray:
        """Rows: replicates; ``batch_rows`` per member (replicates x its cells),
        ``cal_rows`` (replicates x calibration cells)."""
        cells = np.concatenate(batch_rows, axis=1)
        q = _em(scores.proba[cells], priors) if weighted else np.tile(priors, (len(cells), 1))
        q = shrunk_mix(q, priors, cells.shape[1], shrink)
        w = (q * ratio_of)[np.arange(len(q))[:, None], y_pos[cal_rows]]
        if flatten != 1.0:
            w = w**flatten
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
        total = np.zeros(len(cal_rows))
        for (_, c_conf, c_right), rows in zip(members, batch_rows, strict=True):
            share = (_atc if method == "atc" else _doc)(
                c_conf[cal_rows], c_right[cal_rows], w, conf[rows]
            )
            total += share * rows.shape[1] + guess * at_chance[rows].sum(axis=1)
        return total / cells.shape[1]

    every = np.arange(len(y_cal))[None, :]
    point = float(estimate([m[0][None, :] for m in members], every)[0])
    batch_rows = [rng.choice(m[0], size=(N_BOOT, len(m[0])), replace=True) for m in members]
    cal_rows = rng.integers(0, len(y_cal), size=(N_BOOT, len(y_cal)))
    # the batch's accuracy is a share of its calls, each right or wrong by its own chance:
    # without it, a few confident cells got a zero-width interval (5 cells: 100% [100, 100])
    p = chance[np.concatenate(batch_rows, axis=1)]
    luck = (rng.random(p.shape) < p).mean(axis=1) - p.mean(axis=1)
    replicates = np.clip(estimate(batch_rows, cal_rows) + luck, 0.0, 1.0)
    low, high = np.quantile(replicates, [0.025, 0.975])
    stated = float(np.mean(scores.expected_accuracy[routed]))
    return {
        "estimate": point,
        "low": float(low),
        "high": float(high),
        "stated": stated,
        "n": len(routed),
    }
