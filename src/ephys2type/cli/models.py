"""``ephys2type train`` and ``ephys2type predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ephys2type.errors import Ephys2TypeError
from ephys2type.models.defaults import DEFAULT_MODEL

from .common import (
    AddLabelsOpt,
    AddMappingOpt,
    AddTableOpt,
    AddWeightOpt,
    ConfidenceOpt,
    DataProfileOpt,
    DatasetsOpt,
    DonorColumnOpt,
    FeaturesOpt,
    FitColumn,
    IdColumnOpt,
    LabelColumnOpt,
    LabelsOpt,
    LocationOpt,
    MaxSetSizeOpt,
    SchemaOpt,
    SpeciesOpt,
    StepProgress,
    TableLabelsOpt,
    TableOpt,
    console,
    fitted_table,
    limited_epochs,
    load_request,
    model_choice,
    plural,
    refuse_binary_name,
    refuse_existing,
)


def _record_folds(value: int) -> int:
    """--record-folds: 0, or at least 2 folds."""
    if value == 1 or value < 0:
        raise typer.BadParameter(f"must be 0 (the calibration cells) or at least 2, not {value}")
    return value


def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to create.")],
    species: SpeciesOpt = "mouse",
    labels: LabelsOpt = None,
    datasets: DatasetsOpt = None,
    location: LocationOpt = False,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="rf (default: the random forest, at least as accurate as the BiLSTM and "
            "its accuracy estimate nearer the truth on cells from elsewhere: the docs' page "
            "'Cells unlike the training cells'), bilstm-smote (the paper's BiLSTM) or another "
            "BiLSTM variant, hgb or logreg.",
            callback=model_choice,
        ),
    ] = DEFAULT_MODEL,
    features: FeaturesOpt = "native",
    profile: DataProfileOpt = None,
    table: TableOpt = None,
    table_labels: TableLabelsOpt = None,
    schema: SchemaOpt = None,
    id_column: IdColumnOpt = None,
    label_column: LabelColumnOpt = "subclass",
    donor_column: DonorColumnOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    family_subsets: Annotated[
        bool,
        typer.Option(
            help="Also train the model on each family subset a lab plausibly has (the long "
            "square families with any combination of the other protocols), so cells without "
            "some protocols are predicted from the families they have.",
        ),
    ] = True,
    confidence: ConfidenceOpt = 0.9,
    max_set_size: MaxSetSizeOpt = 3,
    add_table: AddTableOpt = None,
    add_labels: AddLabelsOpt = None,
    mapping: AddMappingOpt = None,
    add_weight: AddWeightOpt = None,
    hierarchical: Annotated[
        bool,
        typer.Option(
            help="With two-level labels (--labels ttype): each feature-set model is a "
            "subclass model, then a t-type model within each subclass.",
        ),
    ] = False,
    record_folds: Annotated[
        int,
        typer.Option(
            callback=_record_folds,
            help="0 (default): each feature set's expected accuracy, and the batch check's "
            "accuracy estimate, rest on the calibration cells. 4 (or any K >= 2): on the "
            "out-of-fold call of every training cell not repeated (K more fits per "
            "feature-set model; a steadier estimate on batches like the training cells, see "
            "docs/shifted-batches.md). The expected accuracy also decides which cells are "
            "refused for a low one, so calls can differ from `evaluate`'s.",
        ),
    ] = 0,
    force: Annotated[bool, typer.Option(help="Replace the model folder if it exists.")] = False,
) -> None:
    """Train a model on every QC'd cell of a species, or of your own table, and save it.

    The data options are those of `evaluate`: the bundled data of --species (QC profile
    'default'; every bundled dataset of the species unless --datasets says otherwise, so a
    human model also knows the layer-1 cells of Chartrand et al. 2023), or your own --table
    and --table-labels (QC profile 'none' unless --profile says otherwise; --labels maps the
    labels through a built-in scheme). What is saved is what `evaluate --model
    <model>-deployed` scores: a fifth of the cells (stratified) is
    kept apart to calibrate the probabilities, the prediction sets and each feature set's
    expected accuracy; with --family-subsets (default) the model is also trained on each
    family subset a lab plausibly has (mouse: 3, human: 7), and the training cells are kept
    in the folder so that a feature set no saved model fits gets its own model on demand.
    The folder holds model.json (schema, classes, calibration, provenance), one folder per
    feature-set model with its weights (model.pt, a torch state_dict, or model.skops), and
    training_cells.csv; loading it never runs code.

    Your own labelled cells (--add-table with --add-labels, optionally --mapping) are
    trained on beside the bundled cells, each counted --add-weight times (a cell counted
    more than once never calibrates); the model folder records them as the dataset 'added'.

    With two-level labels (--labels ttype) the prediction sets are calibrated at the subclass
    and t-type levels; `predict` then calls each cell at the t-type when its set is small,
    else at the subclass.

    Example: ephys2type train --species human --out my-model

    Example: ephys2type train --species human --model bilstm-smote --out bilstm-model

    Example: ephys2type train --species mouse --labels ttype --model rf --out ttype-model
    """
    from ephys2type.data.requests import DataRequest
    from ephys2type.models.registry import get_model
    from ephys2type.persist.format import save_model
    from ephys2type.persist.train import calibration_note, train_model

    get_model(model)  # an unknown name fails before any work
    refuse_existing(out, force)
    loaded = load_request(
        DataRequest(
            species=species,
            labels=labels,
            profile=profile,
            features=features,
            datasets=datasets,
            location=location,
            table=table,
            table_labels=table_labels,
            schema=schema,
            id_column=id_column,
            label_column=label_column,
            donor_column=donor_column,
            add_table=add_table,
            add_labels=add_labels,
            mapping=mapping,
            add_weight=add_weight,
        )
    )
    out_console = console()
    out_console.print(f"training {model} on {loaded.description} ...")
    if loaded.qc_line is not None:  # what QC left out of the user's table
        out_console.print(loaded.qc_line)
    limited_epochs()  # says so when the run is limited (epochs: bounded in the model's spec)
    trained = train_model(
        loaded.data,
        model,
        random_state=seed,
        family_subsets=family_subsets,
        confidence=confidence,
        max_set_size=max_set_size,
        sample_repeats=loaded.repeats,
        hierarchical=hierarchical,
        record_folds=record_folds,
    )
    save_model(trained, out, overwrite=force)
    levels = ""
    if trained.parent_of is not None:
        levels = (
            f"; prediction sets at {trained.confidence:.0%} at the "
            f"{' and '.join(trained.level_names)} levels"
        )
    full = trained.members_[0]
    low, high = full.interval()
    accuracy = f"{full.expected_accuracy:.1%} [{low:.1%}, {high:.1%}]"
    if trained.parent_of is not None:  # both levels (a trial read the subclass's as the t-type's)
        fine_low, fine_high = full.interval("class")
        accuracy = (
            f"{accuracy} at the {trained.level_names[0]} level, {full.accuracy:.1%} "
            f"[{fine_low:.1%}, {fine_high:.1%}] at the {trained.level_names[1]} level"
        )
    fewest = len(trained.members_[-1].features)
    sizes = f"{len(full.features)} features" + (
        f" down to {fewest}" if fewest != len(full.features) else ""
    )
    out_console.print(
        f"saved {plural(len(trained.members_), 'feature-set model')} ({sizes}) to {out}; "
        "calibrated on "
        f"{int(trained.calibration_.sum())} cells kept apart{levels}; expected accuracy "
        f"with every feature {accuracy}"
        + (
            f" (out-of-fold calls of {full.n_record} training cells)"
            if full.calibration.record is not None
            else ""
        )
    )
    if (note := calibration_note(trained)) is not None:
        out_console.print(f"note: {note}")
    if add_table is not None and table is None:  # new-user trial: read as the added gain
        command = " ".join(
            [
                f"ephys2type evaluate-added --species {species}",
                *([f"--labels {labels}"] if labels else []),
                *([f"--datasets {datasets}"] if datasets else []),
                f"--add-table {add_table} --add-labels {add_labels}",
                *([f"--mapping {mapping}"] if mapping else []),
                f"--model {model}",
            ]
        )
        # added cells counted once calibrate like bundled ones, repeated ones never (a trial:
        # 33 of 161 were the lab's)
        mine = int(trained.calibration_[-loaded.n_added :].sum()) if loaded.n_added else 0
        where = (
            f"on {int(trained.calibration_.sum())} calibration cells, {mine} of them yours"
            if mine
            else "on bundled calibration cells, not yours"
        )
        out_console.print(
            f"that expected accuracy is measured {where}: "
            f"`{command}` measures how cells like yours fare with and without them",
            highlight=False,
        )
    elif add_table is not None:
        out_console.print(
            "that expected accuracy is measured on calibration cells, not on a held-out "
            "share of the added cells: keep some of them aside to measure how cells like them "
            "fare",
            highlight=False,
        )


def predict(
    model: Annotated[Path, typer.Option("--model", "-m", help="A model folder from `train`.")],
    features: Annotated[
        Path,
        typer.Option(
            "--features",
            "-f",
            help="Features of the cells: a CSV (or TSV, ;-separated) file, an .xlsx workbook, or "
            "an AnnData .h5ad file.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write predictions to this CSV, or to this .h5ad file (calls in .obs as "
            "ephys2type_* columns, probabilities in .obsm['ephys2type_probabilities']; a "
            "copy of an .h5ad --features file with the calls added).",
        ),
    ] = None,
    obsm: Annotated[
        str | None,
        typer.Option(
            help="Read the features of an .h5ad file from this .obsm data frame instead of .X."
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="The sheet of an .xlsx --features workbook to read (default: the only one, "
            "else the one named like 'features', else the first visible one)."
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="A TOML file mapping your column names (and units) to the model's features: "
            '[columns] "your column" = { feature = "ri", unit = "GOhm" } (ri: a mouse '
            "model's input resistance, input_resistance a human model's; `ephys2type data "
            "families --species S` lists them)."
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            help="Cell id column of the features CSV (default: the model's training id "
            "column if present, else cell_id, specimen_id, cell_specimen_id, ID, cell_name "
            "or sample_id, else the one column of unique text ids)."
        ),
    ] = None,
    overview: Annotated[
        Path | None,
        typer.Option(
            help="Draw the cells among the model's training cells (on the two features that "
            "best separate its classes among those the cells have) with their calls, to this "
            ".png or .pdf file.",
        ),
    ] = None,
    checks: Annotated[
        Path | None,
        typer.Option(
            help="The recording checks of the cells (the .qc.csv `ephys2type features` "
            "writes); default: the table's checks_failed and checks_blocking columns, else "
            "<features>.qc.csv when it exists.",
        ),
    ] = None,
    call_failed_checks: Annotated[
        bool,
        typer.Option(
            help="Call cells whose recording checks say they may not be interneurons or fire "
            "at rest (default: unassigned); the checks stay in their row.",
        ),
    ] = False,
    wide: Annotated[
        bool,
        typer.Option(
            help="Show more columns in the terminal: the call's expected accuracy, the "
            "out-of-distribution flag, the training QC flag (and top families)."
        ),
    ] = False,
    columns: Annotated[
        str | None,
        typer.Option(
            help="The columns to show in the terminal, comma-separated (any column --out "
            "writes, e.g. predicted,probability,expected_accuracy,families_used); the cell "
            "id is always first. Default: predicted, probability, set, reason.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace the --out predictions file if it exists.")
    ] = False,
) -> None:
    """Predict the class of each cell in a features CSV or AnnData file with a saved model.

    An AnnData .h5ad file gives its features in .X (var_names as feature names) or in the
    .obsm data frame named by --obsm, and its obs_names as cell ids. Columns are checked
    against the model's schema (a table of another schema's features, a column in another
    unit, text or infinite values are errors; extra columns are ignored with a warning;
    absent columns are fine). Each cell is predicted by a model trained on the features it
    has (fitted on demand, and cached, for a feature set no saved model fits) and gets its
    class, calibrated probabilities, prediction set, the expected accuracy of its feature
    set, the feature families with the most attention (BiLSTM), a flag when it lies outside
    the training distribution, and the training QC rule it fails. A cell the evidence does
    not support is 'unassigned', with its reason: no features, a failed recording check,
    an implausible value, no essential family, a feature set whose expected accuracy is
    below the model's floor, a cell unlike every training cell, a large prediction set, or
    no typical class (the most probable class is not in the 90% set). The batch as a whole
    is checked: a test of whether its cells differ from the training cells, even allowing
    for their mix of types, and a label-free estimate of its accuracy (average thresholded
    confidence) beside the in-distribution figure (cells the model was trained on are left
    out of both); one warning when the stated accuracy is unlikely to hold, and with --out a
    summary is written to <out>.summary.json.

    The terminal shows each cell's id, call, probability, prediction set and reason (--wide
    for more; --columns shows the columns it names instead); models fitted on demand show a
    progress bar, or one line each when the output is not a terminal.

    Example: ephys2type predict --model my-model --features cells.csv --out predictions.csv

    Example: ephys2type predict --model my-model --features cells.h5ad --out cells_with_calls.h5ad
    """
    import warnings

    from ephys2type.data.fetch import cache_dir
    from ephys2type.data.h5ad import is_h5ad
    from ephys2type.errors import Ephys2TypeWarning
    from ephys2type.files import summary_path
    from ephys2type.persist.predict import predict_cells, write_prediction

    summary = None if out is None else summary_path(out)
    if out is not None:
        if out.resolve() == features.resolve():  # --force would replace the cells' features
            raise Ephys2TypeError(
                f"--out {out} is the --features file: write the predictions to another file"
            )
        if not is_h5ad(out):
            refuse_binary_name(out, "the prediction table")
        refuse_existing(out, force)
        refuse_existing(summary, force)
    if overview is not None:
        if overview.suffix.lower() not in (".png", ".pdf"):
            raise Ephys2TypeError(f"--overview {overview}: the figure is written as .png or .pdf")
        refuse_existing(overview, force, "--overview")
    with StepProgress() as progress:
        result = predict_cells(
            model,
            features,
            id_column=id_column,
            obsm_key=obsm,
            mapping=mapping,
            sheet=sheet,
            recording_checks="auto" if checks is None else checks,
            call_failed_checks=call_failed_checks,
            member_cache=cache_dir() / "models",
            progress=progress.fraction("models fitted on demand"),
        )
    shown = shown_columns(result.table, wide=wide, columns=columns)  # before any file is written
    if (message := result.batch.warning()) is not None:
        warnings.warn(message, Ephys2TypeWarning, stacklevel=1)
    if out is not None:
        write_prediction(result, out, features=features, overwrite=force)
    if overview is not None:
        _write_overview(result.model, result.cells, result.table, overview)
    out_console = console()
    _print_predictions(out_console, result, shown, out)
    if out is not None:
        out_console.print(f"predictions written to {out}; batch summary: {summary}")
    if overview is not None:
        out_console.print(f"overview figure: {overview}")


def _write_overview(trained, cells, preds, path: Path) -> None:
    """The batch among the training cells, with its calls (``predict --overview``)."""
    from ephys2type.evaluation.overview import plot_prediction_overview
    from ephys2type.evaluation.plots import save_figure

    ax = plot_prediction_overview(trained, cells, preds)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(ax.figure, path)


#: The columns of the terminal table by default, after the cell id (``--wide`` shows
#: :data:`WIDE_COLUMNS`); ``set`` stands for the finest level's set with two-level labels.
DEFAULT_COLUMNS = ("predicted", "probability", "set", "reason")
WIDE_COLUMNS = (
    "predicted",
    "probability",
    "top_families",
    "set",
    "expected_accuracy",
    "out_of_distribution",
    "reason",
    "qc_flag",
)
#: Short headers for the table (a column not listed is headed by its name).
HEADERS = {
    "predicted": "call",
    "probability": "prob.",
    # the serving model's in-distribution figure, not this cell's chance (a trial read
    # "exp. acc. 0.83" beside "prob. 0.34" as the cell's)
    "expected_accuracy": "model's acc.",
    "out_of_distribution": "out of distr.",
}
#: Rows shown in the terminal (all of them go to --out).
SHOWN_ROWS = 20


def shown_columns(table, *, wide: bool = False, columns: str | None = None) -> list[str]:
    """The columns of ``table`` the terminal shows (after the cell id): ``--columns`` as
    given (a column name in any case; an unknown one is an error listing the columns),
    else :data:`WIDE_COLUMNS` with ``--wide``, else :data:`DEFAULT_COLUMNS`. ``set`` is the
    finest level's set with two-level labels; a wide column the table lacks is left out."""
    if columns is not None:
        names = [c.strip() for c in columns.split(",") if c.strip()]
        if not names:
            raise typer.BadParameter("--columns needs at least one column name")
        known = {str(c).casefold(): str(c) for c in table.columns}
        unknown = [n for n in names if n.casefold() not in known and n.casefold() != "set"]
        if unknown:
            import difflib

            near = difflib.get_close_matches(unknown[0], [str(c) for c in table.columns], n=1)
            raise typer.BadParameter(
                f"--columns: no column {', '.join(map(repr, unknown))}"
                + (f" (did you mean {near[0]}?)" if near else "")
                + "; the columns are "
                + ", ".join(map(str, table.columns))
            )
        chosen = [known.get(n.casefold(), n) for n in names]
    else:
        chosen = list(WIDE_COLUMNS if wide else DEFAULT_COLUMNS)
    set_column = (
        "set"
        if "set" in table.columns
        else next((str(c) for c in reversed(table.columns) if str(c).endswith("_set")), "set")
    )
    chosen = [set_column if c == "set" else c for c in chosen]
    return [c for c in dict.fromkeys(chosen) if c in table.columns]


def _print_predictions(out_console, result, columns: list[str], out: Path | None = None) -> None:
    """The batch in words (:func:`~ephys2type.persist.prediction_lines.prediction_lines`)
    and the first rows (``columns`` after the cell id); where the rest are (``out``)."""
    from ephys2type.persist.prediction_lines import prediction_lines

    for line in prediction_lines(result):
        out_console.print(line)
    trained, preds = result.model, result.table
    info = trained.provenance_
    out_console.print(_calls_table(preds.head(SHOWN_ROWS), columns, info, out_console.width))
    if len(preds) > SHOWN_ROWS:
        more = len(preds) - SHOWN_ROWS
        where = f"in {out}" if out is not None else "use --out to write them all"
        out_console.print(f"... {plural(more, 'more cell')}; {where}")


#: Columns whose values never wrap (numbers, flags, the call).
UNBROKEN = ("predicted", "probability", "expected_accuracy", "out_of_distribution")


def _calls_table(shown, columns: list[str], info, width: int) -> Table:
    """The terminal table, laid out in ``width`` columns (:func:`~.common.fitted_table`):
    the cell id (never cut), then ``columns``; numbers and calls never wrap, text wraps at
    spaces, and the reason takes the room left (or, beside long ids, a line of its own)."""
    key = FitColumn(str(shown.index.name or "cell"), [str(c) for c in shown.index])
    fitted = [
        FitColumn(
            HEADERS.get(col, col),
            [_cell_text(col, v) for v in shown[col]],
            unbroken=col in UNBROKEN,
            right=col in ("probability", "expected_accuracy"),
            fill=col == "reason",
        )
        for col in columns
    ]
    title = (
        f"predictions ({info.get('model')}, trained on {info.get('n_cells')} "
        f"{info.get('species')} cells)"
    )
    return fitted_table(title, key, fitted, width)


def _cell_text(column: str, value) -> str:
    """A value as the table shows it: probabilities and accuracies to two decimals, flags
    as yes or empty, missing values empty."""
    if isinstance(value, bool) or column == "out_of_distribution":
        return "yes" if bool(value) else ""
    if isinstance(value, float):
        return "" if value != value else f"{value:.2f}"
    return str(value)
