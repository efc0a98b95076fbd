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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.mapping import ColumnMapping
from ephys2type.data.unit_checks import UNIT_FACTORS, unit_fix

#: Percentiles of the training cells that bound a feature's range before widening.
LOW, HIGH = 0.001, 0.999
#: A positive feature's range is widened by this factor on each side (one decade).
LOG_MARGIN = 10.0
#: Factors tried to explain a column whose values are all outside: unit prefixes, and 100
#: for a percentage given as a fraction (or the reverse).
FACTORS = UNIT_FACTORS


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
                f"{head}; no power of ten brings them inside it: is it the right column? "
                f"(the model expects {self.feature} in {unit})"
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

    @classmethod
    def fit(cls, X: pd.DataFrame) -> PlausibleRanges:
        """Ranges of the columns of the training cells ``X`` (NaN: not measured)."""
        lows, highs, centers = [], [], []
        for col in X.columns:
            values = X[col].dropna().to_numpy(dtype=float)
            if len(values) == 0:
                lows.append(-np.inf)
                highs.append(np.inf)
                centers.append(np.nan)
                continue
            lo, hi = np.quantile(values, [LOW, HIGH])
            if values.min() > 0:
                lo, hi = lo / LOG_MARGIN, hi * LOG_MARGIN
            elif values.max() < 0:
                lo, hi = lo * LOG_MARGIN, hi / LOG_MARGIN
            else:
                width = hi - lo
                lo, hi = lo - width, hi + width
            lows.append(min(lo, values.min()))
            highs.append(max(hi, values.max()))
            centers.append(float(np.median(values)))
        return cls(
            tuple(map(str, X.columns)), np.asarray(lows), np.asarray(highs), np.asarray(centers)
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
        """Columns whose every measured value (at least one) is outside its range."""
        values = self._values(X)
        bad = self.implausible(X).to_numpy()
        measured = ~np.isnan(values)
        slips = []
        for j in np.flatnonzero(measured.any(axis=0) & (bad == measured).all(axis=0)):
            v = values[measured[:, j], j]
            inside = [
                f
                for f in FACTORS
                if ((v * f >= self.low[j]) & (v * f <= self.high[j])).mean() >= 0.9
            ]
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
                    low=float(self.low[j]),
                    high=float(self.high[j]),
                    factor=factor,
                    center=float(self.center[j]),
                )
            )
        return slips

    def describe(self, feature: str, value: float, unit: str = "") -> str:
        """``tau = 25 s, outside the plausible range 0.0012 to 0.31 s (training median
        0.021)``: the range is the training cells' widened (module docstring), so it is not
        called theirs."""
        j = self.features.index(feature)
        shown = f" {unit}" if unit and unit != "1" else ""
        return (
            f"{feature} = {value:.4g}{shown}, outside the plausible range {self.low[j]:.4g} to "
            f"{self.high[j]:.4g}{shown} (training median {self.center[j]:.4g})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "low": [float(v) if np.isfinite(v) else None for v in self.low],
            "high": [float(v) if np.isfinite(v) else None for v in self.high],
            "center": [float(v) if np.isfinite(v) else None for v in self.center],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PlausibleRanges:
        low = [-np.inf if v is None else float(v) for v in raw["low"]]
        high = [np.inf if v is None else float(v) for v in raw["high"]]
        center = [np.nan if v is None else float(v) for v in raw["center"]]
        return cls(
            tuple(map(str, raw["features"])), np.asarray(low), np.asarray(high), np.asarray(center)
        )
