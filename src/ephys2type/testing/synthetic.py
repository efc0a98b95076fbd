"""A synthetic Patch-seq dataset with known structure, for fast tests and benchmarks.

Cells belong to imbalanced classes whose feature means differ by a known ``separation``;
features come in families, some of which (like the human chirp protocol) are missing for a
share of cells, and single values are missing at random. Two calls with the same
``class_seed`` share the class structure, so one can stand in for a source species and
another (with a ``shift``) for a target species.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ephys2type.data.container import PatchSeqData
from ephys2type.data.schema import Family, Feature, FeatureSchema

#: Default families: (name, number of features).
FAMILIES: tuple[tuple[str, int], ...] = (
    ("subthreshold", 4),
    ("spike_train", 5),
    ("long_square", 4),
    ("ramp", 3),
    ("chirp", 3),
)


#: Families that the long square steps yield (the others are separate protocols).
LONG_SQUARE_FAMILIES = ("subthreshold", "spike_train", "long_square")


def synthetic_schema(
    families: Sequence[tuple[str, int]] = FAMILIES,
    *,
    optional: Sequence[str] = ("chirp",),
    name: str = "synthetic",
) -> FeatureSchema:
    """A schema with ``families`` of ``<family>_<k>`` features (unit mV). The subthreshold,
    spike-train and long-square families come from one protocol (``long_square``), as in
    the Allen schemas; every other family is its own protocol."""
    return FeatureSchema(
        name=name,
        families=tuple(
            Family(
                name=fam,
                features=tuple(Feature(name=f"{fam}_{k}", unit="mV") for k in range(n)),
                title=fam.replace("_", " "),
                optional=fam in optional,
                protocol="long_square" if fam in LONG_SQUARE_FAMILIES else fam,
            )
            for fam, n in families
        ),
        species="any",
        description="synthetic features for tests",
    )


def make_synthetic(
    n_cells: int = 300,
    *,
    n_classes: int = 4,
    families: Sequence[tuple[str, int]] = FAMILIES,
    separation: float = 1.5,
    missing_families: Mapping[str, float] | None = None,
    missing_values: float = 0.01,
    shift: float = 0.0,
    n_donors: int = 12,
    species: str = "synthetic",
    schema_name: str = "synthetic",
    class_seed: int = 0,
    random_state: int = 0,
) -> PatchSeqData:
    """Labelled synthetic cells as a :class:`~ephys2type.data.container.PatchSeqData`.

    Parameters
    ----------
    n_cells : number of cells.
    n_classes : number of classes (``type_A``, ``type_B``, ...), with sizes falling roughly
        geometrically (the largest about 3x the smallest for 4 classes).
    families : (family name, number of features) pairs.
    separation : distance scale between class means (in feature SDs); 0 means no signal.
    missing_families : family -> share of cells lacking it entirely (default: chirp 0.6).
    missing_values : share of single values missing at random.
    shift : offset added to every feature (a batch or species difference).
    n_donors : donors the cells are spread over (for grouped splits).
    species, schema_name : names recorded in the data and its schema.
    class_seed : seed of the class means (shared structure across calls).
    random_state : seed of the cells.

    Examples
    --------
    >>> from ephys2type.testing.synthetic import make_synthetic
    >>> data = make_synthetic(120, random_state=0)
    >>> len(data), len(data.classes), data.schema.family_names[0]
    (120, 4, 'subthreshold')
    """
    if n_classes < 2 or n_cells < 4 * n_classes:
        raise ValueError("need at least 2 classes and 4 cells per class")
    missing = {"chirp": 0.6} if missing_families is None else dict(missing_families)
    schema = synthetic_schema(families, optional=tuple(missing), name=schema_name)
    n_features = len(schema.columns)
    means = np.random.default_rng(class_seed).normal(scale=separation, size=(n_classes, n_features))
    rng = np.random.default_rng(random_state)
    weights = 0.7 ** np.arange(n_classes)
    counts = np.maximum(4, np.floor(n_cells * weights / weights.sum()).astype(int))
    counts[0] += n_cells - counts.sum()
    codes = rng.permutation(np.repeat(np.arange(n_classes), counts))
    # correlated noise within a family, independent between families
    noise = rng.normal(size=(n_cells, n_features))
    for cols in schema.family_index():
        noise[:, cols] += 0.5 * rng.normal(size=(n_cells, 1))
    X = means[codes] + noise + shift
    for fam, share in missing.items():
        cols = schema.family(fam).columns
        lacking = rng.random(n_cells) < share
        X[np.ix_(lacking, [schema.columns.index(c) for c in cols])] = np.nan
    X[rng.random(X.shape) < missing_values] = np.nan
    index = pd.Index([f"{species}_{i:05d}" for i in range(n_cells)], name="cell_id")
    names = np.array([f"type_{chr(ord('A') + c)}" for c in range(n_classes)])
    y = pd.Series(names[codes], index=index, name="label")
    meta = pd.DataFrame(
        {
            "species": species,
            "donor": [f"donor_{d:02d}" for d in rng.integers(0, n_donors, n_cells)],
            "subclass": y.to_numpy(),
        },
        index=index,
    )
    return PatchSeqData(
        X=pd.DataFrame(X, index=index, columns=schema.columns),
        meta=meta,
        schema=schema,
        species=species,
        y=y,
        label_scheme="synthetic",
    )
