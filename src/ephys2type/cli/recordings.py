"""``ephys2type features``: from current-clamp recordings to a features table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (
    FitColumn,
    check_choice,
    console,
    fitted_table,
    refuse_binary_name,
    refuse_existing,
)


def features(
    recordings: Annotated[
        list[Path],
        typer.Argument(
            help="Recording files (.abf, .nwb), one cell each, or folders of them (searched "
            "with their sub-folders, as fetch-recordings lays them out)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Features CSV to write.")],
    schema: Annotated[
        str,
        typer.Option(
            help="Name the columns as in this training table's schema: mouse (Gouwens 2020) "
            "or human (Lee, Dalley 2023)."
        ),
    ] = "mouse",
    sweep_qc: Annotated[
        str,
        typer.Option(
            help="Sweep QC preset: 'lab' (thresholds for lab rigs: 0.2 mV fast noise, 1 mV "
            "slow noise over the last 100 ms before the step, 3 mV baseline change), 'allen' "
            "(ipfx's default criteria, fit for the Allen's rigs) or 'none' (every sweep used).",
        ),
    ] = "lab",
    figures: Annotated[
        Path | None,
        typer.Option(
            help="Write one check page per cell into this folder (<cell id>.png: "
            "hyperpolarising, rheobase and strongest sweeps with spikes, thresholds and command; "
            "the values measured; f-I curve; resting potential across sweeps; every failed "
            "check drawn where it happens)."
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Files processed at a time (processes).")
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run the files on a Dask distributed cluster at this address "
            "(e.g. tcp://127.0.0.1:8786) instead of locally."
        ),
    ] = None,
    vectors: Annotated[
        Path | None,
        typer.Option(
            help="Also write the 12 IPFX feature-vector families (the paper's representation) "
            "to this .h5ad file, with their schema beside it (<stem>.schema.toml). Needs "
            "Allen-protocol files: long squares, short squares and a ramp.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace --out and its QC table.")] = False,
) -> None:
    """Compute IPFX features of current-clamp recordings with ipfx, one row per file.

    Each file is one cell. ABF: the recorded channel in volts whose command is in amperes,
    and the current step that varies across sweeps, found in the command waveform (its
    start, end and amplitude). NWB 2: the current-clamp sweeps by the stimulus kind ipfx's
    ontology gives their code: long squares (e.g. C1LSCOARSE150216), short squares
    (C1SSFINEST150112) and ramps (C1RP25PR1S141203). ipfx's analyses give the subthreshold,
    spike-train and first-spike-at-rheobase features from the long squares and the first-spike
    features of the ramps and short squares, named and in the units of the --schema's
    training table; families a file cannot give stay empty (predict handles cells with fewer
    protocols). Each cell is named by its path below the folder given (two files that would
    share a name are refused). Around ipfx, cell-level checks leave empty what a physiologist
    would not trust: firing at rest (resting potential, rheobase, f-I slope), depolarisation
    block (rheobase and f-I slope refitted below it), no hyperpolarising step (Ri, tau, sag),
    a sag sweep under 5 mV deep, a negative or implausible f-I slope, a resting potential
    drifting over 10 mV; a spike shape outside the interneuron range is reported. Each
    cell's failed checks are in the table's checks_failed and checks_blocking columns (which
    predict reads, so a copy of the table keeps them); beside --out, <out>.qc.csv holds each
    sweep's QC measures and reasons, one row per failed check (what was seen, the columns
    emptied or recomputed), and one row per cell saying why it has no features (or which
    stimulus kind ipfx could not use), the families it gave and those its protocols lack.

    Files are independent: --jobs N runs N at a time, --scheduler sends them to a Dask
    cluster; the result is the same as a serial run. Each finished file is kept in
    <out>.parts/ until the table is written, so an interrupted run loses nothing finished
    and the same command again skips the files already done.

    With --vectors, the cells' IPFX feature vectors (ipfx.feature_vectors: subthreshold
    responses, ISI shape, PSTH, instantaneous frequency, spike features over the step, first
    action potentials) go to an .h5ad file and a schema; train any model on them with
    `ephys2type train --table V.h5ad --schema V.schema.toml --table-labels L.csv`, the
    BiLSTM reading each vector as one family.

    Example: ephys2type features recordings/ --out features.csv --figures figures
    """
    from ephys2type.data.recordings.batch import (
        cell_ids,
        find_recordings,
        qc_table_path,
        write_features,
    )
    from ephys2type.data.recordings.extract import SCHEMAS, SUMMARY_COLUMNS, SWEEP_QC
    from ephys2type.data.recordings.sweeps import RecordingError

    from .common import progress_bar

    files, roots = find_recordings(recordings)
    cell_ids(files, roots)  # two files one cell: said before any file is read
    schema = check_choice(schema, list(SCHEMAS), "--schema")
    sweep_qc = check_choice(sweep_qc, list(SWEEP_QC), "--sweep-qc")
    qc_path = qc_table_path(out)
    refuse_binary_name(out, "the features table")
    refuse_existing(out, force)
    refuse_existing(qc_path, force)
    if vectors is not None:
        if vectors.suffix.lower() != ".h5ad":
            raise RecordingError(f"--vectors {vectors}: feature vectors are written as .h5ad")
        refuse_existing(vectors, force, "--vectors")
    if figures is not None:
        _figures_folder(figures)
    parts = out.with_name(out.name + ".parts")
    try:
        with progress_bar(len(files), "features") as advance:
            written = write_features(
                files,
                out,
                roots=roots,
                schema=schema,
                sweep_qc_profile=sweep_qc,
                figures=figures,
                n_jobs=jobs,
                scheduler=scheduler,
                vectors=vectors,
                overwrite=force,
                progress=advance,
            )
    except RecordingError as exc:
        if len(files) == 1:
            raise
        # one bad file stops the batch; the files done are kept: say how to go on
        raise RecordingError(
            f"{exc}; run the command again without that file (move it out of the folder "
            f"given, or leave it off the command line): the files already done are kept in "
            f"{parts} and not read again"
        ) from exc
    table, qc, resumed = written.features, written.qc, written.resumed
    out_console = console()
    if resumed:
        out_console.print(f"{resumed} file(s) taken from the interrupted run in {parts}")
    sweeps = qc[qc["level"] == "sweep"]
    rheobase, ri = SUMMARY_COLUMNS[schema]
    cells = qc[qc["level"] == "cell"].set_index("cell_id")
    rows = []
    for cell in table.index:
        row = table.loc[cell]
        used = sweeps[sweeps["cell_id"] == cell]["used"]
        flags = cells.loc[cell].get("flags", "")
        rows.append(
            (
                f"{int(used.sum())}/{len(used)}",
                f"{int(row.notna().sum())}/{len(row)}",
                _number(row[rheobase]),
                _number(row[ri]),
                "" if flags != flags else str(flags).replace("; ", ", "),
                str(cells.loc[cell, "reason"] or cells.loc[cell, "not_checked"] or ""),
            )
        )
    values = list(zip(*rows, strict=True)) if rows else [()] * 6
    # the cell's name is never cut (two files may differ only at its end); text wraps
    view = fitted_table(
        f"features ({schema} schema, sweep QC {sweep_qc})",
        FitColumn("cell", [str(c) for c in table.index]),
        [
            FitColumn("sweeps\nused", list(values[0]), unbroken=True, right=True),
            FitColumn("features", list(values[1]), unbroken=True, right=True),
            FitColumn("rheobase\n(pA)", list(values[2]), unbroken=True, right=True),
            FitColumn("Ri\n(MOhm)", list(values[3]), unbroken=True, right=True),
            FitColumn("checks failed", list(values[4])),
        ],
        out_console.width,
    )
    out_console.print(view)
    for cell, note in zip(table.index, values[5], strict=True):  # below: full lines to read
        if note:
            out_console.print(f"{cell}: {note}")
    out_console.print(
        f"features: {out}; sweep QC: {qc_path}"
        + (f"; figures: {figures}" if figures is not None else "")
    )
    if vectors is not None:
        if written.vector_schema is None:
            out_console.print(f"no cell gave feature vectors (reasons in {qc_path})")
        else:
            out_console.print(
                f"feature vectors of {written.n_vector_cells} cell(s): {vectors}; "
                f"schema: {written.vector_schema}"
            )


def _number(value: float) -> str:
    """A rounded value, or '-' when it could not be measured."""
    return "-" if value != value else f"{value:.0f}"


def fetch_recordings(
    dandiset: Annotated[
        str,
        typer.Option(
            help="Dandiset identifier: 000020 (mouse, Gouwens 2020) or 000636 (human, Lee, "
            "Dalley 2023), or any other Dandiset of NWB files."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder to download into (default: dandi-<id>)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Download at most this many NWB files.")
    ] = None,
    version: Annotated[str, typer.Option(help="Dandiset version.")] = "draft",
) -> None:
    """Download a Dandiset's NWB recordings from the DANDI Archive (with the dandi client).

    Files keep their archive paths under --out; each is written under a temporary name
    and renamed when complete, so an interrupted download leaves no partial file and the
    same command again skips the files already downloaded. Then:
    `ephys2type features <out> --out features.csv`.

    Example: ephys2type fetch-recordings --dandiset 000020 --limit 5
    """
    from ephys2type.data.recordings import dandi

    from .common import progress_bar

    folder = out or Path(f"dandi-{dandiset}")
    files = dandi.dandi_assets(dandiset, version)
    with progress_bar(limit, f"Dandiset {dandiset}") as advance:
        result = dandi.fetch_recordings(files, folder, limit=limit, progress=advance)
    n = len(result.downloaded) + len(result.present)
    console().print(
        f"{n} NWB file(s) of Dandiset {dandiset} in {folder}: {len(result.downloaded)} "
        f"downloaded, {len(result.present)} already there"
    )


def _figures_folder(figures: Path) -> None:
    """Make the --figures folder before any file is read (an existing file of that name, or
    a folder that cannot be made, ended the run in an internal error after the extraction)."""
    from ephys2type.data.recordings.sweeps import RecordingError

    if figures.exists() and not figures.is_dir():
        raise RecordingError(
            f"--figures {figures}: a file of that name exists; give a folder for the cells' "
            "check pages"
        )
    try:
        figures.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecordingError(
            f"--figures {figures}: cannot make that folder ({exc.strerror or exc})"
        ) from None
