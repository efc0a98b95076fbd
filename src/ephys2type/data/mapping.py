"""Another lab's feature table: their column names and units, mapped onto a schema's.

A mapping is a small TOML file, one line per column of their table::

    # their column = the schema feature it is, and the unit their values are in
    [columns]
    "Input resistance" = { feature = "ri", unit = "GOhm" }
    "Vrest (mV)" = { feature = "vrest" }              # unit: the schema's (mV)
    tau_s = { feature = "tau", unit = "s" }

Their columns are renamed and their values converted to the schema's units through
``units.toml`` (a unit of another dimension is refused); the median-range check of
:func:`~ephys2type.data.unit_checks.check_units` then catches a declared unit that is wrong. Every
problem of a mapping (unknown feature, unknown unit, unit of the wrong dimension, two
columns for one feature, unknown keys) is reported in one error.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ephys2type.data.schema import (
    BUILTIN_SCHEMAS,
    FeatureSchema,
    conversion_factor,
    get_schema,
    units_table,
)
from ephys2type.errors import SchemaError, TableError


@dataclass(frozen=True)
class MappedColumn:
    """One of their columns: the schema feature it is and the factor to the schema's unit."""

    source: str
    feature: str
    unit: str
    factor: float


@dataclass(frozen=True)
class ColumnMapping:
    """Their columns -> schema features (see the module docstring)."""

    columns: tuple[MappedColumn, ...]
    origin: str = "<mapping>"

    def rename(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with their columns renamed to the features (values untouched)."""
        clash = [
            c.feature for c in self.columns if c.feature in frame.columns and c.source != c.feature
        ]
        if clash:
            raise TableError(
                f"{self.origin}: the table already has column(s) {', '.join(clash)}, which the "
                "mapping also maps other columns onto"
            )
        return frame.rename(columns={c.source: c.feature for c in self.columns})

    def convert(self, X: pd.DataFrame) -> pd.DataFrame:
        """Numeric features (already renamed) converted to the schema's units."""
        out = X.copy()
        for c in self.columns:
            if c.feature in out.columns and c.factor != 1.0:
                out[c.feature] = out[c.feature] * c.factor
        return out

    def of_feature(self, feature: str) -> MappedColumn | None:
        """The line of the mapping that maps a column onto ``feature``, if one does."""
        return next((c for c in self.columns if c.feature == feature), None)

    def present(self, frame: pd.DataFrame) -> ColumnMapping:
        """The lines of the mapping whose column ``frame`` has: a lab keeps one mapping for
        tables that lack some of its columns, or already name them as the schema does
        (new-user trial: such a line made the table's own column a clash, and would have
        converted it as if it were the absent one)."""
        kept = tuple(c for c in self.columns if c.source in frame.columns)
        return ColumnMapping(kept, origin=self.origin)

    def absent(self, frame: pd.DataFrame) -> list[str]:
        """Their columns the mapping names that ``frame`` does not have."""
        return [c.source for c in self.columns if c.source not in frame.columns]


def load_mapping(path: str | Path, schema: FeatureSchema) -> ColumnMapping:
    """Read and check a mapping file against ``schema`` (one error lists every problem)."""
    return parse_mapping(_read(path), schema, origin=str(path))


def mapped_features(path: str | Path) -> list[str]:
    """The feature names a mapping file maps columns onto, unchecked: with the table's own
    columns, they tell which built-in schema a table given without one is in."""
    entries = _read(path).get("columns")
    if not isinstance(entries, Mapping):
        return []
    names = [spec if isinstance(spec, str) else spec.get("feature") for spec in entries.values()]
    return [str(n) for n in names if isinstance(n, str)]


def _read(path: str | Path) -> dict:
    """The TOML of a mapping file; a missing or malformed file is one error."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise TableError(f"{path}: mapping file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: not a valid TOML mapping ({exc})") from None


def parse_mapping(
    raw: Mapping, schema: FeatureSchema, *, origin: str = "<mapping>"
) -> ColumnMapping:
    """A :class:`ColumnMapping` from its dictionary form (the TOML's ``[columns]`` table)."""
    problems: list[str] = []
    unknown_top = set(raw) - {"columns"}
    if unknown_top:
        problems.append(f"unknown section(s) {sorted(unknown_top)} (expected [columns])")
    entries = raw.get("columns")
    if not isinstance(entries, Mapping) or not entries:
        raise TableError(f"{origin}: no [columns] table mapping your columns to features")
    units = units_table()
    columns, targets = [], {}
    elsewhere: list[str] = []  # features this schema lacks
    for source, spec in entries.items():
        if isinstance(spec, str):
            spec = {"feature": spec}
        if not isinstance(spec, Mapping) or "feature" not in spec:
            problems.append(f'{source!r}: give {{ feature = "...", unit = "..." }}')
            continue
        extra = set(spec) - {"feature", "unit"}
        if extra:
            problems.append(f"{source!r}: unknown key(s) {sorted(extra)}")
        feature = str(spec["feature"])
        try:
            target_unit = schema.feature(feature).unit
        except SchemaError:
            close = difflib.get_close_matches(feature, schema.columns, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(f"{source!r}: no feature {feature!r} in schema {schema.name!r}{hint}")
            elsewhere.append(feature)
            continue
        unit = str(spec.get("unit", target_unit))
        if unit not in units:
            problems.append(f"{source!r}: unknown unit {unit!r} (known: {', '.join(units)})")
            continue
        try:
            factor = conversion_factor(unit, target_unit)
        except SchemaError as exc:
            problems.append(f"{source!r} -> {feature}: {exc}")
            continue
        if feature in targets:
            problems.append(f"{targets[feature]!r} and {source!r} both map to {feature!r}")
            continue
        targets[feature] = source
        columns.append(MappedColumn(str(source), feature, unit, factor))
    if problems:
        raise TableError(
            f"{origin}: bad mapping: " + "; ".join(problems) + _other_schema(elsewhere, schema)
        )
    return ColumnMapping(tuple(columns), origin=origin)


def _other_schema(features: list[str], schema: FeatureSchema) -> str:
    """``; they are features of the built-in schema 'human' ...`` when every feature of
    ``features`` is one of another built-in schema (a trial: a human mapping given to a
    mouse model was told only that its features were not the mouse schema's)."""
    if not features:
        return ""
    for name in BUILTIN_SCHEMAS:
        other = get_schema(name)
        if other.name != schema.name and all(f in other.columns for f in features):
            return (
                f"; they are features of the built-in schema {name!r} ({other.name}), not of "
                f"this one ({schema.name}): use a model of that schema, or map your columns "
                f"to this schema's features (`ephys2type data families"
                + (f" --species {schema.species}" if schema.species in ("mouse", "human") else "")
                + "` lists them)"
            )
    return ""
