"""Which feature schema a table's columns are: found from its header, checked against a
model's or a given one, and the errors that name the fix (a mapping, ``--schema``, the
families command). Part of reading a table (:mod:`ephys2type.data.tables`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

from ephys2type.data.h5ad import is_h5ad, read_h5ad_features
from ephys2type.data.mapping import ColumnMapping, mapped_features
from ephys2type.data.schema import FeatureSchema
from ephys2type.data.table_text import (
    read_table_text,
)
from ephys2type.errors import TableError

#: Where the schema a table is read with came from: a model's (``predict``), or given by the
#: user (``--schema``; ``schema=`` in Python). Errors name the fix that applies to each.
SCHEMA_OF_MODEL = "model"
SCHEMA_GIVEN = "given"


def other_schema_match(columns: Sequence[str], schema: FeatureSchema) -> tuple[str, int] | None:
    """A built-in schema whose feature names match more of ``columns`` than ``schema``
    does (its name and how many match), or None: a table of another schema's features."""
    from ephys2type.data.schema import BUILTIN_SCHEMAS, get_schema

    given = set(map(str, columns))
    own = len(given & set(schema.columns))
    best = None
    for name in BUILTIN_SCHEMAS:
        other = get_schema(name)
        if set(other.columns) == set(schema.columns):
            continue
        n = len(given & set(other.columns))
        if n > own and (best is None or n > best[1]):
            best = (name, n)
    return best


def check_schema_match(
    columns: Sequence[str],
    schema: FeatureSchema,
    *,
    path: str | Path,
    source: str = SCHEMA_GIVEN,
) -> None:
    """Refuse a table whose columns are another built-in schema's, naming it and the fix
    (``source``: :data:`SCHEMA_OF_MODEL` or :data:`SCHEMA_GIVEN`)."""
    found = other_schema_match(columns, schema)
    if found is None:
        return
    name, n = found
    own = len(set(map(str, columns)) & set(schema.columns))
    if source == SCHEMA_OF_MODEL:
        train = "--features aligned" if name == "aligned" else f"--species {name}"
        raise TableError(
            f"{path}: {n} columns are features of the built-in {name!r} schema and only {own} "
            f"of this model's schema {schema.name!r} ({schema.species}); use a model trained "
            f"on the {name} schema (ephys2type train {train}); if they are "
            f"{schema.species} cells whose features were computed from recordings with the "
            f"{name} schema, compute them again with --schema {schema.species} "
            f"(ephys2type features --schema {schema.species}; in Python, "
            f"extract_files(..., schema={schema.species!r}))"
        )
    raise TableError(
        f"{path}: {n} columns are features of the built-in {name!r} schema and only {own} of "
        f"schema {schema.name!r}; read it with --schema {name} (schema={name!r}), or leave "
        f"--schema out: a command finds the schema from the columns"
    )


def detect_schema(columns: Sequence[str], *, path: str | Path = "features") -> FeatureSchema:
    """The built-in schema whose feature names most of ``columns`` are (a table given
    without a schema); one error naming ``--schema`` and ``--mapping`` when none or two
    schemas match as well."""
    from ephys2type.data.schema import BUILTIN_SCHEMAS, get_schema

    given = set(map(str, columns))
    counts = {name: len(given & set(get_schema(name).columns)) for name in BUILTIN_SCHEMAS}
    best = max(counts.values())
    if best == 0:
        raise TableError(
            f"{path}: none of its columns is a feature of a built-in schema "
            f"({', '.join(BUILTIN_SCHEMAS)}); name the schema with --schema (a TOML/JSON file "
            f"for your own), or map your columns onto a built-in one with --mapping map.toml "
            f"(`ephys2type data families --species mouse|human` lists their columns)"
        )
    top = [name for name, n in counts.items() if n == best]
    if len(top) > 1:
        raise TableError(
            f"{path}: its columns fit the built-in schemas {' and '.join(map(repr, top))} "
            f"equally ({best} features each); name one with --schema"
        )
    return get_schema(top[0])


def feature_table_columns(
    path: str | Path, *, obsm_key: str | None = None, sheet: str | int | None = None
) -> list[str]:
    """The column names of a features file (a CSV or sheet as :func:`read_table_text` reads
    it; an ``.h5ad`` file's feature names), without checking its values."""
    return feature_table_header(path, obsm_key=obsm_key, sheet=sheet)[0]


def feature_table_header(
    path: str | Path, *, obsm_key: str | None = None, sheet: str | int | None = None
) -> tuple[list[str], str]:
    """The column names of a features file and how errors about them name it (with the
    sheet read, when a workbook has others: :meth:`TableFormat.where`)."""
    if is_h5ad(path):
        return [str(c) for c in read_h5ad_features(path, obsm_key=obsm_key).columns], str(path)
    frame, found = read_table_text(path, what="feature table", sheet=sheet)
    return [str(c) for c in frame.columns], found.where(path)


def families_command(schema: FeatureSchema) -> str:
    """The command that lists ``schema``'s columns: ``ephys2type data families --species
    human`` for a built-in schema, else with ``--schema <file>``."""
    from ephys2type.data.schema import BUILTIN_SCHEMAS, get_schema

    for name in BUILTIN_SCHEMAS:
        if get_schema(name).name == schema.name:
            return f"ephys2type data families --species {name}"
    return "ephys2type data families --schema <schema file>"


def their_column(message: str, mapping: ColumnMapping | None) -> str:
    """An error about a feature's column, naming the lab's own column a mapping renamed
    (new-user trial: "column 'v_baseline', line 7" where the table's column is 'Vrest')."""
    for c in () if mapping is None else mapping.columns:
        if c.source != c.feature:
            message = message.replace(
                f"column {c.feature!r},",
                f"column {c.source!r} (which {mapping.origin} maps onto {c.feature}),",
            )
    return message


def rename_hint(schema: FeatureSchema, mapping: ColumnMapping | None) -> str:
    """The end of the warning on ignored columns when some of the schema's are absent: they
    may be the schema's features under the lab's own names (a renamed essential column is
    otherwise lost without a word on the fix)."""
    if mapping is not None:
        return f"; if any is one of the absent features, add its line to {mapping.origin}"
    return (
        "; if any is one of the absent features under another name (or unit), map it with "
        f"--mapping map.toml (mapping=...): `{families_command(schema)}` lists the features"
    )


def near_names(names: Sequence[str], columns: Sequence[str], taken: Sequence[str]) -> str:
    """`` (the table has 'Rin (MOhm)' for 'Rin (MOhms)': a typo?)``: the table's columns
    nearest the missing names, of those nothing else claims (``taken``: the mapping's other
    columns, the schema's features, the usual id columns)."""
    free = [str(c) for c in columns if str(c) not in set(taken)]
    near = {n: difflib.get_close_matches(n, free, n=1) for n in names}
    found = [f"{m[0]!r} for {n!r}" for n, m in near.items() if m]
    return f" (the table has {', '.join(found)}: a typo?)" if found else ""


def none_there(
    path: str | Path,
    schema: FeatureSchema,
    mapping: ColumnMapping | None,
    *,
    other_sheets: bool = False,
) -> str:
    """The error for a table without a single column of ``schema``, naming the fix: the
    sheet first when a workbook's sheet was chosen among others (a trial: a 'Notes' sheet
    read before 'Ephys' was blamed on the mapping)."""
    lists = families_command(schema)
    sheet = "if the features are on another sheet, name it with --sheet; else " * other_sheets
    if mapping is not None:
        return (
            f"{path}: none of the columns of schema {schema.name!r} is there, even with the "
            f"mapping {mapping.origin}; {sheet}its [columns] must map your column names onto "
            f"the schema's features, which `{lists}` lists with their units"
        )
    return (
        f"{path}: none of the columns of schema {schema.name!r} is there; {sheet}if your "
        f"columns have other names (or units), map them onto the schema's with --mapping "
        f"map.toml (mapping=...): `{lists}` lists the schema's columns with their units"
    )


def schema_of_table(
    path: str | Path,
    *,
    mapping: str | Path | None = None,
    obsm_key: str | None = None,
    sheet: str | int | None = None,
) -> FeatureSchema:
    """The built-in schema a feature file's columns belong to (:func:`detect_schema`),
    counting the features a mapping file maps its columns onto: a table in the lab's own
    names is in the schema its mapping names (review: ``train --table --mapping`` without
    ``--schema`` found none)."""
    columns, named = feature_table_header(path, obsm_key=obsm_key, sheet=sheet)
    if mapping is not None:
        columns = [*columns, *mapped_features(mapping)]
    return detect_schema(columns, path=named)
