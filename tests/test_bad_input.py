"""Every malformed input ends in one clear line naming what and where, exit 2, nothing written."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from ephys2type import load_table
from ephys2type.errors import Ephys2TypeWarning, TableError


def _edit_features(fpath, how):
    text = fpath.read_text()
    lines = text.splitlines()
    if how == "empty":
        fpath.write_text("")
    elif how == "header_only":
        fpath.write_text(lines[0] + "\n")
    elif how == "pipes":
        fpath.write_text("\n".join(ln.replace(",", "|") for ln in lines) + "\n")
    elif how == "not_utf8":  # 0x81: a byte neither UTF-8 nor Windows-1252 text has there
        fpath.write_bytes(text.encode("utf-8").replace(b"cell_id", b"cell_\x81id", 1))
    else:
        df = pd.read_csv(fpath, dtype=str)
        if how == "missing_columns":
            df = df.drop(columns=["tau", "sag", "vrest"])
        elif how == "text_value":
            df.loc[4, "ri"] = "n/a?"
        elif how == "text_values":  # one upload names every column with text
            df.loc[4, "ri"] = "n/a?"
            df.loc[5:6, "tau"] = "12,5 ms"
        elif how == "inf_value":
            df.loc[6, "tau"] = "inf"
        elif how == "duplicate_id":
            df.loc[9, "cell_id"] = df.loc[3, "cell_id"]
        elif how == "blank_id":
            df.loc[2, "cell_id"] = ""
        elif how == "tau_in_seconds":
            df["tau"] = (df["tau"].astype(float) / 1000).astype(str)
        elif how == "duplicate_header":
            df = df.rename(columns={"sag": "ri"})
        df.to_csv(fpath, index=False)


FEATURE_CASES = [
    ("empty", ["features.csv", "is empty"]),
    ("header_only", ["features.csv", "header but no rows"]),
    ("pipes", ["features.csv", "pipe-separated"]),
    ("not_utf8", ["features.csv", "not UTF-8"]),
    ("missing_columns", ["features.csv", "missing 3 column(s)", "vrest", "sag", "tau"]),
    ("text_value", ["features.csv", "column 'ri'", "line 6", "'n/a?'", "not a number"]),
    (
        "text_values",
        [
            "column 'ri', line 6: value 'n/a?' is not a number",
            "column 'tau', line 7: value '12,5 ms' is not a number (and 1 more in this column)",
            "without its unit",
            "leave a value that was not measured empty",
        ],
    ),
    ("inf_value", ["features.csv", "column 'tau'", "line 8", "infinite"]),
    ("duplicate_id", ["features.csv", "duplicate cell id", "lines 5, 11"]),
    ("blank_id", ["features.csv", "line 4", "empty cell id"]),
    ("tau_in_seconds", ["features.csv", "'tau'", "another unit", "ms"]),
    ("duplicate_header", ["features.csv", "duplicate column name", "ri"]),
]


@pytest.mark.parametrize(("how", "needles"), FEATURE_CASES, ids=[c[0] for c in FEATURE_CASES])
def test_bad_feature_table(user_tables, run_cli, clean_error, tmp_path, how, needles):
    fpath, lpath = user_tables
    _edit_features(fpath, how)
    with pytest.raises(TableError) as info:
        load_table(fpath, lpath)
    assert "\n" not in str(info.value)
    out = tmp_path / "aligned.csv"
    result = run_cli("data", "check", fpath, "--labels", lpath, "--write-aligned", out)
    clean_error(result, *needles)
    assert not out.exists()
    assert list(tmp_path.glob(".aligned.csv*")) == []  # no temporary leftovers either


def _edit_labels(lpath, how):
    df = pd.read_csv(lpath, dtype=str)
    if how == "no_match":
        df["cell_id"] = "x" + df["cell_id"]
    elif how == "no_label_column":
        df = df.rename(columns={"subclass": "type"})
    elif how == "conflicting_duplicate":
        df.loc[len(df)] = [df.loc[0, "cell_id"], "Vip", df.loc[0, "donor"]]
        df.loc[len(df) - 1, "subclass"] = "Pvalb" if df.loc[0, "subclass"] != "Pvalb" else "Sst"
    elif how == "unknown_label":
        df.loc[5, "subclass"] = "Chandelier"
    elif how == "missing_file":
        lpath.unlink()
        return
    df.to_csv(lpath, index=False)


LABEL_CASES = [
    ("no_match", ["labels.csv", "no label row matches a feature row"], ()),
    ("no_label_column", ["labels.csv", "no column 'subclass'"], ()),
    ("conflicting_duplicate", ["labels.csv", "duplicate cell id"], ()),
    ("unknown_label", ["unknown label", "'Chandelier'"], ("--label-scheme", "mouse5")),
    ("missing_file", ["labels.csv", "not found"], ()),
]


@pytest.mark.parametrize(("how", "needles", "extra"), LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_bad_label_table(user_tables, run_cli, clean_error, tmp_path, how, needles, extra):
    fpath, lpath = user_tables
    _edit_labels(lpath, how)
    out = tmp_path / "aligned.csv"
    result = run_cli("data", "check", fpath, "--labels", lpath, "--write-aligned", out, *extra)
    clean_error(result, *needles)
    assert not out.exists()


def test_missing_feature_file(run_cli, clean_error, tmp_path):
    clean_error(run_cli("data", "check", tmp_path / "nope.csv"), "nope.csv", "not found")


def test_existing_output_is_never_overwritten(user_tables, run_cli, clean_error, tmp_path):
    fpath, _ = user_tables
    out = tmp_path / "aligned.csv"
    out.write_text("precious")
    clean_error(run_cli("data", "check", fpath, "--write-aligned", out), "already exists")
    assert out.read_text() == "precious"


def test_identical_duplicate_labels_collapse_with_a_warning(user_tables):
    fpath, lpath = user_tables
    df = pd.read_csv(lpath, dtype=str)
    pd.concat([df, df.iloc[[0]]]).to_csv(lpath, index=False)
    with pytest.warns(Ephys2TypeWarning, match="listed twice with identical rows"):
        data = load_table(fpath, lpath)
    assert len(data) == 40


def test_extra_columns_are_ignored_with_a_warning(user_tables, run_cli):
    fpath, _ = user_tables
    df = pd.read_csv(fpath, dtype=str)
    df["my_notes"] = "ok"
    df.to_csv(fpath, index=False)
    with pytest.warns(Ephys2TypeWarning, match="ignoring 1 column"):
        load_table(fpath)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_cli("data", "check", fpath)
    assert result.code == 0


def test_data_check_writes_aligned_features(user_tables, run_cli, tmp_path):
    fpath, lpath = user_tables
    out = tmp_path / "aligned.csv"
    result = run_cli("data", "check", fpath, "--labels", lpath, "--write-aligned", out)
    assert result.code == 0, result
    assert "40 cells x 39 features" in result.out
    aligned = pd.read_csv(out, index_col="cell_id")
    assert aligned.shape == (40, 25) and "tau" in aligned.columns


def test_data_check_applies_qc(user_tables, run_cli):
    fpath, lpath = user_tables
    result = run_cli("data", "check", fpath, "--labels", lpath, "--profile", "default")
    assert result.code == 0, result
    # 40 cells spread over 5 classes: the classes with fewer than 10 cells are dropped
    counts = pd.read_csv(lpath)["subclass"].value_counts()
    kept = int(counts[counts >= 10].sum())
    assert f"rare_class {40 - kept}" in result.out and f"-> {kept} kept" in result.out
