"""Names of the per-cell prediction columns, shared by every writer and reader.

Evaluations, saved models and the AnnData writer all name a class's probability
``proba:<class>``, write a prediction set as its classes joined by ``"; "`` and a two-level
table's sets as ``<level>_set``; this module is the one place that spells them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Prefix of a class-probability column.
PROBA_PREFIX = "proba:"


def proba_columns(classes: Iterable[object]) -> list[str]:
    """``["proba:Lamp5", "proba:Pvalb", ...]``: the probability columns of ``classes``."""
    return [f"{PROBA_PREFIX}{c}" for c in classes]


def proba_class(column: object) -> str | None:
    """The class of a probability column, or None for any other column."""
    text = str(column)
    return text.removeprefix(PROBA_PREFIX) if text.startswith(PROBA_PREFIX) else None


#: What joins the classes of a prediction set in a table's set columns.
SET_SEPARATOR = "; "


def set_classes(text: Any) -> list[str]:
    """The classes of a set cell (``"Lamp5; Vip"``), in order; [] for a blank or missing
    one. Read leniently (``;`` with or without the space), as a spreadsheet may save it."""
    if not isinstance(text, str):
        return []
    return [c.strip() for c in text.split(SET_SEPARATOR.strip()) if c.strip()]


def level_names(table: Any) -> list[str]:
    """The levels of a two-level table, coarse to fine: the prefixes of its ``<level>_set``
    columns, in table order; [] for a one-level table (its set column is ``set``)."""
    return [str(c).removesuffix("_set") for c in table.columns if str(c).endswith("_set")]
