"""``ephys2type data ...`` and ``ephys2type qc``: inspect the reference data, schemas and QC."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import (
    SPECIES,
    ProfileOpt,
    SpeciesOpt,
    StepProgress,
    console,
    plural,
    profile_choice,
    schema_choice,
    scheme_choice,
    species_choice,
)
from .common import check_choice as _check_choice

data_app = typer.Typer(
    help="Inspect the bundled reference data, feature families and label schemes.",
    no_args_is_help=True,
)


@data_app.command("info")
def info(
    profile: ProfileOpt = "default",
) -> None:
    """Cells per class after QC, for every bundled dataset under every label scheme.

    One table per dataset (species / dataset), then, for a species with several datasets,
    their union as `--datasets a,b` loads it (a cell in two datasets counted once).

    Example: ephys2type data info
    """
    from ephys2type.data.datasets import DATASETS, dataset_names, load_species
    from ephys2type.data.labels import default_scheme, scheme_names
    from ephys2type.data.qc import profiles

    profile = _check_choice(profile, profiles(), "--profile")
    groups: list[tuple[str, tuple[str, ...], str]] = []
    for species in SPECIES:
        names = dataset_names(species)
        groups += [(species, (name,), DATASETS[name].description) for name in names]
        if len(names) > 1:
            groups.append((species, tuple(names), "all " + species + " datasets together"))
    tables, notes = [], []
    for species, names, description in groups:  # load everything first: errors before output
        raw = load_species(species, labels=None, qc=None, datasets=names)
        table = Table(
            title=f"{species} / {','.join(names)}: {len(raw)} cells with features "
            f"({description}), QC profile {profile!r}",
            title_justify="left",
        )
        table.add_column("label scheme")
        table.add_column("cells", justify="right")
        table.add_column("classes", justify="right")
        table.add_column("cells per class")
        schemes = sorted(scheme_names(species), key=lambda s: s != default_scheme(species))
        for scheme in schemes:
            data = load_species(species, labels=scheme, qc=profile, datasets=names)
            counts = data.class_counts()
            if len(counts) > 8:
                top = counts.sort_values(ascending=False)
                shown = (
                    f"{len(counts)} types of {top.iloc[-1]} to {top.iloc[0]} cells "
                    f"(largest: {top.index[0]})"
                )
            else:
                shown = ", ".join(f"{k} {v}" for k, v in counts.items())
            name = scheme + (" (default)" if scheme == default_scheme(species) else "")
            table.add_row(name, str(len(data)), str(len(counts)), shown)
        tables.append(table)
        notes.append(raw.notes if len(names) > 1 or len(dataset_names(species)) == 1 else ())
    out = console()
    for table, group_notes in zip(tables, notes, strict=True):
        out.print(table)
        for note in group_notes:
            out.print(f"  note: {note}")
        out.print()


@data_app.command("families")
def families(
    species: SpeciesOpt = "mouse",
    schema: Annotated[
        Path | None,
        typer.Option(help="A schema file (TOML/JSON) instead of a built-in schema."),
    ] = None,
) -> None:
    """List the feature families of a schema with their protocol, columns and units.

    --species takes mouse, human or aligned (the cross-species schema). The family subsets a
    saved model also covers (cells recorded without some protocols) are listed below.

    Example: ephys2type data families --species human
    """
    from ephys2type.data.schema import get_schema

    if schema is None:
        species = _check_choice(species, (*SPECIES, "aligned"), "--species")
    sch = get_schema(schema if schema is not None else species)
    out = console()
    out.print(f"schema {sch.name!r}: {sch.description}")
    out.print(f"{len(sch.families)} families, {len(sch.columns)} features")
    table = Table(show_lines=True)
    table.add_column("family")
    table.add_column("protocol")
    table.add_column("flags")
    table.add_column("features (unit)")
    for fam in sch.families:
        flags = ", ".join(
            f for f, on in (("essential", fam.essential), ("optional", fam.optional)) if on
        )
        cols = []
        for f in fam.features:
            src = ""
            if f.sources:
                src = " <- " + "; ".join(
                    f"{sp}: {s.column}" + (f" - {s.minus}" if s.minus else "")
                    for sp, s in f.sources.items()
                )
            cols.append(f"{f.name} ({f.unit}){src}")
        table.add_row(f"{fam.name}\n{fam.title}", fam.stimulus, flags, "\n".join(cols))
    out.print(table)
    out.print("family subsets a lab plausibly has (protocols recorded), largest first:")
    for subset in sch.protocol_subsets():
        out.print("  " + " + ".join(subset))


@data_app.command("alignment")
def alignment(profile: ProfileOpt = "default") -> None:
    """Check the cross-species alignment: each aligned feature's median in mouse and human.

    Every median must lie in the feature's plausible range (in the aligned unit) and the two
    species must agree within a factor of 10, so a unit slip shows up as a failed row.

    Example: ephys2type data alignment
    """
    from ephys2type.data.align import MAX_SPECIES_RATIO, alignment_report
    from ephys2type.data.datasets import load_species
    from ephys2type.data.qc import profiles

    profile = _check_choice(profile, profiles(), "--profile")
    report = alignment_report(
        load_species("mouse", labels="aligned4", qc=profile),
        load_species("human", labels="aligned4", qc=profile),
    )
    table = Table(title=f"aligned features, QC profile {profile!r}", title_justify="left")
    for col in ("feature", "unit", "plausible median", "mouse", "human", "ratio", "check"):
        table.add_column(col, justify="left" if col in ("feature", "unit", "check") else "right")
    for name, row in report.iterrows():
        table.add_row(
            name,
            row["unit"],
            f"{row['low']:g} to {row['high']:g}",
            f"{row['mouse_median']:.4g}",
            f"{row['human_median']:.4g}",
            f"{row['ratio']:.2f}",
            "ok" if row["ok"] else "FAILED",
        )
    out = console()
    out.print(table)
    failed = int((~report["ok"]).sum())
    out.print(
        f"{len(report) - failed} of {len(report)} features pass (range check, and species "
        f"medians within {MAX_SPECIES_RATIO:g}x)"
    )
    if failed:
        raise typer.Exit(1)


@data_app.command("fetch")
def fetch_cmd() -> None:
    """Find (or download) every reference file and check its SHA-256.

    Example: ephys2type data fetch
    """
    from ephys2type.data.fetch import REGISTRY, fetch

    out = console()
    table = Table(title="reference files", title_justify="left")
    table.add_column("file")
    table.add_column("found in")
    table.add_column("SHA-256")
    for name in REGISTRY:
        f = fetch(name)
        table.add_row(name, f"{f.origin}: {f.path.parent}", f.sha256[:16] + "... ok")
    out.print(table)


def qc(
    species: SpeciesOpt = "mouse",
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels", "-l", help="Label scheme (default: mouse5 for mouse, revised for human)."
        ),
    ] = None,
    profile: ProfileOpt = "default",
    drops: Annotated[
        Path | None, typer.Option(help="Write the dropped cells with their reasons to this CSV.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite the --drops file if it exists.")] = False,
) -> None:
    """Apply a QC profile: cells dropped per rule, and cells kept per class.

    Example: ephys2type qc --species human --labels revised --drops drops.csv
    """
    from ephys2type.data.datasets import load_species
    from ephys2type.data.labels import default_scheme
    from ephys2type.data.qc import profiles, qc_config
    from ephys2type.files import atomic_write_text

    species = _check_choice(species, SPECIES, "--species")
    profile = _check_choice(profile, profiles(), "--profile")
    scheme = labels or default_scheme(species)
    data = load_species(species, labels=scheme, qc=profile)
    report = data.qc
    out = console()
    out.print(
        f"{species}, labels {scheme!r}, QC profile {profile!r}: "
        f"{qc_config()['profiles'][profile]['description']}"
    )
    rules = Table(title=f"{report.n_input} cells in -> {report.n_kept} kept", title_justify="left")
    rules.add_column("rule")
    rules.add_column("dropped", justify="right")
    rules.add_column("example")
    for rule, n in report.rule_counts().items():
        example = report.drops.loc[report.drops["rule"] == rule, "detail"]
        rules.add_row(rule, str(n), example.iloc[0] if len(example) else "")
    out.print(rules)
    kept = Table(title="kept per class", title_justify="left")
    kept.add_column("class")
    kept.add_column("cells", justify="right")
    for cls, n in data.class_counts().items():
        kept.add_row(str(cls), str(n))
    kept.add_row("total", str(len(data)))
    out.print(kept)
    if drops is not None:
        atomic_write_text(drops, report.drops.to_csv(), overwrite=force)
        out.print(f"wrote {len(report.drops)} dropped cells to {drops}")


@data_app.command("check")
def check(
    features: Annotated[
        Path, typer.Argument(help="Features table (CSV, TSV, .xlsx, .h5ad): one row per cell.")
    ],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="A model folder from `train`: check the table exactly as `predict --model` "
            "reads and serves it.",
        ),
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option(
            help="Schema of the table: mouse, human, aligned, or a TOML/JSON file (default: "
            "the model's with --model, else the built-in schema the columns belong to).",
            callback=schema_choice,
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="A TOML file mapping your column names (and units) to the schema's features, "
            "as `predict --mapping` takes it.",
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            help="Cell id column in both files (default: found as `predict` finds it: "
            "cell_id, specimen_id, cell_specimen_id, ID, cell_name or sample_id, else the "
            "one column of unique text ids)."
        ),
    ] = None,
    obsm: Annotated[
        str | None,
        typer.Option(help="Read an .h5ad file's features from this .obsm data frame."),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="The sheet of an .xlsx workbook to read (default: the only one, else the one "
            "named like 'features', else the first visible one)."
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Labels CSV with the same cell ids: check the table as `train --table` "
            "reads it (every column of the schema, labels, QC).",
        ),
    ] = None,
    label_column: Annotated[
        str, typer.Option(help="Label column in the labels file.")
    ] = "subclass",
    donor_column: Annotated[
        str | None, typer.Option(help="Donor column in the labels file (for grouped CV).")
    ] = None,
    label_scheme: Annotated[
        str,
        typer.Option(
            help="as_is (labels as written) or a built-in scheme such as mouse5.",
            callback=scheme_choice,
        ),
    ] = "as_is",
    species: Annotated[
        str | None,
        typer.Option(
            help="Species of the cells (default: the schema's species).", callback=species_choice
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="QC profile to apply, as `train --table --profile` (default: none).",
            callback=profile_choice,
        ),
    ] = None,
    write_aligned: Annotated[
        Path | None,
        typer.Option(help="Write the features in the aligned cross-species schema to this CSV."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite the --write-aligned file.")] = False,
) -> None:
    """Check a features table before using it: what `predict` (or `train --table`) will make
    of it, with the same checks and the same errors.

    With --model, the table is read and served exactly as `predict --model` serves it: the
    command says which cells no model will call and why (no features, a failed recording
    check, an implausible value, no essential family), and which feature set's model serves
    each of the others, with the expected accuracy of its calls. Models of feature sets no
    saved model reads are fitted here, with progress, and kept in the cache folder, where
    `predict` finds them. With --schema (or without: the built-in schema the columns belong
    to), the table is read as `predict` reads it, and what can be said without a model is
    said. With --labels (or --profile, --write-aligned) it is read as `train --table` reads it:
    every column of the schema, the labels, the QC profile.

    Example: ephys2type data check features.csv --labels labels.csv --schema mouse

    Example: ephys2type data check cells.csv --model my-model
    """
    training = labels is not None or profile is not None or write_aligned is not None
    if training:
        if model is not None:
            raise typer.BadParameter(
                "--model checks a table to predict, --labels/--profile/--write-aligned one "
                "to train on (as `train --table`): give one or the other"
            )
        if sheet is not None:
            raise typer.BadParameter(
                "--sheet applies to a table to predict; `train --table` reads a workbook's only "
                "sheet, else the one named like 'features', else the first visible one: move "
                "the sheet you want first, or save it as 'CSV UTF-8'"
            )
        _check_training(
            features,
            labels,
            schema,
            species=species,
            id_column=id_column,
            label_column=label_column,
            donor_column=donor_column,
            label_scheme=label_scheme,
            profile=profile,
            write_aligned=write_aligned,
            force=force,
            mapping=mapping,
        )
        return
    from ephys2type.data.fetch import cache_dir
    from ephys2type.persist.check import check_for_prediction

    with StepProgress() as progress:
        result = check_for_prediction(
            features,
            model=model,
            schema=schema,
            mapping=mapping,
            id_column=id_column,
            obsm_key=obsm,
            sheet=sheet,
            member_cache=cache_dir() / "models",
            progress=progress.fraction("models fitted on demand"),
        )
    _print_check(console(), result)


def _print_check(out, result) -> None:
    """What ``data check`` found (:class:`~ephys2type.persist.check.TableCheck`)."""
    from ephys2type.persist.check import FROM_MODEL
    from ephys2type.persist.prediction_lines import feature_set_line

    schema = result.schema
    reader = f"`predict --model {result.model}`" if result.model else "`predict`"
    origin = "the model's" if result.schema_from == FROM_MODEL else result.schema_from
    them = "it" if result.n_cells == 1 else "them"
    out.print(f"{result.path}: {plural(result.n_cells, 'cell')}, read as {reader} reads {them}")
    n_there = len(schema.columns) - len(result.absent)
    absent = f", {len(result.absent)} absent" if result.absent else ""
    empty = f", {len(result.empty)} of them empty in every cell" if result.empty else ""
    of_all = plural(len(schema.columns), "feature")
    out.print(
        f"schema {schema.name!r} ({origin}): {n_there} of its {of_all} are there{empty}{absent}"
    )
    if result.checks_file is not None:
        out.print(f"recording checks: {result.checks_file}")
    stopped = result.stopped()
    n_stopped = sum(len(ids) for ids in stopped.values())
    if n_stopped:
        out.print(
            f"{plural(n_stopped, 'cell')} no model will call (unassigned before any model runs):"
        )
        for kind, ids in stopped.items():
            first = result.reasons[ids[0]].split(": ", 1)[-1]
            shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
            out.print(f"  {kind}: {plural(len(ids), 'cell')} ({shown}); e.g. {first}")
    else:
        out.print("no cell is stopped before a model runs (no features, no essential family, ...)")
    going = result.n_cells - n_stopped
    if result.model is None:
        if going:
            goes, they = ("goes", "it has") if going == 1 else ("go", "they have")
            out.print(f"{plural(going, 'cell')} {goes} on to a model; the families {they}:")
            for families, n in result.family_sets()[:8]:
                out.print(f"  {plural(n, 'cell')}: {families}")
            rest = result.family_sets()[8:]
            if rest:
                out.print(f"  ... and {plural(len(rest), 'other combination')}")
        out.print(
            "which model serves each cell, with the expected accuracy of its calls, and the "
            "values outside the training cells' range: add --model DIR (a folder from "
            "`ephys2type train`)"
        )
        return
    sets = result.feature_sets
    if not going:
        out.print("no cell goes on to a model")
        return
    goes = "goes" if going == 1 else "go"
    models = "the model" if len(sets) == 1 else "the models"
    out.print(f"{plural(going, 'cell')} {goes} to {models} of {plural(len(sets), 'feature set')}:")
    for use in sets:
        out.print("  " + feature_set_line(use))
    fitted = sum(use.on_demand for use in sets)
    if fitted:
        out.print(
            f"{plural(fitted, 'model')} fitted on demand, kept in the cache folder: `predict` "
            "uses them without fitting again"
        )


def _check_training(
    features: Path,
    labels: Path | None,
    schema: str | None,
    *,
    species: str | None,
    id_column: str | None,
    label_column: str,
    donor_column: str | None,
    label_scheme: str,
    profile: str | None,
    write_aligned: Path | None,
    force: bool,
    mapping: Path | None = None,
) -> None:
    """``data check`` of a table to train on, as ``train --table`` reads it (through
    ``mapping`` when given)."""
    from ephys2type.data.align import to_aligned
    from ephys2type.data.qc import profiles
    from ephys2type.files import atomic_write_text
    from ephys2type.persist.check import FROM_COLUMNS, check_for_training

    from .common import refuse_existing

    if profile is not None:
        profile = _check_choice(profile, profiles(), "--profile")
    if species is not None:
        species = _check_choice(species, SPECIES, "--species")
    if write_aligned is not None:
        refuse_existing(write_aligned, force, "--write-aligned")
    data, found = check_for_training(
        features,
        labels,
        schema,
        species=species,
        id_column=id_column,
        label_column=label_column,
        donor_column=donor_column,
        label_scheme=label_scheme,
        qc=profile,
        mapping=mapping,
    )
    if write_aligned is not None:
        aligned = to_aligned(data)  # before printing: a failure must come before any output
    out = console()
    origin = "; found from the columns" if found == FROM_COLUMNS else ""
    out.print(
        f"{features}: {plural(len(data), 'cell')} x {plural(data.X.shape[1], 'feature')}, read "
        f"as `train --table` reads them, schema {data.schema.name!r} "
        f"({plural(len(data.schema.families), 'family', 'families')}{origin})"
    )
    missing = data.X.isna().mean()
    out.print(
        f"missing values: {data.X.isna().to_numpy().mean():.1%} overall; most missing: "
        + ", ".join(f"{c} {v:.0%}" for c, v in missing.nlargest(3).items())
    )
    if data.qc is not None:
        out.print(
            "QC: "
            + ", ".join(f"{r} {n}" for r, n in data.qc.rule_counts().items())
            + f" -> {len(data)} kept"
        )
    if data.y is not None:
        out.print("classes: " + ", ".join(f"{k} {v}" for k, v in data.class_counts().items()))
    if write_aligned is not None:
        atomic_write_text(
            write_aligned, aligned.X.to_csv(index_label=data.id_column), overwrite=force
        )
        out.print(
            f"wrote {aligned.X.shape[1]} aligned features for {plural(len(aligned), 'cell')} "
            f"to {write_aligned}"
        )
