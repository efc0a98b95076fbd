"""The answer, laid out: the calls (and the unassigned cells with their reasons, as visible as
the calls), the table of calls to filter and sort, a page per cell, the batch summary, the
overview figure, and the downloads with the command lines.

Everything shown is a column or field the library computed (``Prediction.table``,
``Prediction.batch``); the batch summary is shown field by field, whatever fields it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from ephys2type.app import commands, downloads, figures
from ephys2type.app.prediction_run import Outcome
from ephys2type.models.batch_check import FIELDS, MIN_SHIFT_CELLS, BatchSummary
from ephys2type.persist.predict import Prediction
from ephys2type.persist.prediction_lines import called_despite_checks
from ephys2type.wording import plural
from ephys2type.wording import shown as shortened

#: The tabs of the answer.
TABS = ("Calls", "Cells", "Batch summary", "Overview", "Take it home")
#: The columns the table of calls shows first (the others follow in the library's order): the
#: call and, for an unassigned cell, why, before the numbers behind them.
FIRST_COLUMNS = (
    "predicted",
    "reason",
    "probability",
    "set",
    "expected_accuracy",
    "out_of_distribution",
    "qc_flag",
    "recording_checks",
)
#: Calls counted side by side (more, as with t-types, are counted in a table).
MAX_METRICS = 10
#: What a table of the page shows for a missing value: an empty cell, as the downloaded CSV
#: has (Streamlit shows "None" otherwise, and a Styler's na_rep does not reach it).
MISSING = ""
#: Background of an unassigned cell's row.
UNASSIGNED_BACKGROUND = "background-color: #fdebd0"


def _abstain() -> str:
    from ephys2type.models.cell_classifier import ABSTAIN

    return ABSTAIN


def call_counts(table: pd.DataFrame, classes: list[str]) -> dict[str, int]:
    """Cells per call, every class of the model and ``unassigned`` included; calls that are
    not the model's classes (a two-level model's calls at the level above) first, most
    made first (an app trial: a t-type model's 22 t-types, all 0, hid its 25 subclass calls
    below the fold)."""
    counts = table["predicted"].astype(str).value_counts()
    above = {str(c): int(n) for c, n in counts.items() if c not in classes and c != _abstain()}
    return above | {c: int(counts.get(c, 0)) for c in [*classes, _abstain()]}


def filter_calls(
    table: pd.DataFrame,
    *,
    calls: list[str] | None = None,
    out_of_distribution: bool = False,
    flagged: bool = False,
    text: str = "",
) -> pd.DataFrame:
    """The rows of the table of calls the page's filters keep: the calls chosen, only cells
    flagged outside the training distribution, only cells with a failed recording check or
    training QC rule, and cells whose id or reason holds ``text``."""
    keep = pd.Series(True, index=table.index)
    if calls is not None:
        keep &= table["predicted"].astype(str).isin(calls)
    if out_of_distribution and "out_of_distribution" in table.columns:
        keep &= table["out_of_distribution"].astype(bool)
    if flagged:
        marks = [c for c in ("qc_flag", "recording_checks") if c in table.columns]
        has = pd.Series(False, index=table.index)
        for column in marks:
            has |= table[column].fillna("").astype(str).str.strip() != ""
        keep &= has
    if text.strip():
        needle = text.strip().lower()
        ids = table.index.astype(str).str.lower().str.contains(needle, regex=False)
        reasons = table["reason"].fillna("").astype(str).str.lower()
        keep &= ids | reasons.str.contains(needle, regex=False)
    return table.loc[keep]


#: Items of a list field shown before "..." (a batch of training cells lists every id).
SHOWN_NAMES = 8


def _shown(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):  # a long list (training cells' ids) shortened
        names = [_shown(v) for v in value]
        more = f" ({len(names)} in all)" if len(names) > SHOWN_NAMES else ""
        return shortened(names, SHOWN_NAMES) + more if names else "-"
    return str(value)


def summary_parts(summary: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The batch summary as the page shows it, field by field: one table of its single
    values (lists joined) with what each is (:data:`~ephys2type.models.batch_check.FIELDS`),
    and a table for each field holding records or a mapping."""
    single, tables = [], {}
    for key, value in summary.items():
        if isinstance(value, Mapping) and value:
            tables[key] = pd.DataFrame(
                {"value": [_shown(v) for v in value.values()]},
                index=pd.Index([str(k) for k in value], name=key),
            )
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            tables[key] = pd.DataFrame([{k: _shown(v) for k, v in r.items()} for r in value])
        else:  # an empty mapping (nothing estimated) reads "-" among the single values
            shown = "-" if isinstance(value, Mapping) else _shown(value)
            single.append({"field": key, "value": shown, "what it is": FIELDS.get(key, "")})
    return pd.DataFrame(single, columns=["field", "value", "what it is"]), tables


def _highlight_unassigned(row: pd.Series) -> list[str]:
    unassigned = str(row.get("predicted")) == _abstain()
    return [UNASSIGNED_BACKGROUND if unassigned else ""] * len(row)


def _figure_cache(st: ModuleType, outcome: Outcome) -> dict:
    cache = st.session_state.setdefault("figure_cache", {})
    if cache.get("outcome") != id(outcome):
        cache.clear()
        cache["outcome"] = id(outcome)
    return cache


def overview(st: ModuleType, outcome: Outcome) -> tuple[bytes | None, str | None]:
    """The overview figure (drawn once per outcome), or why it cannot be drawn."""
    cache = _figure_cache(st, outcome)
    if "overview" not in cache:
        try:
            cache["overview"] = (figures.overview_png(outcome.prediction), None)
        except ValueError as exc:
            cache["overview"] = (None, str(exc))
    return cache["overview"]


def scheme_description(scheme: str | None, species: str | None) -> str | None:
    """What a built-in label scheme's classes are (a new user read 'revised labels' without
    knowing whose revision); None for a scheme that is not built in."""
    from ephys2type.data.labels import get_scheme, scheme_names

    if species is None or scheme not in scheme_names(species):
        return None
    return get_scheme(scheme, species).description or None


def show(st: ModuleType, outcome: Outcome) -> None:
    """The whole answer of one Predict press."""
    prediction = outcome.prediction
    table, batch = prediction.table, prediction.batch
    info = prediction.model.provenance_
    source = (
        plural(len(outcome.cells.recordings), "recording")
        if outcome.from_recordings
        else outcome.cells.table.name
    )
    st.subheader(f"{plural(len(table), 'cell')} from {source}")
    st.caption(
        f"predicted by {outcome.model.describe()} ({info.get('model')}, trained on "
        f"{info.get('n_cells')} {info.get('species')} cells, {info.get('label_scheme')} "
        f"labels) in {outcome.seconds:.1f} s",
        help=scheme_description(info.get("label_scheme"), info.get("species")),
    )
    for line in outcome.warnings:
        st.warning(f"warning: {line}")
    if forced := called_despite_checks(prediction):  # an app trial: said only deep in the page
        st.warning(
            f"warning: {plural(forced, 'cell')} called although a recording check failed (the "
            "box 'Call cells that failed a recording check' is ticked): the column "
            "recording_checks says which check, and each cell's page shows its figure"
        )
    if (message := batch.warning()) is not None:
        st.warning(f"warning: {message}")
    if (line := batch.note()) is not None:
        st.info(f"note: {line}")
    classes = [str(c) for c in prediction.model.classes_]
    counts = call_counts(table, classes)
    if len(counts) <= MAX_METRICS:
        for column, (call, n) in zip(st.columns(len(counts)), counts.items(), strict=True):
            column.metric(call, n)
    else:  # t-types: too many for one row
        st.dataframe(
            pd.Series(counts, name="cells").rename_axis("call"),
            key="call_counts",
            placeholder=MISSING,
        )
    if batch.unassigned_reasons:
        st.markdown(
            f"**{plural(batch.n_unassigned, 'cell')} {_abstain()}:** "
            + "; ".join(f"{kind} ({n})" for kind, n in batch.unassigned_reasons.items())
        )
    tabs = st.tabs(list(TABS), key="view", on_change="rerun")
    for tab, draw in zip(
        tabs, (_calls_tab, _cells_tab, _summary_tab, _overview_tab, _downloads_tab), strict=True
    ):
        if tab.open is False:
            continue
        with tab:
            draw(st, outcome)


def _calls_tab(st: ModuleType, outcome: Outcome) -> None:
    table = outcome.prediction.table
    calls = list(call_counts(table, [str(c) for c in outcome.prediction.model.classes_]))
    left, middle, right = st.columns([3, 2, 2])
    chosen = left.multiselect("Calls shown", calls, default=calls, key="filter_calls")
    text = middle.text_input("Find a cell id or a word of the reason", key="filter_text")
    # short labels: a third of a laptop's page (new-user trial: they were cut at 1280 px)
    out_of_distribution = right.checkbox(
        "only flagged out of distribution",
        key="filter_ood",
        help="cells beyond 99.5% of the training cells (out_of_distribution)",
    )
    flagged = right.checkbox(
        "only failed checks or QC",
        key="filter_flagged",
        help="cells with a failed recording check or a training QC rule",
    )
    shown = filter_calls(
        table, calls=chosen, out_of_distribution=out_of_distribution, flagged=flagged, text=text
    )
    st.caption(
        f"{len(shown)} of {len(table)} cells; click a column's name to sort by it; "
        f"{_abstain()} cells are shaded, their reason in the column 'reason'"
    )
    first = [c for c in FIRST_COLUMNS if c in shown.columns]
    st.dataframe(
        shown.style.apply(_highlight_unassigned, axis=1).format(precision=3, na_rep=""),
        key="calls_table",
        placeholder=MISSING,
        column_order=[*first, *(c for c in shown.columns if c not in first)],
        # the reason whole, not "no typic..." (new-user trial)
        column_config={"reason": st.column_config.TextColumn(width="large")},
    )


def _cells_tab(st: ModuleType, outcome: Outcome) -> None:
    prediction = outcome.prediction
    table = prediction.table
    ids = [str(c) for c in table.index]
    labels = {str(c): f"{c}: {table.loc[c, 'predicted']}" for c in table.index}
    cell = st.selectbox("Cell", ids, format_func=labels.get, key="cell")
    if cell is None:
        return
    key = table.index[ids.index(cell)]
    row = table.loc[key]
    if row["predicted"] == _abstain():
        st.markdown(f"### {cell}: {_abstain()}")
        st.warning(f"reason: {row['reason']}")
    else:
        details = [f"probability {row['probability']:.2f}"]
        for column in (c for c in row.index if c == "set" or str(c).endswith("_set")):
            details.append(f"{str(column).replace('_', ' ')} {{{row[column]}}}")
        if pd.notna(row.get("expected_accuracy")):
            details.append(
                f"expected accuracy {row['expected_accuracy']:.0%} "
                f"[{row['expected_accuracy_low']:.0%}, {row['expected_accuracy_high']:.0%}]"
            )
        st.markdown(f"### {cell}: {row['predicted']}")
        st.markdown("; ".join(details))
    left, right = st.columns([2, 3])
    with left:
        st.markdown("**Everything the prediction says about this cell**")
        shown = row
        if row.get("model_features") == 0:  # read as "44% Sst" (new-user trial)
            shown = row.drop([c for c in row.index if str(c).startswith("proba:")])
            st.caption(
                "No model read this cell, so it has no class probabilities here (the "
                "downloaded table gives it the training class proportions)."
            )
        st.dataframe(
            pd.DataFrame({"value": [_shown(v) for v in shown.to_numpy()]}, index=shown.index),
            height="content",
            key="cell_row",
            placeholder=MISSING,
            # the names whole: three rows read "expected_accu..." (new-user trial)
            column_config={"_index": st.column_config.TextColumn(width="medium")},
        )
    with right:
        classes = [str(c) for c in prediction.model.classes_]
        default = figures.comparison_class(prediction, key)
        cls = st.selectbox(
            "Its features against the training cells of",
            classes,
            index=classes.index(default) if default in classes else 0,
            key=f"compare:{cell}",
        )
        cache = _figure_cache(st, outcome)
        if (cell, cls) not in cache:
            cache[(cell, cls)] = figures.cell_features_png(prediction, key, cls)
        st.image(cache[(cell, cls)], caption=f"{cell} against the training {cls} cells")
        st.download_button(
            "Download this figure",
            cache[(cell, cls)],
            file_name=f"{cell.replace('/', '_')}_vs_{cls}.png",
            mime="image/png",
            on_click="ignore",
            key="download_cell_figure",
        )
    if outcome.figures is not None:
        page = outcome.figures / f"{cell}.png"
        st.markdown("**Recording checks** (the page `ephys2type features --figures` draws)")
        if page.is_file():
            st.image(page.read_bytes(), caption=f"recording checks of {cell}")
        else:
            st.info(f"no check page for {cell} (the recording gave no sweeps to draw)")


def summary_lines(batch: BatchSummary) -> list[str]:
    """The batch summary in words: its estimated accuracy beside the stated one (as
    ``predict`` prints it), the shift test's answer, and the warning or note ``predict``
    gives, if any."""
    lines = [line] if (line := batch.accuracy_line()) is not None else []
    if batch.warning() is None and (line := batch.no_estimate_line()) is not None:
        lines.append(line)  # why not, as predict prints it (review: the page said nothing)
    if batch.shift_p is None:  # fewer than MIN_SHIFT_CELLS: the line above says so
        if batch.n_cells - batch.n_training_cells >= MIN_SHIFT_CELLS:
            lines.append("nothing to test for a shift")
    elif not batch.shift_detected:
        # a test that finds nothing does not show the cells alike: say only what it found
        lines.append(f"no shift detected (p = {batch.shift_p:.2g})")
    if (warning := batch.warning()) is not None:
        lines.append(f"warning: {warning}")
    elif (note := batch.note()) is not None:
        lines.append(f"note: {note}")
    return [f"{line[0].upper()}{line[1:]}" for line in lines]


def cells_lines(prediction: Prediction, workdir: str | Path | None = None) -> list[str]:
    """The batch's cells in words, as ``predict`` prints them above its table (its fixes in
    the page's words, the uploaded files by name: ``workdir`` holds them); the batch
    check's lines are :func:`summary_lines`."""
    from ephys2type.app.messages import one_line
    from ephys2type.persist.prediction_lines import prediction_lines

    return [one_line(line, workdir) for line in prediction_lines(prediction, batch=False)]


def _summary_tab(st: ModuleType, outcome: Outcome) -> None:
    batch = outcome.prediction.batch
    st.markdown("**The cells** (what `ephys2type predict` prints, in the page's words)")
    lines = cells_lines(outcome.prediction, outcome.workdir)
    st.markdown("\n".join(f"- {line}" for line in lines))
    st.markdown("**The batch against the training cells**")
    for line in summary_lines(batch):
        st.markdown(line)
    single, tables = summary_parts(batch.to_dict())
    st.caption(
        "The batch compared with the training cells: every field of "
        f"{commands.PREDICTIONS_FILE}.summary.json"
    )
    st.dataframe(
        single, hide_index=True, height="content", key="summary_fields", placeholder=MISSING
    )
    for name, frame in tables.items():
        st.markdown(f"**{name}**")
        if name in FIELDS:
            st.caption(FIELDS[name])
        records = isinstance(batch.to_dict()[name], list)  # rows, not named values
        st.dataframe(frame, hide_index=records, key=f"summary:{name}", placeholder=MISSING)


def _overview_tab(st: ModuleType, outcome: Outcome) -> None:
    png, why = overview(st, outcome)
    if png is None:
        st.info(f"no overview figure: {why}")
        return
    st.image(png, caption="the cells among the model's training cells (predict --overview)")


def _downloads_tab(st: ModuleType, outcome: Outcome) -> None:
    names = commands
    st.markdown("**Predictions** (the files `ephys2type predict --out` writes)")
    st.download_button(
        names.PREDICTIONS_FILE,
        lambda: downloads.predictions(outcome)[names.PREDICTIONS_FILE],
        file_name=names.PREDICTIONS_FILE,
        mime="text/csv",
        on_click="ignore",
        key="download_predictions",
    )
    summary = f"{names.PREDICTIONS_FILE}.summary.json"
    st.download_button(
        summary,
        lambda: downloads.predictions(outcome)[summary],
        file_name=summary,
        mime="application/json",
        on_click="ignore",
        key="download_summary",
    )
    if outcome.features.suffix.lower() == ".h5ad":
        h5ad = names.h5ad_predictions_file(outcome.features.name)
        st.download_button(
            h5ad,
            lambda: downloads.predictions_h5ad(outcome)[1],
            file_name=h5ad,
            mime="application/octet-stream",
            on_click="ignore",
            key="download_h5ad",
        )
    st.markdown("**Features**")
    for name, data in downloads.features(outcome).items():
        st.download_button(
            name, data, file_name=name, mime="text/csv", on_click="ignore", key=f"download:{name}"
        )
    st.markdown("**Figures**")
    png, _ = overview(st, outcome)
    st.download_button(
        "figures.zip (overview and recording check pages)",
        lambda: downloads.figures_zip(outcome, png),
        file_name="figures.zip",
        mime="application/zip",
        on_click="ignore",
        key="download_figures",
    )
    if outcome.mapping is not None:
        st.download_button(
            outcome.mapping.name,
            outcome.mapping.read_bytes(),
            file_name=outcome.mapping.name,
            mime="application/toml",
            on_click="ignore",
            key="download_mapping",
        )
    st.download_button(
        "everything (zip)",
        lambda: downloads.everything_zip(outcome, png),
        file_name="ephys2type-results.zip",
        mime="application/zip",
        on_click="ignore",
        key="download_all",
    )
    st.markdown("**The same on the command line** (in the folder holding your files)")
    lines = downloads.command_lines(outcome)
    st.code(lines, language="bash")
    st.download_button(
        downloads.COMMANDS_FILE,
        lines,
        file_name=downloads.COMMANDS_FILE,
        mime="text/x-shellscript",
        on_click="ignore",
        key="download_commands",
    )
