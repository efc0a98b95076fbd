"""Load the Allen Institute Patch-seq tables, or a user's own IPFX export, as PatchSeqData.

``load_mouse()`` and ``load_human()`` read the bundled reference tables (found and checked
by :mod:`ephys2type.fetch`), attach labels under a label scheme, apply a QC profile and
optionally convert to the aligned cross-species schema. ``load_table()`` does the same for
any features CSV plus an optional labels CSV.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ephys2type.data.align import to_aligned
from ephys2type.data.container import PatchSeqData
from ephys2type.data.fetch import fetch
from ephys2type.data.human_l1 import read_human_l1
from ephys2type.data.labels import AS_IS, get_scheme
from ephys2type.data.qc import apply_qc, excluded_subclasses, non_feature_columns
from ephys2type.data.schema import FeatureSchema, get_schema
from ephys2type.data.table_formats import UNNAMED_COLUMN
from ephys2type.data.tables import (
    H5AD_ID_COLUMN,
    check_columns,
    check_units,
    collapse_duplicate_rows,
    detect_id_column,
    find_id_column,
    index_by_id,
    read_csv_text,
    read_feature_table,
    settle_unnamed_column,
    to_numeric,
)
from ephys2type.errors import Ephys2TypeWarning, TableError

MOUSE_FEATURES = "gouwens2020_mouse/efeature.csv"
MOUSE_META = "gouwens2020_mouse/20200711_patchseq_metadata_mouse.csv"
HUMAN_FEATURES = "lee2023_human/LeeDalley_ephys_fx.csv"
HUMAN_META = "lee2023_human/LeeDalley_manuscript_metadata_v2.csv"

Features = Literal["native", "aligned"]


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


def _gouwens() -> Tables:
    X, meta, sources = _mouse_tables()
    return X, meta, sources, ()


#: Bundled datasets by name. Combining several keeps a cell once, from the first dataset
#: listed that holds it.
DATASETS: dict[str, BundledDataset] = {
    "gouwens2020": BundledDataset(
        "gouwens2020", "mouse", "mouse visual cortex (Gouwens et al. 2020)", _gouwens, "ID"
    ),
    "lee2023": BundledDataset(
        "lee2023",
        "human",
        "human neocortex, mostly MTG, layers 2-6 (Lee, Dalley et al. 2023)",
        lambda: _human_tables(),  # defined below (read lazily, cached)
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

#: The datasets each species is loaded from unless told otherwise: the study's own data, so
#: ``evaluate`` and ``reproduce`` compare with the paper on its cells.
DEFAULT_DATASETS: dict[str, tuple[str, ...]] = {
    "mouse": ("gouwens2020",),
    "human": ("lee2023",),
}

#: The datasets ``train`` fits a model on unless told otherwise. Human: both, measured
#: (benchmarks/human_datasets.py, donor-grouped 5-fold x 3 seeds, random forest): adding the
#: layer-1 cells lifts held-out layer-1 cells from 43.7% to 78.7% accuracy (+35.0 points,
#: p < 0.001) and leaves the Lee, Dalley cells level (85.3% -> 83.5%, -1.8, p = 0.20).
TRAIN_DATASETS: dict[str, tuple[str, ...]] = {
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
    return _finish(data, labels=labels, qc=qc, features=features)


def load_human(
    *,
    labels: str | None = "revised",
    qc: str | None = "default",
    features: Features = "native",
    datasets: str | Sequence[str] | None = None,
) -> PatchSeqData:
    """Human neocortex interneurons: Lee, Dalley et al. 2023 (704 cells before QC) by
    default; ``datasets="lee2023,chartrand2023_l1"`` adds the layer-1 cells of Chartrand
    et al. 2023 (263 cells, 38 of them also in Lee, Dalley).

    Parameters
    ----------
    labels : label scheme (``revised`` (default), ``subclass``, ``aligned4``, ``ttype``), or None.
    qc : QC profile (``default``, ``complete``, ``none``), or None to keep every cell.
    features : ``native`` (the human schema) or ``aligned`` (cross-species schema).
    datasets : bundled human datasets to read (names or ``"a,b"``; default ``lee2023``).
    """
    data = _combined("human", parse_datasets(datasets, "human"))
    return _finish(data, labels=labels, qc=qc, features=features)


def load_species(species: str, **kwargs) -> PatchSeqData:
    """``load_mouse`` or ``load_human`` by name."""
    if species == "mouse":
        return load_mouse(**kwargs)
    if species == "human":
        return load_human(**kwargs)
    raise TableError(f"unknown species {species!r}; bundled data: mouse, human")


def load_table(
    features: str | Path,
    labels: str | Path | None = None,
    schema: str | Path | FeatureSchema = "mouse",
    *,
    species: str | None = None,
    id_column: str | None = None,
    label_column: str = "subclass",
    donor_column: str | None = None,
    label_scheme: str = AS_IS,
    qc: str | None = None,
    aligned: bool = False,
) -> PatchSeqData:
    """Load a user's own IPFX feature table (and optional labels) like the bundled data.

    ``features`` is a CSV with one row per cell, an ``id_column`` and every column of
    ``schema`` (extra columns are ignored with a warning). ``id_column=None`` finds it as
    ``predict`` does (``cell_id``, ``specimen_id``, ..., else the one column of unique text
    ids); the labels use the same column name. ``labels`` is a CSV with the same
    ids, the ``label_column`` and optionally a donor column; other columns become metadata.
    With ``label_scheme="as_is"`` labels are used as written; a built-in scheme (e.g.
    ``mouse5``) maps them, given ``species``.
    """
    schema = get_schema(schema)
    species = species or schema.species
    if id_column is None:
        id_column = find_id_column(features, schema)
    X = read_feature_table(features, schema, id_column=id_column)
    meta = pd.DataFrame(index=X.index)
    if labels is not None:
        lab = _read_labels(labels, id_column, X.index, required=[label_column], schema=schema)
        meta = lab.reindex(X.index)
        meta["label"] = meta[label_column]
        if label_scheme != AS_IS:
            # a built-in scheme reads its own metadata column (e.g. revised_subclass): the
            # user's label column stands in for it, and for the subclass
            column = get_scheme(label_scheme, species).column
            for target in {column, "subclass"}:
                if target not in meta.columns:
                    meta[target] = meta[label_column]
    meta.insert(0, "species", species)
    if donor_column is not None:
        if donor_column not in meta.columns:
            raise TableError(f"{labels}: no donor column {donor_column!r}")
        meta["donor"] = meta[donor_column]
    elif "donor" not in meta.columns:
        meta["donor"] = meta.index.to_numpy()  # each cell its own group
    data = PatchSeqData(X=X, meta=meta, schema=schema, species=species, id_column=id_column)
    return _finish(
        data,
        labels=label_scheme if labels is not None else None,
        qc=qc,
        features="aligned" if aligned else "native",
    )


def _finish(
    data: PatchSeqData, *, labels: str | None, qc: str | None, features: Features
) -> PatchSeqData:
    if labels is not None:
        scheme = get_scheme(labels, data.species)
        y = scheme.apply(data.meta, excluded=excluded_subclasses(data.species))
        data = replace(data, y=y, label_scheme=scheme.name)
    if qc is not None:
        data = apply_qc(data, qc)
    if features == "aligned":
        data = to_aligned(data)
    elif features != "native":
        raise TableError(f"features must be 'native' or 'aligned', not {features!r}")
    return data


def _read_labels(
    path: str | Path,
    id_column: str,
    feature_ids: pd.Index,
    *,
    required: list[str],
    schema: FeatureSchema | None = None,
) -> pd.DataFrame:
    raw = read_csv_text(path, what="label table")
    if (
        id_column not in raw.columns
        and schema is not None
        and (id_column in (H5AD_ID_COLUMN, UNNAMED_COLUMN) or UNNAMED_COLUMN in raw.columns)
    ):
        # an .h5ad file's ids are its obs_names, R row names have no column name: the labels
        # name their own id column (or hold the ids in their own unnamed first column)
        id_column = detect_id_column(raw, schema, path=path)
    raw = settle_unnamed_column(raw, id_column, path=path, stacklevel=3)
    for col in [id_column, *required]:
        if col not in raw.columns:
            shown = ", ".join(list(raw.columns)[:8])
            raise TableError(f"{path}: no column {col!r} (columns: {shown})")
    raw, collapsed = collapse_duplicate_rows(raw, id_column)
    if collapsed:
        warnings.warn(
            f"{path}: {len(collapsed)} cell id(s) listed twice with identical rows; kept once "
            f"({', '.join(collapsed[:3])})",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    lab = index_by_id(raw, id_column, path=path)
    matched = lab.index.isin(feature_ids)
    if not matched.any():
        raise TableError(
            f"{path}: no label row matches a feature row (label ids look like "
            f"{lab.index[0]!r}, feature ids like {feature_ids[0]!r})"
        )
    if not matched.all():
        warnings.warn(
            f"{path}: {int((~matched).sum())} label row(s) match no feature row and are ignored",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    for col in lab.columns:
        lab[col] = lab[col].str.strip()
    return lab


@lru_cache(maxsize=2)
def _mouse_tables() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    fx_file, meta_file = fetch(MOUSE_FEATURES), fetch(MOUSE_META)
    schema = get_schema("mouse")
    raw = read_csv_text(fx_file.path, what="feature table")
    extra = check_columns(raw, schema, path=fx_file.path, ignore=non_feature_columns("mouse"))
    if extra:
        raise TableError(f"{fx_file.path}: unexpected columns {extra}")
    X = to_numeric(raw, schema.columns, path=fx_file.path)
    session = raw["ID"].str.extract(r"ses-(\d+)_", expand=False)
    if session.isna().any():
        pos = int(np.flatnonzero(session.isna().to_numpy())[0])
        raise TableError(f"{fx_file.path}: line {pos + 2}: cannot read the session id from ID")
    X.index = index_by_id(pd.DataFrame({"ses": session}), "ses", path=fx_file.path).index

    mraw = read_csv_text(meta_file.path, what="metadata table")
    m = index_by_id(mraw, "ephys_session_id", path=meta_file.path)
    m = m.reindex(X.index)
    cell_id = m["cell_specimen_id"].fillna("ses-" + pd.Series(X.index, index=X.index))
    meta = pd.DataFrame(
        {
            "species": "mouse",
            "donor": m["donor_id"],
            "subclass": m["t_type"].str.split().str[0],
            "t_type": m["t_type"].str.strip(),  # some t-types end in a space upstream
            "structure": m["structure"],
            "condition": "acute",
            "genotype": m["full_genotype"],
            "soma_depth": pd.to_numeric(m["cell_soma_normalized_depth"], errors="coerce"),
            "ephys_session_id": X.index.to_numpy(),
            "nwb_file": raw["ID"].to_numpy(),
        },
        index=X.index,
    )
    new_index = pd.Index(cell_id.to_numpy(dtype=object), name="cell_id")
    if new_index.has_duplicates:
        raise TableError(f"{meta_file.path}: duplicate cell_specimen_id")
    X.index, meta.index = new_index, new_index
    check_units(X, schema, path=fx_file.path)
    return X, meta, {fx_file.name: fx_file.sha256, meta_file.name: meta_file.sha256}


@lru_cache(maxsize=2)
def _human_tables() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], tuple[str, ...]]:
    fx_file, meta_file = fetch(HUMAN_FEATURES), fetch(HUMAN_META)
    schema = get_schema("human")
    X = read_feature_table(fx_file.path, schema, id_column="specimen_id")

    mraw = read_csv_text(meta_file.path, what="metadata table")
    mraw.columns = [c.strip() for c in mraw.columns]
    mraw, collapsed = collapse_duplicate_rows(mraw, "specimen_id_x")
    m = index_by_id(mraw, "specimen_id_x", path=meta_file.path)
    unmatched = int((~m.index.isin(X.index)).sum())
    m = m.reindex(X.index)
    meta = pd.DataFrame(
        {
            "species": "human",
            "donor": m["Donor"].str.upper(),
            "subclass": m["subclass_label"],
            "revised_subclass": m["Revised_subclass_label"],
            "t_type": m["Transcriptomic_type"].str.strip(),  # some end in a space upstream
            "structure": m["structure"],
            "condition": m["condition"],
            "layer": m["Cortical_layer"],
            "disease": m["disease_category"],
            "days_in_culture": pd.to_numeric(m["Days_In_culture"], errors="coerce"),
        },
        index=X.index,
    )
    notes = []
    if collapsed:
        notes.append(
            f"{meta_file.name}: {len(collapsed)} specimen listed twice with identical rows "
            f"({', '.join(collapsed)}), kept once"
        )
    if unmatched:
        notes.append(f"{meta_file.name}: {unmatched} metadata rows have no electrophysiology")
    sources = {fx_file.name: fx_file.sha256, meta_file.name: meta_file.sha256}
    return X, meta, sources, tuple(notes)


__all__ = [
    "DATASETS",
    "DEFAULT_DATASETS",
    "TRAIN_DATASETS",
    "added_repeats",
    "load_human",
    "load_mouse",
    "load_species",
    "load_table",
    "with_added_cells",
]


#: The share of the training weight a lab's added cells get by default (see
#: :func:`added_repeats`).
ADDED_SHARE = 0.2
#: Most times one added cell is repeated.
MAX_REPEATS = 20


def added_repeats(n_bundled: int, n_added: int, weight: int | None = None) -> int:
    """How many times each of a lab's ``n_added`` cells counts beside ``n_bundled`` cells:
    ``weight`` if given, else enough for the added cells to make about a fifth of the
    training weight (between 1 and :data:`MAX_REPEATS`)."""
    if weight is not None:
        if weight < 1:
            raise TableError(f"the weight of added cells must be a whole number >= 1, not {weight}")
        return int(weight)
    if n_added == 0:
        return 1
    share = ADDED_SHARE * n_bundled / ((1 - ADDED_SHARE) * n_added)
    return int(min(MAX_REPEATS, max(1, round(share))))


def with_added_cells(
    data: PatchSeqData,
    features: str | Path,
    labels: str | Path,
    *,
    mapping: str | Path | None = None,
    id_column: str | None = None,
    label_column: str = "subclass",
    donor_column: str | None = None,
    name: str = "added",
) -> PatchSeqData:
    """``data`` with a lab's own labelled cells added (``dataset`` = ``name``).

    ``features`` is a CSV in the schema of ``data`` (or mapped onto it by ``mapping``, see
    :mod:`ephys2type.data.mapping`; absent features are missing for those cells);
    ``labels`` a CSV with the same ids and ``label_column``, whose values must be classes of
    ``data`` (e.g. ``Lamp5``, ``Pvalb``). A donor column keeps a donor's cells together in
    grouped folds; without one, each cell is its own donor.
    """
    from ephys2type.data.mapping import load_mapping

    if data.y is None:
        raise TableError("cells can be added only to labelled data")
    X = read_feature_table(
        features,
        data.schema,
        id_column=id_column,
        allow_missing=True,
        mapping=None if mapping is None else load_mapping(mapping, data.schema),
    ).reindex(columns=data.schema.columns)
    id_name = id_column or find_id_column(features, data.schema)
    lab = _read_labels(labels, id_name, X.index, required=[label_column], schema=data.schema)
    lab = lab.reindex(X.index)
    y = lab[label_column]
    if y.isna().any():
        missing = y.index[y.isna()]
        raise TableError(
            f"{labels}: {len(missing)} added cell(s) have no {label_column!r} "
            f"(e.g. {missing[0]}); every added cell needs a label"
        )
    unknown = sorted(set(y) - set(data.classes))
    if unknown:
        raise TableError(
            f"{labels}: label(s) {', '.join(map(repr, unknown[:5]))} are not classes of the "
            f"{data.species} data ({data.label_scheme}: {', '.join(data.classes)})"
        )
    clash = X.index.intersection(data.X.index)
    if len(clash):
        raise TableError(
            f"{features}: {len(clash)} cell id(s) are also bundled cells (e.g. {clash[0]}); "
            f"add only cells the bundled datasets do not hold"
        )
    if donor_column is not None and donor_column not in lab.columns:
        raise TableError(f"{labels}: no donor column {donor_column!r}")
    donors = lab[donor_column] if donor_column is not None else pd.Series(X.index, index=X.index)
    meta = pd.DataFrame(
        {"species": data.species, "donor": donors.astype(str), "dataset": name}, index=X.index
    )
    return replace(
        data,
        X=pd.concat([data.X, X]),
        meta=pd.concat([data.meta, meta]),
        y=pd.concat([data.y, y.astype(object).rename(data.y.name)]),
        notes=(*data.notes, f"{name}: {len(X)} labelled cells added from {features}"),
    )
