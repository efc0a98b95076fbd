"""The allowance of a shifted batch's accuracy interval comes from the sets it was measured on
(models/shift_allowance.py), not from a number written by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ephys2type.models.batch_check import SHIFT_ALLOWANCE
from ephys2type.models.shift_allowance import (
    SETS_COLUMNS,
    conformal_quantile,
    shift_allowance,
    shift_sets,
)

ROOT = Path(__file__).resolve().parents[1]


def test_conformal_quantile_is_the_ceil_rank_and_covers_its_level():
    errors = np.arange(1, 20) / 100  # 19 errors: the ceil(0.9 * 20) = 18th smallest
    assert conformal_quantile(errors[::-1]) == pytest.approx(0.18)
    assert np.mean(errors <= conformal_quantile(errors)) >= 0.9
    # too few errors for a 90% quantile: no finite allowance
    assert conformal_quantile([0.1, 0.2, 0.3]) == math.inf


def test_packaged_sets_are_the_declared_shifted_sets_the_docs_describe():
    sets = shift_sets()
    assert tuple(sets.columns) == SETS_COLUMNS
    # 39 whole held-out sets of 13 shifted splits (docs/shifted-batches.md)
    assert len(sets) == 39 and sets["split"].nunique() == 13
    assert sets[["real", "estimate"]].apply(lambda c: c.between(0, 1).all()).all()
    assert (sets["n"] >= 100).all()


def test_shipped_allowance_is_the_quantile_of_the_packaged_errors():
    errors = np.sort((shift_sets()["estimate"] - shift_sets()["real"]).abs().to_numpy())
    rank = math.ceil(0.9 * (len(errors) + 1))
    assert pytest.approx(errors[rank - 1]) == SHIFT_ALLOWANCE


def test_the_docs_quote_the_allowance_the_package_ships():
    """A re-run of the benchmark that moves the allowance fails here until the docs say it."""
    quoted = f"at least {100 * SHIFT_ALLOWANCE:.1f} points"
    assert quoted in (ROOT / "docs" / "shifted-batches.md").read_text()
    assert f"{100 * SHIFT_ALLOWANCE:.1f} points" == "21.1 points"


def test_packaged_sets_are_the_benchmarks_declared_shifted_sets():
    """The packaged rows are the declared-shifted held-out sets of the benchmark's result
    file, committed for this check (the other benchmark results are not: a test audit found
    this test skipped on every clean clone)."""
    path = ROOT / "benchmarks" / "results" / "shift_allowance.json"
    rows = pd.DataFrame(json.loads(path.read_text())["sets"])
    declared = rows[(rows["tag"] == "held_out") & rows["detected"].fillna(False).astype(bool)]
    packaged = shift_sets()
    assert len(declared) == len(packaged)
    for column in ("real", "estimate"):
        assert np.allclose(declared[column].to_numpy(), packaged[column].to_numpy(), atol=1e-6)
    assert list(declared["split"]) == list(packaged["split"])


def test_other_sets_give_another_allowance():
    sets = pd.DataFrame(
        {"split": ["a"] * 9, "real": [0.8] * 9, "estimate": 0.8 + np.arange(9) / 100}
    )
    assert shift_allowance(sets) == pytest.approx(0.08)
    assert shift_allowance(sets, level=0.5) == pytest.approx(0.04)
