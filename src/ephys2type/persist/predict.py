"""Predict the cells of a features file with a saved model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ephys2type.data.tables import read_feature_table
from ephys2type.persist.format import TrainedModel


def read_features(
    model: TrainedModel, features_csv: str | Path, *, id_column: str | None = None
) -> pd.DataFrame:
    """Read a features CSV for ``model`` (checked against its schema), indexed by cell id."""
    return read_feature_table(
        features_csv,
        model.schema,
        id_column=id_column,
        preferred_id_column=model.info.get("id_column"),
    )


def predict_file(
    model: TrainedModel, features_csv: str | Path, *, id_column: str | None = None
) -> pd.DataFrame:
    """Read a features CSV (checked against the model's schema) and predict every cell.

    ``id_column=None`` finds the cell ids: the model's training id column if the file has it,
    else a common id column name, else the one column of unique text ids.
    """
    return model.predict_table(read_features(model, features_csv, id_column=id_column))
