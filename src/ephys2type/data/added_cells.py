"""A lab's own labelled cells added to the bundled ones for training, and how much they count.

:func:`with_added_cells` appends the cells (their features read in, or mapped onto, the
schema of the data; their labels among its classes) as one more dataset; with
:func:`added_repeats` each added cell counts several times, so that a few dozen cells of
the lab's own preparation weigh about a fifth of the training and move the model towards
it (``ephys2type train --add-table``; measured in benchmarks/added_cells.py).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ephys2type.data.cell_copies import same_feature_cells
from ephys2type.data.container import PatchSeqData
from ephys2type.data.fetch import sha256_of
from ephys2type.data.id_columns import find_id_column
from ephys2type.data.mapping import load_mapping
from ephys2type.data.recordings.check_table import BLOCKING_COLUMN, warn_blocked_training_cells
from ephys2type.data.tables import read_feature_table
from ephys2type.data.user_tables import donors_or_own, read_labels
from ephys2type.errors import TableError

#: The share of the training weight a lab's added cells get by default (see
#: :func:`added_repeats`).
ADDED_SHARE = 0.2
#: Most times one added cell is repeated.
MAX_REPEATS = 20


def added_repeats(n_bundled: int, n_added: int, weight: int | None = None) -> int:
    """How many times each of a lab's ``n_added`` cells counts beside ``n_bundled`` cells:
    ``weight`` if given, else enough for the added cells to make about a fifth of the
    training weight (between 1 and :data:`MAX_REPEATS`)."""
    if weight is not None:
        if weight < 1:
            raise TableError(f"the weight of added cells must be a whole number >= 1, not {weight}")
        return int(weight)
    if n_added == 0:
        return 1
    share = ADDED_SHARE * n_bundled / ((1 - ADDED_SHARE) * n_added)
    return int(min(MAX_REPEATS, max(1, round(share))))


def with_added_cells(
    data: PatchSeqData,
    features: str | Path,
    labels: str | Path,
    *,
    mapping: str | Path | None = None,
    id_column: str | None = None,
    label_column: str = "subclass",
    donor_column: str | None = None,
    name: str = "added",
) -> PatchSeqData:
    """``data`` with a lab's own labelled cells added (``dataset`` = ``name``).

    ``features`` is a CSV in the schema of ``data`` (or mapped onto it by ``mapping``, see
    :mod:`ephys2type.data.mapping`; absent features are missing for those cells);
    ``labels`` a CSV with the same ids and ``label_column``, whose values must be classes of
    ``data`` (e.g. ``Lamp5``, ``Pvalb``). A donor column keeps a donor's cells together in
    grouped folds; without one, each cell is its own donor. A features table written by
    ``ephys2type features`` carries each cell's failed recording checks: the reasons of
    those that block a call in ``predict`` go into the added cells' metadata
    (``checks_blocking``), and the cells are trained on with their labels all the same.
    """
    if data.y is None:
        raise TableError("cells can be added only to labelled data")
    read = read_feature_table(
        features,
        data.schema,
        id_column=id_column,
        allow_missing=True,
        mapping=None if mapping is None else load_mapping(mapping, data.schema),
    )
    checks = getattr(read, "checks", None)
    warn_blocked_training_cells(checks, str(features))
    X = read.reindex(columns=data.schema.columns)
    id_name = id_column or find_id_column(features, data.schema)
    lab = read_labels(labels, id_name, X.index, required=[label_column], schema=data.schema)
    lab = lab.reindex(X.index)
    y = lab[label_column]
    if y.isna().any():
        missing = y.index[y.isna()]
        raise TableError(
            f"{labels}: {len(missing)} added cell(s) have no {label_column!r} "
            f"(e.g. {missing[0]}); every added cell needs a label"
        )
    unknown = sorted(set(y) - set(data.classes))
    if unknown:
        raise TableError(
            f"{labels}: label(s) {', '.join(map(repr, unknown[:8]))} are not classes of the "
            f"{data.species} data ({data.label_scheme}: {', '.join(data.classes)})"
            f"{_label_hint(unknown, list(data.classes), y)}"
        )
    clash = X.index.intersection(data.X.index)
    if len(clash):
        raise TableError(
            f"{features}: {len(clash)} cell id(s) are also bundled cells (e.g. {clash[0]}); "
            f"add only cells the bundled datasets do not hold"
        )
    copies = same_feature_cells(X, data.X)
    if len(copies):
        mine, theirs = copies[0]
        raise TableError(
            f"{features}: {len(copies)} added cell(s) have the same features as bundled cells "
            f"(e.g. {mine!r} as bundled cell {theirs!r}); add only cells the bundled datasets "
            "do not hold (a copy would be scored as a new cell)"
        )
    if donor_column is not None and donor_column not in lab.columns:
        near = [c for c in lab.columns if str(c).casefold() == donor_column.casefold()]
        near = near or difflib.get_close_matches(donor_column, map(str, lab.columns), n=1)
        raise TableError(
            f"{labels}: no donor column {donor_column!r} (columns: "
            f"{', '.join(map(str, lab.columns))})"
            + (f"; --donor-column {near[0]}?" if near else "")
        )
    donors = (
        donors_or_own(lab[donor_column].reindex(X.index), what=str(labels), column=donor_column)
        if donor_column is not None
        else pd.Series(X.index.astype(str), index=X.index)
    )
    meta = pd.DataFrame({"species": data.species, "donor": donors, "dataset": name}, index=X.index)
    if checks is not None:  # what predict would block them for (evaluate-added scores so)
        meta[BLOCKING_COLUMN] = checks["blocking"].to_numpy(dtype=object)
    return replace(
        data,
        X=pd.concat([data.X, X]),
        meta=pd.concat([data.meta, meta]),
        y=pd.concat([data.y, y.astype(object).rename(data.y.name)]),
        notes=(*data.notes, f"{name}: {len(X)} labelled cells added from {features}"),
        # the added files by name and content, as the bundled files are (model provenance)
        sources=data.sources
        | {
            f"{name}/{role}/{Path(f).name}": sha256_of(Path(f))
            for role, f in (("features", features), ("labels", labels))
        },
    )


def _label_hint(unknown: list[str], classes: list[str], y: pd.Series) -> str:
    """How to make ``unknown`` labels classes: the class each is probably (the same letters
    in another case, one name the start of the other, e.g. ``PV`` and ``Pvalb``, or a near
    spelling) and the first cell with one; the others cannot be added to these classes."""
    near, other = [], []
    for label in unknown[:8]:
        match = _probable_class(str(label), classes)
        if match is None:
            other.append(repr(label))
        else:
            near.append(f"{label!r} -> {match!r}")
    parts = [f"first: cell {y.index[y.isin(unknown)][0]}"]
    if near:
        parts.append(f"rename them in the labels file: {', '.join(near)}")
    if other:
        parts.append(
            f"remove the cells labelled {', '.join(other)}, or train on labels that have "
            "that class (--labels)"
        )
    more = f"; and {len(unknown) - 8} more such labels" if len(unknown) > 8 else ""
    return f" ({parts[0]}); " + "; ".join(parts[1:]) + more


def _probable_class(label: str, classes: list[str]) -> str | None:
    """The class ``label`` probably means (see :func:`_label_hint`), if exactly one: the same
    letters in another case, or without spaces, '-', '_' or '+'; else the one class whose name
    starts with it or starts it; else,
    for a one-word label, the one near spelling. None when several would do (``Lamp5`` among
    the t-types ``Lamp5 Lsp1``, ``Lamp5 Plch2``, ...): a guess would mislabel the cells."""
    low = label.lower()
    for c in classes:
        if c.lower() == low:
            return c
    squeezed = [c for c in classes if _squeeze(c) == _squeeze(label)]
    if len(squeezed) == 1:  # 'Lamp 5', 'VIP+', 'sst-'
        return squeezed[0]
    if len(low) >= 2:
        starts = [c for c in classes if c.lower().startswith(low) or low.startswith(c.lower())]
        if starts:
            return starts[0] if len(starts) == 1 else None
    if " " in label.strip():
        return None
    close = difflib.get_close_matches(label, classes, n=2, cutoff=0.6)
    return close[0] if len(close) == 1 else None


def _squeeze(name: str) -> str:
    return re.sub(r"[\s_\-+]", "", name.lower())


__all__ = ["ADDED_SHARE", "MAX_REPEATS", "added_repeats", "with_added_cells"]
