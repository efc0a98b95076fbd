"""The data a command asked for, as one object: which cells, labelled how, QC'd how.

``ephys2type evaluate`` and ``ephys2type train`` take the same data options: the bundled
datasets of a species, or a user's own ``--table`` with ``--table-labels``; a label scheme,
a QC profile, native or aligned features, optionally the cells' layer (``--location``), and
for ``train`` a lab's own labelled cells added with a weight (``--add-table``). A
:class:`DataRequest` holds those options and :meth:`DataRequest.load` applies the rules
that tie them together (the QC profile is ``default`` for bundled data and ``none`` for a
user's table; ``--datasets`` chooses bundled data only; added cells count
:func:`~ephys2type.data.added_cells.added_repeats` times each), so that a command only
parses its options, makes this one call and prints. Options that do not fit together are
one :class:`RequestError` naming the option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ephys2type.data.added_cells import added_repeats, with_added_cells
from ephys2type.data.container import PatchSeqData
from ephys2type.data.datasets import DEFAULT_DATASETS, load_species, parse_datasets
from ephys2type.data.labels import AS_IS, default_scheme
from ephys2type.data.location import with_location
from ephys2type.data.qc import drops_line, profiles
from ephys2type.data.schema import FeatureSchema
from ephys2type.data.schema_match import schema_of_table
from ephys2type.data.user_tables import load_table
from ephys2type.errors import Ephys2TypeError

#: Species with bundled data, in the order they are listed.
SPECIES: tuple[str, ...] = tuple(DEFAULT_DATASETS)
#: The feature choices: the species' own schema, or the cross-species one.
FEATURES: tuple[str, ...] = ("native", "aligned")
#: The QC profile of the bundled data and of a user's table, unless one is named: the
#: bundled tables hold cells the study left out; a user's table is taken as the user gave it.
BUNDLED_PROFILE = "default"
TABLE_PROFILE = "none"


class RequestError(Ephys2TypeError):
    """Data options that do not fit together; the message names the command-line option."""


class ChoiceError(RequestError):
    """An option's value is not one of its choices (``--species rat``)."""

    def __init__(self, option: str, value: object, choices: Sequence[str]) -> None:
        super().__init__(f"{option} must be one of {', '.join(choices)}, not {value!r}")
        self.option = option
        self.choices = tuple(choices)


def check_choice(value: str, choices: Sequence[str], option: str) -> str:
    """``value`` spelt as the one of ``choices`` it names, whatever its case (``Human`` is
    ``human``), else a :class:`ChoiceError` naming ``option``."""
    if value in choices:
        return value
    folded = [c for c in choices if c.casefold() == str(value).casefold()]
    if len(folded) != 1:
        raise ChoiceError(option, value, choices)
    return folded[0]


@dataclass(frozen=True)
class LoadedData:
    """What a :class:`DataRequest` loaded.

    ``data`` are the cells (bundled or the user's table, QC'd, plus any added cells);
    ``origin`` names where they came from (the species, or the table file's stem);
    ``repeats`` says how many times each cell counts in training (None: once each);
    ``description`` is one line on them, e.g. ``666 cells of human + 20 added cells
    counted 8 times each (datasets lee2023; revised labels; features of schema lee2023_human)``.
    """

    data: PatchSeqData
    origin: str
    repeats: list[int] | None
    description: str
    #: what QC left out of the user's table, in words (:func:`~ephys2type.data.qc.drops_line`);
    #: None for bundled data (their QC is documented) or when it left out none
    qc_line: str | None = None
    #: how many of the cells, the last ones, are the lab's added cells (``--add-table``)
    n_added: int = 0


@dataclass(frozen=True)
class DataRequest:
    """The data options of ``evaluate`` and ``train``; :meth:`load` loads them.

    Parameters
    ----------
    species : ``mouse`` or ``human``: the bundled data to load (without ``table``).
    labels : a label scheme; None: the species' default (bundled data) or the labels as
        written (``table``).
    profile : a QC profile; None: ``default`` for bundled data, ``none`` for a ``table``.
    features : ``native`` (the species' or table's schema) or ``aligned``.
    datasets : bundled datasets of ``species`` (names or ``"a,b"``); None: the species'
        default, :data:`~ephys2type.data.datasets.DEFAULT_DATASETS` (every bundled dataset
        of the species, for ``evaluate`` and ``train`` alike).
    location : add the cells' cortical layer as the ``location`` family
        (:func:`~ephys2type.data.location.with_location`).
    table, table_labels : a user's features CSV and its labels CSV, instead of bundled data.
    schema, id_column, label_column, donor_column : how to read ``table`` and
        ``table_labels`` (:func:`~ephys2type.data.user_tables.load_table`; ``schema`` None:
        the built-in schema the table's columns belong to, never assumed); ``label_column``
        is also the label column of ``add_labels``.
    add_table, add_labels, mapping, add_weight : a lab's own labelled cells trained on
        beside the others (:func:`~ephys2type.data.added_cells.with_added_cells`), each
        counted ``add_weight`` times (None: :func:`~ephys2type.data.added_cells.added_repeats`
        decides); ``mapping`` maps the added table's columns, or, without ``add_table``,
        those of ``table``.
    """

    species: str = "mouse"
    labels: str | None = None
    profile: str | None = None
    features: str = "native"
    datasets: str | Sequence[str] | None = None
    location: bool = False
    table: str | Path | None = None
    table_labels: str | Path | None = None
    schema: str | Path | FeatureSchema | None = None
    id_column: str | None = None
    label_column: str = "subclass"
    donor_column: str | None = None
    add_table: str | Path | None = None
    add_labels: str | Path | None = None
    mapping: str | Path | None = None
    add_weight: int | None = None

    def load(self) -> LoadedData:
        """The cells asked for (see the class docstring); bad options are one error each."""
        data, origin = self._table() if self.table is not None else self._bundled()
        if self.location:
            data = with_location(data)
        n_own, own_qc = len(data), data.qc
        # the datasets by name (a trial: "lee2023_human features" read as Lee, Dalley's only)
        names = data.datasets if self.table is None else []
        datasets = f"datasets {', '.join(names)}; " if names else ""
        data, repeats, added = self._with_added(data)
        description = (
            f"{n_own} cells of {origin}{added} ({datasets}{data.label_scheme} labels; features "
            f"of schema {data.schema.name})"
        )
        qc_line = None
        if self.table is not None and own_qc is not None:
            qc_line = drops_line(own_qc)
        return LoadedData(
            data=data,
            origin=origin,
            repeats=repeats,
            description=description,
            qc_line=qc_line,
            n_added=len(data) - n_own,
        )

    def _bundled(self) -> tuple[PatchSeqData, str]:
        """The bundled datasets of the species."""
        species = check_choice(self.species, SPECIES, "--species")
        profile = check_choice(self.profile or BUNDLED_PROFILE, profiles(), "--profile")
        features = check_choice(self.features, FEATURES, "--features")
        data = load_species(
            species,
            labels=self.labels or default_scheme(species),
            qc=profile,
            features=features,
            datasets=parse_datasets(self.datasets, species),
        )
        return data, species

    def _table(self) -> tuple[PatchSeqData, str]:
        """The user's table with its labels."""
        if self.datasets is not None:
            raise RequestError("--datasets chooses bundled data; it does not apply with --table")
        if self.table_labels is None:
            raise RequestError("--table needs --table-labels (a CSV with the cells' labels)")
        profile = check_choice(self.profile or TABLE_PROFILE, profiles(), "--profile")
        features = check_choice(self.features, FEATURES, "--features")
        schema = self.schema
        # the mapping is the added table's when there is one, else the table's own
        mapping = self.mapping if self.add_table is None else None
        if schema is None:  # never assumed: the built-in schema of the table's columns
            schema = schema_of_table(self.table, mapping=mapping)
        data = load_table(
            self.table,
            self.table_labels,
            schema,
            id_column=self.id_column,
            label_column=self.label_column,
            donor_column=self.donor_column,
            label_scheme=self.labels or AS_IS,
            qc=profile,
            aligned=features == "aligned",
            mapping=mapping,
        )
        return data, Path(self.table).stem

    def _with_added(self, data: PatchSeqData) -> tuple[PatchSeqData, list[int] | None, str]:
        """``data`` with the lab's added cells, the repeats of every cell and a note on them
        (no added cells: ``data``, None and an empty note)."""
        if self.add_table is None and self.add_labels is None:
            if self.add_weight is not None:
                raise RequestError("--add-weight applies to --add-table")
            if self.mapping is not None and self.table is None:
                raise RequestError("--mapping maps the columns of --table (or of --add-table)")
            return data, None, ""
        if self.add_table is None or self.add_labels is None:
            raise RequestError("--add-table and --add-labels go together")
        n_before = len(data)
        data = with_added_cells(
            data,
            self.add_table,
            self.add_labels,
            mapping=self.mapping,
            id_column=self.id_column,
            label_column=self.label_column,
            donor_column=self.donor_column,
        )
        n_added = len(data) - n_before
        weight = added_repeats(n_before, n_added, self.add_weight)
        repeats = [1] * n_before + [weight] * n_added
        counted = "once each" if weight == 1 else f"{weight} times each"
        return data, repeats, f" + {n_added} added cells counted {counted}"


__all__ = [
    "BUNDLED_PROFILE",
    "FEATURES",
    "SPECIES",
    "TABLE_PROFILE",
    "ChoiceError",
    "DataRequest",
    "LoadedData",
    "RequestError",
    "check_choice",
]
