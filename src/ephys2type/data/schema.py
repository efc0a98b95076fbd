"""Feature schemas: IPFX features grouped into families, with units, as data.

A :class:`FeatureSchema` is an ordered list of :class:`Family` objects, each an ordered list
of :class:`Feature` columns with a unit. The built-in schemas (``mouse``, ``human``,
``aligned``) are TOML files shipped in ``ephys2type/resources``; users can write their own
for their own IPFX exports and pass its path wherever a schema name is accepted.

Families matter twice: QC drops cells that miss a whole essential family, and the attention
BiLSTM reads a cell as the sequence of its families.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ephys2type.errors import SchemaError

BUILTIN_SCHEMAS = ("mouse", "human", "aligned")


@cache
def units_table() -> dict[str, tuple[str, float]]:
    """Unit name -> (dimension, factor to the SI base of that dimension)."""
    raw = tomllib.loads(_resource_text("units.toml"))["units"]
    return {name: (str(dim), float(factor)) for name, (dim, factor) in raw.items()}


def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Multiply a value in ``from_unit`` by this to express it in ``to_unit``.

    Raises :class:`SchemaError` for unknown units or units of different dimensions.
    """
    table = units_table()
    for unit in (from_unit, to_unit):
        if unit not in table:
            raise SchemaError(f"unknown unit {unit!r}; known units: {', '.join(table)}")
    (dim_from, f_from), (dim_to, f_to) = table[from_unit], table[to_unit]
    if dim_from != dim_to:
        raise SchemaError(f"cannot convert {from_unit!r} ({dim_from}) to {to_unit!r} ({dim_to})")
    return f_from / f_to


@dataclass(frozen=True)
class Source:
    """Where an aligned feature comes from in one species: ``column`` (minus ``minus``)."""

    column: str
    minus: str | None = None

    def columns(self) -> tuple[str, ...]:
        return (self.column,) if self.minus is None else (self.column, self.minus)


@dataclass(frozen=True)
class Feature:
    """One feature column: its unit, meaning, and (aligned schema only) its sources."""

    name: str
    unit: str
    description: str = ""
    median_range: tuple[float, float] | None = None
    sparse: bool = False
    sources: dict[str, Source] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A group of features from one stimulus protocol or response aspect."""

    name: str
    features: tuple[Feature, ...]
    title: str = ""
    description: str = ""
    essential: bool = False
    optional: bool = False
    #: The stimulus protocol that yields the family (``long_square``, ``ramp``, ...); a lab
    #: without that protocol has none of the family's features. Empty: the family's own name.
    protocol: str = ""

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def stimulus(self) -> str:
        """The protocol of the family (its own name when the schema does not say)."""
        return self.protocol or self.name


@dataclass(frozen=True)
class FeatureSchema:
    """An ordered list of feature families (see module docstring)."""

    name: str
    families: tuple[Family, ...]
    species: str = "any"
    description: str = ""

    def __repr__(self) -> str:
        """One line (new-user trial: a classifier's repr ran to 40 lines of features);
        :meth:`to_dict` has every feature."""
        n = sum(len(f.features) for f in self.families)
        return (
            f"FeatureSchema({self.name!r}, species={self.species!r}: {n} features in "
            f"{len(self.families)} families)"
        )

    def __post_init__(self) -> None:
        if not self.families:
            raise SchemaError(f"schema {self.name!r} has no families")
        seen: dict[str, str] = {}
        fam_names: set[str] = set()
        for fam in self.families:
            if fam.name in fam_names:
                raise SchemaError(f"schema {self.name!r}: family {fam.name!r} appears twice")
            fam_names.add(fam.name)
            if not fam.features:
                raise SchemaError(f"schema {self.name!r}: family {fam.name!r} has no features")
            for feat in fam.features:
                if feat.name in seen:
                    raise SchemaError(
                        f"schema {self.name!r}: feature {feat.name!r} is in both "
                        f"{seen[feat.name]!r} and {fam.name!r}"
                    )
                seen[feat.name] = fam.name
                if feat.unit not in units_table():
                    raise SchemaError(
                        f"schema {self.name!r}: feature {feat.name!r} has unknown unit "
                        f"{feat.unit!r}; known units: {', '.join(units_table())}"
                    )

    @property
    def columns(self) -> list[str]:
        """All feature columns, family by family, in schema order."""
        return [c for fam in self.families for c in fam.columns]

    @property
    def family_names(self) -> list[str]:
        return [fam.name for fam in self.families]

    @property
    def features(self) -> list[Feature]:
        return [f for fam in self.families for f in fam.features]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise SchemaError(f"schema {self.name!r} has no feature {name!r}")

    def family(self, name: str) -> Family:
        for fam in self.families:
            if fam.name == name:
                return fam
        raise SchemaError(
            f"schema {self.name!r} has no family {name!r}; families: {', '.join(self.family_names)}"
        )

    def family_of(self, column: str) -> str:
        """The name of the family a feature column belongs to."""
        for fam in self.families:
            if column in fam.columns:
                return fam.name
        raise SchemaError(f"schema {self.name!r} has no feature {column!r}")

    def family_index(self) -> list[list[int]]:
        """For each family, the positions of its columns in :attr:`columns`."""
        out, start = [], 0
        for fam in self.families:
            out.append(list(range(start, start + len(fam.features))))
            start += len(fam.features)
        return out

    def counted_columns(self) -> list[str]:
        """Columns counted by missing-value QC: not sparse, not in an optional family."""
        return [
            f.name
            for fam in self.families
            if not fam.optional
            for f in fam.features
            if not f.sparse
        ]

    @property
    def protocols(self) -> list[str]:
        """The stimulus protocols of the families, in schema order."""
        return list(dict.fromkeys(fam.stimulus for fam in self.families))

    def protocol_subsets(self) -> list[tuple[str, ...]]:
        """The family sets a lab plausibly has: the first protocol's families (the long
        square steps every lab records) with any combination of the other protocols,
        largest first; the first entry is the whole schema."""
        from itertools import combinations

        core, others = self.protocols[0], self.protocols[1:]
        subsets = []
        for k in range(len(others), -1, -1):
            for extra in combinations(others, k):
                keep = {core, *extra}
                subsets.append(tuple(f.name for f in self.families if f.stimulus in keep))
        return subsets

    def restrict(self, families: Sequence[str]) -> FeatureSchema:
        """The schema with only ``families`` (kept in schema order), named after them."""
        wanted = list(dict.fromkeys(families))
        for name in wanted:
            self.family(name)  # unknown names raise, listing the families
        if set(wanted) == set(self.family_names):
            return self
        kept = tuple(fam for fam in self.families if fam.name in wanted)
        return FeatureSchema(
            name=f"{self.name}[{'+'.join(f.name for f in kept)}]",
            families=kept,
            species=self.species,
            description=f"{self.description} (families: {', '.join(f.name for f in kept)})",
        )

    def select(self, columns: Sequence[str]) -> FeatureSchema:
        """The schema with only ``columns`` (kept in schema order; families left with none
        are dropped), for a model of the features a cell really has."""
        wanted = set(columns)
        for name in wanted:
            self.family_of(name)  # unknown columns raise
        if wanted == set(self.columns):
            return self
        kept = []
        for fam in self.families:
            features = tuple(f for f in fam.features if f.name in wanted)
            if features:
                kept.append(replace(fam, features=features))
        return FeatureSchema(
            name=f"{self.name}[{len(wanted)} features]",
            families=tuple(kept),
            species=self.species,
            description=f"{self.description} ({len(wanted)} of {len(self.columns)} features)",
        )

    @classmethod
    def generic(cls, columns: Sequence[str], *, name: str = "columns") -> FeatureSchema:
        """A schema of plain columns: one family ``features`` of dimensionless features
        (for cells given as a bare table, without a schema of their own)."""
        features = tuple(Feature(str(c), "1") for c in columns)
        return cls(name, (Family("features", features),))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description (used in model sidecars and results)."""
        return {
            "name": self.name,
            "species": self.species,
            "description": self.description,
            "families": [
                {
                    "name": fam.name,
                    "title": fam.title,
                    "description": fam.description,
                    "essential": fam.essential,
                    "optional": fam.optional,
                    "protocol": fam.protocol,
                    "features": [_feature_to_dict(f) for f in fam.features],
                }
                for fam in self.families
            ],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, origin: str = "<dict>") -> FeatureSchema:
        """Build and validate a schema from its dictionary (TOML or JSON) form."""
        try:
            families = tuple(_family_from_dict(f, origin) for f in raw["families"])
            return cls(
                name=str(raw.get("name", origin)),
                families=families,
                species=str(raw.get("species", "any")),
                description=str(raw.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(f"{origin}: invalid feature schema ({_describe(exc)})") from exc


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return str(exc)


def _feature_to_dict(f: Feature) -> dict[str, Any]:
    d: dict[str, Any] = {"name": f.name, "unit": f.unit, "description": f.description}
    if f.median_range is not None:
        d["median_range"] = list(f.median_range)
    if f.sparse:
        d["sparse"] = True
    for species, src in f.sources.items():
        d[species] = {"column": src.column, **({"minus": src.minus} if src.minus else {})}
    return d


_FEATURE_KEYS = {"name", "unit", "description", "median_range", "sparse", "mouse", "human"}
_FAMILY_KEYS = {
    "name",
    "title",
    "description",
    "essential",
    "optional",
    "protocol",
    "features",
}


def _family_from_dict(raw: dict[str, Any], origin: str) -> Family:
    unknown = set(raw) - _FAMILY_KEYS
    if unknown:
        raise SchemaError(
            f"{origin}: family {raw.get('name')!r} has unknown keys {sorted(unknown)}"
        )
    return Family(
        name=str(raw["name"]),
        title=str(raw.get("title", raw["name"])),
        description=str(raw.get("description", "")),
        essential=bool(raw.get("essential", False)),
        optional=bool(raw.get("optional", False)),
        protocol=str(raw.get("protocol", "")),
        features=tuple(_feature_from_dict(f, origin) for f in raw["features"]),
    )


def _feature_from_dict(raw: dict[str, Any], origin: str) -> Feature:
    unknown = set(raw) - _FEATURE_KEYS
    if unknown:
        raise SchemaError(
            f"{origin}: feature {raw.get('name')!r} has unknown keys {sorted(unknown)}"
        )
    rng = raw.get("median_range")
    if rng is not None:
        lo, hi = (float(v) for v in rng)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise SchemaError(f"{origin}: feature {raw['name']!r} has an invalid median_range")
        rng = (lo, hi)
    sources = {
        species: Source(column=str(raw[species]["column"]), minus=raw[species].get("minus"))
        for species in ("mouse", "human")
        if species in raw
    }
    return Feature(
        name=str(raw["name"]),
        unit=str(raw["unit"]),
        description=str(raw.get("description", "")),
        median_range=rng,
        sparse=bool(raw.get("sparse", False)),
        sources=sources,
    )


def _resource_text(name: str) -> str:
    return resources.files("ephys2type").joinpath("resources", name).read_text("utf-8")


def load_resource_toml(name: str) -> dict[str, Any]:
    """Parse a TOML file shipped in ``ephys2type/resources``."""
    return tomllib.loads(_resource_text(name))


@cache
def _builtin_schema(name: str) -> FeatureSchema:
    return FeatureSchema.from_dict(load_resource_toml(f"{name}.toml"), origin=f"{name}.toml")


def get_schema(schema: str | Path | FeatureSchema) -> FeatureSchema:
    """Resolve a schema given as a built-in name, a TOML/JSON file path, or an object."""
    if isinstance(schema, FeatureSchema):
        return schema
    if isinstance(schema, str) and schema in BUILTIN_SCHEMAS:
        return _builtin_schema(schema)
    path = Path(schema)
    if not path.is_file():
        raise SchemaError(
            f"schema {str(schema)!r} is neither a built-in schema ({', '.join(BUILTIN_SCHEMAS)}) "
            f"nor an existing file"
        )
    text = path.read_text("utf-8")
    try:
        if path.suffix.lower() == ".json":
            import json

            raw = json.loads(text)
        else:
            raw = tomllib.loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError and json.JSONDecodeError
        raise SchemaError(f"{path}: not a valid schema file ({exc})") from exc
    return FeatureSchema.from_dict(raw, origin=str(path))
