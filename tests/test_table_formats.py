"""What labs export is read: each file here is written with the bytes Excel, LibreOffice,
pandas or R write, and must read as the same cells, with one warning line per assumption.

The cells are three rows of the bundled human table (Lee, Dalley et al. 2023).
"""

from __future__ import annotations

import codecs
import hashlib
import warnings

import numpy as np
import openpyxl
import pandas as pd
import pytest

from ephys2type import load_table
from ephys2type.data.fetch import fetch
from ephys2type.data.schema import get_schema
from ephys2type.data.table_formats import UNNAMED_COLUMN, TableFormat
from ephys2type.data.table_text import read_csv_text, read_table_text
from ephys2type.data.tables import read_feature_table
from ephys2type.errors import Ephys2TypeWarning, TableError

COLUMNS = ["input_resistance", "tau", "v_baseline"]
SCHEMA = get_schema("human").select(COLUMNS)
IDS = ["567737682", "567773648", "569871062"]
VALUES = [
    [309.2447817, 0.035360139, -70.32022388],
    [321.7187226, 0.015452686, -60.91753188],
    [430.4687381, 0.017163136, -61.51298089],
]
EXPECTED = pd.DataFrame(VALUES, index=pd.Index(IDS, name="cell_id"), columns=COLUMNS)[
    SCHEMA.columns  # read_feature_table gives the schema's order
]


def _rows(sep: str, decimal: str = ".", extra: list[str] | None = None) -> list[str]:
    """The header and the three cells, as a spreadsheet writes them (numbers as shown)."""
    lines = [sep.join(["specimen_id", *COLUMNS, *(["Kommentar"] if extra else [])])]
    for i, (cell, values) in enumerate(zip(IDS, VALUES, strict=True)):
        cells = [repr(v).replace(".", decimal) for v in values]
        lines.append(sep.join([cell, *cells, *([extra[i]] if extra else [])]))
    return lines


# The files, byte for byte as each program writes them.
#: Excel, "CSV UTF-8 (Comma delimited)": byte-order mark, CRLF after every row.
EXCEL_CSV_UTF8 = codecs.BOM_UTF8 + ("\r\n".join(_rows(",")) + "\r\n").encode("utf-8")
#: Excel in German settings, "CSV (Trennzeichen-getrennt)": Windows-1252, ';', decimal
#: commas, CRLF; a comment column with umlauts, a comma and a degree sign (not quoted:
#: Excel quotes only a cell holding ';', a quote or a line break).
EXCEL_DE = (
    "\r\n".join(_rows(";", ",", ["Größe ok, 34 °C", "Rs hoch", "Zelle tot?"])) + "\r\n"
).encode("cp1252")
#: Excel in French settings, "CSV (séparateur: point-virgule)": the same conventions.
EXCEL_FR = ("\r\n".join(_rows(";", ",", ["très stable", "à revoir", "déjà vu"])) + "\r\n").encode(
    "cp1252"
)
#: Excel's "Unicode Text (*.txt)": UTF-16 little-endian with its byte-order mark, tabs, CRLF.
EXCEL_UNICODE_TEXT = codecs.BOM_UTF16_LE + ("\r\n".join(_rows("\t")) + "\r\n").encode("utf-16-le")
#: LibreOffice Calc, "Text CSV" with its default options: UTF-8 without a byte-order mark,
#: ',' between columns, text quoted only where needed, LF line ends (on Linux).
LIBREOFFICE_CSV = ("\n".join(_rows(",", ".", ["µ-Elektrode", "ok", "sehr gut"])) + "\n").encode()


def _read(path, **kwargs) -> pd.DataFrame:
    return read_feature_table(path, SCHEMA, id_column=None, **kwargs)


def _notes(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, Ephys2TypeWarning)]


def _assert_notes(record, *fragments: str) -> None:
    """One warning per fragment, each one line holding its fragment."""
    notes = _notes(record)
    assert len(notes) == len(fragments), notes
    for note, fragment in zip(notes, fragments, strict=True):
        assert fragment in note and "\n" not in note, (fragment, note)


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_plain_csv_reads_silently(tmp_path):
    path = _write(tmp_path, "cells.csv", ("\n".join(_rows(",")) + "\n").encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame, found = read_table_text(path)
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    assert found == TableFormat()
    assert list(frame.columns) == ["specimen_id", *COLUMNS]


def test_excel_csv_utf8_with_bom_and_crlf(tmp_path):
    path = _write(tmp_path, "cells.csv", EXCEL_CSV_UTF8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    assert read_table_text(path)[1].encoding == "utf-8-sig"


@pytest.mark.parametrize("data", [EXCEL_DE, EXCEL_FR], ids=["german", "french"])
def test_excel_european_semicolons_decimal_commas_cp1252(tmp_path, data):
    path = _write(tmp_path, "zellen.csv", data)
    with pytest.warns(Ephys2TypeWarning) as record:
        got = _read(path)
    pd.testing.assert_frame_equal(got, EXPECTED)
    _assert_notes(
        record,
        "not UTF-8; read as Windows-1252 (cp1252, Latin-1) text",
        "read as semicolon-separated text (';' between columns)",
        "read decimal commas as decimal points ('309,2447817' as 309.2447817)",
        "ignoring 1 column(s) that are not features of schema",
    )
    frame, found = read_table_text(path)
    assert (found.encoding, found.delimiter, found.decimal) == ("cp1252", ";", ",")
    assert frame["Kommentar"].iloc[0] == (
        "Größe ok, 34 °C" if data is EXCEL_DE else "très stable"
    )  # text cells keep their commas


def test_excel_trailing_empty_rows_are_dropped(tmp_path):
    path = _write(tmp_path, "zellen.csv", EXCEL_DE + b";;;;\r\n;;;;\r\n;;;;\r\n")
    with pytest.warns(Ephys2TypeWarning) as record:
        got = _read(path)
    pd.testing.assert_frame_equal(got, EXPECTED)
    assert any("dropped 3 row(s) of empty cells at the end" in n for n in _notes(record))


def test_comma_csv_trailing_empty_rows_are_dropped(tmp_path):
    path = _write(tmp_path, "cells.csv", EXCEL_CSV_UTF8 + b",,,\r\n,,,\r\n")
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    _assert_notes(record, "cells.csv: dropped 2 row(s) of empty cells at the end of the table")


def test_empty_row_inside_the_table_stays_an_error(tmp_path):
    lines = _rows(",")
    path = _write(tmp_path, "cells.csv", "\r\n".join([*lines[:2], ",,,", *lines[2:]]).encode())
    with pytest.raises(TableError, match="line 3: empty cell id"):
        _read(path)


def test_spreadsheet_error_values_are_missing(tmp_path):
    lines = _rows(",")
    lines[1] = lines[1].replace("0.035360139", "#DIV/0!")
    lines[2] = lines[2].replace("-60.91753188", "#N/A")
    lines[3] = lines[3].replace("430.4687381", "#VALUE!")
    path = _write(tmp_path, "cells.csv", codecs.BOM_UTF8 + "\r\n".join(lines).encode())
    with pytest.warns(Ephys2TypeWarning) as record:
        got = _read(path)
    expected = EXPECTED.copy()
    expected.loc[IDS[0], "tau"] = expected.loc[IDS[1], "v_baseline"] = np.nan
    expected.loc[IDS[2], "input_resistance"] = np.nan
    pd.testing.assert_frame_equal(got, expected)
    _assert_notes(
        record,
        "read 2 spreadsheet error value(s) as missing (#DIV/0! x1, #VALUE! x1; first in "
        "column 'tau', line 2)",  # #N/A is a missing-value marker like n/a
    )


def test_libreoffice_csv_utf8(tmp_path):
    path = _write(tmp_path, "cells.csv", LIBREOFFICE_CSV)
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    _assert_notes(
        record, "ignoring 1 column(s) that are not features of schema"
    )  # only the comment column
    assert read_table_text(path)[0]["Kommentar"].iloc[0] == "µ-Elektrode"


def test_libreoffice_error_values_are_missing(tmp_path):
    lines = _rows(",")
    lines[1] = lines[1].replace("0.035360139", "Err:502")
    path = _write(tmp_path, "cells.csv", ("\n".join(lines) + "\n").encode())
    with pytest.warns(Ephys2TypeWarning, match=r"read 1 spreadsheet error value\(s\).*Err:502"):
        assert np.isnan(_read(path).loc[IDS[0], "tau"])


def test_libreoffice_german_quotes_its_decimal_commas_in_a_comma_file(tmp_path):
    lines = [_rows(",")[0]] + [
        ",".join([cell, *(f'"{repr(v).replace(".", ",")}"' for v in values)])
        for cell, values in zip(IDS, VALUES, strict=True)
    ]
    path = _write(tmp_path, "cells.csv", ("\n".join(lines) + "\n").encode())
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    _assert_notes(record, "read decimal commas as decimal points ('309,2447817' as 309.2447817)")


def test_unquoted_decimal_commas_in_a_comma_file_are_named(tmp_path):
    """Every row longer than its header (an app trial: an Excel export with decimal commas
    and ',' between columns was refused for having no id column)."""
    lines = [_rows(",")[0]] + [
        ",".join([cell, *(repr(v).replace(".", ",") for v in values)])
        for cell, values in zip(IDS, VALUES, strict=True)
    ]
    path = _write(tmp_path, "cells.csv", ("\n".join(lines) + "\n").encode())
    with pytest.raises(TableError, match=r"more fields than its header .*decimal commas"):
        _read(path)
    path.write_text("a,b\nx,y,z\nu,v,w\n")
    with pytest.raises(TableError, match=r"\(3 against 2 on line 2\): check its separators"):
        _read(path)


def test_thousands_points_with_decimal_commas(tmp_path):
    text = "specimen_id;input_resistance;tau;v_baseline\r\n567737682;1.309,25;0,035;-70,3\r\n"
    path = _write(tmp_path, "cells.csv", text.encode("cp1252"))
    with pytest.warns(Ephys2TypeWarning) as record:
        got = _read(path)
    assert got[COLUMNS].iloc[0].tolist() == [1309.25, 0.035, -70.3]
    assert any("'1.309,25' as 1309.25" in n and "thousands" in n for n in _notes(record))


def test_mixed_decimal_marks_are_refused_with_their_line(tmp_path):
    lines = _rows(",")
    lines[2] = lines[2].replace("0.015452686", '"0,015452686"')
    path = _write(tmp_path, "cells.csv", "\n".join(lines).encode())
    with pytest.raises(TableError, match=r"column 'tau', line 3: value '0,015452686' is not a"):
        _read(path)


def test_tsv(tmp_path):
    text = pd.DataFrame(VALUES, index=pd.Index(IDS, name="specimen_id"), columns=COLUMNS)
    path = tmp_path / "cells.tsv"
    text.to_csv(path, sep="\t")  # what pandas writes; .tsv: no note on the separator
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd.testing.assert_frame_equal(_read(path), EXPECTED)


def test_excel_tab_delimited_text(tmp_path):
    """Excel's "Text (Tab delimited) (*.txt)": Windows-1252, tabs, CRLF."""
    data = ("\r\n".join(_rows("\t", ".", ["34 °C", "", ""])) + "\r\n").encode("cp1252")
    path = _write(tmp_path, "cells.txt", data)
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    _assert_notes(
        record,
        "not UTF-8; read as Windows-1252 (cp1252, Latin-1) text, as Excel on Windows saves "
        "CSV (first such character: '°' on line 2)",
        "read as tab-separated text",
        "ignoring 1 column(s) that are not features of schema",
    )


def test_excel_unicode_text_utf16(tmp_path):
    path = _write(tmp_path, "cells.tab", EXCEL_UNICODE_TEXT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd.testing.assert_frame_equal(_read(path), EXPECTED)


def test_pandas_index_beside_an_id_column_is_ignored(tmp_path):
    frame = pd.DataFrame(VALUES, columns=COLUMNS)
    frame.insert(0, "specimen_id", [int(i) for i in IDS])
    path = tmp_path / "cells.csv"
    frame.to_csv(path)  # the index too: an unnamed first column 0, 1, 2
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    _assert_notes(
        record,
        "ignored the unnamed first column: it numbers the rows 0 to 2 (a pandas index or R "
        "row numbers) and the cell ids are in column 'specimen_id'",
    )


def test_r_row_numbers_beside_an_id_column_are_ignored(tmp_path):
    """R's write.csv(df) of a data frame without row names: "1", "2", ... and quoted names."""
    lines = ['"","specimen_id","input_resistance","tau","v_baseline"']
    for n, (cell, values) in enumerate(zip(IDS, VALUES, strict=True), start=1):
        lines.append(",".join([f'"{n}"', cell, *map(repr, values)]))
    path = _write(tmp_path, "cells.csv", ("\n".join(lines) + "\n").encode())
    with pytest.warns(Ephys2TypeWarning, match="numbers the rows 1 to 3"):
        pd.testing.assert_frame_equal(_read(path), EXPECTED)


def test_r_row_names_are_the_ids(tmp_path):
    """R's write.csv(df) with the cell ids as row names: the id column has no name."""
    lines = ['"","input_resistance","tau","v_baseline"']
    for cell, values in zip(IDS, VALUES, strict=True):
        lines.append(",".join([f'"{cell}"', *map(repr, values)]))
    path = _write(tmp_path, "cells.csv", ("\n".join(lines) + "\n").encode())
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    _assert_notes(record, "the unnamed first column (R row names or a pandas index) holds the")
    assert UNNAMED_COLUMN in read_csv_text(path).columns


def test_xlsx_workbook(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Tabelle1"
    sheet.append(["specimen_id", *COLUMNS])
    for cell, values in zip(IDS, VALUES, strict=True):
        sheet.append([int(cell), *values])  # ids stored as numbers, as Excel does
    path = tmp_path / "cells.xlsx"
    book.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
        assert read_table_text(path)[1] == TableFormat(kind="xlsx", encoding=None, sheet="Tabelle1")


def test_xlsx_table_below_empty_rows(tmp_path):
    book = openpyxl.Workbook()
    rows = [["specimen_id", *COLUMNS]] + [
        [int(cell), *values] for cell, values in zip(IDS, VALUES, strict=True)
    ]
    for row, values in enumerate(rows, start=3):  # rows 1 and 2 left empty
        for column, value in enumerate(values, start=1):
            book.active.cell(row, column, value)
    book.save(tmp_path / "cells.xlsx")
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(tmp_path / "cells.xlsx"), EXPECTED)
    _assert_notes(record, "the table starts on row 3 of sheet 'Sheet' (the rows above are empty)")


def test_xlsx_with_several_sheets_says_which_it_read(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "README"
    book.active.append(["about"])
    book.active.append(["made by the lab"])
    sheet = book.create_sheet("features")
    sheet.append(["specimen_id", *COLUMNS])
    for cell, values in zip(IDS, VALUES, strict=True):
        sheet.append([int(cell), *values])
    sheet["C2"] = "#DIV/0!"  # tau of the first cell: an error cell, stored as Excel does
    labels = book.create_sheet("labels")
    labels.append(["specimen_id", "subclass"])
    for cell, label in zip(IDS, ["Pvalb", "Sst", "Vip"], strict=True):
        labels.append([int(cell), label])
    path = tmp_path / "lab.xlsx"
    book.save(path)
    expected = EXPECTED.copy()
    expected.loc[IDS[0], "tau"] = np.nan
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(path), expected)
    _assert_notes(
        record,
        "the workbook has 3 sheets (README, features, labels); read sheet 'features' (named "
        "like a feature table; for another, name it with --sheet (predict, data check), or "
        "save it as 'CSV UTF-8')",
        "read 1 spreadsheet error value(s) as missing (#DIV/0! x1; first in cell C2 of "
        "sheet 'features')",
    )
    with pytest.warns(Ephys2TypeWarning, match="read sheet 'README' \\(the first; for another"):
        assert read_csv_text(path).columns.tolist() == ["about"]
    frame, found = read_table_text(path, what="label table")
    assert found.sheet == "labels" and frame["subclass"].tolist() == ["Pvalb", "Sst", "Vip"]
    # a label table is never read with --sheet: its note does not offer it
    assert "--sheet" not in found.notes[0] and "save it as 'CSV UTF-8'" in found.notes[0]
    assert read_table_text(path, sheet=1)[1].sheet == "features"
    # a sheet the user named is read without a note (and, as in Excel, whatever its case)
    named, found = read_table_text(path, sheet="LABELS")
    assert found.sheet == "labels" and not found.notes and not found.other_sheets
    assert named.columns.tolist() == ["specimen_id", "subclass"]
    with pytest.raises(TableError, match=r"no sheet 'cells' in the workbook \(sheets: README"):
        read_table_text(path, sheet="cells")


def test_the_sheet_to_check_or_predict_is_named_with_sheet(tmp_path, run_cli, clean_error):
    """A workbook whose cells are not on its first sheet: `data check --sheet` (and `predict
    --sheet`) read the sheet named, with or without --schema; without it, the error that
    none of the read-me's columns is a feature names the sheet read and --sheet; a name not
    in the workbook, a sheet of a text table or of an .h5ad file, and a sheet of a table to
    train on are one-line errors."""
    book = openpyxl.Workbook()
    book.active.title = "README"
    book.active.append(["about"])
    book.active.append(["our cells, 2026"])
    cells = book.create_sheet("cells")
    cells.append(["specimen_id", *COLUMNS])
    for cell, values in zip(IDS, VALUES, strict=True):
        cells.append([int(cell), *values])
    path = tmp_path / "lab.xlsx"
    book.save(path)
    checked = run_cli("data", "check", path, "--schema", "human", "--sheet", "cells")
    assert checked.code == 0, checked
    assert "3 cells, read as `predict` reads them" in checked.out
    assert "read sheet" not in checked.err  # the sheet asked for: no note
    found = run_cli("data", "check", path, "--sheet", "cells")  # the schema from its columns
    assert found.code == 0 and "3 cells, read as `predict` reads them" in found.out, found
    for schema in ([], ["--schema", "human"]):
        clean_error(
            run_cli("data", "check", path, *schema),
            "lab.xlsx (sheet 'README'; its other sheets: cells; name it with --sheet",
        )
    clean_error(
        run_cli("data", "check", path, "--schema", "human", "--sheet", "cell"),
        "no sheet 'cell' in the workbook (sheets: README, cells)",
    )
    text = _write(tmp_path, "cells.csv", b"specimen_id,tau\n1,10\n")
    clean_error(
        run_cli("data", "check", text, "--schema", "human", "--sheet", "cells"),
        "a sheet applies to .xlsx workbooks only",
    )
    clean_error(
        run_cli("data", "check", path, "--sheet", "cells", "--labels", text),
        "--sheet applies to a table to predict",
    )
    with pytest.raises(TableError, match=r"a sheet applies to \.xlsx workbooks only"):
        read_feature_table(tmp_path / "cells.h5ad", SCHEMA, sheet="cells")


def test_features_and_labels_in_other_formats_load_once_each(tmp_path):
    """load_table: the features from a German Excel CSV, the labels from a workbook; each
    note is said once, though the features are looked at twice (id column, then values)."""
    features = _write(tmp_path, "zellen.csv", EXCEL_DE + b";;;;\r\n")
    book = openpyxl.Workbook()
    book.active.append(["specimen_id", "subclass"])
    for cell, label in zip(IDS, ["Pvalb", "Sst", "Vip"], strict=True):
        book.active.append([int(cell), label])
    book.save(tmp_path / "labels.xlsx")
    with pytest.warns(Ephys2TypeWarning) as record:
        data = load_table(features, tmp_path / "labels.xlsx", SCHEMA)
    pd.testing.assert_frame_equal(data.X, EXPECTED)
    assert data.y.tolist() == ["Pvalb", "Sst", "Vip"]
    assert len(_notes(record)) == len(set(_notes(record))) == 5, _notes(record)


def test_r_row_names_in_features_and_labels_match(tmp_path):
    lines = ['"","input_resistance","tau","v_baseline"']
    lines += [",".join([f'"{c}"', *map(repr, v)]) for c, v in zip(IDS, VALUES, strict=True)]
    features = _write(tmp_path, "cells.csv", ("\n".join(lines) + "\n").encode())
    labels = _write(
        tmp_path,
        "labels.csv",
        b'"","subclass"\n' + b"".join(f'"{c}","Sst"\n'.encode() for c in IDS),
    )
    with pytest.warns(Ephys2TypeWarning) as record:
        data = load_table(features, labels, SCHEMA)
    assert data.y.tolist() == ["Sst"] * 3
    assert len(_notes(record)) == 2  # the ids of each file are its unnamed first column


# --- files still refused: one line saying what to do -------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        (
            "cell.abf",
            b"ABF2" + bytes(508),
            "cell.abf: is an ABF recording, not a feature table; compute its features first "
            "with 'ephys2type features",
        ),
        (
            "cell.nwb",
            b"\x89HDF\r\n\x1a\n" + bytes(504),
            "cell.nwb: is an NWB recording, not a feature table; compute its features first",
        ),
        ("cells.h5", b"\x89HDF\r\n\x1a\n" + bytes(504), "is an HDF5 file, not a feature table"),
        (
            "cells.xls",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
            "is an Excel 97-2003 (.xls) or password-protected workbook; save it as .xlsx",
        ),
        (
            "cells.csv",
            b"specimen_id,tau\r\n1,0.5 \x81s\r\n",  # 0x81: in neither UTF-8 nor Windows-1252
            "not UTF-8 or Windows-1252 text (byte 0x81 at byte 23); save it as 'CSV UTF-8'",
        ),
        ("cells.csv", bytes(range(256)) * 2, "not a text table (binary data"),
        (
            "cells.csv",
            b"specimen_id,tau\r\n1,\x02\xe9\x03\r\n",
            "not a text table (control character '\\x02' on line 2)",
        ),
        (
            "cells.csv",
            b"specimen_id;tau\n1;0,5;2\n",
            "looks semicolon-separated, but line 2 has 3 fields where the header has 2",
        ),
        ("cells.csv", b"specimen_id|tau\n1|0.5\n", "looks pipe-separated"),
        (
            "cells.csv",
            b"specimen_id,,tau\n1,x,0.5\n",
            "column 2 of the header has no name; give it one (it holds values, e.g. 'x' on line 2)",
        ),
    ],
    ids=[
        "abf",
        "nwb",
        "hdf5",
        "xls",
        "undefined-byte",
        "binary",
        "control-character",
        "ragged-semicolons",
        "pipes",
        "unnamed-column",
    ],
)
def test_refused_with_one_line(tmp_path, name, data, needle):
    path = _write(tmp_path, name, data)
    with pytest.raises(TableError) as info:
        _read(path)
    assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_folder_of_recordings(tmp_path):
    _write(tmp_path, "cell.abf", b"ABF2" + bytes(508))
    with pytest.raises(TableError, match=r"is a folder, .* run 'ephys2type features"):
        _read(tmp_path)


def test_row_numbers_are_the_ids_when_there_is_no_other(tmp_path):
    frame = pd.DataFrame(VALUES, columns=COLUMNS)
    frame.to_csv(tmp_path / "cells.csv")
    with pytest.warns(Ephys2TypeWarning) as record:
        got = _read(tmp_path / "cells.csv")
    assert got.index.tolist() == ["0", "1", "2"]
    _assert_notes(
        record,
        "the unnamed first column holds the cell ids, though it only numbers the rows 0 to 2: "
        "the table has no other id column",
    )


def test_a_model_trained_on_row_names_still_finds_a_real_id_column(tmp_path):
    """The id column a model remembers may be the unnamed one; a file to predict whose
    unnamed column only numbers its rows gives its ids from its own id column."""
    frame = pd.DataFrame(VALUES, columns=COLUMNS)
    frame.insert(0, "specimen_id", [int(i) for i in IDS])
    frame.to_csv(tmp_path / "cells.csv")
    with pytest.warns(Ephys2TypeWarning, match="ignored the unnamed first column"):
        got = _read(tmp_path / "cells.csv", preferred_id_column=UNNAMED_COLUMN)
    pd.testing.assert_frame_equal(got, EXPECTED)


def test_recording_given_to_the_command_line(tmp_path, run_cli, clean_error):
    path = _write(tmp_path, "cell.abf", b"ABF2" + bytes(508))
    clean_error(run_cli("data", "check", path), "is an ABF recording", "ephys2type features")


def test_empty_unnamed_columns_are_dropped(tmp_path):
    lines = [line + ";;" for line in _rows(";")]
    path = _write(tmp_path, "cells.csv", "\r\n".join(lines).encode())
    with pytest.warns(Ephys2TypeWarning) as record:
        pd.testing.assert_frame_equal(_read(path), EXPECTED)
    _assert_notes(record, "read as semicolon-separated", "dropped 2 empty column(s) without")


# --- the bundled tables read exactly as before --------------------------------------------

#: sha256 of the frames read by the code before table formats were recognised (commit
#: fd69c9e): see _frame_hash.
BUNDLED = {
    ("lee2023_human/LeeDalley_ephys_fx.csv", "human", "specimen_id"): (
        "9ced73540f64ff52518de729e71f40d9386a3363f60f9496aba76aa662c52253",
        "b21f8fe3d575bbfc78f6cb5a89174b96b7c660f176a7fe7ef0a7eb9806f7c1e8",
    ),
    ("gouwens2020_mouse/efeature.csv", "mouse", "ID"): (
        "4c79d524284ac336164013a9eebdfef123055d05df3ce8d3997d630d7812caa9",
        "10f75d926a1b4458bac14229d999f8b13b9a85f06f9104d9db2a32a2f5a8d7ff",
    ),
}


def _frame_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    names = [list(map(str, frame.columns)), frame.index.name, [str(t) for t in frame.dtypes]]
    digest.update(repr(names).encode())
    digest.update("\x1f".join(map(str, frame.index)).encode())
    if all(t == np.float64 for t in frame.dtypes):
        digest.update(np.ascontiguousarray(frame.to_numpy()).tobytes())
    else:
        digest.update(frame.to_csv(index=False, lineterminator="\n").encode())
    return digest.hexdigest()


@pytest.mark.parametrize("key", list(BUNDLED), ids=["human", "mouse"])
def test_bundled_tables_read_byte_identical(key):
    name, schema, id_column = key
    path = fetch(name).path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Ephys2TypeWarning)  # the extra columns of the mouse
        features = read_feature_table(path, get_schema(schema), id_column=id_column)
    frame, found = read_table_text(path)
    assert found == TableFormat()  # plain UTF-8 CSV: no notes
    assert (_frame_hash(features), _frame_hash(frame)) == BUNDLED[key]
