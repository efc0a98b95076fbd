"""The shifted human splits two benchmarks share: train on one kind of cell, predict another.

- condition: slice culture -> acute and acute -> slice culture (Lee, Dalley et al.);
- region: MTG -> every other region;
- dataset: Lee, Dalley et al. -> the layer-1 cells of Chartrand et al. (another lab and
  layer; Lee cells of donors in both datasets left out, so no donor is on both sides).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ephys2type import load_human
from ephys2type.data.container import PatchSeqData
from ephys2type.data.datasets import dataset_names


@dataclass(frozen=True)
class ShiftSplit:
    """Cells of ``data`` to train on and cells of another kind to predict; ``kind`` is
    ``condition``, ``region`` or ``dataset``."""

    name: str
    kind: str
    data: PatchSeqData
    train: pd.Index
    test: pd.Index


def human_shift_splits() -> list[ShiftSplit]:
    """The splits, in the order the benchmarks report them."""
    data = load_human(datasets="lee2023")
    meta = data.meta
    splits = [
        ShiftSplit(
            f"condition: train {a}, predict {b}",
            "condition",
            data,
            meta.index[meta["condition"] == a],
            meta.index[meta["condition"] == b],
        )
        for a, b in (("culture", "acute"), ("acute", "culture"))
    ]
    mtg = meta["structure"] == "MTG"
    splits.append(
        ShiftSplit(
            "region: train MTG, predict others", "region", data, meta.index[mtg], meta.index[~mtg]
        )
    )
    both = load_human(datasets=dataset_names("human"))
    source = both.meta["dataset"] == "lee2023"
    shared = set(both.groups[~source]) & set(both.groups[source])
    splits.append(
        ShiftSplit(
            "dataset: train Lee, predict layer-1 cells",
            "dataset",
            both,
            both.meta.index[source & ~both.groups.isin(shared).to_numpy()],
            both.meta.index[~source],
        )
    )
    return splits
