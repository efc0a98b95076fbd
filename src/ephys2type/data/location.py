"""Where a cell sits, as an optional input family: the soma's cortical layer.

Every Patch-seq cell has a layer, and the bundled metadata carry it (mouse: the layer of its
``structure``, ``VISp2/3``; human: ``Cortical_layer`` of Lee, Dalley and the layer of the
layer-1 table's ``roi``). :func:`with_location` adds it to the cells as one more family,
``location`` (one feature, ``layer``: 2/3 -> 2.5, 5_6 -> 5.5, 6a -> 6, 6b -> 6.5), whose
protocol is its own, so a model trained with it (``train --location``) also has members
without it and serves a lab's cells that lack it as it serves cells without a ramp. It is not
in the default: measured (benchmarks/location.py, 3 seeds), the layer helps neither the
Lee, Dalley cells (+0.09 points) nor the layer-1 cells (-0.56) in distribution, nor the
layer-1 cells held out (+2.96 [-2.82, +8.73]); mouse in distribution +0.92 [+0.46, +1.38].
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd

from ephys2type.data.container import PatchSeqData
from ephys2type.data.schema import Family, Feature, FeatureSchema
from ephys2type.errors import Ephys2TypeError

#: The family's name (and protocol) and its one column.
LOCATION = "location"
LAYER = "layer"
#: Metadata columns that hold the layer, in the order they are looked for.
LAYER_SOURCES = ("layer", "structure")

LOCATION_FAMILY = Family(
    name=LOCATION,
    features=(
        Feature(
            LAYER,
            "1",
            "cortical layer of the soma as a number (2/3 -> 2.5, 5_6 -> 5.5, 6a -> 6, 6b -> 6.5)",
            median_range=(1.0, 6.5),
        ),
    ),
    title="Location",
    description="Where the soma sits: its cortical layer, from the cell's metadata.",
    optional=True,
    protocol=LOCATION,
)


def layer_number(values: pd.Series) -> pd.Series:
    """The layer as a number from a layer label (``"2_3"``, ``"L5"``) or a mouse structure
    (``"VISp2/3"``, ``"VISp6a"``); NaN when it names no layer."""

    def number(value) -> float:
        if not isinstance(value, str):
            return float("nan")
        match = re.search(r"([1-6])(?:\s*[/_-]\s*([1-6]))?([ab])?\s*$", value.strip())
        if match is None:
            return float("nan")
        low, high, sub = match.groups()
        layer = (float(low) + float(high)) / 2 if high else float(low)
        return layer + (0.5 if sub == "b" else 0.0)

    return values.map(number).astype(float)


def with_location(data: PatchSeqData) -> PatchSeqData:
    """``data`` with the ``location`` family appended (its schema too), read from the first
    of :data:`LAYER_SOURCES` in its metadata; an error when the metadata hold none."""
    if LOCATION in data.schema.family_names:
        return data
    source = next((c for c in LAYER_SOURCES if c in data.meta.columns), None)
    if source is None:
        raise Ephys2TypeError(
            "--location needs each cell's layer in the metadata (a 'layer' or 'structure' "
            "column); these cells have none"
        )
    layer = layer_number(data.meta[source].astype("string").astype(object))
    if not np.isfinite(layer).any():
        raise Ephys2TypeError(f"no cell's {source!r} names a cortical layer (e.g. '2_3', 'L5')")
    schema = FeatureSchema(
        name=f"{data.schema.name}+{LOCATION}",
        families=(*data.schema.families, LOCATION_FAMILY),
        species=data.schema.species,
        description=f"{data.schema.description} (with the soma's layer)",
    )
    X = data.X.copy()
    X[LAYER] = layer.to_numpy()
    return replace(data, X=X, schema=schema)
