"""Attention BiLSTM that reads a cell as the sequence of its IPFX feature families.

Each family (subthreshold, rheobase spike, ramp, ...) is projected by its own small encoder
to a common width; a bidirectional LSTM runs over the family sequence; additive attention
pools it (families a cell lacks are masked out of the attention, not zero-filled into it);
a linear or ArcFace head classifies. The attention weights are the per-cell, family-level
explanation of each call.

:class:`FamilyBiLSTMClassifier` wraps the torch module as a scikit-learn classifier (plain
torch training loop: AdamW, class-weighted cross-entropy or focal loss, early stopping on an
inner validation split of the training data, optional SMOTE on the inner training part
only). :func:`bilstm_pipeline` puts it behind the in-fold preprocessing, and the model
registry gets the paper's model and its ablations.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F

from .models import ModelSpec, register_model
from .schema import FeatureSchema

# --------------------------------------------------------------------------------------------
# torch module


class FamilyEncoder(nn.Module):
    """One two-layer MLP per family, batched: families are zero-padded to a common width."""

    def __init__(self, families: Sequence[Sequence[int]], n_features: int, width: int):
        super().__init__()
        d_max = max(len(f) for f in families)
        index = torch.full((len(families), d_max), n_features, dtype=torch.long)
        for i, cols in enumerate(families):
            index[i, : len(cols)] = torch.as_tensor(list(cols), dtype=torch.long)
        self.register_buffer("index", index)
        n_fam = len(families)
        sizes = torch.tensor([len(f) for f in families], dtype=torch.float32)
        self.w1 = nn.Parameter(torch.randn(n_fam, d_max, width) / sizes.sqrt()[:, None, None])
        self.b1 = nn.Parameter(torch.zeros(n_fam, width))
        self.w2 = nn.Parameter(torch.randn(n_fam, width, width) / math.sqrt(width))
        self.b2 = nn.Parameter(torch.zeros(n_fam, width))
        self.family_embedding = nn.Parameter(0.02 * torch.randn(n_fam, width))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = torch.cat([x, x.new_zeros(len(x), 1)], dim=1)[:, self.index]  # (B, F, d)
        h = F.gelu(torch.einsum("bfd,fdw->bfw", padded, self.w1) + self.b1)
        h = torch.einsum("bfw,fwv->bfv", h, self.w2) + self.b2 + self.family_embedding
        return self.norm(h)


class ArcFaceHead(nn.Module):
    """Additive angular margin head (Deng et al. 2019): logits ``s * cos(theta + m)``."""

    def __init__(self, dim: int, n_classes: int, scale: float, margin: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) / math.sqrt(dim))
        self.scale, self.margin = scale, margin

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cos = F.normalize(z, dim=1) @ F.normalize(self.weight, dim=1).T
        if y is None:
            return self.scale * cos
        sin = torch.sqrt((1.0 - cos**2).clamp_min(1e-7))
        phi = cos * math.cos(self.margin) - sin * math.sin(self.margin)
        # beyond theta > pi - m, cos(theta + m) is no longer monotone: use a linear penalty
        phi = torch.where(
            cos > math.cos(math.pi - self.margin),
            phi,
            cos - math.sin(math.pi - self.margin) * self.margin,
        )
        onehot = F.one_hot(y, cos.shape[1]).bool()
        return self.scale * torch.where(onehot, phi, cos)


class LinearHead(nn.Module):
    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(dim, n_classes)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(z)


class FamilyAttentionBiLSTM(nn.Module):
    """Family encoders -> BiLSTM over families -> masked additive attention -> head."""

    def __init__(
        self,
        families: Sequence[Sequence[int]],
        n_features: int,
        n_classes: int,
        *,
        width: int = 32,
        lstm_size: int = 32,
        dropout: float = 0.1,
        attention: bool = True,
        head: str = "linear",
        arcface_scale: float = 16.0,
        arcface_margin: float = 0.2,
    ):
        super().__init__()
        self.encoder = FamilyEncoder(families, n_features, width)
        self.lstm = nn.LSTM(width, lstm_size, batch_first=True, bidirectional=True)
        self.attention = attention
        self.score = nn.Sequential(
            nn.Linear(2 * lstm_size, lstm_size), nn.Tanh(), nn.Linear(lstm_size, 1, bias=False)
        )
        self.dropout = nn.Dropout(dropout)
        self._head_spec = (head, 2 * lstm_size, n_classes, arcface_scale, arcface_margin)
        self.heads = nn.ModuleDict({"main": self._make_head()})

    def _make_head(self) -> nn.Module:
        kind, dim, n_classes, scale, margin = self._head_spec
        if kind == "arcface":
            return ArcFaceHead(dim, n_classes, scale, margin)
        return LinearHead(dim, n_classes)

    def add_head(self, name: str) -> None:
        """A second classifier on the shared trunk (multi-task training across species)."""
        self.heads[name] = self._make_head()

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cell embedding and attention weights over families (masked families get 0)."""
        mask = mask.clone()
        mask[~mask.any(dim=1)] = True  # a cell with no family at all: attend to everything
        h = self.encoder(x) * mask.unsqueeze(-1)
        h, _ = self.lstm(self.dropout(h))
        if self.attention:
            scores = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=1)
        else:
            weights = mask.float() / mask.sum(dim=1, keepdim=True)
        z = torch.bmm(weights.unsqueeze(1), h).squeeze(1)
        return self.dropout(z), weights

    def forward(self, x, mask, y=None, head: str = "main"):
        z, weights = self.embed(x, mask)
        return self.heads[head](z, y), weights


#: Parameter-name prefixes of the shared trunk (everything but the heads).
TRUNK = ("encoder.", "lstm.", "score.")


@dataclass
class TrainSet:
    """Tensors of one training (or validation) set and the head and weights it uses."""

    x: torch.Tensor
    mask: torch.Tensor
    y: torch.Tensor
    class_weights: torch.Tensor
    head: str = "main"
    loss_scale: float = 1.0


@dataclass
class TrainConfig:
    loss: str = "ce"
    focal_gamma: float = 2.0
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 128
    max_epochs: int = 150
    patience: int = 15
    frozen_epochs: int = 0  # epochs at the start during which only the heads learn


def fit_module(
    module: FamilyAttentionBiLSTM,
    train: Sequence[TrainSet],
    val: TrainSet | None,
    config: TrainConfig,
    rng: np.random.Generator,
) -> tuple[list[dict], int]:
    """AdamW training with early stopping on ``val`` (class-weighted cross-entropy).

    Batches of all ``train`` sets are shuffled together each epoch; a batch's loss uses its
    set's head and is scaled by its ``loss_scale``. During the first ``frozen_epochs`` only
    the heads are trained (and early stopping waits). The best weights are kept.
    Returns the per-epoch history and the best epoch (1-based).
    """
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
    )
    best, best_state, best_epoch, wait, history = math.inf, None, 0, 0, []
    for epoch in range(config.max_epochs):
        frozen = epoch < config.frozen_epochs
        for name, param in module.named_parameters():
            param.requires_grad_(not (frozen and name.startswith(TRUNK)))
        module.train()
        batches = [
            (k, torch.as_tensor(idx))
            for k, ts in enumerate(train)
            for idx in np.array_split(
                rng.permutation(len(ts.y)), max(1, int(np.ceil(len(ts.y) / config.batch_size)))
            )
        ]
        total, count = 0.0, 0
        for b in rng.permutation(len(batches)):
            k, idx = batches[b]
            ts = train[k]
            logits, _ = module(ts.x[idx], ts.mask[idx], ts.y[idx], head=ts.head)
            if config.loss == "focal":
                loss = focal_loss(logits, ts.y[idx], ts.class_weights, config.focal_gamma)
            else:
                loss = F.cross_entropy(logits, ts.y[idx], weight=ts.class_weights)
            optimizer.zero_grad()
            (ts.loss_scale * loss).backward()
            nn.utils.clip_grad_norm_(module.parameters(), 5.0)
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        record = {"epoch": epoch + 1, "train_loss": total / max(count, 1)}
        if val is not None:
            module.eval()
            with torch.no_grad():
                logits, _ = module(val.x, val.mask, head=val.head)
                score = float(F.cross_entropy(logits, val.y, weight=val.class_weights))
            record["val_loss"] = score
            if score < best - 1e-4:
                best, wait, best_epoch = score, 0, epoch + 1
                best_state = copy.deepcopy(module.state_dict())
            elif not frozen:
                wait += 1
        history.append(record)
        if val is not None and wait >= config.patience:
            break
    for param in module.parameters():
        param.requires_grad_(True)
    if best_state is not None:
        module.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    module.eval()
    return history, best_epoch


@contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logits = np.asarray(logits, dtype=np.float64)

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[np.arange(len(y)), y].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def focal_loss(logits, y, alpha, gamma):
    """Focal loss (Lin et al. 2017) with per-class weights ``alpha``."""
    logp = F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    return (-alpha[y] * (1 - logp.exp()) ** gamma * logp).mean()


# --------------------------------------------------------------------------------------------
# scikit-learn estimator


class FamilyBiLSTMClassifier(ClassifierMixin, BaseEstimator):
    """Scikit-learn classifier around :class:`FamilyAttentionBiLSTM`.

    Parameters
    ----------
    families : column positions of each family, in sequence order. None: every column is
        its own family (a sequence over features).
    family_names : names for explanations (default ``f0, f1, ...``).
    mask_columns : the last ``len(families)`` columns are family-presence flags (> 0.5 means
        present), as appended by :class:`FamilyMask`; otherwise every family is present.
    width, lstm_size, dropout : encoder width, LSTM size per direction, dropout rate.
    attention : additive attention pooling (True) or mean pooling over present families.
    head : ``"linear"`` or ``"arcface"`` (with ``arcface_scale`` and ``arcface_margin``).
    loss : ``"ce"`` (cross-entropy) or ``"focal"`` (with ``focal_gamma``); both weighted by
        ``class_weight`` (``"balanced"``, a dict class -> weight, or None).
    resample : ``"smote"`` oversamples the inner training part (after the validation split,
        so early stopping never sees synthetic cells), or None.
    lr, weight_decay : AdamW settings. The defaults (lr 1e-3, width 32, dropout 0.1) won a
        small sweep scored only on tuning cells split off the training folds, never on test
        folds (``benchmarks/tune_bilstm.py``). batch_size, max_epochs, patience : training length;
        training stops after ``patience`` epochs without a better validation loss and keeps
        the best weights. validation_fraction : inner validation share of the training data
        (stratified); 0 trains for ``max_epochs`` without early stopping.
    calibrate : fit a softmax temperature on the inner validation split (temperature
        scaling, Guo et al. 2017), so probabilities are calibrated; predictions are unchanged.
    n_threads : torch threads while fitting and predicting (restored afterwards). One thread
        is fastest for these small networks and makes results independent of the machine's
        thread count; parallelise over folds instead.
    random_state : seed for initialisation, batching, dropout, the split and SMOTE.
    """

    def __init__(
        self,
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
        max_epochs: int = 150,
        patience: int = 15,
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

    def fit(self, X, y):
        return self._fit(X, y)

    def _fit(
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
        species on its own head. ``config_overrides`` change :class:`TrainConfig` fields."""
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
            width=self.width,
            lstm_size=self.lstm_size,
            dropout=self.dropout,
            attention=self.attention,
            head=self.head,
            arcface_scale=self.arcface_scale,
            arcface_margin=self.arcface_margin,
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
        logits = self._forward_all(X)[0].astype(np.float64) / self.temperature_
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

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


# --------------------------------------------------------------------------------------------
# in-fold pipeline and model registry


class FamilyMask(TransformerMixin, BaseEstimator):
    """Append one presence flag per family (1 if the cell has any value in it, else 0).

    Stateless apart from the input width; placed before imputation so the flags record the
    cell's real missingness.
    """

    def __init__(self, families: Sequence[Sequence[int]] | None = None):
        self.families = families

    def fit(self, X, y=None):
        validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        families = self.families or [list(range(X.shape[1]))]
        flags = np.column_stack([~np.isnan(X[:, list(f)]).all(axis=1) for f in families])
        return np.hstack([X, flags.astype(np.float64)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # recording missingness is the point
        return tags


def family_preprocessor(schema: FeatureSchema) -> Pipeline:
    """Family flags -> median imputation -> standardization; the flags pass through unscaled.

    Output columns: the schema's features (standardized) followed by one presence flag per
    family, the layout :class:`FamilyBiLSTMClassifier` expects with ``mask_columns=True``.
    """
    families = schema.family_index()
    n = len(schema.columns)
    features = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    prep = ColumnTransformer([("features", features, list(range(n)))], remainder="passthrough")
    return Pipeline([("mask", FamilyMask(families)), ("prep", prep)])


def bilstm_classifier(schema: FeatureSchema, seed: int, **params) -> FamilyBiLSTMClassifier:
    """The classifier configured for a schema's families (input: family_preprocessor output)."""
    return FamilyBiLSTMClassifier(
        families=schema.family_index(),
        family_names=schema.family_names,
        mask_columns=True,
        random_state=seed,
        **params,
    )


def bilstm_pipeline(schema: FeatureSchema, seed: int, **params) -> Pipeline:
    """flags -> impute -> scale (flags untouched) -> FamilyBiLSTMClassifier, fitted in-fold."""
    steps = family_preprocessor(schema).steps
    return Pipeline([*steps, ("model", bilstm_classifier(schema, seed, **params))])


#: The paper's model (attention, SMOTE, cross-entropy, linear head) and one-factor ablations.
VARIANTS: dict[str, tuple[str, dict]] = {
    "bilstm-smote": (
        "attention BiLSTM over feature families, SMOTE, class-weighted cross-entropy, linear head",
        {"resample": "smote"},
    ),
    "bilstm": ("attention BiLSTM, no SMOTE (class-weighted cross-entropy)", {}),
    "bilstm-smote-mean": (
        "BiLSTM with mean pooling instead of attention, SMOTE",
        {"resample": "smote", "attention": False},
    ),
    "bilstm-smote-focal": (
        "attention BiLSTM, SMOTE, focal loss (gamma 2, class-balanced alpha)",
        {"resample": "smote", "loss": "focal"},
    ),
    "bilstm-smote-arcface": (
        "attention BiLSTM, SMOTE, ArcFace head (scale 16, margin 0.2)",
        {"resample": "smote", "head": "arcface"},
    ),
}

for _name, (_description, _params) in VARIANTS.items():
    register_model(
        ModelSpec(
            _name,
            _description,
            lambda schema, seed, _p=_params: bilstm_pipeline(schema, seed, **_p),
        )
    )
