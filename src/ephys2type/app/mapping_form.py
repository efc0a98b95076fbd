"""A column mapping chosen in the page, written as the TOML file ``--mapping`` reads.

The page shows each column of the uploaded table with the schema feature it is and the unit
its values are in; :func:`mapping_toml` writes those choices in the format of
:mod:`ephys2type.data.mapping`, and that file is what the library reads (and what the user
downloads to give ``ephys2type predict --mapping``), so a mapping chosen here and a mapping
file behave the same, errors included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ephys2type.app.commands import MAPPING_FILE
from ephys2type.data.schema import FeatureSchema


class MappedChoice(NamedTuple):
    """One row of the page's mapping table: their column, the feature it is (None: not
    mapped), and the unit of their values (None: the feature's unit)."""

    column: str
    feature: str | None
    unit: str | None


def table_columns(path: str | Path, *, sheet: str | None = None) -> list[str]:
    """The column names of a feature table as the library reads it (CSV, TSV, ``;``/
    decimal-comma text, ``.xlsx``, its ``sheet`` if given; the features of an ``.h5ad``
    file), its notes not shown (the prediction shows them once)."""
    from ephys2type.data.h5ad import is_h5ad, read_h5ad_features
    from ephys2type.data.table_text import read_table_text

    if is_h5ad(path):
        return [str(c) for c in read_h5ad_features(path).columns]
    frame, _ = read_table_text(path, what="feature table", sheet=sheet)
    return [str(c) for c in frame.columns]


def initial_choices(columns: Sequence[str], schema: FeatureSchema) -> pd.DataFrame:
    """The mapping table the page starts from: each column, the feature of that very name
    when the schema has one (else none), and that feature's unit."""
    known = set(schema.columns)
    rows = [
        {
            "their column": c,
            "feature": c if c in known else None,
            "unit": schema.feature(c).unit if c in known else None,
        }
        for c in columns
    ]
    return pd.DataFrame(rows, columns=["their column", "feature", "unit"])


def choices_from_table(table: pd.DataFrame) -> list[MappedChoice]:
    """The rows of the page's (edited) mapping table."""

    def text(value) -> str | None:
        return None if value is None or pd.isna(value) or not str(value).strip() else str(value)

    return [
        MappedChoice(str(r["their column"]), text(r["feature"]), text(r["unit"]))
        for _, r in table.iterrows()
    ]


def mapping_toml(choices: Iterable[MappedChoice], schema: FeatureSchema) -> str | None:
    """The ``[columns]`` TOML of the choices that rename a column or convert its unit
    (a column already named and in the unit of its feature needs no line); None when no
    choice does."""
    lines = []
    for choice in choices:
        if choice.feature is None:
            continue
        unit = choice.unit
        same_unit = unit is None or (
            choice.feature in schema.columns and unit == schema.feature(choice.feature).unit
        )
        if choice.feature == choice.column and same_unit:
            continue
        spec = f"feature = {json.dumps(choice.feature)}"
        if unit is not None:
            spec += f", unit = {json.dumps(unit)}"
        lines.append(f"{json.dumps(choice.column)} = {{ {spec} }}")
    if not lines:
        return None
    return "# " + MAPPING_FILE + "\n[columns]\n" + "\n".join(lines) + "\n"
