"""How each kind of fitted model is written and read safely: a small registry of backends.

A member of a :class:`~ephys2type.models.cell_classifier.CellTypeClassifier` is a fitted
pipeline: :class:`~ephys2type.models.preprocessing.FamilyPreprocessor` then a model. A
backend turns such a pipeline into JSON-ready values plus one weights file, and back:

``sklearn``  tree and linear models: the preprocessing statistics as JSON, the model with
             skops and an explicit allow-list of types (:data:`SKOPS_ALLOWED`);
``bilstm``   the attention BiLSTM: the preprocessing statistics and the estimator's
             parameters as JSON, the network as a torch ``state_dict`` read with
             ``weights_only=True``;
``hierarchical``  a :class:`~ephys2type.models.hierarchy.HierarchicalClassifier` (the
             parent-level model, then one model per parent): each node written by its own
             backend, the nodes' weights in one uncompressed zip archive.

Nothing is ever unpickled, so a model folder someone sent you cannot run code on load; and
the pipeline read back predicts exactly as the one written (tests compare them). Torch is
imported only by the ``bilstm`` backend.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any, Protocol

from ephys2type.errors import ModelFileError
from ephys2type.models.preprocessing import FamilyPreprocessor

#: Types a saved tree model may contain beyond skops' defaults; anything else is refused.
SKOPS_ALLOWED = frozenset(
    {"sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"}
)


@dataclass(frozen=True)
class Dumped:
    """A pipeline as written: JSON-ready ``meta`` and the bytes of ``weights_file``."""

    meta: dict[str, Any]
    weights_file: str
    weights: bytes


class Backend(Protocol):
    name: str
    weights_file: str

    def handles(self, pipeline) -> bool: ...

    def dump(self, pipeline) -> Dumped: ...

    def load(self, meta: dict[str, Any], weights: bytes, columns: list[str], where: str): ...


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


def _is_pipeline(model) -> bool:
    from sklearn.pipeline import Pipeline

    return isinstance(model, Pipeline)


def _steps(pipeline) -> tuple[FamilyPreprocessor, Any]:
    if not _is_pipeline(pipeline):
        raise ModelFileError(f"cannot save a {type(pipeline).__name__} (not a pipeline)")
    steps = dict(pipeline.named_steps)
    if set(steps) - {"prep", "smote", "model"} or "prep" not in steps:
        raise ModelFileError(
            f"cannot save a pipeline with steps {', '.join(steps)} (prep [, smote], model)"
        )
    return steps["prep"], steps["model"]


def _pipeline(prep: FamilyPreprocessor, model):
    from sklearn.pipeline import Pipeline

    return Pipeline([("prep", prep), ("model", model)])


#: scikit-learn's array-API adapters for libraries no saved model uses (see :func:`_skops_io`)
_ARRAY_ADAPTERS = tuple(
    f"sklearn.externals.array_api_compat.{library}" for library in ("torch", "dask", "cupy")
)


def _skops_io():
    """``skops.io``, imported without importing torch or dask on the way.

    skops lists every scikit-learn estimator when it is imported
    (``sklearn.utils.all_estimators``), which imports every scikit-learn subpackage, among
    them the array-API adapters for torch and dask, which import those libraries: about 1 s
    (torch) and 0.3 s (dask) of a 20-cell ``predict`` with a tree model, for nothing (no tree
    model uses them). The adapters not yet imported are hidden for that one import (the
    package walk skips a subpackage it cannot import) and importable again afterwards.
    """
    import sys

    if "skops.io" in sys.modules:
        import skops.io

        return skops.io
    hidden = [name for name in _ARRAY_ADAPTERS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import skops.io
    finally:
        for name in hidden:
            del sys.modules[name]
    return skops.io


class SklearnBackend:
    """Tree and linear models (see the module docstring)."""

    name = "sklearn"
    weights_file = "model.skops"

    def handles(self, pipeline) -> bool:
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
        from sklearn.linear_model import LogisticRegression

        if not _is_pipeline(pipeline):
            return False
        model = _steps(pipeline)[1]
        return isinstance(
            model, (RandomForestClassifier, HistGradientBoostingClassifier, LogisticRegression)
        )

    def dump(self, pipeline) -> Dumped:
        sio = _skops_io()

        prep, model = _steps(pipeline)
        params = {k: v for k, v in model.get_params().items() if _jsonable(v)}
        return Dumped(
            meta={"preprocessing": prep.to_dict(), "flags": prep.flags, "hyperparameters": params},
            weights_file=self.weights_file,
            # deflated: a 500-tree forest is 41 MB stored and 7 MB deflated, read as fast
            weights=sio.dumps(model, compression=zipfile.ZIP_DEFLATED),
        )

    def load(self, meta: dict[str, Any], weights: bytes, columns: list[str], where: str):
        sio = _skops_io()
        from skops.io.exceptions import UntrustedTypesFoundException

        try:
            # one pass: skops audits the file against its defaults plus our allow-list and
            # refuses anything else before building a single object
            model = sio.loads(weights, trusted=sorted(SKOPS_ALLOWED))
        except UntrustedTypesFoundException as exc:
            refused = sorted(set(sio.get_untrusted_types(data=weights)) - SKOPS_ALLOWED)
            raise ModelFileError(
                f"{where}: refused to load types ephys2type does not trust: {', '.join(refused)}"
            ) from exc
        except Exception as exc:
            raise ModelFileError(f"{where}: not a readable skops file ({exc})") from exc
        prep = FamilyPreprocessor.from_dict(
            meta["preprocessing"], flags=bool(meta["flags"]), feature_names=columns
        )
        return _pipeline(prep, model)


class BiLSTMBackend:
    """The attention BiLSTM (see the module docstring)."""

    name = "bilstm"
    weights_file = "model.pt"

    def handles(self, pipeline) -> bool:
        if not _is_pipeline(pipeline) or "model" not in pipeline.named_steps:
            return False
        from ephys2type.models.bilstm.estimator import FamilyBiLSTMClassifier

        return isinstance(_steps(pipeline)[1], FamilyBiLSTMClassifier)

    def dump(self, pipeline) -> Dumped:
        import torch

        prep, net = _steps(pipeline)
        buffer = io.BytesIO()
        torch.save(net.module_.state_dict(), buffer)
        params = {
            k: v for k, v in net.get_params().items() if k not in ("random_state",) and _jsonable(v)
        }
        return Dumped(
            meta={
                "preprocessing": prep.to_dict(),
                "flags": prep.flags,
                "hyperparameters": params,
                "classes": [str(c) for c in net.classes_],
                "temperature": float(net.temperature_),
                "n_columns": int(net.n_features_in_),
                "epochs_trained": int(net.n_epochs_),
                "best_epoch": None if net.best_epoch_ is None else int(net.best_epoch_),
            },
            weights_file=self.weights_file,
            weights=buffer.getvalue(),
        )

    def load(self, meta: dict[str, Any], weights: bytes, columns: list[str], where: str):
        import torch

        from ephys2type.models.bilstm.estimator import FamilyBiLSTMClassifier

        try:
            state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for foreign or broken files
            raise ModelFileError(
                f"{where}: not a plain weights file (refused to load it: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from exc
        net = FamilyBiLSTMClassifier(**meta["hyperparameters"])
        try:
            net.restore(state, meta["classes"], meta["temperature"], int(meta["n_columns"]))
        except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
            raise ModelFileError(f"{where}: weights do not fit the model in the sidecar") from exc
        prep = FamilyPreprocessor.from_dict(
            meta["preprocessing"], flags=bool(meta["flags"]), feature_names=columns
        )
        return _pipeline(prep, net)


class HierarchicalBackend:
    """A two-level classifier: each node (the parent-level model, each parent's model of
    its children) is written by its own backend; their weights go into one zip archive
    (stored, not deflated: the nodes' archives are compressed already)."""

    name = "hierarchical"
    weights_file = "model.zip"

    def handles(self, model) -> bool:
        from ephys2type.models.hierarchy import HierarchicalClassifier

        return isinstance(model, HierarchicalClassifier)

    def dump(self, model) -> Dumped:
        nodes = {} if model.parent_model_ is None else {"parent": model.parent_model_}
        nodes.update({f"child/{p}": m for p, m in model.child_models_.items()})
        meta: dict[str, Any] = {
            "parents": [str(p) for p in model.parents_],
            "children": {str(p): [str(c) for c in kids] for p, kids in model.children_.items()},
            "parent_of": {str(k): str(v) for k, v in model.parent_of.items()},
            "nodes": {},
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for k, (node, pipeline) in enumerate(nodes.items()):
                backend = backend_for(pipeline)
                dumped = backend.dump(pipeline)
                entry = f"{k}/{dumped.weights_file}"
                archive.writestr(entry, dumped.weights)
                meta["nodes"][node] = {"kind": backend.name, "meta": dumped.meta, "file": entry}
        return Dumped(meta=meta, weights_file=self.weights_file, weights=buffer.getvalue())

    def load(self, meta: dict[str, Any], weights: bytes, columns: list[str], where: str):
        import numpy as np

        from ephys2type.models.hierarchy import HierarchicalClassifier

        try:
            archive = zipfile.ZipFile(io.BytesIO(weights))
        except zipfile.BadZipFile as exc:
            raise ModelFileError(f"{where}: not a readable archive ({exc})") from exc
        with archive:
            names = set(archive.namelist())

            def node(key: str):
                entry = meta["nodes"][key]
                if entry["kind"] == self.name or entry["file"] not in names:
                    raise ModelFileError(f"{where}: node {key!r} is missing or nested")
                backend = backend_named(entry["kind"], where)
                return backend.load(entry["meta"], archive.read(entry["file"]), columns, where)

            clf = HierarchicalClassifier(parent_of=dict(meta["parent_of"]))
            clf.parent_of_ = dict(meta["parent_of"])
            clf.feature_names_in_ = np.asarray(columns, dtype=object)
            clf.n_features_in_ = len(columns)
            clf.parent_model_ = node("parent") if "parent" in meta["nodes"] else None
            clf.parents_ = np.asarray(meta["parents"], dtype=object)
            clf.children_ = {p: list(kids) for p, kids in meta["children"].items()}
            clf.child_models_ = {
                key.removeprefix("child/"): node(key)
                for key in meta["nodes"]
                if key.startswith("child/")
            }
        clf.classes_ = np.asarray([c for p in clf.parents_ for c in clf.children_[p]], dtype=object)
        return clf


#: The backends, tried in order; register another with :func:`register_backend`.
BACKENDS: dict[str, Backend] = {
    b.name: b for b in (SklearnBackend(), BiLSTMBackend(), HierarchicalBackend())
}


def register_backend(backend: Backend) -> None:
    """Add a backend (a model kind that can be saved)."""
    BACKENDS[backend.name] = backend


def backend_for(pipeline) -> Backend:
    """The backend that can write ``pipeline``; an error names the savable kinds."""
    for backend in BACKENDS.values():
        if backend.handles(pipeline):
            return backend
    model = _steps(pipeline)[1] if _is_pipeline(pipeline) else pipeline
    raise ModelFileError(
        f"no way to save a {type(model).__name__}; savable kinds: {', '.join(BACKENDS)}"
    )


def backend_named(name: str, where: str) -> Backend:
    if name not in BACKENDS:
        raise ModelFileError(f"{where}: unknown model kind {name!r}")
    return BACKENDS[name]
