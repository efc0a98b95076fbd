"""Human layer-1 interneurons of Chartrand et al. 2023 (Science), read into the human schema.

The Allen Institute cells of that study (263 with IPFX features, same pipeline and column
names as Lee, Dalley et al. 2023) are a third bundled dataset, ``chartrand2023_l1``: mostly
LAMP5/PAX6 and VIP cells of layer 1, which the Lee, Dalley table holds few of. The features
of the two other labs' cells of the study are not public in this form and are not read.

Labels. The metadata's ``subclass`` is the original MTG subclass (``LAMP5/PAX6/Other``,
``VIP``), so it is the ``subclass`` scheme as is. Lee, Dalley et al.'s revision moved the
ADARB2-lineage layer-1 types (``Inh L1 SST NMBR``, ``Inh L1-2 ADARB2 MC4R``, ``Inh L1-2 SST
BAGE2``, ...) from LAMP5/PAX6/Other to VIP; the L1 table marks those clusters ``(ADARB2+)``,
and its provisional ``VIP...`` clusters are VIP, so the revised subclass is VIP for those and
for ``VIP`` cells, LAMP5/PAX6/Other otherwise. On the 38 cells both tables hold this rule
agrees with Lee, Dalley's revised label for 37 (the one miss has the provisional cluster
``LAMP5/PAX6``); those cells are counted once, with Lee, Dalley's row. T-types come from
``cluster``: final types (``Inh ...``) with the study's qualifier dropped (``(rosehip)``,
``(ADARB2+)``) and ``GAD1 MC4R`` under the MTG name ``ADARB2 MC4R``, so they share names
with the Lee, Dalley t-types; provisional clusters (``LAMP5|a``, ``VIP+ (all)``) have none.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ephys2type.data.fetch import fetch
from ephys2type.data.id_columns import index_by_id
from ephys2type.data.schema import get_schema
from ephys2type.data.table_text import read_csv_text, to_numeric

L1_FEATURES = "chartrand2023_human_l1/aibs_features_E.csv"
L1_META = "chartrand2023_human_l1/human_l1_dataset_2023_02_06.csv"

#: L1 cluster names -> the MTG taxonomy's name for the same type, where they differ.
TTYPE_RENAMES = {"Inh L1-2 GAD1 MC4R": "Inh L1-2 ADARB2 MC4R"}


def revised_subclass(subclass: pd.Series, cluster: pd.Series) -> pd.Series:
    """The Lee, Dalley revised subclass of L1 cells (see the module docstring)."""
    cluster = cluster.fillna("")
    vip = (
        subclass.eq("VIP")
        | cluster.str.contains("(ADARB2+)", regex=False)
        | cluster.str.startswith("VIP")
    )
    return pd.Series(
        np.where(vip, "VIP", "LAMP5/PAX6/Other"), index=subclass.index, dtype=object
    ).where(subclass.notna())


def ttype_from_cluster(cluster: pd.Series) -> pd.Series:
    """MTG t-type names of final clusters; NaN for provisional ones."""
    final = cluster.fillna("").str.startswith("Inh ")
    name = cluster.str.replace(r"\s*\([^)]*\)\s*$", "", regex=True).str.strip()
    return name.replace(TTYPE_RENAMES).where(final)


def _layer(roi: pd.Series) -> pd.Series:
    """``TCx_L1`` -> ``1``, ``FCx_L2`` -> ``2``, ``TCx_L3a`` -> ``3``; else NaN."""
    return roi.str.extract(r"_L(\d)", expand=False)


@lru_cache(maxsize=1)
def read_human_l1() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], tuple[str, ...]]:
    """Features (human schema), metadata, source checksums and notes of the L1 cells."""
    fx_file, meta_file = fetch(L1_FEATURES), fetch(L1_META)
    schema = get_schema("human")
    raw = read_csv_text(fx_file.path, what="feature table")
    raw = index_by_id(raw, "cell_name", path=fx_file.path)
    absent = [c for c in schema.columns if c not in raw.columns]
    for column in absent:
        raw[column] = np.nan
    X = to_numeric(raw, schema.columns, path=fx_file.path)

    mraw = read_csv_text(meta_file.path, what="metadata table", repeated_columns=True)
    m = index_by_id(mraw, "spec_id", path=meta_file.path)
    unmatched = X.index[~X.index.isin(m.index)]
    m = m.reindex(X.index)
    cluster = m["cluster"].str.strip()
    meta = pd.DataFrame(
        {
            "species": "human",
            # a cell without a donor is its own group (as for a user's table without donors)
            "donor": m["donor"].str.upper().fillna("cell " + pd.Series(X.index, index=X.index)),
            "subclass": m["subclass"],
            "revised_subclass": revised_subclass(m["subclass"], cluster),
            "t_type": ttype_from_cluster(cluster),
            "cluster": cluster,
            "structure": m["structure"],
            "condition": np.nan,  # not in the L1 metadata
            "layer": _layer(m["roi"]),
            "roi": m["roi"],
        },
        index=X.index,
    )
    notes = [
        f"{fx_file.name}: {len(absent)} of the {len(schema.columns)} human features are not in "
        f"this table ({', '.join(absent[:4])}, ...); they are missing for its cells"
    ]
    if len(unmatched):
        notes.append(
            f"{fx_file.name}: {len(unmatched)} cell(s) without a metadata row "
            f"({', '.join(map(str, unmatched[:3]))}): unlabeled"
        )
    sources = {fx_file.name: fx_file.sha256, meta_file.name: meta_file.sha256}
    return X, meta, sources, tuple(notes)
