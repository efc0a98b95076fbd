"""ephys2type: the transcriptomic type of cortical interneurons from Patch-seq electrophysiology.

Quick start::

    import ephys2type as e2t
    mouse = e2t.load_mouse()            # QC'd mouse cells, mouse5 labels
    human = e2t.load_human(features="aligned", labels="aligned4")

The names below are imported when first used, so ``import ephys2type`` (and the command
line's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

#: Public name -> the module that defines it.
_API = {
    "Ephys2TypeError": "ephys2type.errors",
    "Ephys2TypeWarning": "ephys2type.errors",
    "FeatureSchema": "ephys2type.data.schema",
    "get_schema": "ephys2type.data.schema",
    "PatchSeqData": "ephys2type.data.container",
    "apply_qc": "ephys2type.data.qc",
    "to_aligned": "ephys2type.data.align",
    "load_human": "ephys2type.data.datasets",
    "load_mouse": "ephys2type.data.datasets",
    "load_species": "ephys2type.data.datasets",
    "load_table": "ephys2type.data.user_tables",
    "load_model": "ephys2type.persist.format",
    "save_model": "ephys2type.persist.format",
    "CellTypeClassifier": "ephys2type.models.cell_classifier",
    "train_model": "ephys2type.persist.train",
    "read_h5ad_features": "ephys2type.data.h5ad",
    "predict_file": "ephys2type.persist.predict",
    "write_predictions": "ephys2type.persist.predict",
    "score_file": "ephys2type.persist.scoring",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from .data.align import to_aligned
    from .data.container import PatchSeqData
    from .data.datasets import load_human, load_mouse, load_species
    from .data.h5ad import read_h5ad_features
    from .data.qc import apply_qc
    from .data.schema import FeatureSchema, get_schema
    from .data.user_tables import load_table
    from .errors import Ephys2TypeError, Ephys2TypeWarning
    from .models.cell_classifier import CellTypeClassifier
    from .persist.format import load_model, save_model
    from .persist.predict import predict_file, write_predictions
    from .persist.scoring import score_file
    from .persist.train import train_model


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'ephys2type' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


__all__ = [
    "CellTypeClassifier",
    "Ephys2TypeError",
    "Ephys2TypeWarning",
    "FeatureSchema",
    "PatchSeqData",
    "__version__",
    "apply_qc",
    "get_schema",
    "load_human",
    "load_model",
    "load_mouse",
    "load_species",
    "load_table",
    "predict_file",
    "read_h5ad_features",
    "save_model",
    "score_file",
    "to_aligned",
    "train_model",
    "write_predictions",
]
