"""Options, console and progress bar shared by the commands."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ephys2type.errors import OutputExistsError

if TYPE_CHECKING:
    from ephys2type.data.container import PatchSeqData
    from ephys2type.data.requests import DataRequest, LoadedData

SPECIES = ("mouse", "human")

SpeciesOpt = Annotated[str, typer.Option("--species", "-s", help="mouse or human.")]
LabelsOpt = Annotated[
    str | None,
    typer.Option(
        "--labels", "-l", help="Label scheme (default: mouse5 for mouse, revised for human)."
    ),
]
ProfileOpt = Annotated[
    str, typer.Option("--profile", "-p", help="QC profile from qc.toml: default, complete, none.")
]
FeaturesOpt = Annotated[
    str, typer.Option(help="native (the species' own schema) or aligned (cross-species).")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Results folder (default: under results/).")
]
ForceOpt = Annotated[bool, typer.Option(help="Replace the results folder if it exists.")]


def _note_limits() -> None:
    """One line on stderr when a command runs under :mod:`ephys2type.limits`."""
    from ephys2type.limits import current

    if current().any():
        sys.stderr.write(f"note: {current().note()}\n")


def limited_epochs() -> int | None:
    """The BiLSTM epoch cap in force (with a note on stderr), else None."""
    from ephys2type.limits import current

    _note_limits()
    return current().max_epochs


def shrink(seeds: int, folds: int, max_epochs: int | None) -> tuple[int, int, int | None]:
    """(seeds, folds, max_epochs) within the limits in force (with a note on stderr)."""
    from ephys2type.limits import current

    limits = current()
    _note_limits()
    return (
        limits.cap("seeds", seeds),
        limits.cap("folds", folds),
        limits.cap("max_epochs", max_epochs),
    )


def console() -> Console:
    """Rich console for tables; at least 100 columns wide when writing to a file or pipe."""
    width = shutil.get_terminal_size((120, 24)).columns
    return Console(highlight=False, soft_wrap=False, width=max(width, 100))


def refuse_existing(out: Path, force: bool) -> None:
    """Refuse an existing output before any work is done (the write itself checks again)."""
    if out.exists() and not force:
        raise OutputExistsError(f"{out} already exists; choose another --out or pass --force")


def check_choice(value: str, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise typer.BadParameter(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value


def load_request(request: DataRequest) -> LoadedData:
    """Load the data a command asked for (:meth:`DataRequest.load`); a value outside an
    option's choices is shown as typer shows a bad option value."""
    from ephys2type.data.requests import ChoiceError

    try:
        return request.load()
    except ChoiceError as exc:
        raise typer.BadParameter(str(exc)) from None


def load_for_command(
    species: str,
    labels: str | None,
    profile: str,
    features: str,
    datasets: str | None = None,
) -> PatchSeqData:
    """The QC'd bundled data of ``species`` (the data options checked)."""
    from ephys2type.data.requests import DataRequest

    request = DataRequest(
        species=species, labels=labels, profile=profile, features=features, datasets=datasets
    )
    return load_request(request).data


DatasetsOpt = Annotated[
    str | None,
    typer.Option(
        help="Bundled datasets to use, comma-separated (see `ephys2type data info`): mouse "
        "gouwens2020; human lee2023 (the study's data, default of evaluate) and "
        "chartrand2023_l1 (layer 1; train uses both by default).",
    ),
]


LocationOpt = Annotated[
    bool,
    typer.Option(
        help="Add the soma's cortical layer (from the cells' metadata: 'layer' or 'structure') "
        "as an optional feature family, 'location'; cells without it are served by the "
        "models without it. Not in the default: it did not help on held-out data.",
    ),
]


TableOpt = Annotated[
    Path | None,
    typer.Option(help="Your own features CSV instead of the bundled data (one row per cell)."),
]
TableLabelsOpt = Annotated[
    Path | None, typer.Option(help="Labels CSV for --table (cell ids, labels, donors).")
]
SchemaOpt = Annotated[
    str, typer.Option(help="Schema of --table: mouse, human, aligned, or a TOML/JSON file.")
]
IdColumnOpt = Annotated[
    str | None,
    typer.Option(
        help="Cell id column of --table files (default: found as `predict` finds it: "
        "cell_id, specimen_id, cell_specimen_id, ID, cell_name or sample_id, else the one "
        "column of unique text ids)."
    ),
]
LabelColumnOpt = Annotated[str, typer.Option(help="Label column of --table-labels.")]
DonorColumnOpt = Annotated[
    str | None, typer.Option(help="Donor column of --table-labels (for group5x5).")
]
DataProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="QC profile (default: 'default' for the bundled data, 'none' for --table).",
    ),
]


def load_data_for_command(
    *,
    species: str,
    labels: str | None,
    profile: str | None,
    features: str,
    table: Path | None,
    table_labels: Path | None,
    schema: str,
    id_column: str | None,
    label_column: str,
    donor_column: str | None,
    datasets: str | None = None,
    location: bool = False,
) -> tuple[PatchSeqData, str]:
    """The data of ``evaluate``: bundled (species) or the user's --table
    (:class:`~ephys2type.data.requests.DataRequest`), and a short name of its origin
    (species or table file stem)."""
    from ephys2type.data.requests import DataRequest

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
        )
    )
    return loaded.data, loaded.origin


def new_progress(*, label_width: int = 0, remaining: bool = True) -> Progress:
    """Rich progress bars on stderr: label, bar, n/total, times, and the current step."""
    columns = [
        TextColumn(f"[bold]{{task.description:<{label_width}}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *([TimeRemainingColumn()] if remaining else []),
        TextColumn("{task.fields[step]}"),
    ]
    return Progress(*columns, console=Console(stderr=True), transient=False)


def add_bar(progress: Progress, description: str, total: int | None) -> Callable[[str], None]:
    """Add a bar to ``progress``; returns ``advance(text)``, one step per call."""
    task = progress.add_task(description, total=total, step="")

    def advance(text: str) -> None:
        progress.update(task, advance=1, step=text)

    return advance


@contextmanager
def progress_bar(total: int | None, description: str) -> Iterator[Callable[[str], None]]:
    """A rich progress bar (on stderr; total None: of unknown length); yields
    ``advance(text)``."""
    progress = new_progress()
    with progress:
        yield add_bar(progress, description, total)


#: Two-level labels (--labels ttype): the coverage of the prediction sets, and the largest
#: t-type set that still gives a t-type call (evaluate and train)
ConfidenceOpt = Annotated[
    float,
    typer.Option(
        min=0.5,
        max=0.999,
        help="Two-level labels (--labels ttype): coverage promised by the prediction sets at "
        "each level.",
    ),
]
MaxSetSizeOpt = Annotated[
    int,
    typer.Option(
        min=1,
        help="Two-level labels: a cell whose t-type set holds more types than this is called "
        "at the subclass only.",
    ),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Folds fitted in parallel (processes; results are identical to a serial run).",
    ),
]
