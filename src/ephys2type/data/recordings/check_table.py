"""The recording checks as a table: where ``ephys2type features`` writes them, and what each
cell's failed checks mean for its call.

Each cell's failed checks travel in two columns of the features table itself
(:data:`CHECK_COLUMNS`), so that a copy of the table, a renamed one or one saved again by Excel
keeps them; the QC table beside it (``<features>.qc.csv``) holds every sweep's measures and
every check's reason in full.

Light on purpose (pandas only): ``predict`` reads a features table's checks without
importing the recordings front end (ipfx and the file readers).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

from ephys2type.errors import Ephys2TypeWarning

#: The checks of :mod:`.checks`, in the order they run and are reported.
CHECKS = (
    "spontaneous_firing",
    "depolarisation_block",
    "no_hyperpolarising_step",
    "no_step_for_ri",
    "shallow_sag_sweep",
    "fi_slope",
    "vrest_drift",
    "spike_shape",
)

#: Checks whose failure says the features describe something other than an interneuron at
#: rest (``predict`` leaves such a cell unassigned unless told to call it anyway).
BLOCKING = ("spontaneous_firing", "spike_shape")


#: The features table's columns that carry each cell's failed recording checks: the names of
#: every failed check (:data:`SEPARATOR`-joined), and the reasons of those that block a call
#: (:data:`BLOCKING`; :data:`REASON_SEPARATOR`-joined); empty when none failed.
FAILED_COLUMN = "checks_failed"
BLOCKING_COLUMN = "checks_blocking"
CHECK_COLUMNS = (FAILED_COLUMN, BLOCKING_COLUMN)

#: Between the names of ``checks_failed``.
SEPARATOR = "; "
#: Between the reasons of ``checks_blocking`` (a reason itself may hold ``"; "``), so that
#: one of them can be deleted by hand.
REASON_SEPARATOR = " | "


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
    ``blocking``, the reasons of its failed :data:`BLOCKING` checks (joined by
    :data:`REASON_SEPARATOR`, as the table's own column; empty when none), and ``other``,
    the names of its other failed checks (joined by :data:`SEPARATOR`)."""
    if not {"cell_id", "level", "check", "reason"} <= set(qc.columns):
        raise ValueError("not a recordings QC table (needs cell_id, level, check, reason)")
    ids = pd.Index(qc["cell_id"].astype(str).unique(), name="cell_id")
    failed = qc[qc["level"] == "check"].copy()
    failed["cell_id"] = failed["cell_id"].astype(str)
    blocking = failed["check"].isin(BLOCKING)
    out = pd.DataFrame(index=ids)
    out["blocking"] = _joined(failed[blocking], "reason", REASON_SEPARATOR, ids)
    out["other"] = _joined(failed[~blocking], "check", SEPARATOR, ids)
    return out


def _joined(failed: pd.DataFrame, column: str, separator: str, ids: pd.Index) -> pd.Series:
    """Per cell id of ``ids``, its failed checks' ``column`` joined by ``separator`` (empty
    when none; as object, since with no failed check the groups are empty and of float
    dtype, which pandas will not fill with text)."""
    grouped = failed.groupby("cell_id")[column].agg(separator.join)
    return grouped.astype(object).reindex(ids, fill_value="")


def with_check_columns(features: pd.DataFrame, qc: pd.DataFrame) -> pd.DataFrame:
    """``features`` (indexed by cell id) with :data:`CHECK_COLUMNS` added from its QC table:
    what ``ephys2type features`` writes."""
    ids = features.index.astype(str)
    if not {"level", "check", "reason"} <= set(qc.columns):  # no cell failed a check
        return features.assign(**{FAILED_COLUMN: "", BLOCKING_COLUMN: ""})
    failed = qc[qc["level"] == "check"].astype({"cell_id": str})
    blocking = failed[failed["check"].isin(BLOCKING)]
    return features.assign(
        **{
            FAILED_COLUMN: _joined(failed, "check", SEPARATOR, ids).to_numpy(),
            BLOCKING_COLUMN: _joined(blocking, "reason", REASON_SEPARATOR, ids).to_numpy(),
        }
    )


def warn_blocked_training_cells(checks: pd.DataFrame | None, what: str) -> None:
    """Say when labelled cells about to be trained on carry a check that blocks a call in
    ``predict`` (they are trained on: their labels say what they are)."""
    if checks is None or not (n := int((checks["blocking"] != "").sum())):
        return
    warnings.warn(
        f"{what}: {n} of its {len(checks)} cells failed a recording check that leaves a cell "
        f"unassigned in predict (may not be an interneuron, or fires at rest: see "
        f"{FAILED_COLUMN}); they are trained on with their labels: remove them from the table "
        "if they should not be",
        Ephys2TypeWarning,
        stacklevel=3,
    )


def checks_from_columns(table: pd.DataFrame, what: str = "features") -> pd.DataFrame | None:
    """Per row of a features table, ``blocking`` and ``other`` as :func:`cell_checks` gives
    them, from its :data:`CHECK_COLUMNS`; None when it has neither. A blocking check named in
    ``checks_failed`` whose reason the table lost (the column deleted or emptied) still
    blocks, with its name as the reason; a reason whose check name was deleted blocks too
    (the user clears both to have a cell called). Names are read in any case, between ``;``
    or ``,``; a name that is no check is said in a warning (``what``: the table) and kept
    among the other checks."""
    if not any(c in table.columns for c in CHECK_COLUMNS):
        return None

    def texts(column: str) -> pd.Series:
        if column not in table.columns:
            return pd.Series("", index=table.index, dtype=object)
        values = table[column].astype(object)
        return values.where(values.notna(), "").astype(str).str.strip()

    known = {name.casefold(): name for name in CHECKS}
    names = [
        [known.get(n.strip().casefold(), n.strip()) for n in re.split("[;,]", text) if n.strip()]
        for text in texts(FAILED_COLUMN)
    ]
    unknown = sorted({n for found in names for n in found if n not in CHECKS})
    if unknown:
        warnings.warn(
            f"{what}: {FAILED_COLUMN} names {len(unknown)} check(s) ephys2type does not make: "
            f"{', '.join(map(repr, unknown[:5]))}; they are shown in the calls' rows but "
            f"block nothing (the checks: {', '.join(CHECKS)})",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    reasons = texts(BLOCKING_COLUMN)
    named = [[n for n in found if n in BLOCKING] for found in names]
    blocking = [
        reason or SEPARATOR.join(f"{n} (from the {FAILED_COLUMN} column)" for n in found)
        for reason, found in zip(reasons, named, strict=True)
    ]
    other = [SEPARATOR.join(n for n in found if n not in BLOCKING) for found in names]
    return pd.DataFrame({"blocking": blocking, "other": other}, index=table.index)
