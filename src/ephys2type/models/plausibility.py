"""Is a value plausible for its feature? Ranges learnt from the training cells.

A column in another unit (tau in ms where the model expects s, a resistance in GOhm where it
expects MOhm) is off by a factor of 1,000 or so; a plain median check needs many cells to see
it. :class:`PlausibleRanges` learns, per feature, a range from the training cells wide enough
that real cells of other labs fall inside it and a unit slip does not: for a feature of one
sign in every training cell, its 0.1st to 99.9th percentile of magnitudes widened by a factor
of :data:`LOG_MARGIN` on each side (a decade); for a feature of both signs, that percentile
range widened by its own width on each side. A value some training cell had is always
inside, and so is 0 (the same in every unit). It then checks any number of cells, one included:

- :meth:`implausible` marks each value outside its feature's range;
- :meth:`unit_slips` names the columns whose every measured value is outside, with the
  power of ten that brings them inside (what a unit slip looks like).

A few training cells of the other sign (a measurement error: 2 of 594 of a lab's cells with
a negative input resistance; 1 of 3,906 bundled mouse cells with a positive spike threshold)
give a feature a range of both signs, which a column in another unit stays inside (a
resistance in GOhm, a voltage in V). So a feature whose training values are of one sign in
at least :data:`DOMINANT_SIGN` of cells also keeps the range of that sign alone, its *bulk*
range, and :meth:`unit_slips` names a column whose every value (at least
:data:`MIN_BULK_SLIP_CELLS`) lies outside the bulk range when a power of ten brings them
inside it. A single cell outside the bulk range is only flagged if it is outside the range
itself: the bulk range judges columns, never one cell, and every training value of the
dominant sign stays inside it. Any value beyond a range of both signs is brought inside by a
small enough factor, so there a power of ten is named only for values a decade beyond the range
(a real cell's outlier is no unit slip).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.mapping import ColumnMapping
from ephys2type.data.unit_checks import UNIT_FACTORS, names_a_unit, unit_fix

#: Percentiles of the training cells that bound a feature's range before widening.
LOW, HIGH = 0.001, 0.999
#: A positive feature's range is widened by this factor on each side (one decade).
LOG_MARGIN = 10.0
#: Factors tried to explain a column whose values are all outside: unit prefixes, and 100
#: for a percentage given as a fraction (or the reverse).
FACTORS = UNIT_FACTORS
#: Share of a feature's nonzero training values of one sign above which that sign's range is
#: the feature's bulk range (module docstring).
DOMINANT_SIGN = 0.98
#: Fewest values a column needs before its values all outside the bulk range are a unit slip.
MIN_BULK_SLIP_CELLS = 3


@dataclass(frozen=True)
class UnitSlip:
    """A column whose measured values all lie outside its range."""

    feature: str
    n_values: int
    median: float
    low: float
    high: float
    factor: float | None  # multiply by this to bring them inside, if one factor does
    center: float = float("nan")  # the training cells' median
    bulk: bool = False  # judged by the bulk range (module docstring), not the range itself

    def message(self, unit: str, mapping: ColumnMapping | None = None) -> str:
        """One complete sentence: the values, the plausible range they miss (not the
        training cells' own range: it is that range widened, see the module docstring), the
        training cells' median, and what a factor that brings them inside says (the line of
        ``mapping`` to change, when one renamed the column)."""
        shown = "" if unit in ("", "1") else f" {unit}"
        values = (
            f"its one value ({self.median:.4g})"
            if self.n_values == 1
            else f"all {self.n_values} values (median {self.median:.4g})"
        )
        lie = "lies" if self.n_values == 1 else "lie"
        head = (
            f"column {self.feature!r}: {values} {lie} outside the plausible range for the "
            f"model, {self.low:.4g} to {self.high:.4g}{shown} (the training cells' median is "
            f"{self.center:.4g}{shown})"
        )
        if self.factor is None:
            return (
                f"{head}; no unit explains them: is it the right column? (the model expects "
                f"{self.feature} in {unit})"
            )
        fix = unit_fix(self.feature, unit, self.factor, expected="the model", mapping=mapping)
        if self.n_values == 1:
            fix = fix.replace("they would", "it would")
        return f"{head}; {fix}"


@dataclass(frozen=True)
class PlausibleRanges:
    """Per feature: the plausible range (see the module docstring)."""

    features: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    center: np.ndarray  # the training median, to tell which unit factor fits best
    # the range of the dominant sign, for columns (module docstring); None: low and high
    bulk_low: np.ndarray | None = None
    bulk_high: np.ndarray | None = None

    @classmethod
    def fit(cls, X: pd.DataFrame) -> PlausibleRanges:
        """Ranges of the columns of the training cells ``X`` (NaN: not measured)."""
        lows, highs, centers, bulk_lows, bulk_highs = [], [], [], [], []
        for col in X.columns:
            values = X[col].dropna().to_numpy(dtype=float)
            if len(values) == 0:
                lows.append(-np.inf)
                highs.append(np.inf)
                centers.append(np.nan)
                bulk_lows.append(-np.inf)
                bulk_highs.append(np.inf)
                continue
            lo, hi = _widened(values)
            lows.append(min(lo, values.min()))
            highs.append(max(hi, values.max()))
            centers.append(float(np.median(values)))
            nonzero = values[values != 0]
            positive = (nonzero > 0).mean() if len(nonzero) else 0.5
            if 1 - DOMINANT_SIGN <= positive <= DOMINANT_SIGN:
                bulk_lows.append(lows[-1])
                bulk_highs.append(highs[-1])
            else:  # every training value of that sign stays inside, as in the range
                dominant = nonzero[(nonzero > 0) == (positive > 0.5)]
                lo, hi = _widened(dominant)
                bulk_lows.append(min(lo, dominant.min()))
                bulk_highs.append(max(hi, dominant.max()))
        return cls(
            tuple(map(str, X.columns)),
            np.asarray(lows),
            np.asarray(highs),
            np.asarray(centers),
            np.asarray(bulk_lows),
            np.asarray(bulk_highs),
        )

    def _values(self, X: pd.DataFrame) -> np.ndarray:
        return X.reindex(columns=list(self.features)).to_numpy(dtype=float)

    def implausible(self, X: pd.DataFrame) -> pd.DataFrame:
        """Cells x features: True where a measured value lies outside its range."""
        values = self._values(X)
        with np.errstate(invalid="ignore"):
            out = ((values < self.low) | (values > self.high)) & (values != 0)
        return pd.DataFrame(out & ~np.isnan(values), index=X.index, columns=list(self.features))

    def unit_slips(self, X: pd.DataFrame) -> list[UnitSlip]:
        """Columns whose every measured value (at least one) is outside its range, and
        columns of at least :data:`MIN_BULK_SLIP_CELLS` values all outside the bulk range
        that a power of ten brings inside it (module docstring)."""
        values = self._values(X)
        bad = self.implausible(X).to_numpy()
        measured = ~np.isnan(values)
        bulk_low = self.low if self.bulk_low is None else self.bulk_low
        bulk_high = self.high if self.bulk_high is None else self.bulk_high
        slips = []
        for j in np.flatnonzero(measured.any(axis=0)):
            v = values[measured[:, j], j]
            whole = bool(bad[measured[:, j], j].all())  # every value outside the range
            if whole:
                low, high = self.low[j], self.high[j]
            elif len(v) >= MIN_BULK_SLIP_CELLS and ((v < bulk_low[j]) | (v > bulk_high[j])).all():
                low, high = bulk_low[j], bulk_high[j]
            else:
                continue
            inside = [f for f in FACTORS if ((v * f >= low) & (v * f <= high)).mean() >= 0.9]
            if low < 0 < high and not (np.abs(v) > LOG_MARGIN * max(-low, high)).all():
                # shrinking brings any value inside a range around 0: no unit is evidenced
                # unless the values are a decade beyond it (a real cell's outlier was taken
                # for a slip, and the whole table refused)
                inside = []
            if not whole and not inside:
                continue  # outside the bulk range only, and no unit explains it: their values
            # of the factors that fit, the one bringing the values nearest the training median
            factor = min(
                inside,
                key=lambda f: abs(
                    np.log10(abs(np.median(v) * f) + 1e-300)
                    - np.log10(abs(self.center[j]) + 1e-300)
                ),
                default=None,
            )
            slips.append(
                UnitSlip(
                    feature=self.features[j],
                    n_values=len(v),
                    median=float(np.median(v)),
                    low=float(low),
                    high=float(high),
                    factor=factor,
                    center=float(self.center[j]),
                    bulk=not whole,
                )
            )
        return slips

    def refusing_slips(self, X: pd.DataFrame, units: dict[str, str]) -> list[UnitSlip]:
        """The slips of :meth:`unit_slips` that refuse the table ``X`` (``units``: each
        feature's unit). From :data:`MIN_BULK_SLIP_CELLS` values on; one or two values when
        they are the whole batch and a power of ten explains them (among more cells they are
        those cells' own, flagged per cell as implausible: a review saw a chirp peak ratio of
        28.7, the one chirp of three cells, refuse the table as "a percentage"); a column
        judged by the bulk range alone only when a unit explains the factor ("multiplied by
        100 ... convert it to s" for early spike times was no unit at all)."""
        return [
            s
            for s in self.unit_slips(X)
            if (s.n_values >= MIN_BULK_SLIP_CELLS or (s.factor and s.n_values == len(X)))
            and not (s.bulk and not names_a_unit(units[s.feature], s.factor))
        ]

    def describe(self, feature: str, value: float, unit: str = "", *, their: str = "") -> str:
        """``tau = 25 s, outside the plausible range 0.0012 to 0.31 s (training median
        0.021)``: the range is the training cells' widened (module docstring), so it is not
        called theirs. ``their``: the lab's column the value came from, when a mapping
        renamed it (named beside the feature, the value being in the feature's unit)."""
        j = self.features.index(feature)
        shown = f" {unit}" if unit and unit != "1" else ""
        source = f" (your column {their!r})" if their and their != feature else ""
        # a value a thousand times off lands inside: a unit slip too few cells show for the
        # column check (a new-user trial: tau in s on 2 cells, said per cell with no hint)
        hint = next(
            (
                f"; {word} ({value * factor:.4g}{shown}) it would lie inside: is the column "
                "in another unit?"
                for factor, word in ((1000.0, "a thousand times larger"), (1e-3, "a thousandth"))
                if self.low[j] <= value * factor <= self.high[j]
            ),
            "",
        )
        return (
            f"{feature} = {value:.4g}{shown}{source}, outside the plausible range "
            f"{self.low[j]:.4g} to {self.high[j]:.4g}{shown} (training median "
            f"{self.center[j]:.4g}){hint}"
        )

    def to_dict(self) -> dict[str, Any]:
        raw = {
            "features": list(self.features),
            "low": _listed(self.low),
            "high": _listed(self.high),
            "center": _listed(self.center),
        }
        if self.bulk_low is not None and self.bulk_high is not None:
            raw |= {"bulk_low": _listed(self.bulk_low), "bulk_high": _listed(self.bulk_high)}
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PlausibleRanges:
        """The ranges :meth:`to_dict` wrote (a model saved before bulk ranges has none)."""
        low = [-np.inf if v is None else float(v) for v in raw["low"]]
        high = [np.inf if v is None else float(v) for v in raw["high"]]
        center = [np.nan if v is None else float(v) for v in raw["center"]]
        bulk = {}
        if "bulk_low" in raw and "bulk_high" in raw:
            bulk = {
                "bulk_low": np.asarray(
                    [-np.inf if v is None else float(v) for v in raw["bulk_low"]]
                ),
                "bulk_high": np.asarray(
                    [np.inf if v is None else float(v) for v in raw["bulk_high"]]
                ),
            }
        return cls(
            tuple(map(str, raw["features"])),
            np.asarray(low),
            np.asarray(high),
            np.asarray(center),
            **bulk,
        )


def _widened(values: np.ndarray) -> tuple[float, float]:
    """The 0.1st to 99.9th percentile of ``values`` widened (module docstring): by a decade
    on each side when all are of one sign, else by the range's own width."""
    lo, hi = np.quantile(values, [LOW, HIGH])
    if values.min() > 0:
        return lo / LOG_MARGIN, hi * LOG_MARGIN
    if values.max() < 0:
        return lo * LOG_MARGIN, hi / LOG_MARGIN
    width = hi - lo
    return lo - width, hi + width


def _listed(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]
