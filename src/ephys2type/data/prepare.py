"""The steps every loaded dataset goes through, bundled or a user's own: labels under a
label scheme, a QC profile, and the choice of native or aligned features.

:func:`~ephys2type.data.datasets.load_mouse`, :func:`~ephys2type.data.datasets.load_human`
and :func:`~ephys2type.data.user_tables.load_table` all end in :func:`prepare`, so a label
scheme, a QC profile and the aligned schema mean the same thing whatever the cells' origin.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from ephys2type.data.align import to_aligned
from ephys2type.data.container import PatchSeqData
from ephys2type.data.labels import get_scheme
from ephys2type.data.qc import apply_qc, excluded_subclasses
from ephys2type.errors import TableError

#: ``native``: the species' own schema; ``aligned``: the cross-species schema.
Features = Literal["native", "aligned"]


def prepare(
    data: PatchSeqData, *, labels: str | None, qc: str | None, features: Features
) -> PatchSeqData:
    """``data`` labelled under the scheme ``labels`` (None: unlabelled), with the QC
    profile ``qc`` applied (None: every cell kept), in its ``native`` or the ``aligned``
    schema, in that order: QC reads the labels, and the alignment needs the native units."""
    if labels is not None:
        scheme = get_scheme(labels, data.species)
        y = scheme.apply(data.meta, excluded=excluded_subclasses(data.species))
        data = replace(data, y=y, label_scheme=scheme.name)
    if qc is not None:
        data = apply_qc(data, qc)
    if features == "aligned":
        data = to_aligned(data)
    elif features != "native":
        raise TableError(f"features must be 'native' or 'aligned', not {features!r}")
    return data


__all__ = ["Features", "prepare"]
