"""``ephys2type train`` and ``ephys2type predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ephys2type.files import atomic_write_text

from .common import (
    ConfidenceOpt,
    DataProfileOpt,
    DonorColumnOpt,
    FeaturesOpt,
    IdColumnOpt,
    LabelColumnOpt,
    LabelsOpt,
    MaxSetSizeOpt,
    SchemaOpt,
    SpeciesOpt,
    TableLabelsOpt,
    TableOpt,
    console,
    load_data_for_command,
    refuse_existing,
    smoke_epochs,
)


def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to create.")],
    species: SpeciesOpt = "mouse",
    labels: LabelsOpt = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="bilstm-smote (default), another BiLSTM variant, rf, hgb or logreg.",
        ),
    ] = "bilstm-smote",
    features: FeaturesOpt = "native",
    profile: DataProfileOpt = None,
    table: TableOpt = None,
    table_labels: TableLabelsOpt = None,
    schema: SchemaOpt = "mouse",
    id_column: IdColumnOpt = "cell_id",
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
    force: Annotated[bool, typer.Option(help="Replace the model folder if it exists.")] = False,
) -> None:
    """Train a model on every QC'd cell of a species, or of your own table, and save it.

    The data options are those of `evaluate`: the bundled data of --species (QC profile
    'default'), or your own --table and --table-labels (QC profile 'none' unless --profile
    says otherwise; --labels maps the labels through a built-in scheme). The folder holds
    model.json (schema, classes, preprocessing, calibration, provenance) and the weights:
    model.pt (a torch state_dict) or model.skops (tree/linear models); loading it never runs
    code. With --family-subsets (default), subsets/ holds one such model per family subset
    (mouse: 3, human: 7), so training takes that many times longer.

    With two-level labels (--labels ttype) a fifth of the cells (stratified) is kept apart to
    calibrate class-conditional prediction sets at the subclass and t-type levels; `predict`
    then gives, per cell and level, the call (made top-down), its probability and the set,
    and calls a cell at the subclass only when its t-type set is large.

    Example: ephys2type train --species human --model bilstm-smote --out my-model

    Example: ephys2type train --species mouse --labels ttype --model rf --out ttype-model
    """
    from ephys2type.models.registry import get_model
    from ephys2type.persist.train import train_model

    get_model(model)  # an unknown name fails before any work
    refuse_existing(out, force)
    data, origin = load_data_for_command(
        species=species,
        labels=labels,
        profile=profile,
        features=features,
        table=table,
        table_labels=table_labels,
        schema=schema,
        id_column=id_column,
        label_column=label_column,
        donor_column=donor_column,
    )
    out_console = console()
    out_console.print(
        f"training {model} on {len(data)} cells of {origin} ({data.label_scheme}, "
        f"{data.schema.name} features) ..."
    )
    epochs = smoke_epochs()
    params = {"max_epochs": epochs} if epochs is not None else None
    trained = train_model(
        data,
        model,
        random_state=seed,
        params=params,
        family_subsets=family_subsets,
        confidence=confidence,
        max_set_size=max_set_size,
    )
    trained.save(out, overwrite=force)
    levels = ""
    if trained.levels is not None:
        levels = (
            f"; prediction sets at {trained.levels.confidence:.0%} at the "
            f"{' and '.join(trained.levels.names)} levels, calibrated on "
            f"{trained.info['n_calibration_cells']} cells kept apart"
        )
    out_console.print(
        f"saved {trained!r} to {out} (probability temperature {trained.temperature:.3f}; "
        f"{len(trained.subsets)} family-subset models{levels})"
    )


def predict(
    model: Annotated[Path, typer.Option("--model", "-m", help="A model folder from `train`.")],
    features: Annotated[
        Path,
        typer.Option(
            "--features", "-f", help="Features of the cells: a CSV, or an AnnData .h5ad file."
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
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="A TOML file mapping your column names (and units) to the model's features: "
            '[columns] "your column" = { feature = "ri", unit = "GOhm" }.'
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
    force: Annotated[
        bool, typer.Option(help="Replace the --out predictions file if it exists.")
    ] = False,
) -> None:
    """Predict the class of each cell in a features CSV or AnnData file with a saved model.

    An AnnData .h5ad file gives its features in .X (var_names as feature names) or in the
    .obsm data frame named by --obsm, and its obs_names as cell ids. Columns are checked
    against the model's schema (missing columns are listed; extra columns are ignored with a
    warning; empty cells are imputed with the training medians; text or infinite values are
    refused with their row and column). Each cell gets its predicted
    class, calibrated probabilities, the feature families with the most attention (BiLSTM),
    a flag when it lies outside the training distribution, and the training QC rule it fails.
    The batch as a whole is compared with the training cells (per-feature median shift, share
    of flagged cells): one warning names the most shifted features when it differs, and
    with --out a summary is written to <out>.summary.json.

    Example: ephys2type predict --model my-model --features cells.csv --out predictions.csv

    Example: ephys2type predict --model my-model --features cells.h5ad --out cells_with_calls.h5ad
    """
    import warnings

    from ephys2type.errors import Ephys2TypeWarning
    from ephys2type.files import dumps_json
    from ephys2type.persist.batch import summarize_batch
    from ephys2type.persist.format import load_model
    from ephys2type.persist.predict import read_features, write_predictions

    summary_path = None if out is None else out.with_name(out.name + ".summary.json")
    if out is not None:
        refuse_existing(out, force)
        refuse_existing(summary_path, force)
    trained = load_model(model)
    cells = read_features(trained, features, id_column=id_column, obsm_key=obsm, mapping=mapping)
    preds = trained.predict_table(cells)
    batch = summarize_batch(trained, cells, preds)
    if (message := batch.warning()) is not None:
        warnings.warn(message, Ephys2TypeWarning, stacklevel=1)
    if out is not None:
        write_predictions(preds, out, features=features, cells=cells, overwrite=force)
        atomic_write_text(summary_path, dumps_json(batch.to_dict()), overwrite=force)
    out_console = console()
    if trained.levels is None:
        counts = preds["predicted"].value_counts().reindex(trained.classes, fill_value=0)
    else:  # dozens of t-types: count the level above
        counts = preds[trained.levels.names[0]].value_counts().sort_index()
    flagged = int((preds["qc_flag"] != "").sum())
    out_console.print(
        f"{len(preds)} cells: "
        + ", ".join(f"{c} {n}" for c, n in counts.items())
        + f"; {int(preds['out_of_distribution'].sum())} outside the training distribution "
        f"({batch.expected_out_of_distribution:.1f} expected)"
        + f"; {flagged} failing a training QC rule"
    )
    for families, n in preds["families_used"].value_counts().items():
        out_console.print(f"{n} cells predicted from families {families.replace('+', ', ')}")
    if trained.levels is not None:
        up, fine = trained.levels.names
        level_counts = preds["call_level"].value_counts()
        out_console.print(
            f"prediction sets at {trained.levels.confidence:.0%}: "
            f"{level_counts.get(fine, 0)} cells called at the {fine} (set of at most "
            f"{trained.levels.max_set_size}), {level_counts.get(up, 0)} at the {up} only, "
            f"{level_counts.get('none', 0)} not called (more than one {up} in the set)"
        )
    table = Table(
        title=f"predictions ({trained.info.get('model')}, trained on "
        f"{trained.info.get('n_cells')} {trained.info.get('species')} cells)",
        title_justify="left",
    )
    shown = preds.head(20)
    table.add_column(str(preds.index.name or "cell"))
    for col in (
        "predicted",
        "probability",
        "call",
        "call_level",
        "top_families",
        "out_of_distribution",
        "qc_flag",
    ):
        if col in shown.columns:
            table.add_column(col)
    for cell, row in shown.iterrows():
        values = [str(cell), row["predicted"], f"{row['probability']:.2f}"]
        if "call" in shown.columns:
            values += [row["call"], row["call_level"]]
        if "top_families" in shown.columns:
            values.append(row["top_families"])
        values.append("yes" if row["out_of_distribution"] else "")
        values.append(row["qc_flag"])
        table.add_row(*values)
    out_console.print(table)
    if len(preds) > len(shown):
        out_console.print(f"... {len(preds) - len(shown)} more; use --out to write them all")
    if out is not None:
        out_console.print(f"predictions written to {out}; batch summary: {summary_path}")
