"""Score a predictions file against labels that came later (``ephys2type score``): the file
``predict --out`` wrote, its batch summary beside it, and a labels table; what is measured is
:func:`ephys2type.evaluation.batch_score.score_calls`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from ephys2type.data.table_text import read_csv_text
from ephys2type.data.user_tables import read_labels
from ephys2type.errors import Ephys2TypeWarning, TableError
from ephys2type.evaluation.batch_score import BatchScore, score_calls
from ephys2type.files import summary_path

__all__ = ["score_file"]


def score_file(
    predictions: str | Path,
    labels: str | Path,
    *,
    label_column: str = "subclass",
    level: str | None = None,
) -> BatchScore:
    """Score the predictions CSV ``predict --out`` wrote (or the same table saved as .xlsx)
    against the ``label_column`` of the
    labels table ``labels`` (the same cell ids, in a column named as the predictions' id
    column). The batch summary beside the predictions (``<predictions>.summary.json``), when
    there, says which cells the model was trained on (left out) and what it estimated."""
    path = Path(predictions)
    if not path.exists():
        raise TableError(f"{path}: no such predictions file (write one with predict --out)")
    if path.suffix.lower() == ".h5ad":
        raise TableError(
            f"{path}: score reads the predictions CSV predict writes; predict again with "
            "--out predictions.csv"
        )
    table = read_csv_text(path, what="predictions table")
    id_column = str(table.columns[0])
    table = table.set_index(id_column)
    lab = read_labels(labels, id_column, table.index, required=[label_column])
    found = summary_path(path)
    summary = json.loads(found.read_text()) if found.exists() else None
    if summary is None:
        warnings.warn(
            f"no batch summary beside {path} ({found.name}): cells the model was trained on "
            "cannot be left out, and no estimate is shown; keep the summary predict wrote "
            "beside the predictions",
            Ephys2TypeWarning,
            stacklevel=2,
        )
    elif summary.get("n_training_cells", 0) > len(summary.get("training_cells", [])):
        warnings.warn(
            f"{found.name} counts {summary['n_training_cells']} cells the model was trained on "
            "without naming them (written by an older ephys2type): they are scored; predict "
            "again to leave them out",
            Ephys2TypeWarning,
            stacklevel=2,
        )
    return score_calls(table, lab[label_column], summary, level=level)
