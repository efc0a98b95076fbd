"""Cross-species alignment: express mouse or human features in the aligned schema.

The aligned schema (``resources/aligned.toml``) names, for each shared quantity, its source
column(s) in each species. Unit factors are derived from the units that the species'
native schema declares, so the conversion (e.g. human ``tau`` in s to ms) follows from the
data files and cannot be mistyped.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ephys2type.data.container import PatchSeqData
from ephys2type.data.schema import FeatureSchema, conversion_factor, get_schema
from ephys2type.errors import SchemaError


def aligned_schema() -> FeatureSchema:
    return get_schema("aligned")


def align_features(
    X: pd.DataFrame, native: FeatureSchema, species: str, target: FeatureSchema | None = None
) -> pd.DataFrame:
    """Convert a native feature table of ``species`` into the aligned schema's columns/units."""
    target = target or aligned_schema()
    out: dict[str, np.ndarray] = {}
    for feat in target.features:
        src = feat.sources.get(species)
        if src is None:
            raise SchemaError(
                f"aligned feature {feat.name!r} has no source for species {species!r}"
            )
        terms = []
        for col in src.columns():
            if col not in X.columns:
                raise SchemaError(
                    f"aligned feature {feat.name!r} needs {species} column {col!r}, which the "
                    f"{native.name!r} schema does not provide"
                )
            factor = conversion_factor(native.feature(col).unit, feat.unit)
            terms.append(X[col].to_numpy(dtype="float64") * factor)
        out[feat.name] = terms[0] if len(terms) == 1 else terms[0] - terms[1]
    return pd.DataFrame(out, index=X.index, columns=target.columns)


def to_aligned(data: PatchSeqData) -> PatchSeqData:
    """The same cells with features in the aligned cross-species schema."""
    target = aligned_schema()
    if data.schema.name == target.name:
        return data
    X = align_features(data.X, data.schema, data.species, target)
    return replace(data, X=X, schema=target)


#: Largest tolerated ratio between the two species' medians of an aligned feature. Real
#: biological and protocol differences stay well inside it (the largest, sag, is about 4x);
#: a unit slip (s vs ms, pA vs nA, MOhm vs GOhm, mV vs V) is 1000x.
MAX_SPECIES_RATIO = 10.0


def alignment_report(mouse: PatchSeqData, human: PatchSeqData) -> pd.DataFrame:
    """Per aligned feature: unit, plausible range, each species' median, and checks.

    ``ok`` is True when both medians lie in the feature's ``median_range`` and their
    magnitudes differ by less than :data:`MAX_SPECIES_RATIO`, so a unit slip in either
    species shows up as a failed row.
    """
    mouse, human = to_aligned(mouse), to_aligned(human)
    rows = []
    for fam in mouse.schema.families:
        for feat in fam.features:
            lo, hi = feat.median_range if feat.median_range else (-np.inf, np.inf)
            m = float(mouse.X[feat.name].median())
            h = float(human.X[feat.name].median())
            small = max(abs(lo), abs(hi)) * 1e-3  # medians near 0 make ratios meaningless
            ratio = (max(abs(m), small) / max(abs(h), small)) if np.isfinite(m + h) else np.nan
            rows.append(
                {
                    "family": fam.name,
                    "feature": feat.name,
                    "unit": feat.unit,
                    "low": lo,
                    "high": hi,
                    "mouse_median": m,
                    "human_median": h,
                    "mouse_in_range": bool(lo <= m <= hi),
                    "human_in_range": bool(lo <= h <= hi),
                    "ratio": ratio,
                }
            )
    report = pd.DataFrame(rows).set_index("feature")
    within = (report["ratio"] < MAX_SPECIES_RATIO) & (report["ratio"] > 1 / MAX_SPECIES_RATIO)
    report["ok"] = report["mouse_in_range"] & report["human_in_range"] & within
    return report


def heterogeneous_schema(native: FeatureSchema, species: str) -> FeatureSchema:
    """The layout of heterogeneous transfer: the aligned families (the quantities both species
    measure) first, then ``native``'s families reduced to the columns no aligned feature is
    computed from (what only ``species`` measures), named ``<species>_<family>``.

    A network on this layout can be pretrained on the other species (which has only the
    aligned families: the others are masked) and fine-tuned on ``species`` with all of them.
    """
    aligned = aligned_schema()
    used = {
        c for f in aligned.features if species in f.sources for c in f.sources[species].columns()
    }
    own = []
    for fam in native.families:
        features = tuple(f for f in fam.features if f.name not in used)
        if features:
            own.append(
                replace(fam, name=f"{species}_{fam.name}", features=features, essential=False)
            )
    clash = set(aligned.columns) & {f.name for fam in own for f in fam.features}
    if clash:
        raise SchemaError(
            f"{native.name!r} columns share names with aligned features: {', '.join(sorted(clash))}"
        )
    return FeatureSchema(
        name=f"aligned+{species}",
        families=aligned.families + tuple(own),
        species=species,
        description=f"aligned features, then the {species}-only features of {native.name!r}",
    )


def heterogeneous_table(
    aligned: pd.DataFrame, schema: FeatureSchema, native: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Cells on the columns of ``schema`` (:func:`heterogeneous_schema`): their ``aligned``
    features, then the schema species' own columns from ``native`` (the same cells' native
    table); without ``native`` (cells of another species) those columns are empty."""
    own = [c for c in schema.columns if c not in aligned.columns]
    if native is None:
        extra = pd.DataFrame(np.nan, index=aligned.index, columns=own)
    else:
        extra = native.reindex(index=aligned.index, columns=own)
    return pd.concat([aligned, extra], axis=1)[schema.columns]
