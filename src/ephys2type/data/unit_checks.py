"""Is a column in the unit the schema expects? The median-range check of a table, and the
words of a unit slip: the power of ten that explains it, the unit the values are probably in,
and the fix (a ``--mapping`` line; the line to change when a mapping renamed the column).

The model's own check of every cell against its training cells
(:mod:`ephys2type.models.plausibility`) words its unit slips with :func:`unit_fix` too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.mapping import ColumnMapping, MappedColumn
from ephys2type.data.schema import FeatureSchema
from ephys2type.errors import TableError

#: Minimum number of values in a column before its median is checked against the schema.
MIN_CELLS_FOR_UNIT_CHECK = 20

#: Factors tried to explain a column in another unit: unit prefixes, and 100 for a
#: percentage given as a fraction (or the reverse).
UNIT_FACTORS = (1e-9, 1e-6, 1e-3, 1e-2, 100.0, 1e3, 1e6, 1e9)


def slipped_unit(unit: str, factor: float) -> str | None:
    """The unit a column is in when multiplying it by ``factor`` expresses it in ``unit``
    (``slipped_unit("MOhm", 1000) == "GOhm"``); None when no unit of ``units.toml`` fits."""
    from ephys2type.data.schema import units_table

    table = units_table()
    if unit not in table:
        return None
    dimension, base = table[unit]
    for name, (dim, f) in table.items():
        if dim == dimension and name != unit and np.isclose(f / base, factor, rtol=1e-6):
            return name
    return None


def names_a_unit(unit: str, factor: float) -> bool:
    """Whether multiplying by ``factor`` turns a column into ``unit`` from a unit of its
    dimension in ``units.toml`` (or a plain ratio from a percentage): a slip a unit explains."""
    if unit in ("", "1"):
        return bool(np.isclose(factor, 0.01))
    return slipped_unit(unit, factor) is not None


def unit_fix(
    feature: str,
    unit: str,
    factor: float,
    *,
    expected: str = "",
    mapping: ColumnMapping | None = None,
) -> str:
    """The end of a unit-slip message: that multiplying the values by ``factor`` would bring
    them inside the range, the unit they are probably in, and the fix (``expected``: who
    expects ``unit``, e.g. ``"the model"``). When ``mapping`` maps one of the lab's columns
    onto ``feature``, the fix is that line of the mapping with the unit changed (a second
    line for the feature would be refused)."""
    who = f"{expected} expects {unit}" if expected else f"expected: {unit}"
    mapped = None if mapping is None else mapping.of_feature(feature)
    if mapped is not None:
        return _mapped_unit_fix(mapped, unit, factor, who=who, origin=mapping.origin)
    other = slipped_unit(unit, factor)
    if other is None and unit in ("", "1"):  # a plain number: no unit to convert to
        if names_a_unit(unit, factor):  # a percentage
            return (
                "divided by 100 they would be inside it: the column is probably a percentage "
                "where the model expects a plain ratio (50% is 0.5); divide it by 100"
            )
        return (
            f"multiplied by {factor:g} they would be inside it: the model expects a plain "
            "number (a ratio), so is it the right column, or scaled?"
        )
    if other is None:
        return (
            f"multiplied by {factor:g} they would be inside it: the column is probably in "
            f"another unit ({who}); convert it to {unit}"
        )
    where = (
        "a --mapping file"
        if mapping is None
        else f"your mapping {mapping.origin} (which does not map this column)"
    )
    return (
        f"multiplied by {factor:g} they would be inside it: the column is probably in another "
        f"unit, {other} ({who}); convert it, or declare its unit with a line under the "
        f"[columns] table of {where}: {_mapping_line(feature, feature, other)}"
    )


def _mapping_line(source: str, feature: str, unit: str) -> str:
    """A line of a mapping's ``[columns]`` table (the column's name quoted as TOML quotes
    it: JSON's escapes are TOML's basic-string escapes)."""
    return f'{json.dumps(source)} = {{ feature = "{feature}", unit = "{unit}" }}'


def _mapped_unit_fix(
    mapped: MappedColumn, unit: str, factor: float, *, who: str, origin: str
) -> str:
    """:func:`unit_fix` for a column the mapping ``origin`` renames and converts: the unit its
    values are really in (the declared unit's factor times ``factor``), as its line should
    read; when no unit of ``units.toml`` is that, converting the column is the fix."""
    total = mapped.factor * factor
    really = unit if np.isclose(total, 1.0, rtol=1e-6) else slipped_unit(unit, total)
    declared = "as plain numbers" if mapped.unit == "1" else f"in {mapped.unit}"
    head = (
        f"multiplied by {factor:g} they would be inside it: your column {mapped.source!r}, "
        f"which {origin} maps onto {mapped.feature} {declared}"
    )
    if really is None:
        return (
            f"{head}, is probably in another unit ({who}), none that a mapping declares; "
            f"convert the column to {'plain numbers' if unit == '1' else unit} and give its "
            f"line no unit"
        )
    return (
        f"{head}, is probably in {really} ({who}); change its line there to: "
        f"{_mapping_line(mapped.source, mapped.feature, really)}"
    )


def _best_factor(value: float, lo: float, hi: float) -> float | None:
    """Of :data:`UNIT_FACTORS`, the one that brings ``value`` inside ``lo``..``hi``, nearest
    the middle of the range (on a log scale for a range of one sign); None if none does."""
    fits = [f for f in UNIT_FACTORS if lo <= value * f <= hi]
    if not fits:
        return None
    if lo * hi > 0:
        middle = np.log10(np.sqrt(lo * hi))
        return min(fits, key=lambda f: abs(np.log10(abs(value * f)) - middle))
    return min(fits, key=lambda f: abs(value * f - (lo + hi) / 2))


def check_units(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    *,
    path: str | Path,
    mapping: ColumnMapping | None = None,
) -> None:
    """Refuse a column whose median is far outside the schema's plausible range for its
    unit, saying which power of ten would bring it inside (the unit it is probably in; the
    ``mapping`` line to change when one renamed the column)."""
    for feat in schema.features:
        if feat.median_range is None or feat.name not in frame.columns:
            continue
        values = frame[feat.name].dropna()
        if len(values) < MIN_CELLS_FOR_UNIT_CHECK:
            continue
        med = float(values.median())
        lo, hi = feat.median_range
        if not (lo <= med <= hi):
            factor = _best_factor(med, lo, hi)
            fix = (
                unit_fix(feat.name, feat.unit, factor, mapping=mapping).replace(
                    "they would", "it would"
                )
                if factor is not None
                else f"is it in another unit, or another feature? (schema {schema.name!r} "
                f"expects {feat.unit})"
            )
            raise TableError(
                f"{path}: column {feat.name!r} has median {med:.4g}, outside the plausible "
                f"range of its median, {lo:g} to {hi:g} {feat.unit}; {fix}"
            )
