"""ephys2type: the transcriptomic type of cortical interneurons from Patch-seq electrophysiology.

Quick start::

    import ephys2type as e2t
    mouse = e2t.load_mouse()            # QC'd mouse cells, mouse5 labels
    human = e2t.load_human(features="aligned", labels="aligned4")
"""

from __future__ import annotations

from ephys2type.data.align import to_aligned
from ephys2type.data.container import PatchSeqData
from ephys2type.data.datasets import load_human, load_mouse, load_species, load_table
from ephys2type.data.qc import apply_qc
from ephys2type.data.schema import FeatureSchema, get_schema
from ephys2type.errors import Ephys2TypeError

from ._version import __version__


def load_model(path):
    """Load a saved model folder (see :func:`ephys2type.persist.load_model`)."""
    from ephys2type.persist.format import load_model as _load

    return _load(path)


def train_model(data, model="bilstm-smote", *, random_state=0):
    """Train on all cells of ``data`` (see :func:`ephys2type.persist.train_model`)."""
    from ephys2type.persist.train import train_model as _train

    return _train(data, model, random_state=random_state)


__all__ = [
    "Ephys2TypeError",
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
    "to_aligned",
    "train_model",
]
