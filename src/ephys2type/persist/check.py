"""What ``ephys2type data check`` reports: a features table read and checked exactly as the
command that will use it reads it, and what a model would do with it.

- :func:`check_for_prediction` reads a table as ``predict`` does. With a model folder it runs
  the very computation of ``predict`` (:func:`~ephys2type.persist.predict.score_file`: the
  same reader, the model's unit checks, the models fitted on demand, kept in the same cache
  folder so that ``predict`` then finds them) and says which cells no model will call and
  why, and which feature set's model serves the others, with the expected accuracy of each.
  With a schema only (named, or found from the columns), it reads the table with the same
  reader and says what can be said without a model: the cells the first rules leave
  unassigned (no features, a failed recording check, no essential family) and the families
  the others have.
- :func:`check_for_training` reads a table (and its labels) as ``train --table`` and
  ``evaluate --table`` do: every column of the schema, labels, QC.

A table without a schema is never assumed to be mouse: the built-in schema its columns belong
to is found (:func:`~ephys2type.data.schema_match.detect_schema`), or an error asks for
``--schema``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.container import PatchSeqData
from ephys2type.data.mapping import load_mapping
from ephys2type.data.schema import FeatureSchema, get_schema
from ephys2type.data.schema_match import SCHEMA_GIVEN, schema_of_table
from ephys2type.data.tables import read_feature_table
from ephys2type.data.user_tables import load_table
from ephys2type.errors import TableError
from ephys2type.models import abstention
from ephys2type.models.cell_scores import CellScores, RecordingChecks
from ephys2type.models.plausibility import PlausibleRanges
from ephys2type.persist.predict import (
    AUTO,
    FeatureSetUse,
    feature_set_uses,
    resolve_recording_checks,
    score_file,
)

#: Where the schema of a check came from.
FROM_MODEL, FROM_OPTION, FROM_COLUMNS = "the model", "--schema", "found from the columns"
#: The reason kinds of the rules that stop a cell before any model runs.
BEFORE_MODELS = tuple(rule.kind for rule in abstention.RULES if rule.stage == "features")


@dataclass(frozen=True)
class TableCheck:
    """A features table as ``predict`` would read and use it.

    path : the file; schema : the schema it was read with, and ``schema_from`` where that
    came from (:data:`FROM_MODEL`, :data:`FROM_OPTION`, :data:`FROM_COLUMNS`); model : the
    model folder (None: a schema only); cells : the cell ids, in file order; absent : the
    schema's columns the table lacks; reasons : per cell, why no model will call it, from the
    rules that run before any model (``"<kind>: <detail>"``; ``""``: it goes on to a model);
    feature_sets : with a model, each feature set's model and the cells it serves (empty
    without one); families : per cell going on, the families it has (``"a+b"``);
    checks_file : where the recording checks came from (a QC table, or the table's check
        columns; None: none); empty : the schema's columns the table has, but with no value
        in any cell.
    """

    path: str
    schema: FeatureSchema
    schema_from: str
    model: str | None
    cells: pd.Index
    absent: tuple[str, ...]
    reasons: pd.Series
    feature_sets: tuple[FeatureSetUse, ...]
    families: pd.Series
    checks_file: str | None = None
    empty: tuple[str, ...] = ()

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def stopped(self) -> dict[str, list[str]]:
        """The cells no model will call, by reason kind (in the rules' order)."""
        kinds = self.reasons.str.split(":", n=1).str[0]
        return {
            kind: [str(c) for c in self.reasons.index[kinds == kind]]
            for kind in BEFORE_MODELS
            if (kinds == kind).any()
        }

    def family_sets(self) -> list[tuple[str, int]]:
        """The combinations of families the cells going on have, most cells first."""
        counts = self.families[self.reasons == ""].value_counts()
        return [(str(k), int(n)) for k, n in counts.items()]


def check_for_prediction(
    features: str | Path,
    *,
    model: str | Path | None = None,
    schema: str | Path | FeatureSchema | None = None,
    mapping: str | Path | None = None,
    id_column: str | None = None,
    obsm_key: str | None = None,
    sheet: str | int | None = None,
    recording_checks: str | Path | None = AUTO,
    member_cache: str | Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> TableCheck:
    """Check ``features`` as ``predict`` reads it (module docstring): with ``model`` (a
    folder from ``train``), exactly ``predict``'s computation, the models it fits on demand
    kept in ``member_cache`` (``progress`` is told of each fit); else with ``schema`` (None:
    the built-in schema the columns belong to); ``sheet``: the sheet of an ``.xlsx``
    workbook. Every problem ``predict`` would refuse the
    table for is the same error here."""
    if model is not None and schema is not None:
        raise TableError("--model brings its own schema: give --model or --schema, not both")
    if model is not None:
        clf, cells, scores, checks_file = score_file(
            model,
            features,
            id_column=id_column,
            obsm_key=obsm_key,
            mapping=mapping,
            sheet=sheet,
            recording_checks=recording_checks,
            member_cache=member_cache,
            progress=progress,
        )
        before = _before_models(scores.reasons)
        routed = scores.routed
        return TableCheck(
            path=str(features),
            schema=clf.schema_,
            schema_from=FROM_MODEL,
            model=str(model),
            cells=cells.index,
            absent=tuple(c for c in clf.schema_.columns if c not in cells.columns),
            reasons=pd.Series(before, index=cells.index, dtype=object),
            feature_sets=tuple(feature_set_uses(scores, clf, routed)),
            families=_families(scores, clf.schema_),
            checks_file=checks_file,
            empty=_empty(cells, clf.schema_),
        )
    found = FROM_OPTION
    if schema is None:  # the columns' schema, after the mapping renames them
        schema = schema_of_table(features, mapping=mapping, obsm_key=obsm_key, sheet=sheet)
        found = FROM_COLUMNS
    schema = get_schema(schema)
    cells = read_feature_table(
        features,
        schema,
        id_column=id_column,
        obsm_key=obsm_key,
        allow_missing=True,
        check_unit_ranges=True,  # no training cells: the schema's plausible medians
        mapping=None if mapping is None else load_mapping(mapping, schema),
        schema_source=SCHEMA_GIVEN,
        note_absent=True,
        sheet=sheet,
    )
    checks, checks_file = resolve_recording_checks(features, cells, recording_checks)
    scores = _schema_scores(cells.reindex(columns=schema.columns), schema, checks)
    return TableCheck(
        path=str(features),
        schema=schema,
        schema_from=found,
        model=None,
        cells=cells.index,
        absent=tuple(c for c in schema.columns if c not in cells.columns),
        reasons=pd.Series(scores.reasons, index=cells.index, dtype=object),
        feature_sets=(),
        families=_families(scores, schema),
        checks_file=checks_file,
        empty=_empty(cells, schema),
    )


def _empty(cells: pd.DataFrame, schema: FeatureSchema) -> tuple[str, ...]:
    """The schema's columns ``cells`` has with no value at all (a protocol not recorded)."""
    return tuple(c for c in schema.columns if c in cells.columns and cells[c].isna().all())


def check_for_training(
    features: str | Path,
    labels: str | Path | None = None,
    schema: str | Path | FeatureSchema | None = None,
    **options,
) -> tuple[PatchSeqData, str]:
    """Read ``features`` (and ``labels``) as ``train --table`` does
    (:func:`~ephys2type.data.user_tables.load_table`, ``options`` are its own); ``schema``
    None: the built-in schema the columns belong to. Returns the data and where its schema
    came from (:data:`FROM_OPTION` or :data:`FROM_COLUMNS`)."""
    found = FROM_OPTION
    if schema is None:
        schema = schema_of_table(features, mapping=options.get("mapping"))
        found = FROM_COLUMNS
    return load_table(features, labels, schema, **options), found


def _before_models(reasons: np.ndarray) -> np.ndarray:
    """The reasons given before any model ran (the other rules' reasons blanked)."""
    kinds = np.array([str(r).split(":", 1)[0] for r in reasons], dtype=object)
    return np.where(np.isin(kinds, BEFORE_MODELS), reasons, "").astype(object)


def _families(scores: CellScores, schema: FeatureSchema) -> pd.Series:
    """Per cell, the families it has, joined with ``+`` (schema order)."""
    names = [f.name for f in schema.families]
    joined = [
        "+".join(n for n, has in zip(names, row, strict=True) if has) for row in scores.has_family
    ]
    return pd.Series(joined, index=scores.X.index, dtype=object)


class _SchemaOnly:
    """What the rules that run before any model read of a classifier, for a schema without
    one: no training cells, so no value is implausible for them (the schema's unit check
    ran on the columns instead); failed recording checks stop a cell as in ``predict``."""

    def __init__(self, schema: FeatureSchema) -> None:
        n = len(schema.columns)
        self.schema_ = schema
        self.ranges_ = PlausibleRanges(
            tuple(schema.columns), np.full(n, -np.inf), np.full(n, np.inf), np.full(n, np.nan)
        )
        self.refuse_failed_checks = True


def _schema_scores(
    X: pd.DataFrame, schema: FeatureSchema, checks: RecordingChecks | None
) -> CellScores:
    """The scores of ``X`` up to routing, as a classifier of ``schema`` would start them:
    which features and families each cell has and the rules that run before any model."""
    n = len(X)
    measured = X.notna().to_numpy()
    position = {c: j for j, c in enumerate(schema.columns)}
    has_family = np.column_stack(
        [measured[:, [position[c] for c in fam.columns]].any(axis=1) for fam in schema.families]
    )
    scores = CellScores(
        X=X,
        classes=np.array([], dtype=object),
        measured=measured,
        has_family=has_family,
        members=[None] * n,
        proba=np.zeros((n, 0)),
        routed=np.zeros(n, dtype=bool),
        distance=np.zeros(n),
        reasons=np.full(n, "", dtype=object),
        recording_checks=checks,
    )
    abstention.apply("features", scores, _SchemaOnly(schema))
    return scores


__all__ = [
    "BEFORE_MODELS",
    "FROM_COLUMNS",
    "FROM_MODEL",
    "FROM_OPTION",
    "TableCheck",
    "check_for_prediction",
    "check_for_training",
]
