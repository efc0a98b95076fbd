"""Names of the per-cell prediction columns, shared by every writer and reader.

Evaluations, saved models and the AnnData writer all name a class's probability
``proba:<class>``; this module is the one place that spells it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Prefix of a class-probability column.
PROBA_PREFIX = "proba:"


def proba_columns(classes: Iterable[object]) -> list[str]:
    """``["proba:Lamp5", "proba:Pvalb", ...]``: the probability columns of ``classes``."""
    return [f"{PROBA_PREFIX}{c}" for c in classes]


def proba_class(column: object) -> str | None:
    """The class of a probability column, or None for any other column."""
    text = str(column)
    return text.removeprefix(PROBA_PREFIX) if text.startswith(PROBA_PREFIX) else None
