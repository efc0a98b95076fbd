"""Tables as text: a file (comma-, semicolon- or tab-separated text, or an ``.xlsx`` sheet,
recognised by :mod:`ephys2type.data.table_formats`) read into a frame of text, and its
values into numbers, with errors that name file, column and line.

Line numbers count the header as line 1, assuming one line per record (for a workbook: the
sheet's row numbers). Part of reading a table (:mod:`ephys2type.data.tables`).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.table_formats import (
    DELIMITER_NAMES,
    SNIFF_LINES,
    UNNAMED_COLUMN,
    TableFormat,
    blank_cells,
    blank_spreadsheet_errors,
    decode_text,
    delimiter_note,
    drop_blank_trailing_rows,
    fields_problem,
    is_workbook,
    read_decimal_commas,
    refuse_non_table,
    row_counter,
    sniff_delimiter,
    workbook_as_text,
)
from ephys2type.errors import Ephys2TypeWarning, TableError

#: No IPFX feature in any unit comes near this; larger values are corrupt input (and would
#: overflow standardization).
MAX_ABS_VALUE = 1e9
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?")
#: Columns with text values one error names (each by its first such value).
MAX_TEXT_COLUMNS_SHOWN = 5


def line_number(frame: pd.DataFrame | pd.Index, pos: int) -> int:
    """File line of the row at position ``pos`` of a table (or of its row labels): tables
    keep read_csv's 0-based row labels."""
    label = (frame if isinstance(frame, pd.Index) else frame.index)[pos]
    return int(label) + 2 if isinstance(label, (int, np.integer)) else pos + 2


def read_csv_text(
    path: str | Path,
    *,
    what: str = "table",
    repeated_columns: bool = False,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a table as strings (empty cells and NA markers become NaN), refusing malformed files.

    The file is what :func:`read_table_text` reads (CSV, ``;``- or tab-separated text in
    UTF-8 or Windows-1252, an ``.xlsx`` sheet); each assumption made in reading it is one
    :class:`~ephys2type.errors.Ephys2TypeWarning`. A column name given twice is an error,
    unless ``repeated_columns`` and both columns hold the same values (then it is read once):
    some published metadata tables repeat their id.
    """
    frame, found = read_table_text(path, what=what, repeated_columns=repeated_columns, sheet=sheet)
    found.warn(stacklevel=2)
    return frame


def read_table_text(
    path: str | Path,
    *,
    what: str = "table",
    repeated_columns: bool = False,
    sheet: str | int | None = None,
) -> tuple[pd.DataFrame, TableFormat]:
    """Read a table as strings, and how it was read (its notes not yet shown).

    Comma-, semicolon- or tab-separated text (UTF-8 with or without byte-order mark, UTF-16
    with one, else Windows-1252), decimal commas, or one sheet of an ``.xlsx`` workbook
    (``sheet``, else as :func:`~ephys2type.data.table_formats.workbook_as_text` chooses):
    see :mod:`ephys2type.data.table_formats`. Spreadsheet error values are missing values;
    rows of empty cells at the end and empty unnamed columns are dropped; an unnamed first
    column is kept as :data:`UNNAMED_COLUMN`. Recordings, binary files and files in another
    encoding are refused with one line saying what to do. A plain UTF-8 CSV gives no notes.
    """
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: {what} not found")
    if path.is_dir():
        recordings = any(p.suffix.lower() in (".abf", ".nwb") for p in path.iterdir())
        hint = (
            f"; for a folder of recordings run 'ephys2type features {path} --out "
            f"features.csv' first"
            if recordings
            else ""
        )
        raise TableError(f"{path}: is a folder, expected a CSV {what}{hint}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TableError(f"{path}: cannot read {what} ({exc.strerror})") from exc
    refuse_non_table(path, data, what=what)
    notes: list[str] = []
    if is_workbook(data):
        text, sheet_name, sheet_notes, others = workbook_as_text(path, what=what, sheet=sheet)
        notes += sheet_notes
        found = TableFormat(kind="xlsx", encoding=None, sheet=sheet_name, other_sheets=others)
        what_sheet = f"{what} {found.sheet_phrase()}"
    else:
        if sheet is not None:
            raise TableError(f"{path}: a sheet applies to .xlsx workbooks only")
        text, encoding, note = decode_text(data, path=path)
        notes += [note] if note else []
        delimiter = sniff_delimiter(text)
        notes += [n for n in [delimiter_note(path, delimiter)] if n]
        found = TableFormat(encoding=encoding, delimiter=delimiter)
        what_sheet = what
    delimiter = found.delimiter
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise TableError(f"{path}: {what_sheet} is empty; give a header row and one row per cell")
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise TableError(f"{path}: cannot parse the header of the {what} ({exc})") from exc
    if len(header) == 1:
        sample = "\n".join(text.splitlines()[:SNIFF_LINES])
        for sep, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in header[0]:
                if sep == "|":
                    raise TableError(
                        f"{path}: {what} looks pipe-separated; ephys2type reads ',', ';' or "
                        f"tab-separated files (save it as CSV with ',' between columns)"
                    )
                problem = fields_problem(sample, sep) or "its columns cannot be told apart"
                raise TableError(
                    f"{path}: {what} looks {label}-separated, but {problem}; check that line's "
                    f"separators and quotes"
                )
    names = [h.strip() for h in header]
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            skipinitialspace=True,
            on_bad_lines="error",
        )
    except pd.errors.EmptyDataError as exc:
        raise TableError(
            f"{path}: {what_sheet} is empty; give a header row and one row per cell"
        ) from exc
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "CSV" if delimiter == "," else f"{DELIMITER_NAMES[delimiter]}-separated text"
        raise TableError(f"{path}: cannot parse {what} as {kind} ({msg})") from exc
    if not isinstance(frame.index, pd.RangeIndex):
        # every row longer than the header: pandas took the extra fields as row labels (an
        # app trial: unquoted decimal commas in a comma-separated export, read as an id error)
        row = next(csv.reader(io.StringIO(text.split("\n", 2)[1]), delimiter=delimiter))
        decimals = delimiter == "," and any(
            re.fullmatch(r"-?\d+", a) and re.fullmatch(r"\d+", b)
            for a, b in itertools.pairwise(row)
        )
        why = (
            "decimal commas in a comma-separated file? Save it with ';' between columns, or "
            "with '.' as the decimal mark"
            if decimals
            else "check its separators and quotes"
        )
        raise TableError(
            f"{path}: its rows have more fields than its header ({len(row)} against "
            f"{len(header)} on line 2): {why}"
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    frame, note = drop_blank_trailing_rows(frame, path=path)
    notes += [note] if note else []
    if frame.empty:
        raise TableError(f"{path}: {what_sheet} has a header but no rows")
    frame, names, note = _unnamed_columns(frame, names, path=path)
    notes += [note] if note else []
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes and not repeated_columns:
        raise TableError(f"{path}: duplicate column name(s) in the header: {', '.join(dupes)}")
    frame, note = blank_spreadsheet_errors(frame, path=path, text=text)
    notes += [note] if note else []
    frame, decimal_note = read_decimal_commas(frame, path=path, text=text, delimiter=delimiter)
    notes += [decimal_note] if decimal_note else []
    if dupes:
        frame = _drop_repeated_columns(frame, names, path=path)
    found = replace(found, decimal="," if decimal_note else ".", notes=tuple(notes))
    return frame, found


def _unnamed_columns(
    frame: pd.DataFrame, names: list[str], *, path: Path
) -> tuple[pd.DataFrame, list[str], str | None]:
    """Drop empty columns without a name (a note), keep an unnamed first column that holds
    values as :data:`UNNAMED_COLUMN`; another unnamed column with values is an error."""
    if "" not in names:
        return frame, names, None
    blank = blank_cells(frame)
    drop = [i for i, n in enumerate(names) if n == "" and bool(blank.iloc[:, i].all())]
    for pos, name in enumerate(names):
        if name == "" and pos not in drop and pos > 0:
            row = int(np.flatnonzero(~blank.iloc[:, pos].to_numpy())[0])
            raise TableError(
                f"{path}: column {pos + 1} of the header has no name; give it one (it holds "
                f"values, e.g. {frame.iloc[row, pos]!r} on line {line_number(frame, row)})"
            )
    keep = [i for i in range(len(names)) if i not in drop]
    names = [UNNAMED_COLUMN if (i == 0 and names[i] == "") else names[i] for i in keep]
    frame = frame.iloc[:, keep].copy()
    frame.columns = [
        UNNAMED_COLUMN if n == UNNAMED_COLUMN else c
        for n, c in zip(names, frame.columns, strict=True)
    ]
    note = f"{path}: dropped {len(drop)} empty column(s) without a name" if drop else None
    return frame, names, note


def _drop_repeated_columns(frame: pd.DataFrame, names: list[str], *, path: Path) -> pd.DataFrame:
    """Keep the first of each repeated column, refusing repeats whose values differ."""
    seen: set[str] = set()
    keep = []
    for position, name in enumerate(names):
        if name in seen:
            first = frame.iloc[:, names.index(name)]
            if not first.equals(frame.iloc[:, position]):
                raise TableError(f"{path}: column {name!r} is given twice with different values")
        else:
            seen.add(name)
            keep.append(position)
    out = frame.iloc[:, keep]
    out.columns = [names[i] for i in keep]
    return out


def settle_unnamed_column(
    frame: pd.DataFrame, id_column: str, *, path: str | Path, stacklevel: int = 2
) -> pd.DataFrame:
    """Decide what an unnamed first column (:data:`UNNAMED_COLUMN`) is, once the id column
    is known, saying so in one warning.

    It is the id column: a note says so. It only numbers the rows (0..n-1, a pandas index,
    or 1..n) beside another id column: it is dropped, with a note. Otherwise it stays, an
    extra column like any other.
    """
    if UNNAMED_COLUMN not in frame.columns:
        return frame
    if id_column == UNNAMED_COLUMN:
        counts = row_counter(frame[UNNAMED_COLUMN])
        note = (
            f"{path}: the unnamed first column holds the cell ids, though it only numbers the "
            f"rows {counts}: the table has no other id column"
            if counts
            else f"{path}: the unnamed first column (R row names or a pandas index) holds the "
            f"cell ids"
        )
        warnings.warn(note, Ephys2TypeWarning, stacklevel=stacklevel + 1)
        return frame
    counts = row_counter(frame[UNNAMED_COLUMN])
    if counts is None:
        return frame
    warnings.warn(
        f"{path}: ignored the unnamed first column: it numbers the rows {counts} (a pandas "
        f"index or R row numbers) and the cell ids are in column {id_column!r}",
        Ephys2TypeWarning,
        stacklevel=stacklevel + 1,
    )
    return frame.drop(columns=[UNNAMED_COLUMN])


def to_numeric(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    path: str | Path,
    locate: Callable[[int], str] | None = None,
) -> pd.DataFrame:
    """Convert ``columns`` of a table to float64; text or infinity is an error.

    Errors name the place as ``locate(position)``; by default the file line, which is right
    because ``frame`` keeps read_csv's row labels.
    """
    where = locate or (lambda pos: f"line {line_number(frame, pos)}")
    columns = list(columns)
    try:  # every value a number or empty: one conversion of the whole block
        block = frame[columns].to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        block = None
    if block is not None and not (
        np.isinf(block).any() or (np.abs(np.nan_to_num(block)) > MAX_ABS_VALUE).any()
    ):
        return pd.DataFrame(block, index=frame.index, columns=columns)
    # otherwise column by column, to name the bad values: text first, every column's first
    # such value, so that one upload shows them all (new-user trial: one fix per upload; a
    # review: an infinite value in an earlier column hid them)
    numbers = {col: pd.to_numeric(frame[col], errors="coerce").astype("float64") for col in columns}
    texts: list[str] = []
    for col in columns:
        raw, num = frame[col], numbers[col]
        bad = num.isna() & raw.notna() & (raw.astype("string").str.strip() != "")
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            hint = (
                " (a decimal comma, in a table whose other numbers have decimal points: write "
                "all decimals one way)"
                if _DECIMAL_COMMA.fullmatch(str(raw.iloc[pos]).strip())
                else ""
            )
            more = int(bad.sum()) - 1
            others = f" (and {more} more in this column)" if more else ""
            texts.append(
                f"column {col!r}, {where(pos)}: value {raw.iloc[pos]!r} is not a number"
                f"{hint}{others}"
            )
    if texts:
        shown = "; ".join(texts[:MAX_TEXT_COLUMNS_SHOWN])
        if len(texts) > MAX_TEXT_COLUMNS_SHOWN:
            shown += f"; and {len(texts) - MAX_TEXT_COLUMNS_SHOWN} more columns with text"
        raise TableError(
            f"{path}: {shown}: write each value as a plain number, without its unit (declare a "
            "column's unit in a --mapping file), and leave a value that was not measured empty"
        )
    data: dict[str, np.ndarray] = {}
    for col in columns:
        raw, values = frame[col], numbers[col].to_numpy()
        huge = np.abs(np.nan_to_num(values, posinf=0.0, neginf=0.0)) > MAX_ABS_VALUE
        if huge.any():
            pos = int(np.flatnonzero(huge)[0])
            raise TableError(
                f"{path}: column {col!r}, {where(pos)}: value {raw.iloc[pos]!r} is implausibly "
                f"large for an IPFX feature (beyond ±{MAX_ABS_VALUE:g})"
            )
        inf = np.isinf(values)
        if inf.any():
            pos = int(np.flatnonzero(inf)[0])
            raise TableError(
                f"{path}: column {col!r}, {where(pos)}: value {raw.iloc[pos]!r} is "
                f"infinite; use an empty cell for a missing value"
            )
        data[col] = values
    return pd.DataFrame(data, index=frame.index, columns=list(columns))
