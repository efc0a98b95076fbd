"""Predict the cells of a features file with a saved model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ephys2type.data.tables import read_feature_table
from ephys2type.persist.format import TrainedModel


def predict_file(
    model: TrainedModel, features_csv: str | Path, *, id_column: str = "cell_id"
) -> pd.DataFrame:
    """Read a features CSV (checked against the model's schema) and predict every cell."""
    X = read_feature_table(features_csv, model.schema, id_column=id_column)
    return model.predict(X)
