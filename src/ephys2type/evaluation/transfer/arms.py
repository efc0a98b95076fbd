"""The arms of a transfer run: what each is called, its role, its reference and its model.

:func:`planned_arms` lists the arms a configuration runs from the settings alone (names,
roles, references; no data), in run order; :func:`transfer_arms` gives each of those arms its
model spec for the evaluation runner (:class:`TransferArm`). The fits a run makes
(:mod:`~ephys2type.evaluation.transfer.fits`) and the arms it builds both come from
:func:`planned_arms`, so what is counted is what is run.

:func:`subsampled` and :func:`few_shot` are the variants of an arm the learning and few-shot
curves fit: the same model on part of each training fold.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from ephys2type.data.align import heterogeneous_schema, heterogeneous_table, to_aligned
from ephys2type.data.container import PatchSeqData
from ephys2type.data.schema import FeatureSchema
from ephys2type.evaluation.runner import plan_seed
from ephys2type.evaluation.transfer.settings import TransferSettings
from ephys2type.models.registry import ModelSpec, get_model
from ephys2type.models.transfer.adaptation import get_adapter
from ephys2type.models.transfer.estimators import (
    NativeFeatures,
    PooledClassifier,
    SourceData,
    Subsample,
    TransferClassifier,
)

#: The target-only models every transfer run compares with (on the aligned features), as
#: arms ``<target>_<model>``.
TARGET_ONLY_MODELS = ("bilstm", "rf", "hgb")
#: Arm roles: a target-only arm is a reference; a transfer arm learns from the source too.
TARGET_ONLY, TRANSFER = "target-only", "transfer"

#: What each target-only model on the aligned features is, for its description.
_TARGET_ONLY_WHAT = {
    "bilstm": "attention BiLSTM (aligned features, SMOTE)",
    "rf": "random forest (aligned features)",
    "hgb": "gradient boosting (aligned features)",
}

#: Kinds of arm, in run order: the target-only models on the aligned features, the
#: target-only models on all the target's features, the transfer strategies, the pooled
#: baselines, pooled gradient boosting after a domain adaptation, and heterogeneous transfer
#: (the target-only network on the heterogeneous layout, then each strategy on it).
TARGET, NATIVE_KIND, STRATEGY, POOLED_KIND = "target", "native", "strategy", "pooled"
ADAPTED, HETEROGENEOUS_TARGET, HETEROGENEOUS_KIND = "adapted", "het-target", "heterogeneous"
#: Kinds run on the settings' ``extra_plan`` (the other kinds run on every fold of the plan).
EXTRA_KINDS = (ADAPTED, HETEROGENEOUS_TARGET, HETEROGENEOUS_KIND)


def adapted_arm(adapter: str) -> str:
    """The name of pooled gradient boosting after ``adapter``."""
    return f"pooled_hgb_{adapter}"


def het_arm(target: str, strategy: str | None = None) -> str:
    """The name of a heterogeneous-transfer arm (None: the target-only network)."""
    return f"{target}_bilstm_het" if strategy is None else f"het_{strategy.replace('-', '_')}"


def native_arm(target: str, model: str) -> str:
    """The name of the target-only arm of ``model`` on all the target's own features."""
    return f"{target}_{model}_all"


def target_arm(target: str, model: str) -> str:
    """The name of the target-only arm of ``model`` on the aligned features."""
    return f"{target}_{model}"


def strategy_arm(strategy: str) -> str:
    """The name of the arm of a transfer strategy (results spell it with underscores)."""
    return strategy.replace("-", "_")


def strategy_reference(target: str) -> str:
    """The reference of every transfer strategy: the target-only BiLSTM."""
    return target_arm(target, "bilstm")


def native_reference(settings: TransferSettings, target: str, native: bool) -> str | None:
    """The target-only arm on all features the curves compare with (if it is run)."""
    return native_arm(target, settings.native[0]) if native and settings.native else None


@dataclass(frozen=True)
class PlannedArm:
    """One arm as the settings define it, before it has data: its name, its kind (one of
    :data:`TARGET` ... :data:`HETEROGENEOUS_KIND`), the model, strategy or adapter it runs
    (``what``) and, for a transfer arm, its target-only reference."""

    name: str
    kind: str
    what: str
    reference: str | None = None
    #: a strategy of the settings' ``extra_strategies`` (run on the ``extra_plan`` only)
    read_for_direction: bool = False

    @property
    def role(self) -> str:
        """:data:`TRANSFER` if the arm has a reference, else :data:`TARGET_ONLY`."""
        return TARGET_ONLY if self.reference is None else TRANSFER

    @property
    def extra(self) -> bool:
        """Whether the arm runs on the settings' ``extra_plan`` only."""
        return self.kind in EXTRA_KINDS or self.read_for_direction


def planned_arms(
    settings: TransferSettings, target: str = "human", *, native: bool = False
) -> list[PlannedArm]:
    """The arms ``settings`` make, in run order (``native``: whether the target's own feature
    table is given; it adds the native and heterogeneous arms)."""
    t = target
    arms = [PlannedArm(target_arm(t, m), TARGET, m) for m in TARGET_ONLY_MODELS]
    arms += [PlannedArm(native_arm(t, m), NATIVE_KIND, m) for m in settings.native if native]
    arms += [
        PlannedArm(
            strategy_arm(s),
            STRATEGY,
            s,
            strategy_reference(t),
            read_for_direction=s in settings.extra_strategies,
        )
        for s in settings.strategies
    ]
    arms += [PlannedArm(f"pooled_{m}", POOLED_KIND, m, target_arm(t, m)) for m in settings.pooled]
    arms += [
        PlannedArm(adapted_arm(a), ADAPTED, a, target_arm(t, "hgb")) for a in settings.adapters
    ]
    if native and settings.heterogeneous:
        own = het_arm(t)
        # the network on the heterogeneous layout, fitted as "finetune" with no source
        arms.append(PlannedArm(own, HETEROGENEOUS_TARGET, "finetune"))
        # each strategy is compared with the same network on the same features, without
        # the source
        arms += [
            PlannedArm(het_arm(t, s), HETEROGENEOUS_KIND, s, own) for s in settings.heterogeneous
        ]
    return arms


@dataclass(frozen=True)
class TransferArm:
    """One arm of a transfer run: its model, its role (:data:`TARGET_ONLY` or
    :data:`TRANSFER`) and, for a transfer arm, the target-only arm of the same model family it
    is compared with (its gain is measured against it on identical folds)."""

    spec: ModelSpec
    role: str
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.role not in (TARGET_ONLY, TRANSFER):
            raise ValueError(f"arm role must be {TARGET_ONLY!r} or {TRANSFER!r}, not {self.role!r}")
        if (self.reference is None) != (self.role == TARGET_ONLY):
            raise ValueError("a transfer arm, and only a transfer arm, has a reference")

    @property
    def name(self) -> str:
        return self.spec.name


def transfer_arms(
    source: SourceData,
    target: str = "human",
    settings: TransferSettings | None = None,
    native: PatchSeqData | None = None,
    pretrain_cache: str | None = None,
) -> dict[str, TransferArm]:
    """The arms of :func:`planned_arms`, named, in the same order, each with its model spec
    for the evaluation runner, its role and its reference (:class:`TransferArm`).

    With ``native`` (the target cells with all their own features), the target-only
    ``settings.native`` models on those features join, as ``<target>_<model>_all``, and the
    heterogeneous arms.

    Transfer arms receive the source cells as a fit parameter, and ``pretrain_seed`` = the
    plan seed of their fold (:func:`~ephys2type.evaluation.runner.plan_seed`): with a
    ``pretrain_cache`` folder (:class:`~ephys2type.models.transfer.estimators.
    PretrainedNetworks`), all folds of one seed fine-tune the same pretrained network.
    """
    settings = settings or TransferSettings()
    specs = _Specs(source, target, settings, native, pretrain_cache)
    return {
        arm.name: TransferArm(specs.of(arm), arm.role, arm.reference)
        for arm in planned_arms(settings, target, native=native is not None)
    }


class _Specs:
    """The model spec of each kind of arm, for one source, target and settings."""

    def __init__(
        self,
        source: SourceData,
        target: str,
        settings: TransferSettings,
        native: PatchSeqData | None,
        pretrain_cache: str | None,
    ):
        self.source = source
        self.t = target
        self.settings = settings
        self.native = native
        self.pretrain_cache = pretrain_cache
        # every BiLSTM of the run (target-only and transfer arms) within the run limits
        self.params = dict(get_model("bilstm").with_params(**settings.bilstm_params).params)
        self.src = source.name.split()[0]
        self._heterogeneous: _Heterogeneous | None = None

    def of(self, arm: PlannedArm) -> ModelSpec:
        build = {
            TARGET: self._target,
            NATIVE_KIND: self._native,
            STRATEGY: self._strategy,
            POOLED_KIND: self._pooled,
            ADAPTED: self._adapted,
            HETEROGENEOUS_TARGET: self._heterogeneous_target,
            HETEROGENEOUS_KIND: self._heterogeneous_strategy,
        }[arm.kind]
        return build(arm)

    def _target(self, arm: PlannedArm) -> ModelSpec:
        spec = get_model(arm.what)
        if arm.what == "bilstm":
            spec = spec.with_params(**self.params)
        return replace(
            spec, name=arm.name, description=f"{self.t}-only {_TARGET_ONLY_WHAT[arm.what]}"
        )

    def _native(self, arm: PlannedArm) -> ModelSpec:
        native = self.native
        if native is None:
            raise ValueError(f"arm {arm.name} needs the target's native table")

        model = get_model(arm.what)

        def build_native(schema, seed):
            return NativeFeatures(estimator=model.build(native.schema, seed), table=native.X)

        return ModelSpec(
            arm.name,
            f"{self.t}-only {model.description} on all "
            f"{len(native.schema.columns)} {self.t} features",
            build_native,
            kind="sklearn",
            params=dict(model.params),
        )

    def _strategy(self, arm: PlannedArm) -> ModelSpec:
        settings, params, pretrain_cache = self.settings, self.params, self.pretrain_cache
        src, t = self.src, self.t
        descriptions = {
            "zero-shot": f"trained on all {src} cells only, tested on {t}",
            "finetune": f"pretrained on {src}, all weights fine-tuned on the {t} training fold",
            "freeze-warmup": f"pretrained on {src}, head warm-up with frozen encoder, then "
            "unfrozen",
            "joint": f"shared encoder, {src} and {t} heads trained jointly, then {t} fine-tune",
        }

        def build(schema, seed, s=arm.what):
            return TransferClassifier(
                strategy=s,
                families=schema.family_index(),
                family_names=schema.family_names,
                coral=settings.coral,
                bilstm_params=params,
                pretrain_seed=plan_seed(seed),
                pretrain_cache=pretrain_cache,
                random_state=seed,
            )

        return ModelSpec(
            arm.name,
            descriptions[arm.what] + (", CORAL" if settings.coral else ""),
            build,
            kind="transfer",
            params=dict(params),
            fit_params={"source": self.source},
        )

    def _pooled(self, arm: PlannedArm) -> ModelSpec:
        model = arm.what
        params = dict(get_model(model).params)
        return ModelSpec(
            arm.name,
            f"{'random forest' if model == 'rf' else 'gradient boosting'} on "
            f"{self.src} + {self.t} training cells with a species indicator",
            lambda schema, seed, m=model: PooledClassifier(
                model=m, params=params, random_state=seed
            ),
            kind="transfer",
            params=params,
            fit_params={"source": self.source},
        )

    def _adapted(self, arm: PlannedArm) -> ModelSpec:
        adapter = arm.what
        params = dict(get_model("hgb").params)
        return ModelSpec(
            arm.name,
            f"gradient boosting on {self.src} + {self.t} training cells with a species "
            f"indicator, after {get_adapter(adapter).description}",
            lambda schema, seed, a=adapter: PooledClassifier(
                model="hgb", adapter=a, params=params, random_state=seed
            ),
            kind="transfer",
            params=params,
            fit_params={"source": self.source},
        )

    def _heterogeneous_target(self, arm: PlannedArm) -> ModelSpec:
        het = self._heterogeneous_layout(arm)
        return ModelSpec(
            arm.name,
            f"{self.t}-only attention BiLSTM on {het.layout}",
            lambda schema_, seed, s=arm.what: het.build(s, seed),
            kind="transfer",
            params=dict(self.params),
        )

    def _heterogeneous_strategy(self, arm: PlannedArm) -> ModelSpec:
        het = self._heterogeneous_layout(arm)
        strategy = arm.what
        return ModelSpec(
            arm.name,
            f"heterogeneous {strategy}: aligned-family encoders pretrained on {self.src}, "
            f"{self.t}-only families learnt on {self.t} ({het.layout})",
            lambda schema_, seed, s=strategy: het.build(s, seed),
            kind="transfer",
            params=dict(self.params),
            fit_params={"source": het.source},
        )

    def _heterogeneous_layout(self, arm: PlannedArm) -> _Heterogeneous:
        """The heterogeneous layout, made once for all the heterogeneous arms."""
        if self.native is None:
            raise ValueError(f"arm {arm.name} needs the target's native table")
        if self._heterogeneous is None:
            self._heterogeneous = _Heterogeneous.of(
                self.source, self.t, self.native, self.params, self.pretrain_cache
            )
        return self._heterogeneous


@dataclass(frozen=True)
class _Heterogeneous:
    """The heterogeneous layout: the aligned families and the target's own families, for the
    target cells (``table``) and the source cells (whose target-only families are empty,
    hence masked), and how to build the network on it."""

    schema: FeatureSchema
    table: pd.DataFrame
    source: SourceData
    layout: str
    params: dict[str, Any]
    pretrain_cache: str | None

    @classmethod
    def of(
        cls,
        source: SourceData,
        t: str,
        native: PatchSeqData,
        params: dict[str, Any],
        pretrain_cache: str | None,
    ) -> _Heterogeneous:
        schema = heterogeneous_schema(native.schema, t)
        aligned = to_aligned(native)
        table = heterogeneous_table(aligned.X, schema, native.X)
        het_source = SourceData(heterogeneous_table(source.X, schema), source.y, source.name)
        n_own = len(schema.columns) - len(aligned.schema.columns)
        layout = f"the aligned families and {n_own} {t}-only features in their own families"
        return cls(schema, table, het_source, layout, params, pretrain_cache)

    def build(self, strategy: str, seed: int) -> NativeFeatures:
        network = TransferClassifier(
            strategy=strategy,
            families=self.schema.family_index(),
            family_names=self.schema.family_names,
            bilstm_params=self.params,
            pretrain_seed=plan_seed(seed),
            pretrain_cache=self.pretrain_cache,
            random_state=seed,
        )
        return NativeFeatures(estimator=network, table=self.table)


def subsampled(spec: ModelSpec, fraction: float) -> ModelSpec:
    """The same arm trained on a stratified fraction of each target training fold."""
    return _on_subsample(
        spec, f"@{fraction:g}", f"{fraction:.0%} of the training fold", fraction=fraction
    )


def few_shot(spec: ModelSpec, per_class: int) -> ModelSpec:
    """The same arm trained on at most ``per_class`` cells of each class of the fold."""
    return _on_subsample(
        spec, f"@{per_class}pc", f"{per_class} training cells per class", per_class=per_class
    )


def _on_subsample(spec: ModelSpec, suffix: str, what: str, **subsample: Any) -> ModelSpec:
    """``spec`` wrapped in :class:`Subsample` (the fold's seed as its random state)."""
    return replace(
        spec,
        name=f"{spec.name}{suffix}",
        description=f"{spec.description}; {what}",
        build=lambda schema, seed: Subsample(
            estimator=copy.deepcopy(spec.build(schema, seed)), random_state=seed, **subsample
        ),
        factory=None,
    )
