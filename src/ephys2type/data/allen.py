"""The Allen Institute Patch-seq tables of Gouwens et al. 2020 (mouse) and Lee, Dalley et al.
2023 (human), read into their species' schema.

Each reader returns what a bundled dataset holds (see :mod:`ephys2type.data.datasets`):
the features (cells x schema columns, float64, indexed by cell id), the metadata the label
schemes and QC read (``species``, ``donor``, ``subclass``, ``t_type``, ...), the SHA-256 of
each source file, and notes on what was repaired while reading. The files are found and
checked by :func:`~ephys2type.data.fetch.fetch`; each reader runs once per process (cached).
The third bundled dataset, the layer-1 cells of Chartrand et al. 2023, is read by
:mod:`ephys2type.data.human_l1`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ephys2type.data.fetch import fetch
from ephys2type.data.id_columns import collapse_duplicate_rows, index_by_id
from ephys2type.data.qc import non_feature_columns
from ephys2type.data.schema import get_schema
from ephys2type.data.table_text import read_csv_text, to_numeric
from ephys2type.data.tables import check_columns, read_feature_table
from ephys2type.data.unit_checks import check_units
from ephys2type.errors import TableError

MOUSE_FEATURES = "gouwens2020_mouse/efeature.csv"
MOUSE_META = "gouwens2020_mouse/20200711_patchseq_metadata_mouse.csv"
HUMAN_FEATURES = "lee2023_human/LeeDalley_ephys_fx.csv"
HUMAN_META = "lee2023_human/LeeDalley_manuscript_metadata_v2.csv"


@lru_cache(maxsize=2)
def read_gouwens2020() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], tuple[str, ...]]:
    """Features (mouse schema), metadata, source checksums and notes (none) of the mouse
    visual cortex cells of Gouwens et al. 2020.

    The feature table names cells by their NWB file (``ID``); the metadata by their
    electrophysiology session. Cells are indexed by ``cell_specimen_id`` (``ses-<session>``
    for the few without one), so they carry the id the Allen Institute publishes.
    """
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
    sources = {fx_file.name: fx_file.sha256, meta_file.name: meta_file.sha256}
    return X, meta, sources, ()


@lru_cache(maxsize=2)
def read_lee2023() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], tuple[str, ...]]:
    """Features (human schema), metadata, source checksums and notes of the human neocortex
    cells of Lee, Dalley et al. 2023.

    The metadata lists some specimens twice with identical rows (kept once) and holds
    specimens without electrophysiology (left out); the notes say how many.
    """
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
    "HUMAN_FEATURES",
    "HUMAN_META",
    "MOUSE_FEATURES",
    "MOUSE_META",
    "read_gouwens2020",
    "read_lee2023",
]
