"""The attention BiLSTM as a scikit-learn classifier, and its in-fold pipeline.

:class:`FamilyBiLSTMClassifier` wraps :class:`~.network.FamilyAttentionBiLSTM` (plain torch
training loop, :mod:`.training`: AdamW, class-weighted cross-entropy or focal loss, early
stopping on an inner validation split of the training data, optional SMOTE on the inner
training part only). :func:`bilstm_pipeline` puts it behind the in-fold preprocessing
(:class:`~ephys2type.models.preprocessing.FamilyPreprocessor` with family flags); the model
registry names the paper's model and its ablations.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ephys2type.data.schema import FeatureSchema
from ephys2type.models.bilstm import MAX_EPOCHS
from ephys2type.models.bilstm.network import FamilyAttentionBiLSTM, NetworkConfig
from ephys2type.models.bilstm.training import TrainConfig, TrainSet, fit_module, torch_threads
from ephys2type.models.calibration import fit_temperature, softmax
from ephys2type.models.preprocessing import make_pipeline


class FamilyBiLSTMClassifier(ClassifierMixin, BaseEstimator):
    """Scikit-learn classifier around :class:`~.network.FamilyAttentionBiLSTM`.

    Parameters
    ----------
    families : sequence of sequence of int, default=None
        Column positions of each family, in sequence order. None: every column is its own
        family (a sequence over features).
    family_names : sequence of str, default=None
        Names for explanations (default ``f0, f1, ...``).
    mask_columns : bool, default=False
        The last ``len(families)`` columns are family-presence flags (> 0.5 means present),
        as :class:`~ephys2type.models.preprocessing.FamilyPreprocessor` appends with
        ``flags=True``; otherwise every family is present.
    width : int, default=32
        Encoder width.
    lstm_size : int, default=32
        LSTM units per direction.
    dropout : float, default=0.1
        Dropout rate.
    attention : bool, default=True
        Additive attention pooling (True) or mean pooling over present families.
    head : {"linear", "arcface"}, default="linear"
        Classifier head; ArcFace uses ``arcface_scale`` (default 16.0) and
        ``arcface_margin`` (default 0.2).
    arcface_scale, arcface_margin : float
        See ``head``.
    loss : {"ce", "focal"}, default="ce"
        Cross-entropy or focal loss (with ``focal_gamma``, default 2.0); both weighted by
        ``class_weight``.
    focal_gamma : float, default=2.0
        See ``loss``.
    class_weight : "balanced", dict or None, default="balanced"
        Per-class loss weights.
    resample : {"smote", None}, default=None
        ``"smote"`` oversamples the inner training part (after the validation split, so
        early stopping never sees synthetic cells).
    lr : float, default=1e-3
        AdamW learning rate. The defaults (lr 1e-3, width 32, dropout 0.1) won a small sweep
        scored only on tuning cells split off the training folds, never on test folds
        (``benchmarks/tune_bilstm.py``).
    weight_decay : float, default=1e-2
        AdamW weight decay.
    batch_size : int, default=128
        Cells per batch.
    max_epochs : int, default=150
        Upper bound on training epochs.
    patience : int, default=15
        Training stops after ``patience`` epochs without a better validation loss and keeps
        the best weights.
    family_dropout : float, default=0.0
        Chance that a family a training cell has is hidden from the network in a batch (a
        cell keeps at least one), so that cells recorded with fewer protocols, whose absent
        families are masked out of the attention, look like cells seen in training.
    validation_fraction : float, default=0.2
        Inner validation share of the training data (stratified); 0 trains for
        ``max_epochs`` without early stopping.
    calibrate : bool, default=True
        Fit a softmax temperature on the inner validation split (temperature scaling, Guo et
        al. 2017), so probabilities are calibrated; predictions are unchanged.
    n_threads : int, default=1
        Torch threads while fitting and predicting (restored afterwards). One thread is
        fastest for these small networks and makes results independent of the machine's
        thread count; parallelise over folds instead.
    random_state : int or None, default=None
        Seed for initialisation, batching, dropout, the split and SMOTE (None means 0).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    module_ : FamilyAttentionBiLSTM
        The trained network (best validation epoch).
    temperature_ : float
        Softmax temperature applied by ``predict_proba``.
    history_ : list of dict
        Per-epoch training (and validation) loss.
    best_epoch_, n_epochs_ : int
        The epoch whose weights were kept, and the epochs run.
    families_, family_names_ : list
        The family layout used.
    n_features_in_ : int
        Number of input columns (features, plus flags when ``mask_columns``).

    Examples
    --------
    >>> import numpy as np
    >>> from ephys2type.models.bilstm.estimator import FamilyBiLSTMClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 4)); y = np.where(X[:, 0] > 0, "a", "b")
    >>> clf = FamilyBiLSTMClassifier(families=[[0, 1], [2, 3]], max_epochs=5,
    ...                              random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    def __init__(
        self,
        *,
        families: Sequence[Sequence[int]] | None = None,
        family_names: Sequence[str] | None = None,
        mask_columns: bool = False,
        width: int = 32,
        lstm_size: int = 32,
        dropout: float = 0.1,
        attention: bool = True,
        head: str = "linear",
        arcface_scale: float = 16.0,
        arcface_margin: float = 0.2,
        loss: str = "ce",
        focal_gamma: float = 2.0,
        class_weight: str | dict | None = "balanced",
        resample: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 128,
        max_epochs: int = MAX_EPOCHS,
        patience: int = 15,
        family_dropout: float = 0.0,
        validation_fraction: float = 0.2,
        calibrate: bool = True,
        n_threads: int = 1,
        random_state: int | None = None,
    ):
        self.families = families
        self.family_names = family_names
        self.mask_columns = mask_columns
        self.width = width
        self.lstm_size = lstm_size
        self.dropout = dropout
        self.attention = attention
        self.head = head
        self.arcface_scale = arcface_scale
        self.arcface_margin = arcface_margin
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.class_weight = class_weight
        self.resample = resample
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.family_dropout = family_dropout
        self.validation_fraction = validation_fraction
        self.calibrate = calibrate
        self.n_threads = n_threads
        self.random_state = random_state

    # -- data layout ---------------------------------------------------------------------------

    def _layout(self, n_columns: int) -> tuple[list[list[int]], int]:
        if self.families is None:
            n_features = n_columns // 2 if self.mask_columns else n_columns
            return [[i] for i in range(n_features)], n_features
        families = [list(f) for f in self.families]
        n_features = n_columns - (len(families) if self.mask_columns else 0)
        if any(c >= n_features or c < 0 for f in families for c in f):
            raise ValueError(f"families refer to columns beyond the {n_features} features")
        return families, n_features

    def _split(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.n_features_
        x = torch.as_tensor(X[:, :n], dtype=torch.float32)
        if self.mask_columns:
            mask = torch.as_tensor(X[:, n : n + len(self.families_)] > 0.5)
        else:
            mask = torch.ones(len(X), len(self.families_), dtype=torch.bool)
        return x, mask

    # -- fitting ---------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.head not in ("linear", "arcface"):
            raise ValueError(f"head must be 'linear' or 'arcface', not {self.head!r}")
        if self.loss not in ("ce", "focal"):
            raise ValueError(f"loss must be 'ce' or 'focal', not {self.loss!r}")
        if self.resample not in (None, "smote"):
            raise ValueError(f"resample must be None or 'smote', not {self.resample!r}")
        if not (self.class_weight in (None, "balanced") or isinstance(self.class_weight, dict)):
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict, not {self.class_weight!r}"
            )
        if not 0 <= self.validation_fraction < 1:
            raise ValueError("validation_fraction must be in [0, 1)")
        if not 0 <= self.family_dropout < 1:
            raise ValueError("family_dropout must be in [0, 1)")

    def fit(self, X, y):
        return self.fit_from(X, y)

    def fit_from(
        self,
        X,
        y,
        *,
        init_module: FamilyAttentionBiLSTM | None = None,
        extra: Sequence[tuple[np.ndarray, np.ndarray, str, float]] = (),
        **config_overrides,
    ):
        """Fit, optionally continuing from ``init_module`` (a trained network with the same
        classes) and training extra (X, y, head, loss_scale) sets alongside, e.g. another
        species on its own head; what the transfer estimators build on. ``config_overrides``
        change :class:`TrainConfig` fields (e.g. ``lr``)."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError("FamilyBiLSTMClassifier needs at least 2 classes in y, got 1 class")
        codes = self._encoder.transform(y)
        self.families_, self.n_features_ = self._layout(X.shape[1])
        self.family_names_ = list(
            self.family_names or [f"f{i}" for i in range(len(self.families_))]
        )
        seed = 0 if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(seed)
        X_tr, X_val, y_tr, y_val = self._inner_split(X, codes, seed)
        if self.resample == "smote":
            X_tr, y_tr = self._smote(X_tr, y_tr, seed)
        self.n_train_, self.n_val_ = len(y_tr), 0 if y_val is None else len(y_val)
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            torch.manual_seed(seed)
            module = self._new_module() if init_module is None else copy.deepcopy(init_module)
            sets = [self._trainset(X_tr, y_tr)]
            for X_e, y_e, head, scale in extra:
                if head not in module.heads:
                    module.add_head(head)
                sets.append(
                    self._trainset(
                        np.asarray(X_e, dtype=np.float32), self._encoder.transform(y_e), head, scale
                    )
                )
            val = None if X_val is None else self._trainset(X_val, y_val)
            history, best = fit_module(module, sets, val, self._config(**config_overrides), rng)
        self._finish(module, history, best)
        self.temperature_ = 1.0
        if self.calibrate and val is not None:
            with torch.no_grad():
                logits, _ = module(val.x, val.mask)
            self.temperature_ = fit_temperature(logits.numpy(), y_val)
        return self

    def _inner_split(self, X, codes, seed):
        counts = np.bincount(codes)
        n_val = round(self.validation_fraction * len(codes))
        if n_val < len(self.classes_) or counts.min() < 2 or len(codes) - n_val < len(counts):
            return X, None, codes, None
        X_tr, X_val, y_tr, y_val = train_test_split(
            X, codes, test_size=n_val, stratify=codes, random_state=seed
        )
        return X_tr, X_val, y_tr, y_val

    def _smote(self, X, y, seed):
        counts = np.bincount(y, minlength=len(self.classes_))
        k = int(min(5, counts[counts > 0].min() - 1))
        if k < 1:
            return X, y
        X_res, y_res = SMOTE(k_neighbors=k, random_state=seed).fit_resample(X, y)
        return X_res.astype(np.float32), y_res

    def _class_weights(self, y: np.ndarray) -> torch.Tensor:
        counts = np.bincount(y, minlength=len(self.classes_)).astype(float)
        if isinstance(self.class_weight, dict):
            w = [float(self.class_weight.get(c, 1.0)) for c in self.classes_]
            return torch.as_tensor(w, dtype=torch.float32)
        if self.class_weight != "balanced":
            return torch.ones(len(counts))
        w = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
        return torch.as_tensor(w / w[counts > 0].mean(), dtype=torch.float32)

    def _new_module(self) -> FamilyAttentionBiLSTM:
        return FamilyAttentionBiLSTM(
            self.families_,
            self.n_features_,
            len(self.classes_),
            NetworkConfig.from_params(self.get_params()),
        )

    def _config(self, **overrides) -> TrainConfig:
        base = TrainConfig(
            loss=self.loss,
            focal_gamma=self.focal_gamma,
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            family_dropout=self.family_dropout,
        )
        return replace(base, **overrides)

    def _trainset(self, X, codes, head: str = "main", scale: float = 1.0) -> TrainSet:
        x, mask = self._split(X)
        return TrainSet(
            x,
            mask,
            torch.as_tensor(codes, dtype=torch.long),
            self._class_weights(codes),
            head,
            scale,
        )

    def _finish(self, module, history, best_epoch) -> None:
        self.module_, self.history_, self.best_epoch_ = module, history, best_epoch
        self.n_epochs_ = self.n_iter_ = len(history)

    def restore(
        self, state: dict, classes, temperature: float, n_columns: int
    ) -> FamilyBiLSTMClassifier:
        """This (unfitted) classifier with a trained network's ``state`` (a ``state_dict``):
        what a saved model loads back (``n_columns``: the width of its input, flags
        included). Weights that do not fit the network raise ``RuntimeError``."""
        self._check_params()
        self.classes_ = np.asarray(classes)
        self._encoder = LabelEncoder().fit(self.classes_)
        self.families_, self.n_features_ = self._layout(n_columns)
        self.family_names_ = list(
            self.family_names or [f"f{i}" for i in range(len(self.families_))]
        )
        self.n_features_in_ = n_columns
        self.temperature_ = float(temperature)
        module = self._new_module()
        module.load_state_dict(state)
        self._finish(module.eval(), [], None)
        return self

    # -- prediction ----------------------------------------------------------------------------

    def _forward_all(self, X) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "module_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        x, mask = self._split(X)
        logits, weights = [], []
        with torch.no_grad(), torch_threads(self.n_threads):
            for start in range(0, len(x), 8192):
                out, w = self.module_(x[start : start + 8192], mask[start : start + 8192])
                logits.append(out)
                weights.append(w)
        return torch.cat(logits).numpy(), torch.cat(weights).numpy()

    def decision_function(self, X) -> np.ndarray:
        """Class logits (for ArcFace: scaled cosines); for two classes, the logit difference."""
        logits = self._forward_all(X)[0]
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self._forward_all(X)[0], self.temperature_)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def family_attention(self, X) -> np.ndarray:
        """Attention weight of each family for each cell (rows sum to 1; masked = 0)."""
        return self._forward_all(X)[1]

    def explain(self, X) -> pd.DataFrame:
        """Per-cell attention over families, as a table (``attention:<family>`` columns)."""
        return pd.DataFrame(
            self.family_attention(X), columns=[f"attention:{n}" for n in self.family_names_]
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def bilstm_classifier(schema: FeatureSchema, seed: int, **params) -> FamilyBiLSTMClassifier:
    """The classifier configured for a schema's families (input: features + family flags)."""
    return FamilyBiLSTMClassifier(
        families=schema.family_index(),
        family_names=schema.family_names,
        mask_columns=True,
        random_state=seed,
        **params,
    )


def bilstm_pipeline(schema: FeatureSchema, seed: int, **params) -> Pipeline:
    """impute -> scale + family flags -> FamilyBiLSTMClassifier, fitted in-fold."""
    return make_pipeline(bilstm_classifier(schema, seed, **params), schema, flags=True)
