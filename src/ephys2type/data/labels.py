"""Label schemes: which metadata column names a cell's class, and how its values map.

Schemes are data (``resources/labels.toml``): ``mouse5``, ``aligned4``, human ``revised``
(default) and ``subclass``, and ``ttype``. For a user's own table, the ``as_is`` scheme takes
the label column exactly as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import pandas as pd

from ephys2type.data.schema import load_resource_toml
from ephys2type.errors import SchemaError, TableError

AS_IS = "as_is"


@dataclass(frozen=True)
class LabelScheme:
    """How to read one species' class labels from its metadata."""

    name: str
    species: str
    column: str
    mapping: dict[str, str] | None = None
    description: str = ""
    parent: str | None = None  # the scheme one level up (t-type -> subclass), if any
    dropped: tuple[str, ...] = ()  # values of ``column`` this scheme leaves out of its task

    @property
    def classes(self) -> list[str] | None:
        """The class names this scheme can produce, or None when open-ended (t-types)."""
        return None if self.mapping is None else sorted(set(self.mapping.values()))

    def apply(self, meta: pd.DataFrame, *, excluded: Iterable[str] = ()) -> pd.Series:
        """Labels for each cell; NaN when unlabeled, in an excluded subclass or a value the
        scheme drops (``dropped``: e.g. mouse Sncg for a task of four subclasses).

        A value that is neither mapped nor excluded raises :class:`TableError`, so a new or
        misspelt label never lands silently in (or out of) a class.
        """
        if self.column not in meta.columns:
            raise SchemaError(
                f"label scheme {self.name!r} needs metadata column {self.column!r}, which this "
                f"{self.species} table does not have"
            )
        raw = meta[self.column]
        excluded = set(excluded)
        is_excluded = (
            meta["subclass"].isin(excluded)
            if "subclass" in meta.columns and excluded
            else pd.Series(False, index=meta.index)
        ) | raw.isin(self.dropped)
        if self.mapping is None:
            out = raw.astype(object).where(raw.notna() & ~is_excluded)
        else:
            out = raw.map(self.mapping).astype(object)
            unknown = raw.notna() & out.isna() & ~is_excluded
            if unknown.any():
                values = sorted(map(str, raw[unknown].unique()))
                raise TableError(
                    f"unknown label(s) {', '.join(map(repr, values[:5]))} in column "
                    f"{self.column!r} under scheme {self.name!r} (cell {raw[unknown].index[0]}); "
                    f"known: {', '.join(sorted(self.mapping))}"
                )
            out = out.where(~is_excluded)
        return out.rename("label")


@cache
def _raw_schemes() -> dict:
    return load_resource_toml("labels.toml")


def scheme_names(species: str) -> list[str]:
    """Built-in schemes defined for ``species``, in file order."""
    return [name for name, spec in _raw_schemes().items() if species in spec]


def default_scheme(species: str) -> str:
    """The default scheme for a species (``mouse5`` for mouse, ``revised`` for human)."""
    for name, spec in _raw_schemes().items():
        if species in spec.get("default_for", []):
            return name
    return AS_IS


def get_scheme(name: str, species: str) -> LabelScheme:
    """Resolve a scheme by name for a species; ``as_is`` works for any table."""
    if name == AS_IS:
        return LabelScheme(AS_IS, species, "label", None, "labels exactly as written")
    raw = _raw_schemes()
    if name not in raw:
        raise SchemaError(f"unknown label scheme {name!r}; schemes: {', '.join([*raw, AS_IS])}")
    spec = raw[name]
    if species not in spec:
        have = [s for s in ("mouse", "human") if s in spec]
        raise SchemaError(
            f"label scheme {name!r} is defined for {' and '.join(have)}, not {species}; "
            f"{species} schemes: {', '.join(scheme_names(species)) or AS_IS}"
        )
    part = spec[species]
    return LabelScheme(
        name=name,
        species=species,
        column=part["column"],
        mapping=dict(part["map"]) if "map" in part else None,
        description=spec.get("description", ""),
        parent=part.get("parent"),
        dropped=tuple(part.get("drop", ())),
    )


def label_hierarchy(meta: pd.DataFrame, y: pd.Series, scheme: str, species: str) -> dict[str, str]:
    """Each label of ``y`` -> its class one level up (e.g. t-type -> subclass).

    The parent comes from the scheme's ``parent`` scheme applied to the same cells; a label
    whose cells fall in two parents is an error (the levels would contradict each other). A
    lab's own table, without the Allen column that scheme reads, gives each cell's parent in
    its ``subclass`` column, as written (a trial: its t-type labels beside a ``subclass``
    column were refused for want of ``revised_subclass``).
    """
    child = get_scheme(scheme, species)
    if child.parent is None:
        raise SchemaError(f"label scheme {scheme!r} has no parent level for {species}")
    labeled = y.dropna()
    parent = get_scheme(child.parent, species)
    level = f"{child.parent} class"  # what the errors call a cell's class one level up
    if parent.column not in meta.columns and "subclass" in meta.columns:
        parents = meta.loc[labeled.index, "subclass"].astype(object)
        text = parents.astype(str).str.strip()  # "Pvalb " is Pvalb (review)
        parents = text.where(parents.notna() & (text != ""))
        level = "value in the 'subclass' column"
    elif parent.column not in meta.columns:
        also = (
            ""
            if parent.column == "subclass"
            else f" (or the {parent.column!r} column of the {child.parent!r} scheme)"
        )
        raise SchemaError(
            f"{scheme} labels need each cell's class one level up: a 'subclass' column beside "
            f"'{child.column}' in the labels{also}"
        )
    else:
        parents = parent.apply(meta.loc[labeled.index])
    pairs = pd.DataFrame({"child": labeled, "parent": parents}).dropna()
    unplaced = sorted(set(labeled) - set(pairs["child"]))
    if unplaced:
        raise TableError(
            f"{len(unplaced)} {scheme} label(s) have no {level}: "
            f"{', '.join(map(repr, unplaced[:5]))}"
        )
    counts = pairs.groupby("child")["parent"].nunique()
    if (counts > 1).any():
        bad = counts[counts > 1].index[0]
        found = sorted(pairs.loc[pairs["child"] == bad, "parent"].unique())
        raise TableError(
            f"{scheme} label {bad!r} falls in several {child.parent} classes ({', '.join(found)})"
        )
    return pairs.groupby("child")["parent"].first().to_dict()
