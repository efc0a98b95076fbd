"""Options, console and progress shared by the commands."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ephys2type.errors import Ephys2TypeError, OutputExistsError
from ephys2type.wording import plural  # noqa: F401 - the commands import it from here

if TYPE_CHECKING:
    from ephys2type.data.container import PatchSeqData
    from ephys2type.data.requests import DataRequest, LoadedData

SPECIES = ("mouse", "human")
#: Built-in schemas, by the name options take (a light copy: the command line must start
#: without importing the data layer; tests/test_cli.py checks it against the schemas).
BUILTIN_SCHEMAS = ("mouse", "human", "aligned")


# -- option values: case-insensitive choices -----------------------------------------------------


def canonical_choice(value: str, choices: Iterable[str]) -> str:
    """``value`` spelt as the choice it names, ignoring case (``Human`` -> ``human``);
    a value that names no choice is returned as given (its check says what is wrong)."""
    choices = list(choices)
    if value in choices:
        return value
    folded = [c for c in choices if c.casefold() == value.casefold()]
    return folded[0] if len(folded) == 1 else value


def choice_callback(
    choices: Callable[[], Iterable[str]], *, comma: bool = False
) -> Callable[[Any], Any]:
    """A typer option callback that spells the option's value(s) as the ``choices()`` they
    name, whatever their case: every choice option (species, schema, profile, label scheme,
    protocol, ...) is case-insensitive. ``comma``: the value is a comma-separated list."""

    def callback(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            return [callback(v) for v in value]
        known = list(choices())
        if comma:
            return ",".join(canonical_choice(v.strip(), known) for v in str(value).split(","))
        return canonical_choice(str(value), known)

    return callback


def _species_choices() -> tuple[str, ...]:
    return (*SPECIES, "aligned")


def _scheme_choices() -> list[str]:
    from ephys2type.data.labels import AS_IS, scheme_names

    return [AS_IS, *dict.fromkeys(n for s in SPECIES for n in scheme_names(s))]


def _profile_choices() -> list[str]:
    from ephys2type.data.qc import profiles

    return profiles()


def _dataset_choices() -> list[str]:
    from ephys2type.data.datasets import dataset_names

    return dataset_names()


def _model_choices() -> list[str]:
    from ephys2type.models.deployed import ADAPTED
    from ephys2type.models.registry import DEPLOYED, model_names

    deployed = [n + DEPLOYED for n in model_names(savable=True)]
    return [*model_names(), *deployed, *(n + ADAPTED for n in deployed)]


def _protocol_choices() -> list[str]:
    from ephys2type.evaluation.splits import PROTOCOLS

    return list(PROTOCOLS)


species_choice = choice_callback(_species_choices)
scheme_choice = choice_callback(_scheme_choices)
profile_choice = choice_callback(_profile_choices)
features_choice = choice_callback(lambda: ("native", "aligned"))
schema_choice = choice_callback(lambda: BUILTIN_SCHEMAS)
dataset_choice = choice_callback(_dataset_choices, comma=True)
model_choice = choice_callback(_model_choices)
protocol_choice = choice_callback(_protocol_choices)

SpeciesOpt = Annotated[
    str, typer.Option("--species", "-s", help="mouse or human.", callback=species_choice)
]
LabelsOpt = Annotated[
    str | None,
    typer.Option(
        "--labels",
        "-l",
        help="Label scheme (default: mouse5 for mouse, revised for human).",
        callback=scheme_choice,
    ),
]
ProfileOpt = Annotated[
    str,
    typer.Option(
        "--profile",
        "-p",
        help="QC profile from qc.toml: default, complete, none.",
        callback=profile_choice,
    ),
]
FeaturesOpt = Annotated[
    str,
    typer.Option(
        help="native (the species' own schema) or aligned (cross-species).",
        callback=features_choice,
    ),
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


def output_width() -> int:
    """Columns the output is laid out in: the terminal's width on a terminal; else
    ``COLUMNS`` when set, else 100 (a file or pipe: wide enough that logs do not wrap)."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    try:
        return max(int(os.environ.get("COLUMNS", "")), 40)
    except ValueError:
        return 100


def console() -> Console:
    """Rich console for what a command prints: laid out in :func:`output_width` columns."""
    return Console(highlight=False, soft_wrap=False, width=output_width())


def refuse_existing(out: Path, force: bool, option: str = "--out") -> None:
    """Refuse an existing output before any work is done (the write itself checks again);
    ``option`` names the option that gave it."""
    if out.exists() and not force:
        raise OutputExistsError(f"{out} already exists; choose another {option} or pass --force")


#: Suffixes of files that are no text: a table written as CSV under one of these names
#: would not open in the program the name promises (new-user trial: `--out out.xlsx`).
NOT_TEXT = (".xlsx", ".xls", ".xlsm", ".ods", ".parquet", ".feather", ".pkl", ".h5", ".hdf5")


def refuse_binary_name(out: Path, what: str, option: str = "--out") -> None:
    """Refuse a CSV output named as another format (:data:`NOT_TEXT`)."""
    if out.suffix.lower() in NOT_TEXT:
        raise Ephys2TypeError(
            f"{option} {out}: {what} is written as CSV text, which a {out.suffix} name would "
            f"not open as; name it {out.with_suffix('.csv').name}"
        )


def check_choice(value: str, choices: Sequence[str], what: str) -> str:
    """``value`` spelt as the choice it names (case-insensitive), else a bad-option error
    naming ``what`` and the choices."""
    found = canonical_choice(value, choices)
    if found not in choices:
        raise typer.BadParameter(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return found


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
        "gouwens2020; human lee2023 (the study's data: give it alone for the study's numbers) "
        "and chartrand2023_l1 (layer 1). Default: every dataset of the species.",
        callback=dataset_choice,
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
    str | None,
    typer.Option(
        help="Schema of --table: mouse, human, aligned, or a TOML/JSON file (default: the "
        "built-in schema the table's columns belong to).",
        callback=schema_choice,
    ),
]
IdColumnOpt = Annotated[
    str | None,
    typer.Option(
        help="Cell id column of --table and --add-table files (default: found as `predict` "
        "finds it: "
        "cell_id, specimen_id, cell_specimen_id, ID, cell_name or sample_id, else the one "
        "column of unique text ids)."
    ),
]
LabelColumnOpt = Annotated[str, typer.Option(help="Label column of --table-labels.")]
DonorColumnOpt = Annotated[
    str | None,
    typer.Option(help="Donor column of --table-labels and --add-labels (for group5x5)."),
]
#: A lab's own labelled cells beside the bundled ones (train, evaluate-added).
AddTableOpt = Annotated[
    Path | None,
    typer.Option(
        help="Your own labelled cells (features CSV, TSV or .xlsx), trained on beside the "
        "bundled data; needs --add-labels.",
    ),
]
AddLabelsOpt = Annotated[
    Path | None,
    typer.Option(
        help="Labels CSV of --add-table (same ids, --label-column, classes of the bundled labels)."
    ),
]
AddMappingOpt = Annotated[
    Path | None,
    typer.Option(
        help="A TOML file mapping the column names (and units) of --add-table to the "
        "schema's features (without --add-table: those of --table)."
    ),
]
AddWeightOpt = Annotated[
    int | None,
    typer.Option(
        help="How many times each added cell counts (default: enough for the added cells to "
        "make about a fifth of the training weight, at most 20).",
    ),
]
DataProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="QC profile (default: 'default' for the bundled data, 'none' for --table).",
        callback=profile_choice,
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
    schema: str | None,
    id_column: str | None,
    label_column: str,
    donor_column: str | None,
    datasets: str | None = None,
    location: bool = False,
    mapping: Path | None = None,
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
            mapping=mapping,
        )
    )
    if loaded.qc_line is not None:  # what QC left out of the user's table
        console().print(loaded.qc_line)
    return loaded.data, loaded.origin


# -- tables a person reads at 80 columns ---------------------------------------------------------

#: Characters between two columns of a :func:`fitted_table` (a space of padding, a space of
#: border).
GAP = 2
#: The narrowest a text column is made before its words are folded.
MAX_WORD = 16


@dataclass
class FitColumn:
    """A column of a :func:`fitted_table`: its header (``\\n`` for a header on two lines),
    its values as text, whether they may never wrap (``unbroken``: numbers, calls), whether
    they are right-justified, and ``fill``: the column that takes the room left (at most
    one, e.g. the reason)."""

    header: str
    values: list[str]
    unbroken: bool = False
    right: bool = False
    fill: bool = False
    least: int = field(init=False)
    natural: int = field(init=False)

    def __post_init__(self) -> None:
        head = self.header.split("\n")
        self.natural = max([*map(len, head), *map(len, self.values)])
        if self.unbroken:
            words = [len(v) for v in self.values]
        else:
            words = [min(len(w), MAX_WORD) for v in self.values for w in v.split()]
        self.least = max([*(len(w) for h in head for w in h.split()), *words, 1])


def fitted_table(
    title: str, key: FitColumn, columns: Sequence[FitColumn], width: int, *, min_fill: int = 24
) -> Table:
    """A table laid out in ``width`` columns for a person to read: the ``key`` column (the
    cell id) is never cut or wrapped; every other column gets its natural width when all
    fit, else between its least (longest word; an unbroken column's widest value) and its
    natural width, the room shared in proportion; the ``fill`` column takes what is left.
    Columns that do not fit beside the key (the fill column narrower than ``min_fill``, then
    text columns from the right, then the rest) go on lines of their own under each row,
    ``header: value`` (the fill column's value alone)."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )

    def least(cols: Sequence[FitColumn]) -> int:  # the width of cols beside the key, at least
        return key.natural + sum(c.least + GAP for c in cols) + 1

    inline = list(columns)
    fill = next((c for c in inline if c.fill), None)
    wanted = 0 if fill is None else min(min_fill, fill.natural)
    if fill is not None and least([c for c in inline if c is not fill]) + wanted + GAP > width:
        inline.remove(fill)
    while inline and least(inline) > width:
        text = [c for c in inline if not c.unbroken]
        inline.remove(text[-1] if text else inline[-1])
    below = [c for c in columns if c not in inline]

    def fit(cols: list[FitColumn], room: int) -> list[int]:
        if sum(c.natural for c in cols) <= room:
            return [c.natural for c in cols]
        spare = max(room - sum(c.least for c in cols), 0)
        total = sum(c.natural - c.least for c in cols) or 1
        return [c.least + spare * (c.natural - c.least) // total for c in cols]

    def under(k: int) -> list[str]:  # the lines below row k
        return [
            c.values[k] if c.fill else f"{' '.join(c.header.split())}: {c.values[k]}"
            for c in below
            if c.values[k]
        ]

    key_width = key.natural
    if below:  # the key column also holds the lines below: room for them, if there is some
        longest = max((len(line) for k in range(len(key.values)) for line in under(k)), default=0)
        key_width = max(key.natural, min(longest + 2, 40))
        key_width = min(key_width, max(key.natural, width - (least(inline) - key.natural)))
    rest = [c for c in inline if c is not fill]
    room = width - key_width - GAP * len(inline) - 1
    keep_for_fill = wanted if fill in inline else 0
    widths = dict(zip(map(id, rest), fit(rest, room - keep_for_fill), strict=True))
    if fill is not None and fill in inline:
        widths[id(fill)] = max(min(room - sum(widths.values()), fill.natural), fill.least)
    if below:  # and whatever the other columns leave
        key_width = max(key_width, width - sum(widths.values()) - GAP * len(inline) - 1)
    table.add_column(key.header, width=key_width, overflow="fold")
    for column in inline:
        header = column.header
        if max(map(len, header.split("\n"))) > widths[id(column)]:
            header = "\n".join(header.split())  # a header wraps at its spaces
        table.add_column(
            header,
            width=widths[id(column)],
            no_wrap=column.unbroken,
            overflow="fold",
            justify="right" if column.right else "left",
        )
    for k, value in enumerate(key.values):
        table.add_row(value, *(c.values[k] for c in inline))
        if lines := under(k):
            table.add_row(Padding("\n".join(lines), (0, 0, 0, 2)), *("" for _ in inline))
    return table


def interactive() -> bool:
    """Whether a person watches the output: stdout and stderr are both terminals. Then
    progress is drawn as rich bars; otherwise (a log file, a pipe, ``> log``) it is plain
    lines, one per step, so a log shows a long run as it goes."""
    return Console().is_terminal and Console(stderr=True).is_terminal


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: a duration for a log line."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class StepProgress:
    """The progress of a command's long steps, never a silent wait.

    On a terminal (:func:`interactive`) it is rich progress bars on stderr; otherwise every
    step is one plain line on stdout, flushed at once (``features: 3/5 cell_3 (12 s)``).
    :meth:`bar` adds a bar advanced one step per call, :meth:`fraction` one told
    ``(done, total, what)``, as the library's ``progress`` arguments are, and :meth:`note`
    says one line beside them (above the bars, or in the log). Use it as a context manager.
    """

    def __init__(self, *, label_width: int = 0, remaining: bool = True) -> None:
        self.label_width = label_width
        self._rich: Progress | None = None
        if interactive():
            columns = [
                TextColumn(f"[bold]{{task.description:<{label_width}}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                *([TimeRemainingColumn()] if remaining else []),
                TextColumn("{task.fields[step]}"),
            ]
            self._rich = Progress(*columns, console=Console(stderr=True), transient=False)

    def __enter__(self) -> StepProgress:
        if self._rich is not None:
            self._rich.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)

    def note(self, text: str) -> None:
        """One line beside the progress: above the bars on a terminal, else in the log."""
        if self._rich is not None:
            self._rich.console.print(text, highlight=False, markup=False)
        else:
            _log_line(text)

    def bar(self, description: str, total: int | None) -> Callable[[str], None]:
        """A bar of ``total`` steps (None: unknown); returns ``advance(text)``, one step
        per call."""
        if self._rich is not None:
            rich, task = self._rich, self._rich.add_task(description, total=total, step="")

            def advance(text: str) -> None:
                rich.update(task, advance=1, step=text)

            return advance
        start, done = time.perf_counter(), 0

        def log(text: str) -> None:
            nonlocal done
            done += 1
            of = f"{done}/{total}" if total is not None else str(done)
            elapsed = duration(time.perf_counter() - start)
            _log_line(f"{description}: {of} {text} ({elapsed})".replace("  ", " "))

        return log

    def fraction(self, description: str) -> Callable[[int, int, str], None]:
        """A bar told ``(done, total, what)`` (the library's ``progress`` callbacks): shown
        from its first report of work still to do, so a step with nothing to do (every
        model found in the cache) shows nothing."""
        task: TaskID | None = None
        started = False
        start = time.perf_counter()

        def report(done: int, total: int, what: str) -> None:
            nonlocal task, started
            if not started and done >= total:
                return  # done before anything was reported: nothing was waited for
            started = True
            if self._rich is not None:
                if task is None:
                    task = self._rich.add_task(description, total=total, step="")
                self._rich.update(task, completed=done, total=total, step=what)
                return
            elapsed = duration(time.perf_counter() - start)
            _log_line(f"{description}: {done}/{total} {what} ({elapsed})")

        return report


def _log_line(text: str) -> None:
    """One progress line on stdout, flushed: a log follows the run as it goes."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(total: int | None, description: str) -> Iterator[Callable[[str], None]]:
    """One :class:`StepProgress` bar (total None: of unknown length); yields
    ``advance(text)``."""
    with StepProgress() as progress:
        yield progress.bar(description, total)


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
