"""When the batch check warns, notes or stays quiet (models/batch_check.py): a warning answers
"will the stated accuracy hold here?"; a shift that does not change that is a note."""

from __future__ import annotations

import numpy as np
import pytest

from ephys2type.models.batch_check import (
    ALLOWANCE_HELD,
    CONFIDENCE,
    LARGE_SHIFT_SD,
    SHIFT_ALLOWANCE,
    AccuracyEstimate,
    BatchSummary,
    below_stated_p,
    median_margin,
    shrunk_mix,
)


def summary(*, detected: bool, shift_sd: float, estimate: float, stated: float = 0.85, n=100):
    holds = AccuracyEstimate(estimate, estimate - 0.1, estimate + 0.1, stated, n).holds
    return BatchSummary(
        n_cells=n,
        n_read=n,
        n_out_of_distribution=0,
        expected_out_of_distribution=0.5,
        p_flagged=1.0,
        shift_p=0.002 if detected else 0.4,
        shift_detected=detected,
        most_shifted_features=[
            {"feature": CONFIDENCE, "ks": 0.3, "statistic": 3.0, "shift_sd": -0.2, "n_cells": n},
            {"feature": "tau", "ks": 0.2, "statistic": 2.0, "shift_sd": shift_sd, "n_cells": n},
        ],
        estimated_priors={"Pvalb": 1.0},
        stated_accuracy=stated,
        estimated_accuracy=estimate,
        estimated_accuracy_low=estimate - 0.1,
        estimated_accuracy_high=estimate + 0.1,
        accuracy_holds=holds,
        families_used=[],
        families_missing=[],
        n_failing_qc=0,
        n_unassigned=0,
        unassigned_reasons={},
    )


def test_an_estimate_holds_unless_it_is_5_points_lower_and_lower_than_chance_allows():
    # binomial: 30 cells each right with probability 0.85 give 23 or fewer right 15% of the
    # time, 21 or fewer 2.2%
    assert below_stated_p(23 / 30, 0.85, 30) == pytest.approx(0.1526, abs=1e-3)
    assert below_stated_p(21 / 30, 0.85, 30) < 0.05
    assert below_stated_p(0.85, 0.85, 30) > 0.5
    # an estimate 8 points below: chance for 30 cells, not for 300
    assert AccuracyEstimate(0.77, 0.6, 0.9, 0.85, 30).holds
    assert not AccuracyEstimate(0.77, 0.7, 0.85, 0.85, 300).holds
    # lower than chance allows, but within 5 points: holds
    assert below_stated_p(0.81, 0.85, 3000) < 1e-6
    assert AccuracyEstimate(0.81, 0.8, 0.82, 0.85, 3000).holds
    # ten cells tell little: 7 of 10 against a stated 93% is a warning, 8 of 10 is not
    assert AccuracyEstimate(0.8, 0.5, 1.0, 0.93, 10).holds
    assert not AccuracyEstimate(0.7, 0.4, 0.9, 0.93, 10).holds


def test_a_shifted_batch_s_interval_also_holds_the_estimate_plus_minus_the_allowance():
    """The bootstrap interval counts chance, not the estimate's bias where the cells changed:
    a batch declared shifted gets at least the estimate +- the allowance, within [0, 1], and
    the line says so; the estimate and whether it holds are unchanged."""
    tight = AccuracyEstimate(0.62, 0.55, 0.70, 0.9, 200)
    wide = tight.widened(SHIFT_ALLOWANCE)
    assert (wide.estimate, wide.stated, wide.n, wide.holds) == (0.62, 0.9, 200, tight.holds)
    assert wide.low == pytest.approx(0.62 - SHIFT_ALLOWANCE)
    assert wide.high == pytest.approx(0.62 + SHIFT_ALLOWANCE)
    near_top = AccuracyEstimate(0.95, 0.5, 0.99, 0.9, 20).widened(SHIFT_ALLOWANCE)
    assert near_top.low == 0.5 and near_top.high == 1.0  # a wider bootstrap side is kept
    shifted = summary(detected=True, shift_sd=0.3, estimate=0.62)
    shifted.estimated_accuracy_low, shifted.estimated_accuracy_high = wide.low, wide.high
    shifted.shift_allowance = SHIFT_ALLOWANCE
    assert shifted.accuracy_line() == (
        "estimated accuracy on this batch 62% [41%, 83%] (for cells like the training cells, as "
        "each cell's expected_accuracy says: 85%; the interval is at least ±21 points because "
        "these cells differ from the training cells, and 9 in 10 of a random forest's and 8 in "
        "10 of a BiLSTM's such estimates on shifted test sets erred by less)"
    )
    assert "shift_allowance" in shifted.to_dict()
    # the figure of the kind of model at hand (a trial: a BiLSTM's figure was noise to a
    # forest's user); the warning gives the estimate short, the line above says the rest
    shifted.allowance_held = ALLOWANCE_HELD["forest"]
    assert shifted.accuracy_line().endswith(
        "and 9 in 10 of a random forest's such estimates on shifted test sets erred by less)"
    )
    shifted.estimated_accuracy = 0.5
    shifted.accuracy_holds = False
    assert shifted.warning().endswith(
        "estimated accuracy on this batch 50% [41%, 83%], stated 85%, lower than chance allows "
        "for 100 cells each right with probability 85% (p < 0.001): read each cell's "
        "prediction set, not only its call"
    )
    # the stated figure inside the interval, and still a warning: the line says why
    shifted.estimated_accuracy = 0.78
    assert shifted.warning().endswith(
        "estimated accuracy on this batch 78% [41%, 83%], stated 85%, lower than chance allows "
        "for 100 cells each right with probability 85% (p = 0.0393): read each cell's "
        "prediction set, not only its call"
    )


def test_with_training_cells_left_out_the_lines_say_of_which_cells():
    """The shift and the estimate are of the cells the model was not trained on: the lines
    say so, and a warning without an estimate says why those cells were not read."""
    mixed = summary(detected=True, shift_sd=LARGE_SHIFT_SD + 1.5, estimate=0.6)
    mixed.n_training_cells = 40
    assert mixed.shift_line().startswith(f"the {mixed.n_cells - 40} cells it was not trained on")
    assert mixed.accuracy_line().startswith(
        f"estimated accuracy on the {mixed.n_cells - 40} cells it was not trained on 60%"
    )
    # fewer read than were not trained on (others unassigned for their features or by a
    # recording check): the estimate says of how many (new-user trial: 36 said, 21 read)
    mixed.n_read = mixed.n_cells - 55
    assert mixed.accuracy_line().startswith(
        f"estimated accuracy on the {mixed.n_read} cells a model read of the "
        f"{mixed.n_cells - 40} it was not trained on 60%"
    )
    mixed.n_training_cells = 0  # none trained on: of the batch's cells
    assert mixed.accuracy_line().startswith(
        f"estimated accuracy on the {mixed.n_read} of the batch's {mixed.n_cells} cells a model "
        "read 60%"
    )
    mixed.n_training_cells = 40
    assert mixed.shift_line().startswith(f"the {mixed.n_cells - 40} cells it was not trained on")
    mixed.estimated_accuracy = mixed.accuracy_holds = None
    mixed.n_read = 2
    assert "nor one the model was trained on): check the shifted" in mixed.warning()


def test_the_allowance_figure_is_that_of_the_kind_of_model():
    from ephys2type.models.batch_check import allowance_held
    from ephys2type.models.cell_classifier import CellTypeClassifier

    said = {m: allowance_held(CellTypeClassifier(model=m)) for m in ("rf", "bilstm", "hgb")}
    assert said == {
        "rf": ALLOWANCE_HELD["forest"],
        "bilstm": ALLOWANCE_HELD["bilstm"],
        "hgb": ALLOWANCE_HELD["other"],
    }


def test_a_small_shift_with_an_accuracy_that_holds_is_a_note_not_a_warning():
    """A batch of one Cre line: a sub-population within its classes; its calls hold."""
    cre_line = summary(detected=True, shift_sd=0.4, estimate=0.9)
    assert cre_line.accuracy_holds and not cre_line.large_shift and not cre_line.warns
    assert cre_line.warning() is None
    note = cre_line.note()
    assert note.startswith(
        "these 100 cells differ from the training cells, even allowing for their mix of types"
    )
    # a feature's shift in training SDs; the confidence's in probability, in words
    assert "tau (+0.40 SD)" in note and "model confidence (0.20 lower)" in note
    cre_line.most_shifted_features[0]["shift_sd"] = 0.001  # its distribution moved, not its median
    assert "model confidence (median unchanged)" in cre_line.note()
    cre_line.most_shifted_features[0]["shift_sd"] = -0.2
    assert note.endswith("the estimated accuracy holds")
    assert cre_line.to_dict()["warning"] is None and cre_line.to_dict()["note"] == note
    assert "(p = 0.002;" in note  # the helper's p-value
    cre_line.shift_p = 5 / 501  # two digits: 500 pseudo-batches give no more (a trial)
    assert "(p = 0.01;" in cre_line.note()
    cre_line.shift_p = 1 / 501 + 0.002
    # no pseudo-batch as extreme as the batch (p = 1 / 501): below what the test can show
    cre_line.shift_p = 1 / 501
    assert "(p < 0.002;" in cre_line.note()


def test_a_feature_moved_far_warns_whatever_the_estimate():
    """A unit slip or another protocol: the features say so even if the calls look fine."""
    slip = summary(detected=True, shift_sd=LARGE_SHIFT_SD + 0.5, estimate=0.9)
    assert slip.accuracy_holds and slip.large_shift and slip.warns
    assert "tau (+1.50 SD)" in slip.warning() and "check the shifted features" in slip.warning()
    assert slip.note() is None
    # the confidence of the calls is not a feature: its shift (in probability) never counts
    conf_only = summary(detected=True, shift_sd=0.1, estimate=0.9)
    conf_only.most_shifted_features[0]["shift_sd"] = -3.0
    assert not conf_only.large_shift


def test_a_large_shift_without_any_call_still_says_what_to_check():
    """Every cell unassigned (e.g. failed recording checks): no estimate, but the features
    moved far; the warning ends with its advice, as every warning does (new-user trial)."""
    slip = summary(detected=True, shift_sd=LARGE_SHIFT_SD + 1.5, estimate=0.9)
    slip.estimated_accuracy = slip.accuracy_holds = None
    slip.n_read = 2
    assert slip.warns
    assert "even allowing for their mix of types" in slip.shift_line()
    slip.estimated_priors = {}  # no cell read: no mix allowed for (a trial read the claim)
    assert slip.shift_line().startswith(
        f"these {slip.n_cells} cells differ from the training cells, their mix of types "
        "unknown, as no model read them (p = "
    )
    assert slip.warning().endswith(  # how many were read (new-user trial: it did not say)
        f"2 of this batch's {slip.n_cells} cells were read by a model, too few to estimate "
        "their accuracy (at least 5; a cell unassigned by a recording check or for want of "
        "features is not read): check the shifted features (a unit or protocol?)"
    )


def test_an_estimate_below_the_stated_accuracy_warns_with_or_without_a_shift():
    low = summary(detected=False, shift_sd=0.1, estimate=0.6)
    assert low.accuracy_holds is False and low.warns
    message = low.warning()
    assert message.startswith("estimated accuracy on this batch 60% [50%, 70%]")
    assert "read each cell's prediction set" in message and "differ" not in message
    quiet = summary(detected=False, shift_sd=0.1, estimate=0.84)
    assert quiet.warning() is None and quiet.note() is None


def test_a_feature_moved_far_is_judged_beyond_the_sampling_error_of_the_batchs_median():
    """Ten cells of one Cre line moved a median 1.3 SD while their calls held: within what ten
    cells' median strays by chance beyond the 1 SD threshold, so a note; 300 cells moved
    that far are a warning, as is a unit slip of several SDs in ten cells."""
    # the median's standard error is sqrt(pi / 2) / sqrt(n) SDs; one-sided 95%
    assert median_margin(10) == pytest.approx(1.6449 * 1.2533 / 10**0.5, rel=1e-3)
    assert median_margin(100) < median_margin(30) < median_margin(10)
    ten = summary(detected=True, shift_sd=1.3, estimate=0.9, n=10)
    assert ten.accuracy_holds and not ten.large_shift and not ten.warns and ten.note()
    # at the cut-off: 10 cells need 1 + 0.65 SD
    assert not summary(detected=True, shift_sd=1.6, estimate=0.9, n=10).large_shift
    assert summary(detected=True, shift_sd=1.7, estimate=0.9, n=10).large_shift
    many = summary(detected=True, shift_sd=1.3, estimate=0.9, n=300)
    assert many.large_shift and many.warns
    slip = summary(detected=True, shift_sd=-4.0, estimate=0.9, n=10)
    assert slip.large_shift and "tau (-4.00 SD)" in slip.warning()
    # each feature's margin counts the cells that have it, not the batch
    few = summary(detected=True, shift_sd=1.3, estimate=0.9, n=300)
    few.most_shifted_features[1]["n_cells"] = 10
    assert not few.large_shift


def test_a_batchs_class_mix_is_pulled_towards_the_training_mix_by_pseudo_cells():
    """30 cells all of one class, 30 pseudo-cells of a half-and-half training mix: 3 to 1."""
    one_class, training = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    assert shrunk_mix(one_class, training, 30, 30.0) == pytest.approx([0.75, 0.25])
    assert shrunk_mix(one_class, training, 300, 30.0) == pytest.approx([315 / 330, 15 / 330])
    assert shrunk_mix(one_class, training, 30, 0.0) == pytest.approx(one_class)
    rows = np.array([[1.0, 0.0], [0.2, 0.8]])  # one mix per bootstrap replicate
    assert shrunk_mix(rows, training, 10, 10.0) == pytest.approx(
        np.array([[0.75, 0.25], [0.35, 0.65]])
    )
    with pytest.raises(ValueError, match="pseudo_cells must be >= 0"):
        shrunk_mix(one_class, training, 30, -30.0)


def test_the_null_distances_read_at_the_batch_values_are_those_at_every_value():
    """The shift test's null reads a small pseudo-batch's KS distance only where its ECDF
    ends a flat stretch; that is the largest gap at every value (the reference ECDF is
    monotone), so the numbers are those of comparing both ECDFs everywhere, exactly."""
    from ephys2type.models.batch_shift import _ks_null as ks_null

    def cumulative(positions, weights, n_values):
        out = np.zeros((len(positions), n_values))
        for r, (row, w) in enumerate(zip(positions, weights, strict=True)):
            np.add.at(out[r], row[row >= 0], w[row >= 0])
        return np.cumsum(out, axis=1), np.maximum(out.sum(axis=1), 1e-300)[:, None]

    def _ks_null(codes, ref_codes, ref_weights, n_values):
        return ks_null(codes, *cumulative(ref_codes, ref_weights, n_values), n_values)

    def everywhere(codes, ref_codes, ref_weights, n_values):
        def ecdf(positions, weights):
            cum, total = cumulative(positions, weights, n_values)
            return cum / total

        batch = ecdf(codes, np.ones(codes.shape))
        return np.abs(batch - ecdf(ref_codes, ref_weights)).max(axis=1)

    rng = np.random.default_rng(0)
    small = 0
    for k in range(300):  # small batches (read at their values) and large ones (everywhere)
        n_null, n_values, m = rng.integers(1, 20), rng.integers(1, 400), rng.integers(1, 120)
        n = rng.integers(1, 6) if k % 2 else rng.integers(1, 60)
        small += 2 * n + 2 <= n_values // 10
        codes = rng.integers(-1, n_values, size=(n_null, n))
        ref_codes = rng.integers(-1, n_values, size=(n_null, m))
        weights = rng.random((n_null, m)) * (rng.random((n_null, m)) < 0.8)
        distances, counts = _ks_null(codes, ref_codes, weights, n_values)
        np.testing.assert_allclose(distances, everywhere(codes, ref_codes, weights, n_values))
        assert (counts == (codes >= 0).sum(axis=1)).all()
    assert 50 < small < 250  # both ways were compared
    # the edges of the reading at the batch values: no value, one value, the first and last
    # reference values, ties, a reference of one value
    n_values = 200
    last = n_values - 1
    edges = np.array([[-1] * 4, [0] * 4, [last] * 4, [5, 5, -1, 7], [0, last, 3, 3]])
    ref_codes = rng.integers(-1, n_values, size=(len(edges), 90))
    weights = rng.random((len(edges), 90))
    distances, _ = _ks_null(edges, ref_codes, weights, n_values)
    np.testing.assert_allclose(distances, everywhere(edges, ref_codes, weights, n_values))
    assert distances[0] == pytest.approx(1.0)  # a pseudo-batch without values: an ECDF of 0
    one = _ks_null(np.zeros((2, 3), dtype=int), np.zeros((2, 5), dtype=int), np.ones((2, 5)), 1)
    assert one[0].tolist() == [0.0, 0.0]


def test_the_bootstrap_of_the_reference_is_its_replicates_histogram():
    """The shift test's bootstraps of the reference, summed from how often each replicate drew
    each cell, are the histograms of the replicates' draws themselves (each drawn cell's
    weight added at its value, in each of its groups)."""
    from ephys2type.models.batch_shift import _bootstrap_cumulative

    rng = np.random.default_rng(1)
    for _ in range(30):
        n_groups, n_ref, n_rep = rng.integers(1, 4), rng.integers(10, 80), rng.integers(1, 30)
        values = rng.integers(0, 15, size=(n_groups, n_ref)).astype(float)
        values[rng.random(values.shape) < 0.3] = np.nan
        mix = rng.random((n_groups, n_ref))
        distinct, code = np.unique(values[~np.isnan(values)], return_inverse=True)
        codes = np.full(values.shape, -1)
        codes[~np.isnan(values)] = code
        resampled = rng.integers(0, n_ref, size=(n_rep, n_ref))
        drawn = np.stack([np.bincount(row, minlength=n_ref) for row in resampled], axis=1)
        cum, total = _bootstrap_cumulative(codes, mix, drawn)
        hist = np.zeros((n_rep, len(distinct)))
        for b, row in enumerate(resampled):
            for r in row:
                for g in range(n_groups):
                    if codes[g, r] >= 0:
                        hist[b, codes[g, r]] += mix[g, r]
        np.testing.assert_allclose(cum, np.cumsum(hist, axis=1), atol=1e-12)
        np.testing.assert_allclose(total[:, 0], np.maximum(hist.sum(axis=1), 1e-300), atol=1e-12)


def test_the_no_estimate_line_says_why_and_whether_the_shift_was_tested():
    """One line, in the library, for predict and the app (review: the app said nothing of
    why; a batch with enough cells read but no estimate was told it had too few)."""
    few = summary(detected=False, shift_sd=0.1, estimate=0.8, n=4)
    few.estimated_accuracy = few.accuracy_holds = None
    few.n_read = 3
    assert few.no_estimate_line() == (
        "no accuracy estimate for this batch: a model read 3 of the batch's 4 cells, and an "
        "estimate needs at least 5 (a cell unassigned by a recording check or for want of "
        "features is not read); nor a test of whether they differ from the training cells (it "
        "needs at least 5 cells the model was not trained on)"
    )
    few.n_training_cells = 1  # of the cells it was not trained on (review: "0 of the 30")
    assert few.no_estimate_line().startswith(
        "no accuracy estimate for this batch: a model read 3 of the 3 cells it was not trained on"
    )
    few.n_training_cells, few.n_read = 4, 0
    assert few.no_estimate_line() == (
        "no accuracy estimate or shift test for this batch: all its cells are cells the model "
        "was trained on"
    )
    enough = summary(detected=False, shift_sd=0.1, estimate=0.8, n=30)
    assert enough.no_estimate_line() is None
    enough.estimated_accuracy = None  # 30 read, no estimate: a model without its cells
    assert enough.no_estimate_line() == (
        "no accuracy estimate for this batch: the model was saved without the calibration "
        "cells the estimate reads; train it again"
    )
