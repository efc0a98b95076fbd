"""The page: bring cells and pick a model in the sidebar, press Predict, read the answer.

Streamlit reruns :func:`render` on every click; what must outlive a rerun (the last answer,
its figures, the last error) is kept in the session's state. A Predict press runs
:func:`~ephys2type.app.prediction_run.run_prediction` with a progress bar; any error it
raises is shown as the one line the command line would print, and the page stays up.
"""

from __future__ import annotations

import hashlib
from types import ModuleType
from typing import TYPE_CHECKING

from ephys2type.app import bundled_models
from ephys2type.app.uploads import RECORDING_SUFFIXES, TABLE_SUFFIXES, Upload
from ephys2type.wording import listing

if TYPE_CHECKING:
    from ephys2type.app.prediction_run import ModelChoice, RecordedCells, TableCells

TITLE = "ephys2type"
#: Choices of the page, as the page words them.
TABLE, RECORDINGS = "a feature table", "recordings (ABF, NWB)"
AS_NAMED, MAPPING_FILE, MAP_HERE = (
    "named as the model's features",
    "a mapping file (TOML)",
    "mapped here, column by column",
)
BUNDLED, FOLDER = "bundled model", "a model folder made by `ephys2type train`"


def render() -> None:
    """Draw the page (Streamlit runs this on every event)."""
    import streamlit as st

    st.set_page_config(page_title=TITLE, layout="wide")
    st.title("Which transcriptomic type is this interneuron?")
    st.caption(
        "ephys2type predicts the subclass of cortical GABAergic interneurons from their "
        "electrophysiology. It runs on this computer: nothing you give it leaves the machine."
    )
    with st.sidebar:
        st.header("1. Your cells")
        upload = _cells_form(st)
        st.header("2. The model")
        model = _model_form(st)
        call_failed = st.checkbox(
            "Call cells that failed a recording check",
            key="call_failed_checks",
            help="Cells whose recordings say they may not be interneurons or fire at rest are "
            "left unassigned unless this is on; their checks stay in their row.",
        )
        pressed = st.button(
            "Predict", type="primary", disabled=upload is None, key="predict", width="stretch"
        )
    mapping_text = _mapping_editor(st, upload, model)
    if pressed and upload is not None:
        _predict(st, upload, model, mapping_text, call_failed)
    if (error := st.session_state.get("error")) is not None:
        for line in st.session_state.get("error_warnings", []):  # as the command line
            st.warning(f"warning: {line}")
        st.error(f"error: {error}")
    outcome = st.session_state.get("outcome")
    if outcome is not None:
        from ephys2type.app import results_view
        from ephys2type.app.messages import error_line

        if (notice := stale_notice(upload, model, call_failed, outcome, mapping_text)) is not None:
            st.warning(notice)
        try:
            results_view.show(st, outcome)
        except Exception as exc:  # one line, as everywhere; the page stays up
            st.error(f"error: {error_line(exc, outcome.workdir)}")
    elif error is None:
        st.info(
            "Give your cells in the sidebar: a feature table (CSV, TSV, semicolon or "
            "decimal-comma text, Excel .xlsx, AnnData .h5ad; one row per cell) or current-clamp "
            "recordings (ABF, NWB; one file per cell), pick a model, and press Predict."
        )


def _uploads(files) -> tuple[Upload, ...]:
    if files is None:
        return ()
    files = files if isinstance(files, list) else [files]
    return tuple(Upload(f.name, f.getvalue()) for f in files)


def _cells_form(st: ModuleType) -> dict | None:
    """The sidebar's cell inputs, or None while nothing is uploaded."""
    from ephys2type.data.recordings.sweep_qc import DEFAULT_PRESET, PRESETS

    source = st.radio("Your cells as", [TABLE, RECORDINGS], key="source")
    if source == RECORDINGS:
        files = _uploads(
            st.file_uploader(
                "Recordings, one file per cell",
                type=list(RECORDING_SUFFIXES),
                accept_multiple_files=True,
                key="recordings",
            )
        )
        presets = list(PRESETS)
        sweep_qc = st.selectbox(
            "Sweep QC",
            presets,
            index=presets.index(DEFAULT_PRESET),
            key="sweep_qc",
            help="'lab': thresholds for lab rigs (0.2 mV fast noise, 1 mV slow noise over the "
            "last 100 ms before the step, 3 mV baseline change); 'allen': ipfx's criteria, "
            "made for the Allen's rigs; 'none': every sweep used.",
        )
        return {"recordings": files, "sweep_qc": sweep_qc} if files else None
    table = _uploads(
        st.file_uploader(
            "Feature table, one row per cell",
            type=list(TABLE_SUFFIXES),
            key="table",
            help="A cell id column and the model's feature columns (or your own names, "
            "mapped below).",
        )
    )
    mode = st.radio("Its columns are", [AS_NAMED, MAPPING_FILE, MAP_HERE], key="mapping_mode")
    mapping_file = None
    if mode == MAPPING_FILE:
        found = _uploads(st.file_uploader("Mapping file", type=["toml"], key="mapping_file"))
        mapping_file = found[0] if found else None
    checks = _uploads(
        st.file_uploader(
            "Recording checks (optional)",
            type=["csv"],
            key="checks",
            help="The <features>.qc.csv that `ephys2type features` wrote beside the table; "
            "not needed when the table has its checks_failed and checks_blocking columns.",
        )
    )
    with st.expander("More options"):
        id_column = st.text_input(
            "Cell id column", key="id_column", help="Blank: found by itself, as predict does."
        )
        obsm_key = st.text_input(
            "Features in this .obsm data frame (.h5ad only)", key="obsm_key", help="Blank: .X."
        )
        sheet = st.text_input(
            "Sheet (.xlsx only)",
            key="sheet",
            help="Blank: the only sheet, else the one named like 'features', else the first "
            "visible one.",
        )
    if not table:
        return None
    return {
        "table": table[0],
        "mode": mode,
        "mapping_file": mapping_file,
        "checks": checks[0] if checks else None,
        "id_column": id_column.strip() or None,
        "obsm_key": obsm_key.strip() or None,
        "sheet": sheet.strip() or None,
    }


def _model_form(st: ModuleType) -> dict:
    kind = st.radio("Model", [BUNDLED, FOLDER], key="model_kind")
    if kind == BUNDLED:
        species = st.selectbox("Species", list(bundled_models.SPECIES), key="species")
        folder = bundled_models.bundled_model_folder(species)
        if folder.is_dir():
            st.caption(f"ready: {bundled_models.MODEL} trained on the bundled {species} cells")
        else:
            st.caption(
                f"trained on the bundled {species} cells at the first Predict (once on this "
                f"computer, about {bundled_models.TRAINING_SECONDS[species]} s)"
            )
        return {"species": species}
    folder = st.text_input("Model folder", key="model_folder", placeholder="/path/to/my-model")
    return {"folder": folder}


def stale_notice(
    upload: dict | None,
    model: dict,
    call_failed: bool,
    outcome,
    mapping_text: str | None,
) -> str | None:
    """A line when the sidebar no longer says what the results below answer: anything a
    Predict reads changed since it was pressed (the cells' bytes, the mapping, the recording
    checks file, the id column, the sheet, the ``.obsm`` key, the sweep QC, the model, the
    recording-check option; new-user trial: a new upload left the old results on show, with
    nothing to say so). ``model`` is the sidebar's choice as it stands, possibly unfinished
    (an empty folder field: a review found the page crashed on it); ``mapping_text``, the
    mapping editor's text as it stands (None when it is not shown)."""
    was = _what_predict_reads(outcome.cells)
    now = was if upload is None else _what_predict_reads(_cells_of(upload, mapping_text))
    folder = (model.get("folder") or "").strip() or None
    if was.keys() != now.keys():  # recordings for a table or the reverse: other cells
        changed = ["the cells"]
    else:
        changed = [what for what in _READ_IN_ORDER if was.get(what) != now.get(what)]
    if (model.get("species"), folder) != (
        outcome.model.species,
        (outcome.model.folder or "").strip() or None,
    ):
        changed.append("the model")
    if call_failed != outcome.call_failed_checks:
        changed.append("the recording-check option")
    if not changed:
        return None
    files = was["the cells"]
    names = ", ".join(name for name, _ in files[:3]) + (", ..." if len(files) > 3 else "")
    what = listing(changed)
    return (
        f"{what[0].upper()}{what[1:]} changed since Predict was pressed: the results "
        f"below are still those of {names}; press Predict to update them"
    )


#: What a Predict reads of the cells, in the order the page names them when they change.
_READ_IN_ORDER = (
    "the cells",
    "the mapping",
    "the recording checks file",
    "the id column",
    "the sheet",
    "the .obsm key",
    "the sweep QC",
)


def _what_predict_reads(cells: TableCells | RecordedCells) -> dict[str, object]:
    """Each thing a Predict reads of ``cells``, by the name the page gives it; uploads by
    their names and the hashes of their bytes."""
    from ephys2type.app.prediction_run import RecordedCells

    def digest(upload: Upload | None) -> tuple[str, str] | None:
        if upload is None:
            return None
        return upload.name, hashlib.sha256(upload.data).hexdigest()

    if isinstance(cells, RecordedCells):
        return {
            "the cells": [digest(f) for f in cells.recordings],
            "the sweep QC": cells.sweep_qc,
        }
    return {
        "the cells": [digest(cells.table)],
        "the mapping": (digest(cells.mapping_file), cells.mapping_text),
        "the recording checks file": digest(cells.checks),
        "the id column": cells.id_column,
        "the sheet": cells.sheet,
        "the .obsm key": cells.obsm_key,
    }


def _model_choice(model: dict) -> ModelChoice:
    from ephys2type.app.prediction_run import ModelChoice

    return ModelChoice(species=model.get("species"), folder=model.get("folder"))


def _model_schema(model: dict):
    from ephys2type.data.schema import get_schema
    from ephys2type.persist.format import load_model

    if model.get("species") is not None:
        return get_schema(model["species"])
    return load_model(str(model["folder"]).strip()).schema


def _mapping_editor(st: ModuleType, upload: dict | None, model: dict) -> str | None:
    """The column-by-column mapping (main area), as the TOML text of a mapping file."""
    if upload is None or "table" not in upload or upload["mode"] != MAP_HERE:
        return None
    from ephys2type.app import mapping_form
    from ephys2type.app.messages import error_line, user_warnings
    from ephys2type.app.uploads import new_workdir, remove_workdir, save_upload
    from ephys2type.data.schema import units_table

    table: Upload = upload["table"]
    if model.get("species") is None and not str(model.get("folder") or "").strip():
        st.info("Give the model folder first: the columns are mapped to its features.")
        return None
    # folded once there is an answer: open, it pushed the answer out of sight (new-user trial)
    answered = st.session_state.get("outcome") is not None
    with st.expander(
        f"Map the columns of {table.name} to the model's features", expanded=not answered
    ):
        scratch = new_workdir()
        try:
            with user_warnings([]):
                schema = _model_schema(model)
                columns = mapping_form.table_columns(
                    save_upload(table, scratch), sheet=upload["sheet"]
                )
        except Exception as exc:
            st.error(f"error: {error_line(exc, scratch)}")
            return None
        finally:
            remove_workdir(scratch)
        st.caption(
            "For each of your columns, the feature it is and the unit its values are in "
            "(blank feature: not used; blank unit: the feature's own). Features of "
            f"{schema.name}: "
            # as text: a unit's '*' (mV*s) set the features after it in italics
            + ", ".join(f"{f.name} ({f.unit})" for f in schema.features).replace("*", r"\*")
        )
        edited = st.data_editor(
            mapping_form.initial_choices(columns, schema),
            # another sheet, another table to map
            key=f"mapping_editor:{table.name}:{len(table.data)}"
            + (f":{upload['sheet']}" if upload["sheet"] else ""),
            hide_index=True,
            column_config={
                "their column": st.column_config.TextColumn(disabled=True),
                "feature": st.column_config.SelectboxColumn(options=schema.columns),
                "unit": st.column_config.SelectboxColumn(
                    options=list(units_table()),
                    help="the units ephys2type converts; a unit typed that is not in the list "
                    "is not kept: convert such a column before uploading",
                ),
            },
        )
        st.caption(  # a unit typed outside the list left the cell blank, unsaid (new-user trial)
            "Units: pick one of the list ("
            + ", ".join(units_table()).replace("*", r"\*")
            + "); a column in another unit must be converted to one of them before it is "
            "uploaded."
        )
        text = mapping_form.mapping_toml(mapping_form.choices_from_table(edited), schema)
        if text is None:
            st.caption("no column renamed or converted")
        else:
            st.code(text, language="toml")
        return text


def _predict(
    st: ModuleType, upload: dict, model: dict, mapping_text: str | None, call_failed: bool
) -> None:
    """Run one prediction with a progress bar; keep its outcome or its error line."""
    from ephys2type.app.messages import error_line
    from ephys2type.app.prediction_run import run_prediction, warnings_before
    from ephys2type.app.uploads import new_workdir, remove_workdir

    previous = st.session_state.pop("outcome", None)
    if previous is not None:
        remove_workdir(previous.workdir)
    st.session_state.pop("error", None)
    st.session_state.pop("error_warnings", None)
    workdir = new_workdir()
    bar = st.progress(0.0, text="starting")

    def progress(fraction: float, what: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=what)

    try:
        outcome = run_prediction(
            _cells(upload, mapping_text),
            _model_choice(model),
            workdir,
            call_failed_checks=call_failed,
            progress=progress,
        )
    except Exception as exc:  # one line in the page; the server stays up
        st.session_state["error"] = error_line(exc, workdir)
        st.session_state["error_warnings"] = warnings_before(exc)
        remove_workdir(workdir)
    else:
        st.session_state["outcome"] = outcome
    finally:
        bar.empty()
    st.rerun()  # draw the page again with the answer (and the model now ready)


def _cells(upload: dict, mapping_text: str | None) -> TableCells | RecordedCells:
    """The cells a Predict press reads; a mapping file chosen and not given is an error."""
    from ephys2type.errors import Ephys2TypeError

    no_file = "recordings" not in upload and upload["mode"] == MAPPING_FILE
    if no_file and upload["mapping_file"] is None:
        raise Ephys2TypeError("no mapping file given: upload it, or say how the columns are named")
    return _cells_of(upload, mapping_text)


def _cells_of(upload: dict, mapping_text: str | None) -> TableCells | RecordedCells:
    """The sidebar's cells and their options as a Predict would read them."""
    from ephys2type.app.prediction_run import RecordedCells, TableCells

    if "recordings" in upload:
        return RecordedCells(tuple(upload["recordings"]), sweep_qc=upload["sweep_qc"])
    return TableCells(
        upload["table"],
        mapping_file=upload.get("mapping_file") if upload["mode"] == MAPPING_FILE else None,
        mapping_text=mapping_text if upload["mode"] == MAP_HERE else None,
        checks=upload.get("checks"),
        id_column=upload.get("id_column"),
        obsm_key=upload.get("obsm_key"),
        sheet=upload.get("sheet"),
    )
