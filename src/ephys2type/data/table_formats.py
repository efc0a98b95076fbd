"""What labs export as tables, recognised: encodings, separators, decimal marks, workbooks.

A feature or label table reaches ephys2type as whatever a lab's spreadsheet wrote. This
module recognises those files and turns them into what :mod:`ephys2type.data.tables` checks
(text cells in a frame), saying in one line each assumption it made:

- **Encoding.** UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"), UTF-16 with
  its mark (Excel's "Unicode Text"), else Windows-1252, the Latin-1 superset Excel on
  Windows writes for "CSV". Why a fixed order and not a detector such as charset-normalizer:
  on a table of a few rows a detector guesses from a handful of bytes, and it named a German
  Excel export with a "µ" Big5 and one with "ü" cp932 (measured), while UTF-8 is
  self-checking (text in another encoding almost never decodes as UTF-8) and Windows-1252 is
  what the lab's Excel wrote when it is not UTF-8. NUL bytes, and in a file that is not
  UTF-8 control characters and the bytes Windows-1252 leaves undefined, are refused, so
  binary data is never read as text.
- **Separator.** ``,``, ``;`` or tab, found by :class:`csv.Sniffer` (it tells ``;`` from
  the decimal commas between them); its answer is taken when it splits the header into more
  than one field and no row into more fields than the header, else (the Sniffer gives up on
  rows of unequal length) the first of ``,``, ``;``, tab that does.
- **Decimal mark.** Decimal commas (``143,2``; Excel in German or French settings) are read
  as decimal points when some cell is a number written with a comma and none with a point.
- **Workbooks.** ``.xlsx`` through pandas' reader (openpyxl): one sheet, the only one, else
  the one named after the table (``features`` for a feature table, ``labels`` for labels),
  else the first visible one; with several sheets a note names the sheet read.
- **Spreadsheet debris.** Error values (``#DIV/0!``, ``#VALUE!``, LibreOffice's
  ``Err:502``, ...) are missing values; rows of empty cells at the end (Excel's ``;;;;``)
  and empty columns without a name are dropped; an unnamed first column (R row names, a
  pandas index) is kept under :data:`UNNAMED_COLUMN` for the id logic of ``tables``.
- **Not a table.** A recording (``.abf``, ``.nwb``), an old ``.xls``, an ``.ods``, an
  archive or other binary data is refused with one line saying what to do.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.errors import Ephys2TypeWarning, TableError

#: The name given to a first column whose header cell is empty (R row names, a pandas index).
UNNAMED_COLUMN = "(unnamed first column)"
#: Why a sheet was read when the user named it.
ASKED = "as asked"
#: How a user names another sheet (``predict`` and ``data check`` take it).
SHEET_OPTION = "name it with --sheet (predict, data check)"
#: Error values spreadsheets write into a cell (Excel, LibreOffice, Google Sheets): read as
#: missing. ``#N/A`` is already a missing-value marker of pandas, like ``n/a`` and ``NA``.
SPREADSHEET_ERRORS = frozenset(
    {
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#NULL!",
        "#N/A",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        "#GETTING_DATA",
        "#ERROR!",
    }
)
_LIBREOFFICE_ERROR = re.compile(r"Err:\d{3}")
#: Separators tried, in the order preferred when several fit.
DELIMITERS = (",", ";", "\t")
#: How a separator is named in messages.
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
#: Lines of a text table looked at to find its separator.
SNIFF_LINES = 50

_COMMA_NUMBER = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?")
_GROUPED_COMMA_NUMBER = re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?")
_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")
_QUOTED_COMMA_NUMBER = re.compile(r'"\s*[+-]?[\d.]*\d,\d')
_POINT_NUMBER = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?")

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f]")


@dataclass(frozen=True)
class TableFormat:
    """How a table file was read, and one line per assumption made in reading it.

    ``kind`` is ``"text"`` or ``"xlsx"``; ``encoding`` the text encoding (``utf-8``,
    ``utf-8-sig``, ``utf-16``, ``cp1252``; None for a workbook); ``delimiter`` the column
    separator; ``decimal`` the decimal mark of its numbers; ``sheet`` the workbook sheet read;
    ``other_sheets`` the workbook's other sheets when it chose one of several by itself.
    """

    kind: str = "text"
    encoding: str | None = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    sheet: str | None = None
    notes: tuple[str, ...] = ()
    other_sheets: tuple[str, ...] = ()

    def sheet_phrase(self) -> str:
        """``(sheet 'README'; its other sheets: cells; name it with --sheet ...)`` for a
        sheet chosen among others; else ``(sheet 'README')``, or empty for text."""
        if self.sheet is None:
            return ""
        if not self.other_sheets:
            return f"(sheet {self.sheet!r})"
        return (
            f"(sheet {self.sheet!r}; its other sheets: {', '.join(self.other_sheets)}; "
            f"{SHEET_OPTION})"
        )

    def where(self, path: str | Path) -> str:
        """``path`` as an error about the table's columns names it: with the sheet read when
        the workbook has others (review: a read-me sheet read first gave "none of its columns
        is a feature" without a word about sheets)."""
        return f"{path} {self.sheet_phrase()}" if self.other_sheets else str(path)

    def warn(self, stacklevel: int = 2) -> None:
        """Emit each note as an :class:`Ephys2TypeWarning` (the command line prints it as one
        ``warning:`` line)."""
        for note in self.notes:
            warnings.warn(note, Ephys2TypeWarning, stacklevel=stacklevel + 1)


def refuse_non_table(path: Path, data: bytes, *, what: str = "table") -> None:
    """Raise a one-line :class:`TableError` saying what to do when ``data`` (the file's
    bytes) is a recording, an old or OpenDocument spreadsheet, an archive or binary data."""
    if is_workbook(data):
        return
    features_first = f"'ephys2type features {path} --out features.csv'"
    if data.startswith((b"ABF2", b"ABF ")) or (
        path.suffix.lower() == ".abf" and not _looks_like_text(data)
    ):
        raise TableError(
            f"{path}: is an ABF recording, not a {what}; compute its features first with "
            f"{features_first} and give that file"
        )
    if any(data[o : o + 8] == _HDF5_SIGNATURE for o in (0, 512, 1024, 2048)):
        if path.suffix.lower() == ".h5ad":
            raise TableError(f"{path}: is an AnnData file; give the {what} as CSV or .xlsx")
        if path.suffix.lower() == ".nwb":
            raise TableError(
                f"{path}: is an NWB recording, not a {what}; compute its features first with "
                f"{features_first} and give that file"
            )
        raise TableError(
            f"{path}: is an HDF5 file, not a {what}; for an NWB recording run "
            f"{features_first} first; an AnnData file is read when its name ends in .h5ad"
        )
    if path.suffix.lower() == ".nwb" and not _looks_like_text(data):
        raise TableError(
            f"{path}: is an NWB recording, not a {what}; compute its features first with "
            f"{features_first} and give that file"
        )
    if data.startswith(_OLE2_SIGNATURE):
        raise TableError(
            f"{path}: is an Excel 97-2003 (.xls) or password-protected workbook; save it as "
            f".xlsx without a password, or as 'CSV UTF-8', and give that file"
        )
    if data.startswith(b"PK\x03\x04"):
        if "mimetype" in _zip_names(data) and b"opendocument.spreadsheet" in data[:200]:
            raise TableError(
                f"{path}: is an OpenDocument (.ods) spreadsheet; save it as .xlsx or as "
                f"CSV (UTF-8, ',' between columns) and give that file"
            )
        raise TableError(
            f"{path}: is a zip archive, not a {what}; unzip it and give the table inside"
        )
    if data.startswith(b"\x1f\x8b"):
        raise TableError(
            f"{path}: is gzip-compressed; decompress it (gunzip) and give the table inside"
        )
    nul = -1 if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else data.find(0)
    if nul >= 0:
        raise TableError(
            f"{path}: not a text table (binary data: a NUL byte at byte {nul}); give the "
            f"{what} as CSV, tab-separated text or .xlsx"
        )


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    return b"\x00" not in head and not _CONTROL.search(head.decode("latin-1"))


def _zip_names(data: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return []


def is_workbook(data: bytes) -> bool:
    """Whether ``data`` (a file's bytes) is an Office Open XML workbook (.xlsx, .xlsm)."""
    return data.startswith(b"PK\x03\x04") and "xl/workbook.xml" in _zip_names(data)


def decode_text(data: bytes, *, path: Path) -> tuple[str, str, str | None]:
    """The text of a table file, its encoding, and a note when the encoding was assumed.

    UTF-8 (a byte-order mark is dropped), UTF-16 when it starts with its byte-order mark, else
    Windows-1252 (with a note naming the first non-ASCII character, so a wrong reading is
    seen; control characters, which text in it does not hold, are refused as binary data).
    Anything else is a :class:`TableError` saying how to save the file.
    """
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    try:
        return data.decode(encoding), encoding, None
    except UnicodeDecodeError as exc:
        if encoding != "utf-8":
            label = "UTF-8" if encoding == "utf-8-sig" else "UTF-16"
            raise TableError(
                f"{path}: not {label} text despite its {label} byte-order mark ({exc.reason} "
                f"at byte {exc.start}); save it again as 'CSV UTF-8'"
            ) from exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise TableError(
            f"{path}: not UTF-8 or Windows-1252 text (byte 0x{data[exc.start]:02X} at byte "
            f"{exc.start}); save it as 'CSV UTF-8' (Excel: File > Save As > CSV UTF-8)"
        ) from exc
    found = _CONTROL.search(text)  # Windows-1252 decodes any byte: binary data must not pass
    if found is not None:
        raise TableError(
            f"{path}: not a text table (control character {found.group()!r} on line "
            f"{text.count(chr(10), 0, found.start()) + 1}); give it as CSV, tab-separated text "
            f"or .xlsx"
        )
    pos = next(i for i, ch in enumerate(text) if ord(ch) > 127)
    line = text.count("\n", 0, pos) + 1
    note = (
        f"{path}: not UTF-8; read as Windows-1252 (cp1252, Latin-1) text, as Excel on Windows "
        f"saves CSV (first such character: {text[pos]!r} on line {line})"
    )
    return text, "cp1252", note


def sniff_delimiter(text: str) -> str:
    """The column separator of a text table: ``,``, ``;`` or tab.

    :class:`csv.Sniffer` proposes one from the first :data:`SNIFF_LINES` lines; a separator
    is taken when it splits the header into more than one field and no row into more fields
    than the header (the Sniffer's answer first, then ``,``, ``;``, tab: the Sniffer gives up
    on rows of unequal length, which pandas reads when none is longer than the header). None
    fits: ``,``, and the parser names the line that does not.
    """
    sample = "\n".join(text.splitlines()[:SNIFF_LINES])
    try:
        guess = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        guess = None
    for delimiter in dict.fromkeys([guess, *DELIMITERS]):
        if delimiter is not None and fields_problem(sample, delimiter) is None:
            return delimiter
    return ","


def fields_problem(sample: str, delimiter: str) -> str | None:
    """Why ``delimiter`` does not separate the columns of ``sample`` (a table's first lines):
    the header is one field, or a row has more fields than the header; None when it does."""
    try:
        rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter))
    except csv.Error as exc:
        return str(exc)
    if not rows or len(rows[0]) < 2:
        return "the header is one field"
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > width:
            return f"line {number} has {len(row)} fields where the header has {width}"
    return None


def delimiter_note(path: Path, delimiter: str) -> str | None:
    """A note when the separator is not the one the file's name implies (``,`` for .csv,
    tab for .tsv and .tab)."""
    expected = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    if delimiter == expected:
        return None
    name = DELIMITER_NAMES[delimiter]
    return f"{path}: read as {name}-separated text ({delimiter!r} between columns)"


def workbook_as_text(
    path: Path, *, what: str = "table", sheet: str | int | None = None
) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """One sheet of an ``.xlsx`` workbook as comma-separated text, the sheet's name, the
    notes on it, and the workbook's other sheets when it chose one of several by itself.

    The sheet is ``sheet`` (a name, or a 0-based position) if given; else the only one; else
    the one visible sheet named after the table (``what``: "feature table" picks a sheet
    named e.g. ``features``); else the first visible one. Numbers are written as Python
    writes them (the shortest text that reads back as the same float; whole numbers without
    a decimal part, so an id stored as a number stays ``569871062``); error cells are
    missing values (as pandas reads them; a note counts them and names the first cell);
    formulas give the value Excel last computed (none, for a file no spreadsheet saved).
    """
    try:
        import openpyxl  # noqa: F401 - pandas reads .xlsx through it
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise TableError(
            f"{path}: reading .xlsx workbooks needs openpyxl (pip install openpyxl); or save "
            f"the sheet as 'CSV UTF-8'"
        ) from exc
    try:  # openpyxl raises many kinds of errors on a damaged workbook: all mean the same
        with pd.ExcelFile(path, engine="openpyxl") as book:
            names = [str(n) for n in book.sheet_names]
            hidden = {
                ws.title
                for ws in getattr(book.book, "worksheets", [])
                if ws.sheet_state != "visible"
            }
            name, reason = _choose_sheet(path, names, hidden, what=what, sheet=sheet)
            cells = pd.read_excel(book, sheet_name=name, header=None, dtype=object)
            errors, first = _error_cells(book.book[name])
    except TableError:
        raise
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableError(
            f"{path}: cannot read the .xlsx workbook ({msg}); save it again from Excel, or as "
            f"'CSV UTF-8'"
        ) from exc
    notes = []
    chosen = len(names) > 1 and reason != ASKED  # a sheet the user named needs no note
    if chosen:
        notes.append(
            f"{path}: the workbook has {len(names)} sheets ({', '.join(names)}); read sheet "
            f"{name!r} ({reason}; {_other_sheet(reason, what)})"
        )
    if errors:
        notes.append(
            f"{path}: read {sum(errors.values())} spreadsheet error value(s) as missing "
            f"({_counted(errors)}; first in cell {first} of sheet {name!r})"
        )
    filled = np.flatnonzero(cells.notna().any(axis=1).to_numpy())
    if len(filled) and filled[0] > 0:
        notes.append(
            f"{path}: the table starts on row {filled[0] + 1} of sheet {name!r} (the rows "
            f"above are empty); line numbers below count from it"
        )
        cells = cells.iloc[filled[0] :]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in cells.itertuples(index=False):
        writer.writerow([_cell_text(v) for v in row])
    # a feature table's errors name the others (predict and data check take --sheet)
    others = tuple(n for n in names if n != name) if chosen and what == "feature table" else ()
    return out.getvalue(), name, tuple(notes), others


def _error_cells(worksheet) -> tuple[Counter[str], str | None]:
    """The error values of a worksheet's cells (pandas reads them as missing values without a
    word), and the first one's cell; ``#N/A`` is a missing-value marker, as in text."""
    found: Counter[str] = Counter()
    first = None
    for row in worksheet.iter_rows():
        for cell in row:
            if getattr(cell, "data_type", None) == "e" and str(cell.value) != "#N/A":
                found[str(cell.value)] += 1
                first = first or getattr(cell, "coordinate", None)
    return found, first


def _counted(found: Counter[str]) -> str:
    """``#DIV/0! x2, #VALUE! x1``: the most frequent first, ties in alphabetical order."""
    return ", ".join(f"{v} x{n}" for v, n in sorted(found.items(), key=lambda i: (-i[1], i[0])))


def _other_sheet(reason: str, what: str) -> str:
    """How to have another sheet read, given why this one was (:func:`_choose_sheet`):
    predict and data check take --sheet for a feature table; a label table is read without
    one."""
    name_it = f"{SHEET_OPTION}, or " if what == "feature table" else ""
    if reason.startswith("the first"):
        return f"for another, {name_it}move it first in the workbook"
    return f"for another, {name_it}save it as 'CSV UTF-8'"


def _choose_sheet(
    path: Path, names: list[str], hidden: set[str], *, what: str, sheet: str | int | None
) -> tuple[str, str]:
    if sheet is not None:
        if isinstance(sheet, int) and 0 <= sheet < len(names):
            return names[sheet], ASKED
        if sheet in names:
            return str(sheet), ASKED
        # Excel itself treats sheet names without regard to case
        same = [n for n in names if isinstance(sheet, str) and n.casefold() == sheet.casefold()]
        if len(same) == 1:
            return same[0], ASKED
        raise TableError(f"{path}: no sheet {sheet!r} in the workbook (sheets: {', '.join(names)})")
    visible = [n for n in names if n not in hidden] or names
    kind = what.split()[0].lower() if what.endswith("table") and " " in what else ""
    named = [n for n in visible if kind and kind in n.lower()]
    if len(named) == 1 and len(names) > 1:
        return named[0], f"named like a {what}"
    return visible[0], "the first" if visible[0] == names[0] else "the first visible one"


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if hasattr(value, "isoformat"):  # dates and times
        return value.isoformat()
    return str(value)


def blank_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Where a frame of text cells is empty (missing, or only spaces)."""
    return frame.isna() | frame.apply(lambda s: s.astype("string").str.strip() == "").fillna(False)


def drop_blank_trailing_rows(frame: pd.DataFrame, *, path: Path) -> tuple[pd.DataFrame, str | None]:
    """Drop the rows of empty cells at the end of a table (Excel writes ``;;;;`` for rows it
    once used), with a note; rows of empty cells between others stay (and are errors there)."""
    if frame.empty or frame.shape[1] == 0:
        return frame, None
    last = frame.iloc[-1]
    if not (last.isna() | (last.astype("string").str.strip() == "")).all():
        return frame, None  # the usual case, decided without scanning the table
    filled = ~blank_cells(frame).all(axis=1).to_numpy()
    keep = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
    dropped = len(frame) - keep
    note = f"{path}: dropped {dropped} row(s) of empty cells at the end of the table"
    return frame.iloc[:keep], note


def blank_spreadsheet_errors(
    frame: pd.DataFrame, *, path: Path, text: str | None = None
) -> tuple[pd.DataFrame, str | None]:
    """Spreadsheet error values (:data:`SPREADSHEET_ERRORS`, ``Err:502``) as missing values,
    with a note counting them and naming the first.

    ``text``, the file's text, skips the scan of every cell when it holds no ``#`` and no
    ``Err:`` (as most tables do).
    """
    if text is not None and "#" not in text and "Err:" not in text:
        return frame, None
    found: Counter[str] = Counter()
    first: tuple[str, int] | None = None
    out = frame
    for position, column in enumerate(frame.columns):
        cells = frame.iloc[:, position]
        text = cells.astype("string").str.strip()
        hit = text.isin(SPREADSHEET_ERRORS) | text.str.fullmatch(_LIBREOFFICE_ERROR.pattern)
        hit = hit.fillna(False).to_numpy(dtype=bool)
        if not hit.any():
            continue
        found.update(text[hit].tolist())
        row = int(np.flatnonzero(hit)[0])
        if first is None or row < first[1]:
            first = (str(column), row)
        if out is frame:
            out = frame.copy()
        out.iloc[np.flatnonzero(hit), position] = np.nan
    if first is None:
        return frame, None
    note = (
        f"{path}: read {sum(found.values())} spreadsheet error value(s) as missing "
        f"({_counted(found)}; "
        f"first in column {first[0]!r}, line {first[1] + 2})"
    )
    return out, note


def read_decimal_commas(
    frame: pd.DataFrame, *, path: Path, text: str | None = None, delimiter: str = ","
) -> tuple[pd.DataFrame, str | None]:
    """Numbers written with decimal commas (``143,2``) as numbers with decimal points.

    Done when some cell is a number with a decimal comma and no cell a number with a decimal
    point (in ``1.234,5`` the point separates thousands); then ``143,2`` reads ``143.2`` and
    ``1.234,5`` reads ``1234.5``. A table mixing both marks is left as it is: its comma
    numbers are then refused as text, with their line.

    ``text`` and ``delimiter``, the file's text and separator, skip the scan of every cell
    when no cell can hold such a number: no digit-comma-digit in the text (in a
    comma-separated file, none just after a quote, which such a cell needs there).
    """
    if text is not None:
        where = _QUOTED_COMMA_NUMBER if delimiter == "," else _DIGIT_COMMA_DIGIT
        if where.search(text) is None:
            return frame, None
    text = {}
    for position in range(frame.shape[1]):
        cells = frame.iloc[:, position].astype("string").str.strip()
        if cells.str.contains(",", regex=False).fillna(False).any():
            text[position] = cells
    if not text:
        return frame, None  # the usual case: no cell holds a comma
    comma = {p: _matches(t, _COMMA_NUMBER) for p, t in text.items()}
    grouped = {
        p: _matches(t, _GROUPED_COMMA_NUMBER) & t.str.contains(",", regex=False).fillna(False)
        for p, t in text.items()
    }
    if not any(comma[p].any() or grouped[p].any() for p in text):
        return frame, None
    for position in range(frame.shape[1]):
        cells = text.get(position)
        if cells is None:
            cells = frame.iloc[:, position].astype("string").str.strip()
        if (_matches(cells, _POINT_NUMBER) & ~_matches(cells, _GROUPED_COMMA_NUMBER)).any():
            return frame, None  # numbers with decimal points: commas are not decimal marks
    out = frame.copy()
    examples: dict[str, tuple[str, str]] = {}
    for position, cells in text.items():
        thousands = _matches(cells, _GROUPED_COMMA_NUMBER)  # 1.234 too, once commas decide
        decimal = comma[position] | thousands
        if not decimal.any():
            continue
        new = cells.copy()
        new[thousands] = cells[thousands].str.replace(".", "", regex=False)
        new[decimal] = new[decimal].str.replace(",", ".", regex=False)
        for kind, where in (("decimal", comma[position]), ("thousands", thousands)):
            if kind not in examples and where.any():
                at = int(np.flatnonzero(where)[0])
                examples[kind] = (str(cells.iloc[at]), str(new.iloc[at]))
        rows = np.flatnonzero(decimal)
        out.iloc[rows, position] = new.iloc[rows].astype(object).to_numpy()
    shown = ", ".join(f"{a!r} as {b}" for a, b in examples.values())
    note = f"{path}: read decimal commas as decimal points ({shown})"
    if "thousands" in examples:
        note += ", and '.' as the separator of thousands"
    return out, note


def _matches(cells: pd.Series, pattern: re.Pattern[str]) -> np.ndarray:
    return cells.str.fullmatch(pattern.pattern).fillna(False).to_numpy(dtype=bool)


def row_counter(values: pd.Series) -> str | None:
    """``"0 to n-1"`` or ``"1 to n"`` when ``values`` only number the rows (a pandas index,
    R's row numbers), else None."""
    text = values.astype("string").str.strip()
    if text.isna().any() or not text.str.fullmatch(r"\d+").all():
        return None
    numbers = text.astype("int64").to_numpy()
    for start in (0, 1):
        if np.array_equal(numbers, np.arange(start, start + len(numbers))):
            return f"{start} to {start + len(numbers) - 1}"
    return None
