"""Predict the cells of a features file (CSV or AnnData ``.h5ad``) with a saved model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ephys2type.data.h5ad import annotate_h5ad, calls_for_h5ad, is_h5ad, write_h5ad
from ephys2type.data.mapping import load_mapping
from ephys2type.data.tables import read_feature_table
from ephys2type.errors import TableError
from ephys2type.files import atomic_write_text
from ephys2type.models.cell_classifier import CellTypeClassifier


def read_features(
    model: CellTypeClassifier,
    features: str | Path,
    *,
    id_column: str | None = None,
    obsm_key: str | None = None,
    mapping: str | Path | None = None,
) -> pd.DataFrame:
    """Read a features CSV or ``.h5ad`` file for ``model`` (checked against its schema),
    indexed by cell id. Columns of the schema may be absent (whole families a lab did not
    record, or single features): the model predicts each cell from the features it has.
    ``mapping`` is a TOML file mapping another lab's columns (and units) onto the schema's
    (:mod:`ephys2type.data.mapping`)."""
    if id_column is not None and is_h5ad(features):
        raise TableError(f"{features}: the cell ids of an .h5ad file are its obs_names")
    return read_feature_table(
        features,
        model.schema,
        id_column=id_column,
        preferred_id_column=getattr(model, "id_column_", None),
        obsm_key=obsm_key,
        allow_missing=True,  # absent features: each cell is predicted from those it has
        check_unit_ranges=False,  # the model checks every cell against its training cells
        mapping=None if mapping is None else load_mapping(mapping, model.schema),
    )


def predict_file(
    model: CellTypeClassifier,
    features: str | Path,
    *,
    id_column: str | None = None,
    obsm_key: str | None = None,
    mapping: str | Path | None = None,
) -> pd.DataFrame:
    """Read a features CSV or AnnData ``.h5ad`` file and predict every cell.

    ``id_column=None`` finds the cell ids of a CSV: the model's training id column if the
    file has it, else a common id column name, else the one column of unique text ids. An
    ``.h5ad`` file's ids are its ``.obs_names``; its features are ``.X`` (``var_names`` as
    feature names) or the data frame ``.obsm[obsm_key]``.
    """
    cells = read_features(model, features, id_column=id_column, obsm_key=obsm_key, mapping=mapping)
    return model.predict_table(cells)


def write_predictions(
    predictions: pd.DataFrame,
    out: str | Path,
    *,
    features: str | Path | None = None,
    cells: pd.DataFrame | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a prediction table as CSV, or, for an ``.h5ad`` ``out``, as AnnData.

    An ``.h5ad`` ``out`` is a copy of the ``features`` file when that is ``.h5ad`` too (its
    data kept), else a new file with ``cells`` as ``.X``; the calls become ``.obs`` columns
    named ``ephys2type_<column>`` and the probabilities ``.obsm["ephys2type_probabilities"]``.
    """
    if not is_h5ad(out):
        return atomic_write_text(out, predictions.to_csv(float_format="%.6g"), overwrite=overwrite)
    obs, obsm = calls_for_h5ad(predictions)
    if features is not None and is_h5ad(features):
        return annotate_h5ad(features, out, obs, obsm, overwrite=overwrite)
    if cells is None:
        raise TableError(f"{out}: a new .h5ad file needs the features of the cells")
    return write_h5ad(out, cells, obs, obsm, overwrite=overwrite)
