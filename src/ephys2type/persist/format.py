"""The model-folder format: a trained model, saved safely and loaded back.

A saved model is a folder:

``model.json``   the sidecar: format version, schema, classes, preprocessing (training
                 medians, means, scales), hyperparameters, probability temperature, the
                 out-of-distribution reference, provenance (data SHA-256s, versions), and the
                 SHA-256 of the weights file;
``model.pt``     BiLSTM weights: a torch ``state_dict``, read with ``weights_only=True``;
``model.skops``  tree and linear models, read with skops and an explicit allow-list of types.

Nothing is ever unpickled: a model folder someone sent you cannot run code on load. The
loaded model predicts through the same
:class:`~ephys2type.models.preprocessing.FamilyPreprocessor` and
:func:`~ephys2type.models.calibration.softmax` as training (a test proves the loaded model
equal to the in-memory pipeline). Torch is imported only for BiLSTM models.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf

from ephys2type.data.schema import FeatureSchema
from ephys2type.data.tables import to_numeric
from ephys2type.errors import Ephys2TypeWarning, ModelFileError, TableError
from ephys2type.files import atomic_directory
from ephys2type.models.calibration import probability_logits, softmax
from ephys2type.models.preprocessing import FamilyPreprocessor

FORMAT = "ephys2type-model"
FORMAT_VERSION = 1
SIDECAR, TORCH_FILE, SKOPS_FILE = "model.json", "model.pt", "model.skops"
#: Types a saved tree model may contain beyond skops' defaults; anything else is refused.
SKOPS_ALLOWED = frozenset(
    {"sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"}
)
OOD_QUANTILE = 0.995


@dataclass
class OutOfDistribution:
    """Mahalanobis distance (Ledoit-Wolf covariance) of standardized training cells.

    A cell whose distance exceeds the 99.5th percentile of the training cells' distances is
    flagged: its call rests on extrapolation.
    """

    precision: np.ndarray
    threshold: float

    @classmethod
    def fit(cls, Z: np.ndarray) -> OutOfDistribution:
        cov = LedoitWolf().fit(Z)
        d = np.sqrt(np.einsum("ij,jk,ik->i", Z - cov.location_, cov.precision_, Z - cov.location_))
        return cls(cov.precision_, float(np.quantile(d, OOD_QUANTILE)))

    def score(self, Z: np.ndarray) -> np.ndarray:
        """Distance relative to the threshold (> 1 means out of distribution)."""
        return np.sqrt(np.einsum("ij,jk,ik->i", Z, self.precision, Z)) / self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision.tolist(),
            "threshold": self.threshold,
            "quantile": OOD_QUANTILE,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OutOfDistribution:
        return cls(np.asarray(raw["precision"], float), float(raw["threshold"]))


class TrainedModel:
    """A model trained on all cells of a dataset, ready to predict new cells.

    ``predict(features)`` takes a DataFrame (rows: cells, columns: the schema's features;
    extra columns ignored with a warning, NaN imputed with the training medians) and returns
    one row per cell: predicted class, calibrated probabilities, the families with most
    attention (BiLSTM), and an out-of-distribution flag.
    """

    def __init__(
        self,
        *,
        kind: str,
        schema: FeatureSchema,
        classes: list[str],
        preprocessing: FamilyPreprocessor,
        predictor: Any,
        temperature: float,
        ood: OutOfDistribution,
        info: dict[str, Any],
        hyperparameters: dict[str, Any],
    ):
        self.kind = kind
        self.schema = schema
        self.classes = list(classes)
        self.preprocessing = preprocessing
        self.predictor = predictor
        self.temperature = float(temperature)
        self.ood = ood
        self.info = info
        self.hyperparameters = hyperparameters

    def __repr__(self) -> str:
        return (
            f"TrainedModel({self.info.get('model')}, {self.kind}, schema={self.schema.name!r}, "
            f"classes={self.classes}, trained on {self.info.get('n_cells')} cells)"
        )

    # -- inference -----------------------------------------------------------------------------

    def _matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(features, pd.DataFrame):
            raise TableError("features must be a pandas DataFrame (rows: cells)")
        if features.empty:
            raise TableError("features table is empty")
        missing = [c for c in self.schema.columns if c not in features.columns]
        if missing:
            shown = ", ".join(missing[:12]) + (
                f", ... ({len(missing)} in all)" if len(missing) > 12 else ""
            )
            raise TableError(f"features: missing {len(missing)} column(s) the model needs: {shown}")
        extra = [c for c in features.columns if c not in self.schema.columns]
        if extra:
            warnings.warn(
                f"ignoring {len(extra)} column(s) the model does not use: "
                f"{', '.join(map(str, extra[:8]))}",
                Ephys2TypeWarning,
                stacklevel=3,
            )
        if not features.index.is_unique:
            dup = features.index[features.index.duplicated()][0]
            raise TableError(f"features: duplicate cell id {dup!r}")
        return to_numeric(
            features,
            self.schema.columns,
            path="features",
            locate=lambda pos: f"row {features.index[pos]!r}",
        )

    def _scores(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Calibrated probabilities, attention (BiLSTM) and the standardized features."""
        Z, flags = self.preprocessing.standardize(X)
        if self.kind == "bilstm":
            import torch

            with torch.no_grad():
                logits, att = self.predictor(
                    torch.as_tensor(Z, dtype=torch.float32), torch.as_tensor(flags > 0.5)
                )
            logits, attention = logits.numpy(), att.numpy()
        else:
            logits, attention = probability_logits(self.predictor.predict_proba(Z)), None
        return softmax(logits, self.temperature), attention, Z

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated class probabilities (columns in ``classes`` order)."""
        return self._scores(self._matrix(features))[0]

    def predict(self, features: pd.DataFrame, *, top: int = 2) -> pd.DataFrame:
        """One row per cell: class, probabilities, attention, out-of-distribution flag."""
        X = self._matrix(features)
        proba, attention, Z = self._scores(X)
        out = pd.DataFrame(index=X.index.rename("cell_id"))
        out["predicted"] = np.asarray(self.classes)[proba.argmax(axis=1)]
        out["probability"] = proba.max(axis=1)
        for i, cls in enumerate(self.classes):
            out[f"proba:{cls}"] = proba[:, i]
        if attention is not None:
            names = self.schema.family_names
            order = np.argsort(-attention, axis=1)[:, :top]
            out["top_families"] = [
                "; ".join(f"{names[j]} ({attention[r, j]:.2f})" for j in row)
                for r, row in enumerate(order)
            ]
        score = self.ood.score(Z)
        out["ood_score"] = score
        out["out_of_distribution"] = score > 1.0
        out["n_missing_features"] = X.isna().sum(axis=1).to_numpy()
        return out

    # -- saving --------------------------------------------------------------------------------

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model folder atomically (see module docstring)."""
        path = Path(path)
        buffer = io.BytesIO()
        if self.kind == "bilstm":
            import torch

            torch.save(self.predictor.state_dict(), buffer)
            weights_name = TORCH_FILE
        else:
            import skops.io as sio

            buffer.write(sio.dumps(self.predictor))
            weights_name = SKOPS_FILE
        weights = buffer.getvalue()
        sidecar = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "weights_file": weights_name,
            "weights_sha256": hashlib.sha256(weights).hexdigest(),
            "classes": self.classes,
            "schema": self.schema.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "temperature": self.temperature,
            "out_of_distribution": self.ood.to_dict(),
            "hyperparameters": self.hyperparameters,
            "info": self.info,
        }
        with atomic_directory(path, overwrite=overwrite) as tmp:
            (tmp / weights_name).write_bytes(weights)
            (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n")
        return path


# --------------------------------------------------------------------------------------------
# loading


def load_model(path: str | Path) -> TrainedModel:
    """Load a model folder written by :meth:`TrainedModel.save`, checking every file."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFileError(f"{path}: no such model folder")
    sidecar_path = path / SIDECAR
    try:
        sidecar = json.loads(sidecar_path.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: not an ephys2type model folder (no {SIDECAR})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{sidecar_path}: corrupted sidecar ({exc})") from exc
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise ModelFileError(f"{sidecar_path}: not an ephys2type model sidecar")
    if sidecar.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{sidecar_path}: model format version {sidecar.get('format_version')!r}; this "
            f"ephys2type reads version {FORMAT_VERSION}"
        )
    try:
        weights_name = sidecar["weights_file"]
        if weights_name not in (TORCH_FILE, SKOPS_FILE):
            raise ModelFileError(f"{sidecar_path}: unexpected weights file {weights_name!r}")
        weights_path = path / weights_name
        try:
            weights = weights_path.read_bytes()
        except FileNotFoundError:
            raise ModelFileError(f"{path}: weights file {weights_name} is missing") from None
        if hashlib.sha256(weights).hexdigest() != sidecar["weights_sha256"]:
            raise ModelFileError(
                f"{weights_path}: SHA-256 does not match the sidecar; the weights are "
                f"corrupted, truncated or were replaced"
            )
        schema = FeatureSchema.from_dict(sidecar["schema"], origin=str(sidecar_path))
        classes = [str(c) for c in sidecar["classes"]]
        if len(sidecar["preprocessing"]["medians"]) != len(schema.columns):
            raise ModelFileError(f"{sidecar_path}: preprocessing does not match the schema")
        prep = FamilyPreprocessor.from_dict(sidecar["preprocessing"], feature_names=schema.columns)
        hyper = sidecar["hyperparameters"]
        if sidecar["kind"] == "bilstm":
            predictor = _load_network(weights, weights_path, schema, classes, hyper)
        elif sidecar["kind"] == "sklearn":
            predictor = _load_skops(weights, weights_path)
        else:
            raise ModelFileError(f"{sidecar_path}: unknown model kind {sidecar['kind']!r}")
        return TrainedModel(
            kind=sidecar["kind"],
            schema=schema,
            classes=classes,
            preprocessing=prep,
            predictor=predictor,
            temperature=float(sidecar["temperature"]),
            ood=OutOfDistribution.from_dict(sidecar["out_of_distribution"]),
            info=dict(sidecar.get("info", {})),
            hyperparameters=hyper,
        )
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{sidecar_path}: invalid model sidecar ({exc!r})") from exc


def _load_network(
    weights: bytes, where: Path, schema: FeatureSchema, classes: list[str], hyper: dict[str, Any]
):
    import torch

    from ephys2type.models.bilstm.network import FamilyAttentionBiLSTM, NetworkConfig

    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or broken files
        raise ModelFileError(
            f"{where}: not a plain weights file (refused to load it: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from exc
    module = FamilyAttentionBiLSTM(
        schema.family_index(), len(schema.columns), len(classes), NetworkConfig.from_params(hyper)
    )
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"{where}: weights do not fit the model in the sidecar") from exc
    return module.eval()


def _load_skops(weights: bytes, where: Path):
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(data=weights))
    except Exception as exc:
        raise ModelFileError(f"{where}: not a readable skops file ({exc})") from exc
    refused = untrusted - SKOPS_ALLOWED
    if refused:
        raise ModelFileError(
            f"{where}: refused to load types ephys2type does not trust: "
            f"{', '.join(sorted(refused))}"
        )
    try:
        return sio.loads(weights, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelFileError(f"{where}: cannot load the estimator ({exc})") from exc
