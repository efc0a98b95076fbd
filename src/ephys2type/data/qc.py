"""Quality control as declarative rules (``resources/qc.toml``), with a table of drops.

A QC profile is an ordered list of rules. Each cell is removed by the first rule that
catches it and the reason is kept, so a user can see exactly which cells went and why, and
the per-rule counts add up to the cells removed.

The rules a profile may name are an explicit registry, :data:`RULES`, built at the bottom
of this module from the rule functions (as :mod:`ephys2type.models.registry` lists the
models); a user adds a rule with :func:`register_rule`. Nothing registers itself on import.
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

#: A QC rule: ``rule(data, **params)`` -> a Series over the cells of ``data``, the reason
#: for each cell it drops and NaN for the others (``params`` come from the profile in qc.toml).
Rule = Callable[..., pd.Series]


@cache
def qc_config() -> dict[str, Any]:
    """The parsed QC rule file."""
    return load_resource_toml("qc.toml")


def profiles() -> list[str]:
    """Names of the QC profiles in ``qc.toml`` (``default``, ``complete``, ``none``)."""
    return list(qc_config()["profiles"])


def excluded_subclasses(species: str) -> list[str]:
    """Subclasses of ``species`` dropped whatever the label scheme (``qc.toml``: the
    non-GABAergic or out-of-scope subclasses of the bundled metadata, e.g. mouse Meis2)."""
    return list(qc_config()["exclude_subclasses"].get(species, []))


def non_feature_columns(species: str) -> list[str]:
    """Bookkeeping and deliberately unused columns of the bundled table for ``species``."""
    cfg = qc_config()
    return [*cfg["non_features"].get(species, []), *cfg["unused_features"].get(species, [])]


# Each rule receives the data (restricted to the cells still kept) and its parameters and
# returns a Series over those cells: a reason string for the cells it drops, NaN otherwise.


def _unlabeled(data: PatchSeqData) -> pd.Series:
    if data.y is None:
        return pd.Series(np.nan, index=data.X.index, dtype=object)
    column = get_scheme(data.label_scheme, data.species).column
    raw = data.meta[column]
    return pd.Series(np.where(raw.isna(), f"no {column}", None), index=raw.index, dtype=object)


def _excluded(data: PatchSeqData) -> pd.Series:
    out = pd.Series(np.nan, index=data.X.index, dtype=object)
    if data.y is None:
        return out
    excluded = excluded_subclasses(data.species)
    if excluded and "subclass" in data.meta:
        sub = data.meta["subclass"]
        out = ("subclass " + sub.astype(str)).where(sub.isin(excluded))
    # a value the label scheme leaves out of its task (e.g. mouse Sncg for four subclasses)
    scheme = get_scheme(data.label_scheme, data.species)
    if scheme.dropped and scheme.column in data.meta:
        raw = data.meta[scheme.column]
        left = (f"{scheme.column} " + raw.astype(str) + f" (not in {scheme.name})").where(
            raw.isin(scheme.dropped)
        )
        out = out.where(out.notna(), left)
    return out


def _missing_family(data: PatchSeqData) -> pd.Series:
    out = pd.Series(np.nan, index=data.X.index, dtype=object)
    for fam in data.schema.families:
        if not fam.essential:
            continue
        gone = data.X[fam.columns].isna().all(axis=1) & out.isna()
        out[gone] = f"no {fam.name} features"
    return out


def _max_missing(data: PatchSeqData, fraction: float) -> pd.Series:
    cols = data.schema.counted_columns()
    frac = data.X[cols].isna().mean(axis=1)
    text = frac.map(lambda f: f"{f:.0%} of {len(cols)} counted features missing")
    return text.where(frac > fraction)


def _out_of_bounds(data: PatchSeqData) -> pd.Series:
    out = pd.Series(np.nan, index=data.X.index, dtype=object)
    for col, (lo, hi) in qc_config()["bounds"].items():
        if col not in data.X.columns:
            continue
        v = data.X[col]
        bad = v.notna() & ~((v > lo) & (v < hi)) & out.isna()
        out[bad] = [f"{col} = {x:.4g}" for x in v[bad]]
    return out


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


def _builtin_rules() -> dict[str, Rule]:
    """The rules ephys2type ships, by the name ``qc.toml`` gives them."""
    return {
        "unlabeled": _unlabeled,
        "excluded_subclass": _excluded,
        "missing_family": _missing_family,
        "max_missing": _max_missing,
        "out_of_bounds": _out_of_bounds,
        "rare_class": _rare_class,
    }


#: The built-in rules in words, for a count of cells that fail them (``predict``'s summary
#: line; a trial: "missing_family 13, max_missing 7" named config keys).
RULE_WORDS = {
    "unlabeled": "without a label",
    "excluded_subclass": "of an excluded subclass",
    "missing_family": "without an essential feature family",
    "max_missing": "with too many features missing",
    "out_of_bounds": "with a value out of the QC bounds",
    "rare_class": "of a class too rare to train on",
}


def rare_class_minimum(profile: str = "default") -> int | None:
    """The fewest cells a class keeps under ``profile``'s ``rare_class`` rule (None: the
    profile has no such rule)."""
    rules = qc_config()["profiles"][profile]["rules"]
    return next((int(r["min_cells"]) for r in rules if r["rule"] == "rare_class"), None)


def drops_line(report: QCReport) -> str | None:
    """``QC (profile default) left out 132 of 539 cells: 19 without an essential feature
    family, 9 with too many features missing, 2 with a value out of the QC bounds, 102 of a
    class too rare to train on (28 classes)``, the rules in the profile's order; None when
    it left out none (a trial: a lab's t-type table lost 28 of its 42 types unsaid)."""
    if not len(report.drops):
        return None
    parts = []
    for rule, n in report.rule_counts().items():
        if not n:
            continue
        part = f"{n} {RULE_WORDS.get(rule, f'failing {rule}')}"
        if rule == "rare_class":
            rare = report.drops.loc[report.drops["rule"] == rule, "detail"]
            classes = rare.str.extract(r"class (.+) has", expand=False).nunique()
            part += f" ({classes} {'class' if classes == 1 else 'classes'})"
        parts.append(part)
    return (
        f"QC (profile {report.profile}) left out {len(report.drops)} of {report.n_input} "
        f"cells: {', '.join(parts)}"
    )


#: QC rules by name: a profile's ``rule = "..."`` entries are looked up here.
RULES: dict[str, Rule] = _builtin_rules()


def register_rule(name: str, rule: Rule, *, overwrite: bool = False) -> Rule:
    """Add a QC rule under ``name``, for a profile of ``qc.toml`` to name; an existing name
    is an error unless ``overwrite``. Returns ``rule``."""
    if name in RULES and not overwrite:
        raise SchemaError(f"a QC rule named {name!r} is already registered")
    RULES[name] = rule
    return rule
