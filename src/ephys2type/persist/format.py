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

import functools
import hashlib
import io
import json
import warnings
from collections.abc import Callable
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
from ephys2type.persist.levels import LevelCalibration

FORMAT = "ephys2type-model"
FORMAT_VERSION = 1
SIDECAR, TORCH_FILE, SKOPS_FILE = "model.json", "model.pt", "model.skops"
#: Folder of a model folder holding one model folder per family subset (1, 2, ...).
SUBSETS_DIR = "subsets"
#: Types a saved tree model may contain beyond skops' defaults; anything else is refused.
SKOPS_ALLOWED = frozenset(
    {"sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"}
)
OOD_QUANTILE = 0.995
#: Above this many features the distance is measured on each family's leading principal
#: components (:class:`FamilyProjection`): a full covariance of thousands of vector
#: elements would be slow to fit and large to store, and unstable from few cells.
OOD_MAX_FEATURES = 256
#: Principal components kept per family in that case.
OOD_COMPONENTS = 5


@dataclass
class FamilyProjection:
    """Each family's standardized values projected on its leading principal components
    (fitted on the training cells); a family counts as measured for a cell when at least
    half of its values are. A shift outside those leading components is not seen: the price
    of a distance that a few hundred cells can estimate."""

    columns: list[np.ndarray]
    means: list[np.ndarray]
    components: list[np.ndarray]

    @classmethod
    def fit(
        cls, Z: np.ndarray, families: list[list[int]], n_components: int = OOD_COMPONENTS
    ) -> FamilyProjection:
        columns, means, components = [], [], []
        for cols in families:
            block = Z[:, cols]
            k = max(1, min(n_components, len(cols), len(Z) - 1))
            mean = block.mean(axis=0)
            _, _, vt = np.linalg.svd(block - mean, full_matrices=False)
            columns.append(np.asarray(cols, int))
            means.append(mean)
            components.append(vt[:k])
        return cls(columns, means, components)

    def transform(self, Z: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts, seen = [], []
        for cols, mean, comp in zip(self.columns, self.means, self.components, strict=True):
            parts.append((Z[:, cols] - mean) @ comp.T)
            present = observed[:, cols].mean(axis=1) >= 0.5
            seen.append(np.repeat(present[:, None], len(comp), axis=1))
        return np.hstack(parts), np.hstack(seen)

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"columns": c.tolist(), "mean": m.tolist(), "components": v.tolist()}
            for c, m, v in zip(self.columns, self.means, self.components, strict=True)
        ]

    @classmethod
    def from_dict(cls, raw: list[dict[str, Any]]) -> FamilyProjection:
        return cls(
            [np.asarray(r["columns"], int) for r in raw],
            [np.asarray(r["mean"], float) for r in raw],
            [np.asarray(r["components"], float).reshape(-1, len(r["mean"])) for r in raw],
        )


@dataclass
class OutOfDistribution:
    """Mahalanobis distance (Ledoit-Wolf covariance) to the standardized training cells.

    A cell's distance uses only the features it has: the Mahalanobis distance of the
    marginal of those features, divided by the chi-square quantile for their number (so a
    cell missing much never looks typical merely for having fewer terms). A cell is flagged
    when this exceeds the 99.5th percentile of the same quantity for *held-out* training
    cells: the threshold is cross-fitted (5 folds), because cells scored against a covariance
    fitted on themselves look closer than new cells do (in-sample, 6% of held-out human cells
    were flagged instead of 0.5%).
    """

    precision: np.ndarray
    threshold: float  # in units of distance / sqrt(chi2 quantile of the features measured)
    #: For schemas wider than :data:`OOD_MAX_FEATURES`: the space the distance is taken in.
    projection: FamilyProjection | None = None

    @staticmethod
    def _normalised(Z: np.ndarray, observed: np.ndarray, precision: np.ndarray) -> np.ndarray:
        from scipy.stats import chi2

        cov = np.linalg.inv(precision)
        out = np.full(len(Z), np.inf)  # nothing measured: infinitely far from anything learnt
        patterns, inverse = np.unique(observed, axis=0, return_inverse=True)
        for i, pattern in enumerate(patterns):
            k = int(pattern.sum())
            if k == 0:
                continue
            rows = np.flatnonzero(inverse.ravel() == i)
            z = Z[np.ix_(rows, pattern)]
            sub = precision if k == len(pattern) else np.linalg.inv(cov[np.ix_(pattern, pattern)])
            d = np.sqrt(np.einsum("ij,jk,ik->i", z, sub, z))
            out[rows] = d / np.sqrt(chi2.ppf(OOD_QUANTILE, k))
        return out

    @classmethod
    def fit(
        cls,
        Z: np.ndarray,
        observed: np.ndarray | None = None,
        *,
        n_splits: int = 5,
        random_state: int = 0,
        families: list[list[int]] | None = None,
    ) -> OutOfDistribution:
        """Fit on standardized (imputed) training cells; ``observed`` marks measured values.
        With more than :data:`OOD_MAX_FEATURES` features and the ``families`` (column
        positions), the distance is taken on each family's principal components."""
        from sklearn.model_selection import KFold

        Z = np.asarray(Z, dtype=np.float64)
        observed = np.ones(Z.shape, dtype=bool) if observed is None else np.asarray(observed)
        wide = families is not None and Z.shape[1] > OOD_MAX_FEATURES

        def space(rows: np.ndarray, fit_rows: np.ndarray):
            if not wide:
                return None, Z[rows], observed[rows]
            projection = FamilyProjection.fit(Z[fit_rows], families)
            return (projection, *projection.transform(Z[rows], observed[rows]))

        every = np.arange(len(Z))
        projection, T, _ = space(every, every)
        cov = LedoitWolf().fit(T)
        r = np.empty(len(Z))
        for train, test in KFold(n_splits, shuffle=True, random_state=random_state).split(Z):
            fold_projection, T_train, _ = space(train, train)
            part = LedoitWolf().fit(T_train)
            if fold_projection is None:
                T_test, seen = Z[test], observed[test]
            else:
                T_test, seen = fold_projection.transform(Z[test], observed[test])
            r[test] = cls._normalised(T_test - part.location_, seen, part.precision_)
        return cls(cov.precision_, float(np.quantile(r, OOD_QUANTILE)), projection)

    def score(self, Z: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
        """Distance relative to the threshold (> 1 means out of distribution); with
        ``observed`` (a boolean mask) only the measured features count."""
        Z = np.asarray(Z, dtype=np.float64)
        observed = np.ones(Z.shape, dtype=bool) if observed is None else np.asarray(observed)
        if self.projection is not None:
            Z, observed = self.projection.transform(Z, observed)
        return self._normalised(Z, observed, self.precision) / self.threshold

    def to_dict(self) -> dict[str, Any]:
        out = {
            "precision": self.precision.tolist(),
            "threshold": self.threshold,
            "quantile": OOD_QUANTILE,
            "scale": "chi2-marginal",
        }
        if self.projection is not None:
            out["family_projection"] = self.projection.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OutOfDistribution:
        precision = np.asarray(raw["precision"], float)
        threshold = float(raw["threshold"])
        if raw.get("scale") != "chi2-marginal":  # saved before the per-feature-count scale
            from scipy.stats import chi2

            threshold /= np.sqrt(chi2.ppf(OOD_QUANTILE, len(precision)))
        projection = raw.get("family_projection")
        return cls(
            precision,
            threshold,
            None if projection is None else FamilyProjection.from_dict(projection),
        )


class TrainedModel:
    """A model trained on all cells of a dataset, ready to predict new cells.

    It behaves like a fitted scikit-learn classifier: :meth:`predict` (class labels),
    :meth:`predict_proba` (calibrated probabilities, columns in ``classes_`` order),
    :meth:`score` (accuracy), ``classes_``, ``feature_names_in_`` and ``n_features_in_``.
    Input is a DataFrame with the schema's feature columns (extra columns are ignored with a
    warning; a cell-id column is recognised and used as the index) or an array with the
    features in ``feature_names_in_`` order, or an AnnData object (its ``.to_df()``: cells
    ``obs_names`` x features ``var_names``). Missing values are imputed with the training
    medians.

    :meth:`predict_table` gives the rich per-cell table, indexed by the caller's cell ids:
    class, probabilities, the families with most attention (BiLSTM), the out-of-distribution
    score and flag (computed on the measured features only), and the training QC rule a cell
    fails, if any.
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
        subsets: list[TrainedModel | Callable[[], TrainedModel]] | None = None,
        subset_families: list[list[str]] | None = None,
        levels: LevelCalibration | None = None,
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
        # two-level labels (t-type -> subclass): per-level calls and conformal sets
        self.levels = levels
        # models of the same kind trained on the family subsets a lab plausibly has (largest
        # first); a cell is predicted by the model of the largest subset it has. A loaded
        # folder gives loaders, so a subset model is read only when a cell needs it.
        self._subsets = list(subsets or [])
        self._subset_families = (
            [list(f) for f in subset_families]
            if subset_families is not None
            else [m.schema.family_names for m in self._subsets]
        )
        self.classes_ = np.asarray(self.classes, dtype=object)
        self.feature_names_in_ = np.asarray(schema.columns, dtype=object)
        self.n_features_in_ = len(schema.columns)

    def __repr__(self) -> str:
        return (
            f"TrainedModel({self.info.get('model')}, {self.kind}, schema={self.schema.name!r}, "
            f"classes={self.classes}, trained on {self.info.get('n_cells')} cells)"
        )

    # -- inference -----------------------------------------------------------------------------

    def _matrix(self, features, id_column: str | None = None) -> pd.DataFrame:
        """The features as a float DataFrame in schema order, indexed by the cell ids."""
        if hasattr(features, "to_df") and hasattr(features, "obs_names"):
            features = features.to_df()  # an AnnData object: obs_names x var_names
        if isinstance(features, np.ndarray) or (
            not isinstance(features, pd.DataFrame) and hasattr(features, "__array__")
        ):
            array = np.asarray(features)
            if array.ndim != 2 or array.shape[1] != self.n_features_in_:
                raise TableError(
                    f"features: expected an array of shape (cells, {self.n_features_in_}) "
                    f"with the columns of feature_names_in_, got {array.shape}"
                )
            features = pd.DataFrame(array, columns=self.schema.columns)
        if not isinstance(features, pd.DataFrame):
            raise TableError("features must be a pandas DataFrame or a 2-D array (rows: cells)")
        if features.empty:
            raise TableError("features table is empty")
        missing = [c for c in self.schema.columns if c not in features.columns]
        if len(missing) == len(self.schema.columns):
            raise TableError(
                f"features: none of the model's {len(missing)} feature columns "
                f"({', '.join(missing[:4])}, ...) is in the table"
            )
        if missing:
            self._warn_missing(missing)
            features = features.assign(**{c: np.nan for c in missing})
        extra = [c for c in features.columns if c not in self.schema.columns]
        if id_column is None and extra:
            id_column = self._id_column(features[extra])
        if id_column is not None:
            if id_column not in features.columns:
                raise TableError(f"features: no id column {id_column!r}")
            features = features.set_index(id_column)
            extra = [c for c in extra if c != id_column]
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
        X = to_numeric(
            features,
            self.schema.columns,
            path="features",
            locate=lambda pos: f"row {features.index[pos]!r}",
        )
        X.index = features.index
        return X

    def _warn_missing(self, missing: list[str]) -> None:
        """One warning: which families are absent, which single columns will be imputed."""
        absent = [f.name for f in self.schema.families if set(f.columns) <= set(missing)]
        single = [c for c in missing if self.schema.family_of(c) not in absent]
        parts = []
        if absent:
            how = (
                "cells are predicted by the model trained without them"
                if self._subsets
                else "imputed with training medians (this model has no family-subset models)"
            )
            parts.append(
                f"no columns of famil{'y' if len(absent) == 1 else 'ies'} "
                f"{', '.join(absent)}: {how}"
            )
        if single:
            shown = ", ".join(single[:8]) + (", ..." if len(single) > 8 else "")
            parts.append(f"{len(single)} column(s) missing, imputed with training medians: {shown}")
        warnings.warn("features: " + "; ".join(parts), Ephys2TypeWarning, stacklevel=4)

    @property
    def subsets(self) -> list[TrainedModel]:
        """The family-subset models (largest subset first), loaded if need be."""
        return [self._subset(k) for k in range(len(self._subsets))]

    def add_subset(self, model: TrainedModel) -> None:
        """Add a model trained on a family subset of this model's schema."""
        self._check_classes(model)
        self._subsets.append(model)
        self._subset_families.append(model.schema.family_names)

    def _check_classes(self, model: TrainedModel) -> None:
        if model.classes != self.classes:
            raise ModelFileError("a family-subset model has other classes than its parent")

    def _subset(self, k: int) -> TrainedModel:
        if callable(self._subsets[k]):
            model = self._subsets[k]()
            self._check_classes(model)
            self._subsets[k] = model
        return self._subsets[k]

    def _model(self, k: int) -> TrainedModel:
        """Model ``k`` of the routing order: 0 is this model, then the subset models."""
        return self if k == 0 else self._subset(k - 1)

    def _families(self) -> list[list[str]]:
        return [self.schema.family_names, *self._subset_families]

    def route(self, features) -> pd.Series:
        """The families each cell is predicted from: those of the largest family subset it
        has (``subthreshold+spike_train+long_square``), indexed by cell id."""
        return self._route(self._matrix(features))[1]

    def _route(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
        from ephys2type.models.protocols import families_present, route, subset_label

        families = self._families()
        choice = route(families_present(X, self.schema), families)
        labels = [subset_label(f) for f in families]
        return choice, pd.Series([labels[k] for k in choice], index=X.index, dtype=object)

    def _id_column(self, extra: pd.DataFrame) -> str | None:
        """The id column among the extra columns, if one is recognisable (else None)."""
        from ephys2type.data.tables import detect_id_column

        try:
            return detect_id_column(extra, self.schema, preferred=self.info.get("id_column"))
        except TableError:
            return None

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

    def predict_proba(self, features) -> np.ndarray:
        """Calibrated class probabilities (columns in ``classes_`` order); each cell from
        the model of the largest family subset it has."""
        X = self._matrix(features)
        choice, _ = self._route(X)
        proba = np.zeros((len(X), len(self.classes)))
        for k in np.unique(choice):
            rows = choice == k
            model = self._model(k)
            proba[rows] = model._scores(X.loc[rows, model.schema.columns])[0]
        return proba

    def predict(self, features) -> np.ndarray:
        """The predicted class of each cell (an array, like scikit-learn's ``predict``)."""
        return self.classes_[self.predict_proba(features).argmax(axis=1)]

    def score(self, features, y) -> float:
        """Accuracy of :meth:`predict` against the labels ``y``."""
        return float(np.mean(self.predict(features) == np.asarray(y, dtype=object)))

    def predict_table(self, features, *, id_column: str | None = None, top: int = 2):
        """One row per cell, indexed by the caller's cell ids (the DataFrame's index, or
        ``id_column``, or a recognised id column): class, probability, per-class
        probabilities, the ``top`` families with most attention (BiLSTM), the
        out-of-distribution score and flag (on measured features only), the number of
        missing features, ``qc_flag`` (the training QC rule the cell fails, if any) and
        ``families_used`` (the family subset whose model predicted the cell)."""
        X = self._matrix(features, id_column)
        choice, used = self._route(X)
        parts = []
        for k in np.unique(choice):
            rows = choice == k
            model = self._model(k)
            parts.append(model._table(X.loc[rows, model.schema.columns], top=top))
        out = pd.concat(parts).reindex(X.index)
        out["families_used"] = used
        return out

    def _table(self, X: pd.DataFrame, *, top: int = 2) -> pd.DataFrame:
        """:meth:`predict_table` of this model alone (``X``: its columns, float)."""
        proba, attention, _ = self._scores(X)
        out = pd.DataFrame(index=X.index.copy())
        out["predicted"] = self.classes_[proba.argmax(axis=1)]
        out["probability"] = proba.max(axis=1)
        if self.levels is not None:  # calls made top-down, so the levels never disagree
            levels = self.levels.table(proba, self.classes)
            levels.index = out.index
            fine = self.levels.names[1]
            out["predicted"], out["probability"] = levels[fine], levels[f"{fine}_probability"]
            out = pd.concat([out, levels], axis=1)
        for i, cls in enumerate(self.classes):
            out[f"proba:{cls}"] = proba[:, i]
        if attention is not None:
            names = self.schema.family_names
            order = np.argsort(-attention, axis=1)[:, :top]
            out["top_families"] = [
                "; ".join(f"{names[j]} ({attention[r, j]:.2f})" for j in row)
                for r, row in enumerate(order)
            ]
        measured = self.preprocessing.standardize_measured(X)
        observed = ~np.isnan(measured)
        score = self.ood.score(np.nan_to_num(measured), observed)
        out["ood_score"] = score
        out["out_of_distribution"] = score > 1.0
        out["n_missing_features"] = (~observed).sum(axis=1)
        out["qc_flag"] = self._qc_flags(X)
        return out

    def _qc_flags(self, X: pd.DataFrame) -> pd.Series:
        """``"rule: detail"`` for cells the training QC profile would have dropped."""
        from ephys2type.data.container import PatchSeqData
        from ephys2type.data.qc import apply_qc

        profile = self.info.get("qc_profile") or "default"
        cells = X.copy()
        cells.index = pd.RangeIndex(len(X))  # QC works on unique, plain ids
        data = PatchSeqData(
            X=cells,
            meta=pd.DataFrame(index=cells.index),
            schema=self.schema,
            species=str(self.info.get("species", self.schema.species)),
        )
        drops = apply_qc(data, profile).qc.drops
        flags = pd.Series("", index=cells.index, dtype=object)
        flags[drops.index] = drops["rule"] + ": " + drops["detail"]
        return pd.Series(flags.to_numpy(), index=X.index)

    # -- saving --------------------------------------------------------------------------------

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model folder atomically (see module docstring)."""
        path = Path(path)
        with atomic_directory(path, overwrite=overwrite) as tmp:
            self._write(tmp)
        return path

    def _write(self, folder: Path) -> str:
        """Write the sidecar, the weights and the subset models into ``folder``; returns the
        SHA-256 of the sidecar (a parent records it, so a swapped subset model is refused)."""
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
            "levels": None if self.levels is None else self.levels.to_dict(),
            "family_subsets": [],
        }
        (folder / weights_name).write_bytes(weights)
        for k, sub in enumerate(self.subsets, 1):
            where = folder / SUBSETS_DIR / str(k)
            where.mkdir(parents=True)
            sidecar["family_subsets"].append(
                {
                    "families": sub.schema.family_names,
                    "folder": f"{SUBSETS_DIR}/{k}",
                    "sidecar_sha256": sub._write(where),
                }
            )
        text = (json.dumps(sidecar, indent=1) + "\n").encode()
        (folder / SIDECAR).write_bytes(text)
        return hashlib.sha256(text).hexdigest()


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
        subsets, families = [], []
        for entry in sidecar.get("family_subsets", []):  # older folders have none
            where = path / SUBSETS_DIR / Path(entry["folder"]).name
            _check_subset(where, entry["sidecar_sha256"])  # now, and again when it loads
            subsets.append(functools.partial(_load_subset, where, entry["sidecar_sha256"]))
            families.append([str(f) for f in entry["families"]])
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
            subsets=subsets,
            subset_families=families,
            levels=(
                LevelCalibration.from_dict(sidecar["levels"]) if sidecar.get("levels") else None
            ),
        )
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{sidecar_path}: invalid model sidecar ({exc!r})") from exc


def _check_subset(where: Path, digest: str) -> None:
    try:
        found = hashlib.sha256((where / SIDECAR).read_bytes()).hexdigest()
    except FileNotFoundError:
        raise ModelFileError(f"{where}: family-subset model is missing") from None
    if found != digest:
        raise ModelFileError(f"{where}: family-subset model does not match {SIDECAR}")


def _load_subset(where: Path, digest: str) -> TrainedModel:
    _check_subset(where, digest)
    return load_model(where)


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
