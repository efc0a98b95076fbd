"""Mouse-to-human transfer on the aligned 4-class task (Lamp5, Pvalb, Sst, Vip).

Every arm is a scikit-learn classifier *of human cells*: ``fit(X_human_train, y)`` and
``predict_proba(X_human_test)`` on the aligned schema. The mouse cells come in as
:class:`SourceData`, a parameter of the arm, so the evaluation harness runs every arm on the
same human folds and compares them pairwise like any other model.

Each species is imputed and standardized on its own data: the human side on the human
training fold only, the mouse side on the mouse cells; optionally CORAL (Sun et al. 2016)
then maps the standardized mouse features onto the covariance of the human training fold.

Arms: ``zero-shot`` (trained on mouse only), ``finetune`` (pretrain on mouse, fine-tune all
weights on human), ``freeze-warmup`` (pretrain, train the head alone first, then unfreeze),
``joint`` (shared encoder with a mouse head and a human head trained together, then a
human-only fine-tune), and ``pooled`` random forest / gradient boosting on mouse + human
training cells with a species indicator. The human-only baselines are the ordinary models
evaluated on the aligned human features.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import linalg
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from .align import aligned_schema
from .bilstm import bilstm_classifier, bilstm_pipeline, family_preprocessor
from .evaluate import Evaluation, Progress, run_evaluation, write_evaluation
from .evaluate import explain as explain_estimator
from .models import ModelSpec, get_model
from .patchseq import PatchSeqData
from .schema import FeatureSchema
from .splits import SplitPlan

STRATEGIES = ("zero-shot", "finetune", "freeze-warmup", "joint")


@dataclass(frozen=True, eq=False)
class SourceData:
    """The source species' cells (aligned features, aligned4 labels) used by a transfer arm."""

    X: pd.DataFrame
    y: pd.Series
    name: str = "mouse"

    def __repr__(self) -> str:
        return f"SourceData({self.name}: {len(self.X)} cells)"

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(self.X.to_numpy(np.float64)).tobytes())
        digest.update("|".join(map(str, self.y)).encode())
        return digest.hexdigest()[:16]

    @classmethod
    def from_data(cls, data: PatchSeqData) -> SourceData:
        if data.schema.name != "aligned":
            raise ValueError("transfer needs the aligned cross-species schema")
        return cls(data.X, data.y, f"{data.species} {data.label_scheme}")


def coral(source: np.ndarray, target: np.ndarray, eps: float = 1.0) -> np.ndarray:
    """Re-colour standardized source features with the target's covariance (CORAL)."""
    cs = np.cov(source, rowvar=False) + eps * np.eye(source.shape[1])
    ct = np.cov(target, rowvar=False) + eps * np.eye(target.shape[1])
    whiten = np.real(linalg.fractional_matrix_power(cs, -0.5))
    colour = np.real(linalg.fractional_matrix_power(ct, 0.5))
    return (source - source.mean(axis=0)) @ whiten @ colour + target.mean(axis=0)


_PRETRAINED: OrderedDict[tuple, object] = OrderedDict()
_CACHE_SIZE = 16


class TransferClassifier(ClassifierMixin, BaseEstimator):
    """A human-cell classifier that learns from the source species too (see module doc).

    Parameters
    ----------
    source : the source species' aligned features and aligned4 labels.
    strategy : ``zero-shot``, ``finetune``, ``freeze-warmup`` or ``joint``.
    coral : map the standardized source features to the target training fold's covariance.
    bilstm_params : keyword arguments of :class:`~ephys2type.bilstm.FamilyBiLSTMClassifier`
        for pretraining and fine-tuning (e.g. ``{"resample": "smote"}``).
    finetune_lr : learning rate of the target fine-tuning stage.
    warmup_epochs : head-only epochs of ``freeze-warmup``.
    source_weight : weight of the source loss in ``joint`` training.
    random_state : seed; all folds of one plan seed (``random_state // 1000``) share one
        pretrained network, unless ``coral`` makes the source features fold-specific.
    """

    def __init__(
        self,
        source: SourceData | None = None,
        strategy: str = "finetune",
        coral: bool = False,
        bilstm_params: dict | None = None,
        finetune_lr: float = 5e-4,
        warmup_epochs: int = 10,
        source_weight: float = 1.0,
        random_state: int | None = None,
    ):
        self.source = source
        self.strategy = strategy
        self.coral = coral
        self.bilstm_params = bilstm_params
        self.finetune_lr = finetune_lr
        self.warmup_epochs = warmup_epochs
        self.source_weight = source_weight
        self.random_state = random_state

    def _schema(self) -> FeatureSchema:
        return aligned_schema()

    def _prepare(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Fit the per-species preprocessing; return (source, target) model inputs."""
        schema = self._schema()
        self.target_prep_ = family_preprocessor(schema).fit(X)
        self.source_prep_ = family_preprocessor(schema).fit(self.source.X)
        target = self.target_prep_.transform(X)
        source = self.source_prep_.transform(self.source.X)
        if self.coral:
            n = len(schema.columns)
            source = source.copy()
            source[:, :n] = coral(source[:, :n], target[:, :n])
        return source, target

    def _pretrained(self, source: np.ndarray, seed: int):
        """The network trained on the source species (cached across folds of one seed)."""
        params = dict(self.bilstm_params or {})
        key = (self.source.fingerprint, tuple(sorted(params.items())), seed)
        if not self.coral and key in _PRETRAINED:
            _PRETRAINED.move_to_end(key)
            return _PRETRAINED[key]
        model = bilstm_classifier(self._schema(), seed, **params).fit(source, self.source.y)
        if not self.coral:
            _PRETRAINED[key] = model
            while len(_PRETRAINED) > _CACHE_SIZE:
                _PRETRAINED.popitem(last=False)
        return model

    def fit(self, X, y):
        if self.source is None:
            raise ValueError("TransferClassifier needs source data")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        X = (
            pd.DataFrame(X, columns=self._schema().columns)
            if not isinstance(X, pd.DataFrame)
            else X
        )
        y = np.asarray(y)
        seed = 0 if self.random_state is None else int(self.random_state)
        source, target = self._prepare(X)
        params = dict(self.bilstm_params or {})
        if self.strategy == "joint":
            joint = bilstm_classifier(self._schema(), seed, **params)
            joint._fit(
                target, y, extra=[(source, self.source.y.to_numpy(), "source", self.source_weight)]
            )
            model = bilstm_classifier(self._schema(), seed, **params)
            model._fit(target, y, init_module=joint.module_, lr=self.finetune_lr)
            self.stages_ = {"joint_epochs": joint.n_epochs_, "finetune_epochs": model.n_epochs_}
        else:
            pretrained = self._pretrained(source, seed // 1000)
            self.stages_ = {"pretrain_epochs": pretrained.n_epochs_}
            if self.strategy == "zero-shot":
                model = pretrained
            else:
                model = bilstm_classifier(self._schema(), seed, **params)
                frozen = self.warmup_epochs if self.strategy == "freeze-warmup" else 0
                model._fit(
                    target,
                    y,
                    init_module=pretrained.module_,
                    lr=self.finetune_lr,
                    frozen_epochs=frozen,
                )
                self.stages_["finetune_epochs"] = model.n_epochs_
        self.model_ = model
        self.classes_ = model.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self.target_prep_.transform(X))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def explain(self, X) -> pd.DataFrame:
        check_is_fitted(self, "model_")
        return self.model_.explain(self.target_prep_.transform(X))


class PooledClassifier(ClassifierMixin, BaseEstimator):
    """Random forest or gradient boosting on source + target training cells, with a species
    indicator column (1 = target); each species imputed and standardized on its own cells."""

    def __init__(
        self,
        source: SourceData | None = None,
        model: str = "rf",
        n_jobs: int = 2,
        random_state: int | None = None,
    ):
        self.source = source
        self.model = model
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _prep(self) -> Pipeline:
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        )

    def fit(self, X, y):
        if self.model not in ("rf", "hgb"):
            raise ValueError(f"model must be 'rf' or 'hgb', not {self.model!r}")
        self.target_prep_ = self._prep().fit(X)
        self.source_prep_ = self._prep().fit(self.source.X)
        Xs = self.source_prep_.transform(self.source.X)
        Xt = self.target_prep_.transform(X)
        pooled = np.vstack(
            [np.column_stack([Xs, np.zeros(len(Xs))]), np.column_stack([Xt, np.ones(len(Xt))])]
        )
        labels = np.concatenate([self.source.y.to_numpy(), np.asarray(y)])
        if self.model == "rf":
            est = RandomForestClassifier(
                n_estimators=500,
                class_weight="balanced",
                n_jobs=self.n_jobs,
                random_state=self.random_state,
            )
        else:
            est = HistGradientBoostingClassifier(
                class_weight="balanced", max_iter=300, random_state=self.random_state
            )
        self.estimator_ = est.fit(pooled, labels)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        Xt = self.target_prep_.transform(X)
        return self.estimator_.predict_proba(np.column_stack([Xt, np.ones(len(Xt))]))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class Subsample(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` on a stratified ``fraction`` of the training cells (learning curves)."""

    def __init__(self, estimator=None, fraction: float = 1.0, random_state: int | None = None):
        self.estimator = estimator
        self.fraction = fraction
        self.random_state = random_state

    def fit(self, X, y):
        y = np.asarray(y)
        if self.fraction < 1.0:
            keep, _ = train_test_split(
                np.arange(len(y)),
                train_size=self.fraction,
                stratify=y,
                random_state=self.random_state,
            )
            keep = np.sort(keep)
            X = X.iloc[keep] if hasattr(X, "iloc") else X[keep]
            y = y[keep]
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.n_train_ = len(y)
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        return self.estimator_.predict(X)

    def explain(self, X):
        return explain_estimator(self.estimator_, X)


# --------------------------------------------------------------------------------------------
# the arms of the experiment


def transfer_arms(
    source: SourceData,
    target: str = "human",
    *,
    coral: bool = False,
    bilstm_params: dict | None = None,
    strategies: Sequence[str] = STRATEGIES,
    pooled: Sequence[str] = ("rf", "hgb"),
) -> dict[str, ModelSpec]:
    """Named arms (target-only baselines first) as model specs for the evaluation harness."""
    params = dict(bilstm_params or {"resample": "smote"})
    coral_note = ", CORAL" if coral else ""
    src = source.name.split()[0]
    t = target
    arms = {
        f"{t}_bilstm": ModelSpec(
            f"{t}_bilstm",
            f"{t}-only attention BiLSTM (aligned features, SMOTE)",
            lambda schema, seed: bilstm_pipeline(schema, seed, **params),
        ),
        f"{t}_rf": ModelSpec(
            f"{t}_rf", f"{t}-only random forest (aligned features)", get_model("rf").build
        ),
        f"{t}_hgb": ModelSpec(
            f"{t}_hgb", f"{t}-only gradient boosting (aligned features)", get_model("hgb").build
        ),
    }
    descriptions = {
        "zero-shot": f"trained on all {src} cells only, tested on {t}",
        "finetune": f"pretrained on {src}, all weights fine-tuned on the {t} training fold",
        "freeze-warmup": f"pretrained on {src}, head warm-up with frozen encoder, then unfrozen",
        "joint": f"shared encoder, {src} and {t} heads trained jointly, then {t} fine-tune",
    }
    for strategy in strategies:
        name = strategy.replace("-", "_")
        arms[name] = ModelSpec(
            name,
            descriptions[strategy] + coral_note,
            lambda schema, seed, s=strategy: TransferClassifier(
                source, s, coral=coral, bilstm_params=params, random_state=seed
            ),
        )
    for model in pooled:
        arms[f"pooled_{model}"] = ModelSpec(
            f"pooled_{model}",
            f"{'random forest' if model == 'rf' else 'gradient boosting'} on "
            f"{src} + {t} training cells with a species indicator",
            lambda schema, seed, m=model: PooledClassifier(source, m, random_state=seed),
        )
    return arms


def subsampled(spec: ModelSpec, fraction: float) -> ModelSpec:
    """The same arm trained on a stratified fraction of each human training fold."""
    return ModelSpec(
        f"{spec.name}@{fraction:g}",
        f"{spec.description}; {fraction:.0%} of the training fold",
        lambda schema, seed: Subsample(
            copy.deepcopy(spec.build(schema, seed)), fraction, random_state=seed
        ),
    )


def reference_arm(arm: str, target: str = "human") -> str:
    """The target-only arm a transfer arm is compared with (same model family)."""
    if arm.startswith("pooled_"):
        return f"{target}_{arm.removeprefix('pooled_')}"
    return f"{target}_bilstm"


@dataclass
class TransferResult:
    """The arms on one plan of target folds, and the learning curve."""

    evaluation: Evaluation
    curve: pd.DataFrame | None
    target: str
    source: str
    coral: bool

    def gains(self, metric: str = "macro_f1") -> pd.DataFrame:
        """Each transfer arm minus its target-only reference, paired on identical folds."""
        rows = []
        for arm in self.evaluation.models:
            if arm.startswith(f"{self.target}_"):
                continue
            ref = reference_arm(arm, self.target)
            rows.append({"arm": arm, "reference": ref, **self.evaluation.compare(arm, ref, metric)})
        return pd.DataFrame(rows).set_index("arm")

    def to_metrics(self) -> dict:
        return {
            "transfer": {
                "source": self.source,
                "target": self.target,
                "coral": self.coral,
                "gains_macro_f1": self.gains("macro_f1").reset_index().to_dict(orient="records"),
                "gains_accuracy": self.gains("accuracy").reset_index().to_dict(orient="records"),
            },
            **(
                {"learning_curve": self.curve.to_dict(orient="records")}
                if self.curve is not None
                else {}
            ),
        }


def run_transfer(
    source: PatchSeqData,
    target: PatchSeqData,
    plan: SplitPlan,
    *,
    coral: bool = False,
    bilstm_params: dict | None = None,
    strategies: Sequence[str] = STRATEGIES,
    pooled: Sequence[str] = ("rf", "hgb"),
    fractions: Sequence[float] = (0.1, 0.25, 0.5),
    curve_arms: Sequence[str] = ("joint",),
    importance: bool = False,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> TransferResult:
    """All arms on ``plan`` (target folds), then the learning curve over training fractions."""
    src = SourceData.from_data(source)
    arms = transfer_arms(
        src,
        target.species,
        coral=coral,
        bilstm_params=bilstm_params,
        strategies=strategies,
        pooled=pooled,
    )
    evaluation = run_evaluation(
        target, list(arms.values()), plan, importance=importance, n_jobs=n_jobs, progress=progress
    )
    curve = None
    if fractions:
        rows = []
        pairs = _curve_pairs(curve_arms, target.species)
        needed = sorted({n for pair in pairs for n in pair})
        for fraction in fractions:
            specs = [subsampled(arms[n], fraction) for n in needed]
            part = run_evaluation(target, specs, plan, n_jobs=n_jobs, progress=progress)
            rows += _curve_rows(part, pairs, fraction, f"@{fraction:g}")
        rows += _curve_rows(evaluation, pairs, 1.0, "")
        curve = pd.DataFrame(rows)
    return TransferResult(evaluation, curve, target.species, source.species, coral)


def _curve_pairs(curve_arms: Sequence[str], target: str) -> list[tuple[str, str]]:
    """(arm, target-only reference) pairs on the learning curve."""
    return [
        (name.replace("-", "_"), reference_arm(name.replace("-", "_"), target))
        for name in curve_arms
    ]


def count_fits(
    n_folds: int,
    *,
    strategies: Sequence[str] = STRATEGIES,
    pooled: Sequence[str] = ("rf", "hgb"),
    fractions: Sequence[float] = (0.1, 0.25, 0.5),
    curve_arms: Sequence[str] = ("joint",),
    target: str = "human",
) -> int:
    """How many models :func:`run_transfer` fits with these arguments (for progress bars)."""
    n_arms = 3 + len(strategies) + len(pooled)  # 3 target-only baselines
    pairs = _curve_pairs(curve_arms, target) if fractions else []
    n_curve = len({n for pair in pairs for n in pair}) * len(fractions)
    return n_folds * (n_arms + n_curve)


def _curve_rows(evaluation: Evaluation, pairs, fraction: float, suffix: str) -> list[dict]:
    rows = []
    n_train = evaluation.n_train * fraction
    for arm, ref in pairs:
        a, r = arm + suffix, ref + suffix
        sa, sr = evaluation.summary(a), evaluation.summary(r)
        gain = evaluation.compare(a, r, "macro_f1")
        rows.append(
            {
                "fraction": fraction,
                "n_train_cells": n_train,
                "arm": arm,
                "reference": ref,
                "arm_macro_f1": sa["macro_f1"]["mean"],
                "arm_ci_low": sa["macro_f1"]["ci_low"],
                "arm_ci_high": sa["macro_f1"]["ci_high"],
                "reference_macro_f1": sr["macro_f1"]["mean"],
                "reference_ci_low": sr["macro_f1"]["ci_low"],
                "reference_ci_high": sr["macro_f1"]["ci_high"],
                "gain": gain["mean_diff"],
                "gain_ci_low": gain["ci_low"],
                "gain_ci_high": gain["ci_high"],
                "gain_p": gain["p"],
            }
        )
    return rows


def write_transfer(result: TransferResult, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write a transfer run like ``evaluate`` does, plus gains.csv and the learning curve."""
    from .plots import plot_learning_curve, save_figure

    def extra(folder: Path) -> None:
        result.gains("macro_f1").to_csv(folder / "gains.csv", float_format="%.6g")
        if result.curve is not None:
            result.curve.to_csv(folder / "learning_curve.csv", index=False, float_format="%.6g")
            fig = plot_learning_curve(
                result.curve,
                title=f"{result.source} -> {result.target}: gain from {result.source} data vs "
                f"{result.target} training cells ({result.evaluation.plan.description})",
            )
            save_figure(fig, folder / "learning_curve.png")

    return write_evaluation(
        result.evaluation,
        out_dir,
        overwrite=overwrite,
        extra_metrics=result.to_metrics(),
        extra_files=extra,
    )
