"""Plausible ranges learnt from the training cells: a unit slip is named at any batch size,
also where a few training cells had the other sign, and a real cell's outlier is not taken
for one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ephys2type import load_human, load_mouse
from ephys2type.models.plausibility import PlausibleRanges


def _resistances(n: int = 300, negative: int = 2, seed: int = 0) -> pd.DataFrame:
    """Input resistances in MOhm, ``negative`` of them measurement errors below 0."""
    ri = np.random.default_rng(seed).lognormal(np.log(200), 0.5, n)
    ri[:negative] = -789.0
    return pd.DataFrame({"ri": ri})


def test_a_column_in_another_unit_is_named_where_training_cells_had_both_signs():
    """Two negative resistances give the feature a range of both signs, which values in GOhm
    (0.1-1) stay inside; the range of the positive cells alone names the slip from 3 cells
    on (new-user trial: a batch of fewer than 20 such cells was called)."""
    ranges = PlausibleRanges.fit(_resistances())
    assert ranges.low[0] < 0 < ranges.high[0]
    gohm = pd.DataFrame({"ri": [0.15, 0.3, 0.45, 0.6, 0.9]})
    assert not ranges.implausible(gohm).to_numpy().any()  # each value alone is plausible
    (slip,) = ranges.unit_slips(gohm)
    assert slip.factor == 1000 and slip.low > 0  # the range it reports is the positive one
    assert "GOhm" in slip.message("MOhm")
    assert ranges.unit_slips(gohm.iloc[:2]) == []  # two values: too few to judge a column
    # the same cells in MOhm, and the training cells themselves, are no slip
    assert ranges.unit_slips(gohm * 1000) == []
    assert ranges.unit_slips(_resistances(seed=1)) == []
    # where the other sign is no rare error (10% of cells), the range of both signs stands
    assert PlausibleRanges.fit(_resistances(negative=30)).unit_slips(gohm) == []


def test_an_outlier_beyond_a_range_of_both_signs_is_no_unit_slip():
    """Shrinking brings any value inside a range around 0, so a value just beyond it gets
    no power of ten (a real human cell's chirp phase refused the whole table); one a decade
    beyond it does."""
    phase = pd.DataFrame({"phase": np.random.default_rng(0).normal(-0.1, 0.3, 400)})
    ranges = PlausibleRanges.fit(phase)
    low, high = ranges.low[0], ranges.high[0]
    assert low < 0 < high
    (near,) = ranges.unit_slips(pd.DataFrame({"phase": [low * 1.3]}))
    assert near.factor is None  # the cell's own value: flagged per cell, not a table error
    assert ranges.implausible(pd.DataFrame({"phase": [low * 1.3]})).to_numpy().all()
    (far,) = ranges.unit_slips(pd.DataFrame({"phase": [ranges.center[0] * 1000]}))
    assert far.factor == pytest.approx(1e-3)


@pytest.mark.parametrize("load", [load_mouse, load_human], ids=["mouse", "human"])
def test_small_batches_of_real_cells_are_never_taken_for_a_unit_slip(load):
    """Batches of 3-19 cells held out from the ranges' training cells, random and of one
    class: no column is named as a slip with a power of ten (what refuses a table)."""
    data = load()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.X))
    cut = int(0.6 * len(order))
    ranges = PlausibleRanges.fit(data.X.iloc[order[:cut]])
    held, labels = data.X.iloc[order[cut:]], data.y.iloc[order[cut:]]
    pools = [held] + [held[labels == c] for c in labels.unique()]
    named = []
    for pool in pools:
        for n in (3, 10, 19):
            for _ in range(10 if len(pool) >= n else 0):
                batch = pool.iloc[rng.choice(len(pool), n, replace=False)]
                named += [s.feature for s in ranges.unit_slips(batch) if s.factor]
    assert named == []
    # and a thousandfold slip of a feature with a few training cells of the other sign
    # (mouse: spike threshold in V; human: the fit slope of f-I per pA) is named in 3 cells
    feature = "threshold_v_short_square" if data.species == "mouse" else "fi_fit_slope"
    batch = held.iloc[:3]
    assert any(
        s.feature == feature
        for s in ranges.unit_slips(batch.assign(**{feature: batch[feature] / 1000}))
    )


def test_ranges_keep_their_bulk_through_a_saved_model_and_read_old_ones():
    ranges = PlausibleRanges.fit(_resistances())
    again = PlausibleRanges.from_dict(ranges.to_dict())
    gohm = pd.DataFrame({"ri": [0.15, 0.3, 0.45]})
    assert again.unit_slips(gohm) == ranges.unit_slips(gohm) != []
    old = {k: v for k, v in ranges.to_dict().items() if not k.startswith("bulk")}
    assert PlausibleRanges.from_dict(old).unit_slips(gohm) == []  # as such a model did


def test_a_ratio_given_as_a_percentage_is_named_so():
    """A plain number has no unit to convert to (new-user trial: "the model expects 1;
    convert it to 1" for a ratio given in percent)."""
    ratio = pd.DataFrame({"ratio": np.random.default_rng(0).uniform(0.8, 1.2, 300)})
    (slip,) = PlausibleRanges.fit(ratio).unit_slips(ratio.iloc[:5] * 100)
    assert slip.factor == pytest.approx(0.01)
    assert slip.message("1").endswith(
        "divided by 100 they would be inside it: the column is probably a percentage where "
        "the model expects a plain ratio (50% is 0.5); divide it by 100"
    )


def test_training_extremes_stay_inside_the_bulk_range():
    """Every training value of the dominant sign is inside the bulk range (a review: the
    mouse cells whose short-square spike came earliest, 7-16 ms, were refused as a table
    'in another unit')."""
    data = load_mouse()
    ranges = PlausibleRanges.fit(data.X)
    for feature in ("peak_t_short_square", "threshold_t_short_square", "f_i_curve_slope"):
        earliest = data.X.nsmallest(3, feature)
        assert not [s for s in ranges.unit_slips(earliest) if s.feature == feature]


def test_a_value_a_thousand_times_off_gets_a_unit_hint():
    """Too few cells for the column check (a new-user trial: tau in s on 2 cells was said
    per cell, with no hint of the unit)."""
    tau = pd.DataFrame({"tau": np.random.default_rng(0).lognormal(np.log(20.0), 0.4, 300)})
    ranges = PlausibleRanges.fit(tau)
    said = ranges.describe("tau", 0.021, "ms")
    assert said.endswith(
        "; a thousand times larger (21 ms) it would lie inside: is the column in another unit?"
    )
    assert "thousandth (21 ms)" in ranges.describe("tau", 21000.0, "ms")
    # a value no power of a thousand brings inside gets no hint
    assert "unit?" not in ranges.describe("tau", 5e9, "ms")
