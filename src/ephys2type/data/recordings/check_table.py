"""The recording checks as a table: where ``ephys2type features`` writes them, and what each
cell's failed checks mean for its call.

Light on purpose (pandas only): ``predict`` reads a features table's checks without
importing the recordings front end (ipfx and the file readers).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Checks whose failure says the features describe something other than an interneuron at
#: rest (``predict`` leaves such a cell unassigned unless told to call it anyway).
BLOCKING = ("spontaneous_firing", "spike_shape")


def qc_table_path(features: str | Path) -> Path:
    """Where the QC table of a features table goes: ``<features>.qc.csv`` beside it."""
    features = Path(features)
    return features.with_name(features.name + ".qc.csv")


#: How many QC tables of a folder :func:`checks_elsewhere` looks into.
MAX_QC_TABLES = 20


def checks_elsewhere(features: str | Path, ids: pd.Index) -> Path | None:
    """A QC table in the features table's folder, under another name, that holds the
    recording checks of these cells (``ids``): the table was renamed after ``ephys2type
    features`` wrote it, and its ``<features>.qc.csv`` kept the old name. None if none does
    (or the folder holds more than :data:`MAX_QC_TABLES` of them)."""
    folder = Path(features).parent
    found = sorted(folder.glob("*.qc.csv"))
    if not len(ids) or len(found) > MAX_QC_TABLES:
        return None
    wanted = set(map(str, ids))
    for path in found:
        try:
            theirs = pd.read_csv(path, usecols=["cell_id"], dtype=str)["cell_id"]
        except (ValueError, OSError, pd.errors.ParserError):  # not a QC table
            continue
        if wanted <= set(theirs):
            return path
    return None


def cell_checks(qc: pd.DataFrame) -> pd.DataFrame:
    """Per cell of a recordings QC table (``<features>.qc.csv``), indexed by cell id:
    ``blocking``, the reasons of its failed :data:`BLOCKING` checks (``"; "``-joined, empty
    when none), and ``other``, the names of its other failed checks."""
    if not {"cell_id", "level", "check", "reason"} <= set(qc.columns):
        raise ValueError("not a recordings QC table (needs cell_id, level, check, reason)")
    ids = pd.Index(qc["cell_id"].astype(str).unique(), name="cell_id")
    failed = qc[qc["level"] == "check"].copy()
    failed["cell_id"] = failed["cell_id"].astype(str)
    blocking = failed["check"].isin(BLOCKING)
    out = pd.DataFrame(index=ids)
    out["blocking"] = (
        failed[blocking].groupby("cell_id")["reason"].agg("; ".join).reindex(ids).fillna("")
    )
    out["other"] = (
        failed[~blocking].groupby("cell_id")["check"].agg("; ".join).reindex(ids).fillna("")
    )
    return out
