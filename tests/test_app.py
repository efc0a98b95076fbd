"""The browser app's logic, run headless by Streamlit's own test harness (AppTest): the page
predicts an uploaded table, mapped columns and a recording as the command line does (the
downloads are the bytes `ephys2type predict` and `features` write, and the command lines the
page gives reproduce them), bad uploads show the command line's one-line error and leave the
page up, the bundled model is what `train` saves, and the server keeps to 127.0.0.1."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import socket
from pathlib import Path

import pandas as pd
import pytest

from ephys2type.app import bundled_models, commands, downloads, page, results_view
from ephys2type.app.mapping_form import MappedChoice, initial_choices, mapping_toml
from ephys2type.app.messages import page_words
from ephys2type.app.prediction_run import ModelChoice, RecordedCells, TableCells, run_prediction
from ephys2type.app.server import HOST, page_script, serve, streamlit_options
from ephys2type.app.uploads import Upload
from ephys2type.errors import Ephys2TypeError

RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings"
#: The smallest sample recording (one cell).
ONE_RECORDING = RECORDINGS / "pyabf_samples" / "190619B_0003.abf"
#: Seconds a Predict press may take under the harness.
PREDICT_TIMEOUT = 120


@pytest.fixture(scope="module")
def mouse(tmp_path_factory):
    """A small mouse model (logreg, no family subsets, a fifth of the cells) and 30 cells."""
    from ephys2type import load_mouse
    from ephys2type.persist.format import save_model
    from ephys2type.persist.train import train_model

    data = load_mouse()
    folder = tmp_path_factory.mktemp("app") / "mouse-model"
    model = train_model(
        data.subset(data.X.index[::5]), "logreg", random_state=0, family_subsets=False
    )
    save_model(model, folder)
    cells = data.X.iloc[1::130].copy()  # 30 cells, many not among the training cells
    cells.iloc[0, :] = float("nan")  # one cell with nothing measured: unassigned
    return folder, cells.rename_axis("cell_id")


@pytest.fixture
def at():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(page_script()), default_timeout=30).run()


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(float_format="%.6g").encode()


def _press_predict(at) -> None:
    at.button(key="predict").click().run(timeout=PREDICT_TIMEOUT)
    assert not at.exception, at.exception


def _table_with(at, column: str) -> pd.DataFrame:
    """The first table of the page with this column."""
    return next(t.value for t in at.dataframe if column in t.value.columns)


def _with_model_folder(at, folder: Path) -> None:
    at.radio(key="model_kind").set_value(page.FOLDER).run()
    at.text_input(key="model_folder").input(str(folder)).run()


def _cli_predict(run_cli, folder: Path, args: list[str]) -> tuple[dict[str, bytes], list[str], str]:
    """Run the page's `predict` command line in ``folder``: the files it writes, its
    warning lines and what it prints."""
    with contextlib.chdir(folder):
        result = run_cli(*args[1:])
    assert result.code == 0, result
    files = {
        name: (folder / name).read_bytes()
        for name in (commands.PREDICTIONS_FILE, f"{commands.PREDICTIONS_FILE}.summary.json")
    }
    warned = [line for line in result.err.splitlines() if line.startswith("warning:")]
    return files, warned, result.out


def test_the_page_starts_empty_and_asks_for_cells(at):
    assert not at.exception
    assert at.button(key="predict").disabled
    assert "Give your cells" in at.info[0].value
    assert [r.value for r in at.radio] == [page.TABLE, page.AS_NAMED, page.BUNDLED]


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_a_table_gives_the_calls_and_the_bytes_predict_writes(at, mouse, tmp_path, run_cli):
    folder, cells = mouse
    _with_model_folder(at, folder)
    # a column the model does not read: one warning; the recording checks `features` writes
    # into a table are read without their QC table, as `predict` reads them
    failed = ["spike_shape" if i == 1 else "" for i in range(len(cells))]
    upload = _csv(cells.assign(rig="B", checks_failed=failed))
    at.file_uploader(key="table").upload("cells.csv", upload, "text/csv").run()
    _press_predict(at)
    assert not at.error
    outcome = at.session_state["outcome"]
    table = outcome.prediction.table
    assert table.loc[cells.index[1], "reason"].startswith("failed recording check: spike_shape")
    shown = _table_with(at, "predicted")
    assert list(shown.index.astype(str)) == list(cells.index.astype(str))
    # a missing value (an unassigned cell's set, expected accuracy) is an empty cell, as in
    # the downloaded CSV, not "None"
    assert shown["expected_accuracy"].isna().any()
    assert all(t.proto.HasField("placeholder") for t in at.dataframe)
    assert {t.proto.placeholder for t in at.dataframe} == {results_view.MISSING} == {""}
    assert list(shown["predicted"]) == list(table["predicted"])
    assert table.loc[cells.index[0], "predicted"] == "unassigned"
    assert table.loc[cells.index[0], "reason"].startswith("no features")
    # the unassigned cells are counted beside the calls, with their reasons
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["unassigned"] == str((table["predicted"] == "unassigned").sum())
    assert any("no features (1)" in m.value for m in at.markdown)
    # what the label scheme's classes are, beside its name (new-user trial: "revised labels")
    (said_by,) = [c for c in at.caption if "mouse5 labels" in c.value]
    assert said_by.proto.help.startswith("Mouse subclasses Lamp5, Pvalb, Sncg, Sst, Vip")
    assert "Revised_subclass_label" in results_view.scheme_description("revised", "human")
    assert results_view.scheme_description("my_labels", "human") is None
    # the downloads are what `ephys2type predict --out` writes, and the page's command
    # line, run where the file is, writes them
    (tmp_path / "cells.csv").write_bytes(upload)
    (command,) = outcome.commands
    assert command[:2] == ["ephys2type", "predict"] and "--overview" in command
    written, said, printed = _cli_predict(run_cli, tmp_path, command)
    assert downloads.predictions(outcome) == written
    # the summary tab says the cells as the command line prints them (its fixes in the
    # page's words), the 90% sets and the QC count among them (new-user trial)
    from ephys2type.persist.prediction_lines import prediction_lines

    lines = prediction_lines(outcome.prediction, batch=False)
    assert any("90% prediction set" in line for line in lines)
    assert any("failing a training QC rule" in line for line in lines)
    assert all(" ".join(line.split()) in " ".join(printed.split()) for line in lines)
    in_page = results_view.cells_lines(outcome.prediction, outcome.workdir)
    assert len(in_page) == len(lines) and not any(str(outcome.workdir) in ln for ln in in_page)
    assert [page_words(ln) for ln in lines if str(outcome.workdir) not in ln] == [
        ln for ln in in_page if "check rows from" not in ln
    ]
    # the page says what the command line says, in the same words
    assert said and set(said) == {w.value for w in at.warning}
    assert any("ignoring 1 column(s) the model does not use" in line for line in said)
    assert (tmp_path / commands.OVERVIEW_FILE).is_file()
    # every tab draws: a cell's page with its figure, every summary field, the overview
    for tab in results_view.TABS[1:]:
        at.session_state["view"] = tab
        at.run()
        assert not at.exception and not at.error, tab
        if tab == "Batch summary":
            shown = " ".join(m.value for m in at.markdown)
            assert all(line in shown for line in in_page)
    at.session_state["view"] = "Cells"
    at.run()
    at.selectbox(key="cell").set_value(str(cells.index[3])).run()
    assert at.image, "no figure of the cell's features"
    at.session_state["view"] = "Batch summary"
    at.run()
    fields = set(_table_with(at, "field")["field"])
    assert {"n_cells", "shift_detected", "n_unassigned"} <= fields
    # above the fields, the summary in the words predict prints (in full, not cut by a cell)
    batch = outcome.prediction.batch
    shown = [m.value for m in at.markdown]
    assert f"E{batch.accuracy_line()[1:]}" in shown
    said = (
        "differ from the training cells"
        if batch.shift_detected
        else f"No shift detected (p = {batch.shift_p:.2g})"
    )
    assert any(said in m for m in shown), shown
    at.session_state["view"] = "Take it home"
    at.run()
    labels = [b.label for b in at.get("download_button")]
    assert commands.PREDICTIONS_FILE in labels and downloads.COMMANDS_FILE in labels
    assert at.code[0].value.strip() == commands.as_lines(outcome.commands).strip()


def test_an_h5ad_upload_gives_the_h5ad_predict_writes(mouse, tmp_path, run_cli):
    from ephys2type.data.h5ad import write_h5ad

    folder, cells = mouse
    write_h5ad(tmp_path / "cells.h5ad", cells, pd.DataFrame(index=cells.index))
    outcome = run_prediction(
        TableCells(Upload("cells.h5ad", (tmp_path / "cells.h5ad").read_bytes())),
        ModelChoice(folder=str(folder)),
        tmp_path / "app",
    )
    name, data = downloads.predictions_h5ad(outcome)
    command = outcome.commands[-1]
    assert name == "cells_with_calls.h5ad" and command[-2:] == ["--out", name]
    with contextlib.chdir(tmp_path):
        assert run_cli(*command[1:]).code == 0
    assert (tmp_path / name).read_bytes() == data


def test_the_summary_tab_says_what_the_test_found_and_no_more():
    """No shift detected is not "the cells are alike": with an estimate that does not hold,
    the tab says the p-value and the warning predict gives, never that the cells look like
    the training cells (review)."""
    from test_batch_check import summary

    low = summary(detected=False, shift_sd=0.1, estimate=0.6)
    lines = results_view.summary_lines(low)
    assert lines[0] == f"E{low.accuracy_line()[1:]}"
    assert lines[1] == "No shift detected (p = 0.4)"
    assert lines[2] == f"Warning: {low.warning()}" and len(lines) == 3
    cre_line = summary(detected=True, shift_sd=0.4, estimate=0.9)
    assert results_view.summary_lines(cre_line)[1:] == [f"Note: {cre_line.note()}"]
    # three cells: no estimate, no shift test, and the tab says why (review: it crashed on
    # the p-value it did not have)
    few = summary(detected=False, shift_sd=0.1, estimate=0.8, n=3)
    few.estimated_accuracy = few.accuracy_holds = few.shift_p = None
    few.n_read = 3
    line = few.no_estimate_line()
    assert results_view.summary_lines(few) == [f"N{line[1:]}"]


def test_filters_keep_the_rows_asked_for():
    table = pd.DataFrame(
        {
            "predicted": ["Pvalb", "unassigned", "Sst"],
            "reason": ["", "no features: nothing measured", ""],
            "out_of_distribution": [False, False, True],
            "qc_flag": ["", "missing_family: x", ""],
        },
        index=["a", "b", "c"],
    )
    assert list(results_view.filter_calls(table, calls=["unassigned"]).index) == ["b"]
    assert list(results_view.filter_calls(table, out_of_distribution=True).index) == ["c"]
    assert list(results_view.filter_calls(table, flagged=True).index) == ["b"]
    assert list(results_view.filter_calls(table, text="NOTHING").index) == ["b"]
    assert list(results_view.filter_calls(table, text="c").index) == ["c"]


def test_every_field_of_the_batch_summary_says_what_it_is():
    """A field added to the summary gets its line in FIELDS, or this fails (new-user trial:
    p_flagged, ks and shift_sd were raw numbers in the page)."""
    from ephys2type.models.batch_check import FIELDS
    from test_batch_check import summary

    assert set(summary(detected=True, shift_sd=0.4, estimate=0.9).to_dict()) == set(FIELDS)
    assert all(FIELDS.values())


def test_every_field_of_the_batch_summary_is_shown_new_ones_too():
    summary = {
        "n_cells": 3,
        "shift_detected": False,
        "families_used": ["a", "b"],
        "most_shifted_features": [{"feature": "ri", "shift_sd": 0.5}],
        "unassigned_reasons": {"no features": 1},
        "estimated_batch_accuracy": {"estimate": 0.8, "low": 0.7, "high": 0.9},
    }
    single, tables = results_view.summary_parts(summary)
    assert list(single["field"]) == ["n_cells", "shift_detected", "families_used"]
    assert single["value"].tolist() == ["3", "False", "a, b"]
    assert single["what it is"].tolist()[0] == "cells in the batch"
    assert set(tables) == {
        "most_shifted_features",
        "unassigned_reasons",
        "estimated_batch_accuracy",
    }
    assert tables["estimated_batch_accuracy"]["value"].tolist() == ["0.8", "0.7", "0.9"]
    # nothing estimated (no cell read): a "-" among the single values, not an empty table
    single, tables = results_view.summary_parts({"estimated_priors": {}})
    assert single["value"].tolist() == ["-"] and tables == {}


def test_a_bad_upload_shows_the_command_lines_error_and_the_page_stays_up(
    at, mouse, tmp_path, run_cli, clean_error
):
    folder, cells = mouse
    bad = cells.astype(object)
    bad.iloc[2, 1] = "12 MOhm"
    (tmp_path / "bad.csv").write_bytes(_csv(bad))
    with contextlib.chdir(tmp_path):
        cli = run_cli("predict", "--model", folder, "--features", "bad.csv")
    clean_error(cli)
    _with_model_folder(at, folder)
    at.file_uploader(key="table").upload("bad.csv", _csv(bad), "text/csv").run()
    _press_predict(at)
    assert [e.value for e in at.error] == [page_words(cli.err.strip())]
    # the page is still there, and a good table after it is predicted
    at.file_uploader(key="table").clear().upload("cells.csv", _csv(cells), "text/csv").run()
    _press_predict(at)
    assert not at.error and at.session_state["outcome"].prediction.table.shape[0] == len(cells)


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_the_warnings_before_an_error_are_shown_with_it(at, mouse, tmp_path, run_cli):
    """A workbook whose first sheet is a read-me: the command line says which sheet it read
    before its error, and so does the page (new-user trial: the page showed the error only)."""
    import io

    folder, cells = mouse
    book = io.BytesIO()
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"note": ["our cells, 2026"]}).to_excel(writer, sheet_name="README")
        cells.to_excel(writer, sheet_name="cells")
    (tmp_path / "two_sheets.xlsx").write_bytes(book.getvalue())
    with contextlib.chdir(tmp_path):
        cli = run_cli("predict", "--model", folder, "--features", "two_sheets.xlsx")
    assert cli.code == 2, cli
    lines = cli.err.strip().splitlines()
    assert (
        "read sheet 'README' (the first; for another, name it with --sheet (predict, data "
        "check), or move it first" in " ".join(lines)
    )
    # the error about its columns names the sheet first (a trial: it blamed the mapping)
    assert "is there; if the features are on another sheet, name it with --sheet; else" in (
        " ".join(lines)
    )
    _with_model_folder(at, folder)
    at.file_uploader(key="table").upload("two_sheets.xlsx", book.getvalue(), "x").run()
    _press_predict(at)
    said = [page_words(line) for line in lines]
    assert [w.value for w in at.warning] == [line for line in said if line.startswith("warn")]
    assert [e.value for e in at.error] == [line for line in said if line.startswith("error")]
    assert "a mapping ('Its columns are'" in at.error[0].value and "--mapping" in lines[-1]
    assert "name it in the 'Sheet' box (More options)" in at.warning[0].value
    assert len(at.warning) >= 1 and len(at.error) == 1
    # named, the sheet of cells is read, on the page as with --sheet (its command says so)
    with contextlib.chdir(tmp_path):
        named = run_cli(
            "predict", "--model", folder, "--features", "two_sheets.xlsx", "--sheet", "cells"
        )
    assert named.code == 0, named
    assert "read sheet" not in named.err  # the sheet asked for: no note
    from ephys2type.app import mapping_form

    mapped = mapping_form.table_columns(tmp_path / "two_sheets.xlsx", sheet="cells")
    assert set(cells.columns) <= set(mapped) and "note" not in mapped  # the page's map too
    at.text_input(key="sheet").input("cells").run()
    _press_predict(at)
    assert not at.error
    outcome = at.session_state["outcome"]
    assert len(outcome.prediction.table) == len(cells)
    assert outcome.commands[0][-4:-2] == ["--sheet", "cells"]
    # the page's mapping table lists the named sheet's columns, not the read-me's
    at.radio(key="mapping_mode").set_value(page.MAP_HERE).run()
    listed = list(at.data_editor[0].value["their column"])
    assert set(cells.columns) <= set(listed) and "note" not in listed


def _raised(call) -> str:
    """The message of the error ``call`` raises, or of the warnings it gives."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except Ephys2TypeError as exc:
            return str(exc)
    return " ".join(str(w.message) for w in caught)


def test_the_page_names_its_own_controls_where_the_command_line_names_options(mouse, tmp_path):
    """The library's own errors and warnings, as the page shows them (one_line), name the
    page's control for each fix instead of a flag or a file the user does not have (review:
    the first cases were paraphrases, blind to the messages' drift)."""
    from ephys2type.app.messages import one_line
    from ephys2type.data.id_columns import detect_id_column
    from ephys2type.data.mapping import load_mapping
    from ephys2type.data.schema import get_schema
    from ephys2type.data.schema_match import SCHEMA_OF_MODEL, check_schema_match, none_there
    from ephys2type.data.tables import read_feature_table

    human, mouse_schema = get_schema("human"), get_schema("mouse")
    _, cells = mouse
    numbered = cells.reset_index(drop=True)
    slipped = tmp_path / "slipped.csv"
    cells.assign(tau=cells["tau"] / 1000).to_csv(slipped)  # in s, not ms
    theirs = tmp_path / "theirs.csv"
    cells.rename(columns={"ri": "Rin"}).assign(Rin=cells["ri"] / 1000).to_csv(theirs)
    (tmp_path / "map.toml").write_text('[columns]\n"Rin" = { feature = "ri", unit = "MOhm" }\n')
    said = {
        "id": _raised(lambda: detect_id_column(numbered, mouse_schema, path="t.csv")),
        "species": _raised(
            lambda: check_schema_match(
                list(human.columns), mouse_schema, path="t.csv", source=SCHEMA_OF_MODEL
            )
        ),
        "names": none_there("t.csv", human, None),
        "unit": _raised(lambda: read_feature_table(slipped, mouse_schema)),
        "mapped unit": _raised(
            lambda: read_feature_table(
                theirs, mouse_schema, mapping=load_mapping(tmp_path / "map.toml", mouse_schema)
            )
        ),
        "checks": "t.csv: no t.csv.qc.csv beside it, but a.qc.csv holds the recording checks "
        "of these cells (was the table renamed?); give them with predict --checks a.qc.csv "
        "(recording_checks=...) so that they reach the calls",
        "sweep qc": "all 9 long-square sweeps failed sweep QC (lab); most often baseline (9 "
        "sweeps); --sweep-qc allen keeps 7, --sweep-qc none keeps 9",
    }
    page = {what: one_line(text) for what, text in said.items()}
    for text in page.values():
        assert "--" not in text and "ephys2type " not in text and "=...)" not in text, text
    assert "the 'Cell id column' box (More options)" in page["id"]
    assert "(the bundled model: Species human)" in page["species"]
    assert "a mapping ('Its columns are'" in page["names"]
    assert "the list above the page's mapping table" in page["names"]
    assert "give it the unit s in the page's mapping table" in page["unit"], page["unit"]
    assert "give it the unit GOhm in the page's mapping table" in page["mapped unit"]
    assert "the 'Recording checks' upload a.qc.csv" in page["checks"]
    assert "the Sweep QC choice 'allen' keeps 7" in page["sweep qc"]


def test_an_internal_error_is_one_line_too(at, mouse, monkeypatch):
    from ephys2type.persist import predict

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(predict, "predict_cells", broken)
    folder, cells = mouse
    _with_model_folder(at, folder)
    at.file_uploader(key="table").upload("cells.csv", _csv(cells), "text/csv").run()
    _press_predict(at)
    assert [e.value for e in at.error] == [
        "error: internal error (RuntimeError: boom); this is a bug in ephys2type"
    ]


def _their_export(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells as another lab names them: input resistance in GOhm, tau in s."""
    theirs = cells.rename(columns={"ri": "Rin (GOhm)", "tau": "tau_s"})
    theirs["Rin (GOhm)"] /= 1000.0
    theirs["tau_s"] /= 1000.0
    return theirs


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_mapped_columns_predict_as_the_schemas_names_do(at, mouse, tmp_path):
    """A mapping file, and the same mapping chosen in the page, give the calls of the table
    in the schema's names and units."""
    folder, cells = mouse
    theirs = _their_export(cells)
    expected = run_prediction(
        TableCells(Upload("cells.csv", _csv(cells))),
        ModelChoice(folder=str(folder)),
        tmp_path / "plain",
    ).prediction.table
    # the mapping built from the page's choices is a mapping file the library reads
    from ephys2type.data.schema import get_schema

    schema = get_schema("mouse")
    start = initial_choices(list(theirs.reset_index().columns), schema)
    assert start.loc[start["their column"] == "vrest", "feature"].item() == "vrest"
    text = mapping_toml(
        [MappedChoice("Rin (GOhm)", "ri", "GOhm"), MappedChoice("tau_s", "tau", "s")], schema
    )
    assert text == (
        "# mapping.toml\n[columns]\n"
        '"Rin (GOhm)" = { feature = "ri", unit = "GOhm" }\n'
        '"tau_s" = { feature = "tau", unit = "s" }\n'
    )
    mapped = run_prediction(
        TableCells(
            Upload("theirs.csv", _csv(theirs)), mapping_file=Upload("map.toml", text.encode())
        ),
        ModelChoice(folder=str(folder)),
        tmp_path / "map",
    )
    pd.testing.assert_frame_equal(mapped.prediction.table, expected)
    assert mapped.commands[0][-4:-2] == ["--mapping", "map.toml"]
    # the same choices made in the page's mapping table
    _with_model_folder(at, folder)
    data = _csv(theirs)
    at.file_uploader(key="table").upload("theirs.csv", data, "text/csv").run()
    at.radio(key="mapping_mode").set_value(page.MAP_HERE).run()
    columns = list(at.data_editor[0].value["their column"])
    rows = {columns.index("Rin (GOhm)"): {"feature": "ri", "unit": "GOhm"}}
    rows[columns.index("tau_s")] = {"feature": "tau", "unit": "s"}
    at.session_state[f"mapping_editor:theirs.csv:{len(data)}"] = {
        "edited_rows": rows,
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert at.code[0].value.strip() == text.strip()

    def mapping_open() -> bool:
        (box,) = [e for e in at.expander if e.label.startswith("Map the columns")]
        return box.proto.expanded

    assert mapping_open()
    _press_predict(at)
    assert not at.error
    assert not mapping_open()  # folded: the answer is below it
    outcome = at.session_state["outcome"]
    pd.testing.assert_frame_equal(outcome.prediction.table, expected)
    assert outcome.mapping.read_text() == text


def test_the_mapping_list_shows_units_as_text(at, mouse):
    """The human features' units hold '*' (sag_area in mV*s): in the page's markdown, unescaped,
    they set the features after them in italics (new-user trial)."""
    _, cells = mouse
    at.selectbox(key="species").set_value("human").run()
    at.file_uploader(key="table").upload("cells.csv", _csv(cells), "text/csv").run()
    at.radio(key="mapping_mode").set_value(page.MAP_HERE).run()
    listed = next(c.value for c in at.caption if "Features of" in c.value)
    assert r"sag_area (mV\*s)" in listed and "*" not in listed.replace(r"\*", "")


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_a_recording_gives_its_features_checks_and_figure(at, mouse, tmp_path, run_cli):
    folder, _ = mouse
    _with_model_folder(at, folder)
    at.radio(key="source").set_value(page.RECORDINGS).run()
    data = ONE_RECORDING.read_bytes()
    at.file_uploader(key="recordings").upload(ONE_RECORDING.name, data).run()
    _press_predict(at)
    assert not at.error
    outcome = at.session_state["outcome"]
    cell = ONE_RECORDING.stem
    assert list(outcome.prediction.table.index) == [cell]
    assert "recording_checks" in outcome.prediction.table.columns
    at.session_state["view"] = "Cells"
    at.run()
    assert any("recording checks of" in c for i in at.image for c in i.captions)
    # a check blocked it before any model read it: no probabilities that read as an answer
    assert outcome.prediction.table.loc[cell, "model_features"] == 0
    assert any("No model read this cell" in c.value for c in at.caption)
    assert not any(str(i).startswith("proba:") for i in _table_with(at, "value").index)
    # `ephys2type features` and `predict` as the page says them give the same files
    shutil.copy(ONE_RECORDING, tmp_path / ONE_RECORDING.name)
    features_cmd, predict_cmd = outcome.commands
    assert features_cmd[:3] == ["ephys2type", "features", ONE_RECORDING.name]
    with contextlib.chdir(tmp_path):
        assert run_cli(*features_cmd[1:]).code == 0
    assert downloads.features(outcome) == {
        name: (tmp_path / name).read_bytes()
        for name in (commands.FEATURES_FILE, f"{commands.FEATURES_FILE}.qc.csv")
    }
    assert (tmp_path / commands.FIGURES_DIR / f"{cell}.png").is_file()
    assert downloads.predictions(outcome) == _cli_predict(run_cli, tmp_path, predict_cmd)[0]
    # called anyway: said at the top of the answer (an app trial found it only in the batch
    # summary and the far-right column)
    assert not any("called although a recording check failed" in w.value for w in at.warning)
    at.checkbox(key="call_failed_checks").check().run()
    _press_predict(at)
    forced = [w.value for w in at.warning if "called although a recording check failed" in w.value]
    called = at.session_state["outcome"].prediction.table.loc[cell, "predicted"] != "unassigned"
    assert len(forced) == int(called) == 1, (forced, called)


def test_a_long_training_says_its_time_so_far_and_raises_its_error():
    """While the bundled model trains, the page's line gains the seconds so far (an app
    trial: a minute with the same words looked stuck); the training's error reaches the
    caller."""
    import time

    told: list[str] = []
    result = bundled_models.while_telling(
        lambda: time.sleep(0.35) or "done", told.append, "training", every=0.1
    )
    assert result == "done"
    assert told[0] == "training" and len(told) >= 3
    assert all(line.startswith("training (") and line.endswith(" s so far)") for line in told[1:])

    def fails() -> None:
        raise Ephys2TypeError("no cells")

    with pytest.raises(Ephys2TypeError, match="no cells"):
        bundled_models.while_telling(fails, told.append, "training", every=0.1)

    # the page interrupted while it trains (Streamlit raises to rerun): the training still
    # ends before the caller (and its lock) lets go
    finished: list[bool] = []

    def interrupted(line: str) -> None:
        if line != "training":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bundled_models.while_telling(
            lambda: time.sleep(0.3) or finished.append(True), interrupted, "training", every=0.05
        )
    assert finished == [True]


def test_the_bundled_model_is_what_train_saves_and_is_trained_once(monkeypatch, tmp_path, run_cli):
    monkeypatch.setattr(bundled_models, "MODEL", "logreg")
    monkeypatch.setattr(bundled_models, "FAMILY_SUBSETS", False)
    told: list[str] = []
    folder = bundled_models.ensure_bundled_model("human", on_training=told.append)
    assert folder.parent == bundled_models.bundled_models_dir()
    assert told[0].startswith("training the bundled human model (logreg)")
    assert all(line.startswith(f"{told[0]} (") for line in told[1:])  # the time so far
    n_told = len(told)
    assert bundled_models.ensure_bundled_model("human", on_training=told.append) == folder
    assert len(told) == n_told  # reused, nothing said
    train = commands.train_command("human")
    assert train[-3:] == ["--no-family-subsets", "--out", "human-model"]
    out = tmp_path / "human-model"
    assert run_cli(*train[1:-1], out).code == 0
    import json

    from ephys2type import load_human
    from ephys2type.persist.format import load_model

    # the same description (the weights files differ only in their zip time stamps) and
    # the same calls
    saved, ours = (json.loads((f / "model.json").read_text()) for f in (out, folder))
    assert {k: v for k, v in saved.items() if k != "members"} == {
        k: v for k, v in ours.items() if k != "members"
    }
    cells = load_human().X.iloc[::40]
    pd.testing.assert_frame_equal(
        load_model(out).predict_table(cells), load_model(folder).predict_table(cells)
    )


def test_the_server_keeps_to_this_machine():
    options = streamlit_options(8599)
    assert options["server.address"] == HOST == "127.0.0.1"
    assert options["browser.gatherUsageStats"] is False
    assert options["server.port"] == options["browser.serverPort"] == 8599
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(Ephys2TypeError, match=f"port {port} of 127.0.0.1 is in use"):
            serve(port, open_browser=False)


def test_the_command_lines_are_shell_lines():
    line = commands.as_lines([commands.predict_command("my model", "a b.csv", id_column="ID")])
    assert shlex.split(line) == [
        "ephys2type",
        "predict",
        "--model",
        "my model",
        "--features",
        "a b.csv",
        "--out",
        "predictions.csv",
        "--id-column",
        "ID",
        "--overview",
        "overview.png",
    ]


def test_results_of_other_cells_say_so():
    """A new upload (other bytes), another mapping, model or check option changed after
    Predict: the results on show are the old ones, and a line says so (new-user trial:
    nothing did); an unfinished model choice (an empty folder field) is a change, not a
    crash (a review: the page showed an exception)."""
    from types import SimpleNamespace

    old = Upload("human40.csv", b"a,b\n1,2\n")
    shown = SimpleNamespace(
        cells=TableCells(old, mapping_text="[columns]\n"),
        model=ModelChoice(species="human"),
        call_failed_checks=False,
    )
    human = {"species": "human", "folder": None}
    table = {"table": old, "mode": page.MAP_HERE}
    assert page.stale_notice(table, human, False, shown, "[columns]\n") is None
    assert page.stale_notice(None, human, False, shown, None) is None  # nothing new given
    same_size = {"table": Upload("human40.csv", b"a,b\n1,3\n"), "mode": page.MAP_HERE}
    notice = page.stale_notice(same_size, human, False, shown, "[columns]\n")
    assert notice == (
        "The cells changed since Predict was pressed: the results below are still those of "
        "human40.csv; press Predict to update them"
    )
    notice = page.stale_notice(table, {"species": "mouse"}, True, shown, "[columns]\n")
    assert notice.startswith("The model and the recording-check option changed")
    edited = page.stale_notice(table, human, False, shown, '[columns]\n"Rin" = "ri"\n')
    assert edited.startswith("The mapping changed")
    unfinished = page.stale_notice(
        table, {"species": None, "folder": " "}, False, shown, "[columns]\n"
    )
    assert unfinished.startswith("The model changed")
    # every other option a Predict reads (a trial: changing the id column said nothing)
    options = page.stale_notice(
        {**table, "id_column": "ID", "sheet": "cells", "checks": Upload("c.qc.csv", b"x\n")},
        human,
        False,
        shown,
        "[columns]\n",
    )
    assert options.startswith(
        "The recording checks file, the id column and the sheet changed since Predict"
    )
    as_named = page.stale_notice({**table, "mode": page.AS_NAMED}, human, False, shown, None)
    assert as_named.startswith("The mapping changed")
    abf = (Upload("a.abf", b"1"), Upload("b.abf", b"2"))
    recorded = SimpleNamespace(
        cells=RecordedCells(abf, sweep_qc="lab"),
        model=ModelChoice(species="human"),
        call_failed_checks=False,
    )
    same = {"recordings": list(abf), "sweep_qc": "lab"}
    assert page.stale_notice(same, human, False, recorded, None) is None
    qc = page.stale_notice({**same, "sweep_qc": "allen"}, human, False, recorded, None)
    assert qc == (
        "The sweep QC changed since Predict was pressed: the results below are still those "
        "of a.abf, b.abf; press Predict to update them"
    )
    assert page.stale_notice(table, human, False, recorded, None).startswith("The cells changed")


def test_an_emptied_model_folder_after_predict_keeps_the_page_up(at, mouse):
    """The folder field emptied after a Predict (switching to 'a model folder' starts it
    empty): the results stay with a line that the model changed (a review: an exception)."""
    folder, cells = mouse
    _with_model_folder(at, folder)
    at.file_uploader(key="table").upload("cells.csv", _csv(cells), "text/csv").run()
    at.button(key="predict").click().run(timeout=PREDICT_TIMEOUT)
    assert not at.exception
    at.text_input(key="model_folder").input("").run()
    assert not at.exception
    assert any(w.value.startswith("The model changed") for w in at.warning)


def test_a_named_id_column_is_said_in_the_page_s_words():
    """An app trial: "say so with --id-column Cell" became "... (More options) Cell"."""
    said = page_words(
        "error: x.csv: no cell id column found; Cell holds unique whole numbers: if those are "
        "the ids, say so with --id-column Cell"
    )
    assert said.endswith(
        "if those are the ids, type Cell in the 'Cell id column' box (More options)"
    )
    assert "--id-column" not in page_words("name one with --id-column (id_column=...)")


def test_a_two_level_models_calls_above_its_classes_come_first():
    """An app trial: a t-type model's 22 t-types, all 0, hid its subclass calls."""
    table = pd.DataFrame({"predicted": ["Pvalb", "Pvalb", "Sst", "unassigned", "Sst A"]})
    counts = results_view.call_counts(table, ["Sst A", "Sst B", "Vip A"])
    assert list(counts) == ["Pvalb", "Sst", "Sst A", "Sst B", "Vip A", "unassigned"]
    assert counts["Pvalb"] == 2 and counts["Sst B"] == 0 and counts["unassigned"] == 1
    flat = results_view.call_counts(table.iloc[:3], ["Lamp5", "Pvalb", "Sst"])
    assert list(flat) == ["Lamp5", "Pvalb", "Sst", "unassigned"]  # a flat model: its order
