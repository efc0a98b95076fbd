"""The bundled Patch-seq datasets ephys2type trains on, and loading them as PatchSeqData.

:data:`DATASETS` is the registry: each public labelled table (Gouwens et al. 2020 mouse;
Lee, Dalley et al. 2023 and Chartrand et al. 2023 human), its species, and the reader that
turns its files (found and checked by :mod:`ephys2type.data.fetch`) into features and
metadata (:mod:`ephys2type.data.allen`, :mod:`ephys2type.data.human_l1`).
:data:`DEFAULT_DATASETS` says which datasets a species is loaded from unless told otherwise
(every bundled dataset of the species), the one default of ``load_*``, ``evaluate``,
``train`` and the app's bundled models. ``load_mouse()``, ``load_human()`` and
``load_species()`` read the named datasets into one table, attach labels under a label
scheme, apply a QC profile and optionally convert to the aligned cross-species schema
(:func:`~ephys2type.data.prepare.prepare`).

A user's own tables are loaded by :func:`~ephys2type.data.user_tables.load_table`, and a
lab's cells added for training by :func:`~ephys2type.data.added_cells.with_added_cells`;
both are importable from here too, as they always were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ephys2type.data.added_cells import added_repeats, with_added_cells
from ephys2type.data.allen import (
    HUMAN_FEATURES,
    HUMAN_META,
    MOUSE_FEATURES,
    MOUSE_META,
    read_gouwens2020,
    read_lee2023,
)
from ephys2type.data.container import PatchSeqData
from ephys2type.data.human_l1 import read_human_l1
from ephys2type.data.prepare import Features, prepare
from ephys2type.data.schema import get_schema
from ephys2type.data.user_tables import load_table
from ephys2type.errors import TableError

#: What a bundled dataset's reader returns: features (cells x the species' schema),
#: metadata, source file name -> SHA-256, and notes on what was repaired while reading.
Tables = tuple[pd.DataFrame, pd.DataFrame, dict[str, str], tuple[str, ...]]


@dataclass(frozen=True)
class BundledDataset:
    """A public labelled Patch-seq table ephys2type can train on, read into its species' schema.

    ``read`` returns features, metadata, source checksums and notes; ``id_column`` is how
    the source names its cell ids.
    """

    name: str
    species: str
    description: str
    read: Callable[[], Tables]
    id_column: str


#: Bundled datasets by name. Combining several keeps a cell once, from the first dataset
#: listed that holds it.
DATASETS: dict[str, BundledDataset] = {
    "gouwens2020": BundledDataset(
        "gouwens2020", "mouse", "mouse visual cortex (Gouwens et al. 2020)", read_gouwens2020, "ID"
    ),
    "lee2023": BundledDataset(
        "lee2023",
        "human",
        "human neocortex, mostly MTG, layers 2-6 (Lee, Dalley et al. 2023)",
        read_lee2023,
        "specimen_id",
    ),
    "chartrand2023_l1": BundledDataset(
        "chartrand2023_l1",
        "human",
        "human layer 1, Allen Institute cells (Chartrand et al. 2023)",
        read_human_l1,
        "specimen_id",
    ),
}

#: The datasets each species is loaded from unless told otherwise: every bundled dataset of
#: the species, the one default of ``load_mouse``/``load_human``/``load_species``, ``evaluate``,
#: ``train`` and the app's bundled models (so what ``evaluate`` scores is what ``train``
#: ships). Human: both, measured (benchmarks/human_datasets.py, donor-grouped 5-fold x 3
#: seeds, random forest): adding the layer-1 cells lifts held-out layer-1 cells from 43.7% to
#: 78.7% accuracy (+35.0 points, p < 0.001) and leaves the Lee, Dalley cells level (85.3% ->
#: 83.5%, -1.8, p = 0.20). The study's reproduction of the paper reads the paper's datasets
#: instead (``ephys2type.study.config.STUDY_DATASETS``).
DEFAULT_DATASETS: dict[str, tuple[str, ...]] = {
    "mouse": ("gouwens2020",),
    "human": ("lee2023", "chartrand2023_l1"),
}


def dataset_names(species: str | None = None) -> list[str]:
    """Names of the bundled datasets (of one species)."""
    return [n for n, d in DATASETS.items() if species is None or d.species == species]


def parse_datasets(value: str | Sequence[str] | None, species: str) -> tuple[str, ...]:
    """Dataset names from ``"a,b"`` or a list, checked against the species; None: default."""
    if value is None:
        return DEFAULT_DATASETS[species]
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n]
    if not names:
        raise TableError("no dataset named; bundled: " + ", ".join(dataset_names(species)))
    for name in names:
        if name not in DATASETS:
            raise TableError(
                f"unknown dataset {name!r}; {species} datasets: {', '.join(dataset_names(species))}"
            )
        if DATASETS[name].species != species:
            raise TableError(
                f"dataset {name!r} holds {DATASETS[name].species} cells, not {species}; "
                f"{species} datasets: {', '.join(dataset_names(species))}"
            )
    if len(set(names)) < len(names):
        raise TableError(f"a dataset is named twice in {', '.join(names)}")
    return tuple(names)


def _combined(species: str, names: tuple[str, ...]) -> PatchSeqData:
    """The named datasets' cells in one table (a ``dataset`` column says where each is from)."""
    schema = get_schema(species)
    Xs, metas, sources, notes = [], [], {}, []
    seen = pd.Index([])
    for name in names:
        X, meta, src, more = DATASETS[name].read()
        repeated = X.index.isin(seen)
        if repeated.any():
            notes.append(
                f"{name}: {int(repeated.sum())} cell(s) also in "
                f"{', '.join(names[: names.index(name)])}; counted once, from there"
            )
        X, meta = X.loc[~repeated], meta.loc[~repeated].assign(dataset=name)
        Xs.append(X[schema.columns])
        metas.append(meta)
        seen = seen.append(X.index)
        sources |= src
        notes.extend(more)
    X = pd.concat(Xs) if len(Xs) > 1 else Xs[0].copy()
    meta = pd.concat(metas) if len(metas) > 1 else metas[0].copy()
    return PatchSeqData(
        X=X,
        meta=meta,
        schema=schema,
        species=species,
        sources=sources,
        notes=tuple(notes),
        id_column=DATASETS[names[0]].id_column,
    )


def load_mouse(
    *,
    labels: str | None = "mouse5",
    qc: str | None = "default",
    features: Features = "native",
    datasets: str | Sequence[str] | None = None,
) -> PatchSeqData:
    """Mouse visual cortex interneurons (Gouwens et al. 2020), 4,435 cells before QC.

    Parameters
    ----------
    labels : label scheme (``mouse5``, ``aligned4``, ``ttype``), or None for no labels.
    qc : QC profile (``default``, ``complete``, ``none``), or None to keep every cell.
    features : ``native`` (the mouse schema) or ``aligned`` (cross-species schema).
    datasets : bundled mouse datasets to read (default ``gouwens2020``).
    """
    data = _combined("mouse", parse_datasets(datasets, "mouse"))
    return prepare(data, labels=labels, qc=qc, features=features)


def load_human(
    *,
    labels: str | None = "revised",
    qc: str | None = "default",
    features: Features = "native",
    datasets: str | Sequence[str] | None = None,
) -> PatchSeqData:
    """Human neocortex interneurons: by default both bundled datasets, Lee, Dalley et al.
    2023 (704 cells before QC) and the layer-1 cells of Chartrand et al. 2023 (263 cells, 38
    of them also in Lee, Dalley; 929 cells together, 869 after QC); ``datasets="lee2023"``
    reads Lee, Dalley's table alone (666 cells after QC), the study's data.

    Parameters
    ----------
    labels : label scheme (``revised`` (default), ``subclass``, ``aligned4``, ``ttype``), or None.
    qc : QC profile (``default``, ``complete``, ``none``), or None to keep every cell.
    features : ``native`` (the human schema) or ``aligned`` (cross-species schema).
    datasets : bundled human datasets to read (names or ``"a,b"``; default both,
        ``lee2023,chartrand2023_l1``).
    """
    data = _combined("human", parse_datasets(datasets, "human"))
    return prepare(data, labels=labels, qc=qc, features=features)


def load_species(species: str, **kwargs: Any) -> PatchSeqData:
    """``load_mouse`` or ``load_human`` by name (``kwargs`` are theirs)."""
    if species == "mouse":
        return load_mouse(**kwargs)
    if species == "human":
        return load_human(**kwargs)
    raise TableError(f"unknown species {species!r}; bundled data: mouse, human")


# Re-exported names (marked below) are defined in data.allen, data.added_cells and
# data.user_tables; they stay importable from here, where callers have always found them.
__all__ = [
    "DATASETS",
    "DEFAULT_DATASETS",
    "HUMAN_FEATURES",  # re-exported from data.allen
    "HUMAN_META",  # re-exported from data.allen
    "MOUSE_FEATURES",  # re-exported from data.allen
    "MOUSE_META",  # re-exported from data.allen
    "BundledDataset",
    "Features",  # re-exported from data.prepare
    "Tables",
    "added_repeats",  # re-exported from data.added_cells
    "dataset_names",
    "load_human",
    "load_mouse",
    "load_species",
    "load_table",  # re-exported from data.user_tables
    "parse_datasets",
    "with_added_cells",  # re-exported from data.added_cells
]
