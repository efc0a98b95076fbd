"""Quality control as declarative rules (``resources/qc.toml``), with a table of drops.

A QC profile is an ordered list of rules. Each cell is removed by the first rule that
catches it and the reason is kept, so a user can see exactly which cells went and why, and
the per-rule counts add up to the cells removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.container import PatchSeqData, QCReport
from ephys2type.data.labels import get_scheme
from ephys2type.data.schema import load_resource_toml
from ephys2type.errors import SchemaError

RULES: dict[str, Callable[..., pd.Series]] = {}


@cache
def qc_config() -> dict[str, Any]:
    """The parsed QC rule file."""
    return load_resource_toml("qc.toml")


def profiles() -> list[str]:
    return list(qc_config()["profiles"])


def excluded_subclasses(species: str) -> list[str]:
    return list(qc_config()["exclude_subclasses"].get(species, []))


def non_feature_columns(species: str) -> list[str]:
    """Bookkeeping and deliberately unused columns of the bundled table for ``species``."""
    cfg = qc_config()
    return [*cfg["non_features"].get(species, []), *cfg["unused_features"].get(species, [])]


def _rule(name: str) -> Callable[[Callable[..., pd.Series]], Callable[..., pd.Series]]:
    def register(fn: Callable[..., pd.Series]) -> Callable[..., pd.Series]:
        RULES[name] = fn
        return fn

    return register


# Each rule receives the data (restricted to the cells still kept) and its parameters and
# returns a Series over those cells: a reason string for the cells it drops, NaN otherwise.


@_rule("unlabeled")
def _unlabeled(data: PatchSeqData) -> pd.Series:
    if data.y is None:
        return pd.Series(np.nan, index=data.X.index, dtype=object)
    column = get_scheme(data.label_scheme, data.species).column
    raw = data.meta[column]
    return pd.Series(np.where(raw.isna(), f"no {column}", None), index=raw.index, dtype=object)


@_rule("excluded_subclass")
def _excluded(data: PatchSeqData) -> pd.Series:
    excluded = excluded_subclasses(data.species)
    if data.y is None or not excluded or "subclass" not in data.meta:
        return pd.Series(np.nan, index=data.X.index, dtype=object)
    sub = data.meta["subclass"]
    hit = sub.isin(excluded)
    return ("subclass " + sub.astype(str)).where(hit)


@_rule("missing_family")
def _missing_family(data: PatchSeqData) -> pd.Series:
    out = pd.Series(np.nan, index=data.X.index, dtype=object)
    for fam in data.schema.families:
        if not fam.essential:
            continue
        gone = data.X[fam.columns].isna().all(axis=1) & out.isna()
        out[gone] = f"no {fam.name} features"
    return out


@_rule("max_missing")
def _max_missing(data: PatchSeqData, fraction: float) -> pd.Series:
    cols = data.schema.counted_columns()
    frac = data.X[cols].isna().mean(axis=1)
    text = frac.map(lambda f: f"{f:.0%} of {len(cols)} counted features missing")
    return text.where(frac > fraction)


@_rule("out_of_bounds")
def _out_of_bounds(data: PatchSeqData) -> pd.Series:
    out = pd.Series(np.nan, index=data.X.index, dtype=object)
    for col, (lo, hi) in qc_config()["bounds"].items():
        if col not in data.X.columns:
            continue
        v = data.X[col]
        bad = v.notna() & ~((v > lo) & (v < hi)) & out.isna()
        out[bad] = [f"{col} = {x:.4g}" for x in v[bad]]
    return out


@_rule("rare_class")
def _rare_class(data: PatchSeqData, min_cells: int) -> pd.Series:
    if data.y is None:
        return pd.Series(np.nan, index=data.X.index, dtype=object)
    counts = data.y.value_counts()
    rare = counts[counts < min_cells]
    text = data.y.map(lambda c: f"class {c!r} has {counts.get(c, 0)} < {min_cells} cells")
    return text.where(data.y.isin(rare.index))


def apply_qc(data: PatchSeqData, profile: str = "default") -> PatchSeqData:
    """Apply a QC profile; returns the kept cells with :attr:`PatchSeqData.qc` filled in."""
    cfg = qc_config()["profiles"]
    if profile not in cfg:
        raise SchemaError(f"unknown QC profile {profile!r}; profiles: {', '.join(cfg)}")
    rules = cfg[profile]["rules"]
    kept = data
    drops: list[pd.DataFrame] = []
    names: list[str] = []
    for spec in rules:
        params = dict(spec)
        name = params.pop("rule")
        if name not in RULES:
            raise SchemaError(f"qc.toml: unknown rule {name!r}; rules: {', '.join(RULES)}")
        names.append(name)
        reason = RULES[name](kept, **params)
        hit = reason.notna()
        if hit.any():
            drops.append(pd.DataFrame({"rule": name, "detail": reason[hit].astype(str)}))
            kept = kept.subset(kept.X.index[~hit.to_numpy()])
    drop_table = (
        pd.concat(drops) if drops else pd.DataFrame({"rule": [], "detail": []}, dtype=object)
    )
    drop_table.index.name = "cell_id"
    report = QCReport(
        profile=profile,
        label_scheme=data.label_scheme,
        n_input=len(data),
        rules=tuple(names),
        drops=drop_table,
    )
    return replace(kept, qc=report)
