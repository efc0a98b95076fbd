"""The model-folder format: a fitted :class:`CellTypeClassifier`, written safely and read back.

A saved model is a folder:

``model.json``          the sidecar: format version, the classifier's parameters (the registry
                        model and its parameters), schema, classes, the standardization, the
                        out-of-distribution estimator, the plausible ranges, provenance (data
                        SHA-256s, versions), and, per member, its folder and the SHA-256 of its
                        sidecar;
``members/<k>/``        one member (a model of one feature set): ``member.json`` (its features,
                        temperature, conformal scores, expected accuracy, the backend's
                        values and the SHA-256 of its weights) and the weights
                        (``model.skops`` or ``model.pt``, see :mod:`.backends`);
``training_cells.csv``  the training cells (features, label, whether a calibration cell),
                        from which a member for a feature set no member fits is fitted on
                        demand; its SHA-256 is in the sidecar.

The sidecar's ``params`` are the classifier's ``get_params(deep=False)`` (the model by its
registry name and parameters, the schema apart), so a loaded classifier has exactly the
parameters of the one saved. Nothing is ever unpickled, and every file is checked against
the SHA-256 its parent records, so a swapped or truncated file is refused. Members are read
when a cell first needs them. Members fitted on demand for a loaded model can be kept in a
folder the caller names (:class:`FolderStore`, under the SHA-256 of the model's sidecar), so
the same feature set is instant the next time; the model folder itself is never changed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.schema import FeatureSchema
from ephys2type.errors import Ephys2TypeError, ModelFileError
from ephys2type.files import atomic_directory
from ephys2type.models.cell_classifier import CellTypeClassifier
from ephys2type.models.conformal import Calibration
from ephys2type.models.members import Member, MemoryStore
from ephys2type.models.novelty import FeatureDistance
from ephys2type.models.plausibility import PlausibleRanges
from ephys2type.models.preprocessing import FamilyPreprocessor
from ephys2type.models.registry import ModelSpec, get_model
from ephys2type.persist.backends import backend_for, backend_named

FORMAT = "ephys2type-model"
FORMAT_VERSION = 3
SIDECAR, MEMBER_SIDECAR = "model.json", "member.json"
MEMBERS_DIR, TRAINING_FILE = "members", "training_cells.csv"
LABEL_COLUMN, CALIBRATION_COLUMN = "__label__", "__calibration__"
#: How many times each training cell counts (written only when some cell counts more).
REPEATS_COLUMN = "__repeats__"
#: Parameters a sidecar records apart from ``params``: the model (by name and parameters)
#: and the schema (its own entry).
APART = ("model", "schema")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# writing


def save_model(clf: CellTypeClassifier, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the fitted classifier ``clf`` as a model folder, atomically."""
    path = Path(path)
    spec = clf.fitted_spec()  # what its members were built with
    with atomic_directory(path, overwrite=overwrite) as tmp:
        members = []
        for k, member in enumerate([*clf.members_, *clf.on_demand_.values()]):
            folder = tmp / MEMBERS_DIR / str(k)
            folder.mkdir(parents=True)
            members.append(
                {"folder": f"{MEMBERS_DIR}/{k}", "sidecar_sha256": write_member(member, folder)}
            )
        training = _training_csv(clf)
        (tmp / TRAINING_FILE).write_bytes(training)
        params = clf.get_params(deep=False)
        sidecar = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": spec.name,
            "model_params": dict(spec.params),
            "params": {k: _param(v) for k, v in params.items() if k not in APART},
            "classes": [str(c) for c in clf.classes_],
            "schema": clf.schema_.to_dict(),
            "scaler": clf.scaler_.to_dict(),
            "distance": clf.distance_.to_dict(),
            "ranges": clf.ranges_.to_dict(),
            "usually_measured": [bool(v) for v in clf.usually_measured_],
            "members": members,
            "training_cells": {"file": TRAINING_FILE, "sha256": _sha(training)},
            "provenance": clf.provenance_,
        }
        (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n", "utf-8")
    return path


def _param(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return value


def _training_csv(clf: CellTypeClassifier) -> bytes:
    table = clf.X_train_.copy()
    table[LABEL_COLUMN] = clf.y_train_
    table[CALIBRATION_COLUMN] = clf.calibration_.astype(int)
    if (clf.repeats_ > 1).any():
        table[REPEATS_COLUMN] = clf.repeats_
    table.index.name = "cell_id"
    return table.to_csv().encode("utf-8")


def write_member(member: Member, folder: Path) -> str:
    """Write one member into ``folder``; returns the SHA-256 of its sidecar."""
    backend = backend_for(member.estimator)
    dumped = backend.dump(member.estimator)
    (folder / dumped.weights_file).write_bytes(dumped.weights)
    sidecar = {
        "kind": backend.name,
        **member.describe(),
        "backend": dumped.meta,
        "weights_file": dumped.weights_file,
        "weights_sha256": _sha(dumped.weights),
    }
    text = (json.dumps(sidecar, indent=1) + "\n").encode("utf-8")
    (folder / MEMBER_SIDECAR).write_bytes(text)
    return _sha(text)


# --------------------------------------------------------------------------------------------
# reading


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path.parent}: not an ephys2type {what} (no {path.name})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupted sidecar ({exc})") from exc
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path}: not an ephys2type {what} sidecar")
    return raw


def read_member(folder: Path, digest: str | None, columns: list[str]) -> Member:
    """The member in ``folder`` (its sidecar checked against ``digest``); its weights are
    read, and checked, when a cell first needs it."""
    path = folder / MEMBER_SIDECAR
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{folder}: member model is missing") from None
    if digest is not None and _sha(text) != digest:
        raise ModelFileError(f"{folder}: member model does not match {SIDECAR}")
    raw = _read_json(path, "member")
    try:
        features = tuple(str(c) for c in raw["features"])
        unknown = set(features) - set(columns)
        if unknown:
            raise ModelFileError(f"{path}: features not in the schema: {sorted(unknown)[:3]}")
        backend = backend_named(raw["kind"], str(path))
        weights_path = folder / raw["weights_file"]
        if weights_path.name != backend.weights_file:
            raise ModelFileError(f"{path}: unexpected weights file {raw['weights_file']!r}")
        if not weights_path.exists():
            raise ModelFileError(f"{folder}: weights file {weights_path.name} is missing")
        ordered = [c for c in columns if c in set(features)]
        return Member(
            features=tuple(ordered),
            calibration=Calibration.from_dict(raw),
            origin=str(raw["origin"]),
            loader=functools.partial(
                _load_pipeline,
                backend.name,
                raw["backend"],
                weights_path,
                str(raw["weights_sha256"]),
                ordered,
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid member sidecar ({exc!r})") from exc


def _load_pipeline(kind: str, meta: dict, weights_path: Path, digest: str, columns: list[str]):
    try:
        weights = weights_path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(
            f"{weights_path.parent}: weights file {weights_path.name} is missing"
        ) from None
    if _sha(weights) != digest:
        raise ModelFileError(
            f"{weights_path}: SHA-256 does not match the sidecar; the weights are "
            f"corrupted, truncated or were replaced"
        )
    try:
        return backend_named(kind, str(weights_path)).load(
            meta, weights, columns, str(weights_path)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{weights_path}: cannot rebuild the model ({exc!r})") from exc


def _spec(name: str, params: dict[str, Any]) -> ModelSpec | str:
    """The ``model`` parameter of a loaded classifier: the registry name when the model has
    its registered parameters (as ``train`` was given it: ``get_params()`` then equals the
    trained classifier's), else the spec with the saved parameters."""
    spec = get_model(name)
    return name if params == dict(spec.params) else spec.with_params(**params)


def load_model(path: str | Path, *, load_members: bool = False) -> CellTypeClassifier:
    """Load a model folder written by :func:`save_model`, checking every file it reads.

    Members are read when a cell first needs them; ``load_members`` reads (and checks)
    them all now.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelFileError(
            f"{path}: no such model folder; give a folder `ephys2type train --out` wrote"
        )
    sidecar = _read_json(path / SIDECAR, "model folder")
    if sidecar.get("format") != FORMAT:
        raise ModelFileError(f"{path / SIDECAR}: not an ephys2type model sidecar")
    if sidecar.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path / SIDECAR}: model format version {sidecar.get('format_version')!r}; this "
            f"ephys2type reads version {FORMAT_VERSION} (train the model again)"
        )
    try:
        schema = FeatureSchema.from_dict(sidecar["schema"], origin=str(path / SIDECAR))
        params = dict(sidecar["params"])
        params["level_names"] = tuple(params["level_names"])
        clf = CellTypeClassifier(
            model=_spec(sidecar["model"], dict(sidecar["model_params"])), schema=schema, **params
        )
        columns = schema.columns
        clf.model_params_ = dict(clf.model_spec().params)
        clf.schema_ = schema
        clf.classes_ = np.asarray(sidecar["classes"], dtype=object)
        clf.feature_names_in_ = np.asarray(columns, dtype=object)
        clf.n_features_in_ = len(columns)
        clf.scaler_ = FamilyPreprocessor.from_dict(sidecar["scaler"], feature_names=columns)
        clf.distance_ = FeatureDistance.from_dict(sidecar["distance"])
        clf.ranges_ = PlausibleRanges.from_dict(sidecar["ranges"])
        clf.usually_measured_ = np.asarray(sidecar["usually_measured"], dtype=bool)
        if not (
            len(clf.usually_measured_) == len(clf.ranges_.features) == len(columns)
            and clf.distance_.n_features_in_ == len(columns)
        ):
            raise ModelFileError(f"{path / SIDECAR}: the statistics do not match the schema")
        clf.members_, clf.on_demand_ = [], {}
        for entry in sidecar["members"]:
            where = path / MEMBERS_DIR / Path(entry["folder"]).name
            member = read_member(where, entry["sidecar_sha256"], columns)
            if member.origin == "on demand":
                clf.on_demand_[frozenset(member.features)] = member
            else:
                clf.members_.append(member)
        _read_training(clf, path / TRAINING_FILE, sidecar["training_cells"]["sha256"])
        clf.provenance_ = dict(sidecar.get("provenance") or {})
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path / SIDECAR}: invalid model sidecar ({exc!r})") from exc
    if load_members:
        for member in clf.members_:
            _ = member.estimator
    return clf


def _read_training(clf: CellTypeClassifier, path: Path, digest: str) -> None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path.parent}: training cells ({path.name}) are missing") from None
    if _sha(data) != digest:
        raise ModelFileError(f"{path}: SHA-256 does not match the sidecar")
    table = pd.read_csv(io.BytesIO(data), index_col=0, dtype={0: str})  # floats round-trip
    columns = clf.schema_.columns
    expected = [*columns, LABEL_COLUMN, CALIBRATION_COLUMN]
    if list(table.columns) not in (expected, [*expected, REPEATS_COLUMN]):
        raise ModelFileError(f"{path}: columns do not match the schema")
    table.index = table.index.astype(str)
    clf.X_train_ = table[columns].astype(np.float64)
    clf.y_train_ = table[LABEL_COLUMN].astype(str).to_numpy(dtype=object)
    clf.calibration_ = table[CALIBRATION_COLUMN].to_numpy() == 1
    clf.repeats_ = (
        table[REPEATS_COLUMN].to_numpy(dtype=np.int64)
        if REPEATS_COLUMN in table.columns
        else np.ones(len(table), dtype=np.int64)
    )


def model_digest(path: str | Path) -> str:
    """The SHA-256 of a model folder's sidecar: what identifies the model."""
    try:
        return _sha((Path(path) / SIDECAR).read_bytes())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: not an ephys2type model folder (no {SIDECAR})") from None


class FolderStore(MemoryStore):
    """Members fitted on demand for one model, kept in memory and under ``root``
    (``<root>/<sidecar SHA-256>/<feature-set SHA-256>/``), so that another process predicting
    with the same model finds them. A broken entry is refitted, never trusted; a read-only
    ``root`` costs a refit next time."""

    def __init__(self, root: str | Path, model_digest: str, columns: list[str]):
        super().__init__()
        self.root = Path(root)
        self.model_digest = model_digest
        self.columns = list(columns)

    @classmethod
    def for_model(cls, root: str | Path, model_path: str | Path, clf: CellTypeClassifier):
        """The store of the model saved at ``model_path`` (loaded as ``clf``)."""
        return cls(root, model_digest(model_path), clf.schema_.columns)

    def _folder(self, features) -> Path:
        key = _sha("\n".join(sorted(features)).encode())[:32]
        return self.root / self.model_digest[:32] / key

    def get(self, features) -> Member | None:
        found = super().get(features)
        if found is not None:
            return found
        folder = self._folder(features)
        if not (folder / MEMBER_SIDECAR).exists():
            return None
        try:
            member = read_member(folder, None, self.columns)
            _ = member.estimator  # a broken cache entry is refitted, not trusted
        except ModelFileError:
            return None
        if set(member.features) != set(features):
            return None
        super().put(member)
        return member

    def put(self, member: Member) -> None:
        super().put(member)
        folder = self._folder(member.features)
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            with atomic_directory(folder, overwrite=True) as tmp:
                write_member(member, tmp)
        except (OSError, Ephys2TypeError):  # a read-only cache costs a refit next time
            pass
