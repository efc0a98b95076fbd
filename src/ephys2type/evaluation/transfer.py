"""The mouse-to-human transfer experiment, run like any evaluation: every arm (target-only
baselines, transfer strategies, pooled baselines) on the same target folds, compared
pairwise, plus a learning curve over the share of target training cells.

:class:`TransferSettings` holds the experiment's defaults (strategies, pooled baselines,
learning-curve fractions and arms, BiLSTM parameters) once, for the command line, the
reproduction and the Python API.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ephys2type.data.align import heterogeneous_schema, heterogeneous_table, to_aligned
from ephys2type.data.container import PatchSeqData
from ephys2type.errors import Ephys2TypeError
from ephys2type.evaluation.results import Evaluation
from ephys2type.evaluation.runner import Progress, plan_seed, run_evaluation
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.writers import write_evaluation
from ephys2type.models.registry import ModelSpec, get_model
from ephys2type.models.transfer.adaptation import get_adapter
from ephys2type.models.transfer.estimators import (
    NativeFeatures,
    PooledClassifier,
    SourceData,
    Subsample,
    TransferClassifier,
)
from ephys2type.models.transfer.names import (
    ADAPTERS,
    CURVE_ARM,
    FRACTIONS,
    HETEROGENEOUS,
    NATIVE,
    POOLED,
    STRATEGIES,
)


class TransferSettingError(ValueError):
    """A transfer setting out of its range; ``setting`` names the :class:`TransferSettings`
    field, so a command can name its own option."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting


#: Models of the target-only arms on all the target's features (``native``).
NATIVE_MODELS = ("rf", "hgb", "logreg")

#: The target-only models every transfer run compares with (on the aligned features), as
#: arms ``<target>_<model>``.
TARGET_ONLY_MODELS = ("bilstm", "rf", "hgb")
#: Arm roles: a target-only arm is a reference; a transfer arm learns from the source too.
TARGET_ONLY, TRANSFER = "target-only", "transfer"


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


@dataclass(frozen=True)
class TransferSettings:
    """What a transfer experiment runs (the one place its defaults live).

    strategies : transfer strategies (``zero-shot``, ``finetune``, ``freeze-warmup``,
        ``joint``); pooled : baselines fitted on both species (``rf``, ``hgb``);
    adapters : skada domain adaptations (``coral``, ``sa``, ``ot``), each before pooled
        gradient boosting (arms ``pooled_hgb_<adapter>``);
    heterogeneous : strategies of heterogeneous transfer (arms ``het_<strategy>``, beside
        the target-only ``<target>_bilstm_het`` on the same layout): the aligned families
        pretrained on the source, the target's own families learnt on the target (run when
        the target's native table is given);
    extra_seeds : seeds of the plan the adapted and heterogeneous arms run on (None: all;
        compared with the other arms on those folds);
    fractions : learning-curve shares of the target training fold (empty: no curve);
    curve_arms : strategies shown on the learning curve (None: ``joint`` if run, else the
        last strategy); curve_seeds : seeds of the plan the curve runs on (None: all; the
        full-data point is then read on the same folds); coral : CORAL-align the source
        features;
    native : target-only models on all the target's own features (run when the target's
        native table is given; the first is the reference of the curves);
    per_class : few-shot points, target training cells per class (empty: none);
    bilstm_params : parameters of every BiLSTM (target-only and transfer arms).
    """

    strategies: tuple[str, ...] = STRATEGIES
    pooled: tuple[str, ...] = POOLED
    adapters: tuple[str, ...] = ADAPTERS
    heterogeneous: tuple[str, ...] = HETEROGENEOUS
    extra_seeds: int | None = None
    fractions: tuple[float, ...] = FRACTIONS
    curve_arms: tuple[str, ...] | None = None
    curve_seeds: int | None = None
    coral: bool = False
    native: tuple[str, ...] = NATIVE
    per_class: tuple[int, ...] = ()
    bilstm_params: Mapping[str, Any] = field(default_factory=lambda: {"resample": "smote"})

    def __post_init__(self):
        """Every setting checked here, once (the command line and the reproduction build
        their settings through this)."""

        def fail(setting: str, message: str) -> None:
            raise TransferSettingError(setting, message)

        for s in self.strategies:
            if s not in STRATEGIES:
                fail("strategies", f"unknown strategy {s!r}; strategies: {', '.join(STRATEGIES)}")
        for m in self.pooled:
            if m not in POOLED:
                fail("pooled", f"unknown pooled baseline {m!r}; choose from {', '.join(POOLED)}")
        for a in self.adapters:
            try:
                get_adapter(a)
            except ValueError as exc:
                fail("adapters", str(exc))
        for s in self.heterogeneous:
            if s not in STRATEGIES or s == "zero-shot":
                fail(
                    "heterogeneous",
                    f"unknown heterogeneous strategy {s!r}; choose from finetune, "
                    "freeze-warmup, joint",
                )
        for m in self.native:
            if m not in NATIVE_MODELS:
                fail("native", f"unknown model {m!r}; choose from {', '.join(NATIVE_MODELS)}")
        if self.extra_seeds is not None and self.extra_seeds < 1:
            fail("extra_seeds", "extra_seeds must be at least 1")
        for a in self.curve_arms or ():
            if a not in self.strategies:
                fail("curve_arms", f"curve arm {a!r} is not among the strategies run")
        if any(not 0 < f < 1 for f in self.fractions):
            fail("fractions", "learning-curve fractions must lie strictly between 0 and 1")
        if self.curve_seeds is not None and self.curve_seeds < 1:
            fail("curve_seeds", "curve_seeds must be at least 1")
        if any(n < 1 for n in self.per_class):
            fail("per_class", "few-shot cells per class must be at least 1")

    @property
    def curve(self) -> tuple[str, ...]:
        """The strategies on the learning curve."""
        if self.curve_arms is not None:
            return tuple(self.curve_arms)
        if CURVE_ARM in self.strategies:
            return (CURVE_ARM,)
        return tuple(self.strategies[-1:])

    def with_max_epochs(self, max_epochs: int | None) -> TransferSettings:
        """The same settings with BiLSTM training capped at ``max_epochs`` (None: unchanged)."""
        if not max_epochs:
            return self
        return replace(self, bilstm_params={**self.bilstm_params, "max_epochs": max_epochs})

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategies": list(self.strategies),
            "pooled": list(self.pooled),
            "adapters": list(self.adapters),
            "heterogeneous": list(self.heterogeneous),
            "extra_seeds": self.extra_seeds,
            "fractions": list(self.fractions),
            "curve_arms": list(self.curve),
            "curve_seeds": self.curve_seeds,
            "coral": self.coral,
            "native": list(self.native),
            "per_class": list(self.per_class),
            "bilstm": dict(self.bilstm_params),
        }

    def count_fits(self, plan: SplitPlan, target: str = "human", *, native: bool = False) -> int:
        """How many models :func:`run_transfer` fits on ``plan`` (progress bars); ``native``:
        whether the target's own feature table is given."""
        n_native = len(self.native) if native else 0
        n_arms = len(TARGET_ONLY_MODELS) + len(self.strategies) + len(self.pooled) + n_native
        points = len(self.fractions) + len(self.per_class)
        references = {s.replace("-", "_"): strategy_reference(target) for s in self.curve}
        pairs = _curve_pairs(self.curve, references, self.native_reference(target, native))
        n_curve = len({n for pair in pairs for n in pair}) * points if points else 0
        n_extra = len(self.extra_arms(target, native=native))
        return (
            len(plan.folds) * n_arms
            + len(self.extra_plan(plan).folds) * n_extra
            + len(self.curve_plan(plan).folds) * n_curve
        )

    def extra_arms(self, target: str = "human", *, native: bool = False) -> list[str]:
        """The adapted and heterogeneous arms (run on :meth:`extra_plan`)."""
        names = [adapted_arm(a) for a in self.adapters]
        if native and self.heterogeneous:
            names += [het_arm(target)] + [het_arm(target, s) for s in self.heterogeneous]
        return names

    def extra_plan(self, plan: SplitPlan) -> SplitPlan:
        return plan if self.extra_seeds is None else plan.first_seeds(self.extra_seeds)

    def native_reference(self, target: str, native: bool) -> str | None:
        """The target-only arm on all features the curves compare with (if it is run)."""
        return native_arm(target, self.native[0]) if native and self.native else None

    def curve_plan(self, plan: SplitPlan) -> SplitPlan:
        return plan if self.curve_seeds is None else plan.first_seeds(self.curve_seeds)


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


def strategy_reference(target: str) -> str:
    """The reference of every transfer strategy: the target-only BiLSTM."""
    return target_arm(target, "bilstm")


def transfer_arms(
    source: SourceData,
    target: str = "human",
    settings: TransferSettings | None = None,
    native: PatchSeqData | None = None,
    pretrain_cache: str | None = None,
) -> dict[str, TransferArm]:
    """Named arms (target-only baselines first), each its model spec for the evaluation
    runner, its role and its reference (:class:`TransferArm`).

    With ``native`` (the target cells with all their own features), the target-only
    ``settings.native`` models on those features join, as ``<target>_<model>_all``.

    Transfer arms receive the source cells as a fit parameter, and ``pretrain_seed`` = the
    plan seed of their fold (:func:`~ephys2type.evaluation.runner.plan_seed`): with a
    ``pretrain_cache`` folder (:class:`~ephys2type.models.transfer.estimators.
    PretrainedNetworks`), all folds of one seed fine-tune the same pretrained network.
    """
    settings = settings or TransferSettings()
    params = dict(settings.bilstm_params)
    coral_note = ", CORAL" if settings.coral else ""
    src = source.name.split()[0]
    t = target
    what = {
        "bilstm": "attention BiLSTM (aligned features, SMOTE)",
        "rf": "random forest (aligned features)",
        "hgb": "gradient boosting (aligned features)",
    }
    arms: dict[str, TransferArm] = {}

    def add(spec: ModelSpec, reference: str | None = None) -> None:
        arms[spec.name] = TransferArm(
            spec, TARGET_ONLY if reference is None else TRANSFER, reference
        )

    for model in TARGET_ONLY_MODELS:
        spec = get_model(model)
        if model == "bilstm":
            spec = spec.with_params(**params)
        add(replace(spec, name=target_arm(t, model), description=f"{t}-only {what[model]}"))
    for model in settings.native if native is not None else ():

        def build_native(schema, seed, m=model):
            return NativeFeatures(estimator=get_model(m).build(native.schema, seed), table=native.X)

        name = native_arm(t, model)
        add(
            ModelSpec(
                name,
                f"{t}-only {get_model(model).description} on all {len(native.schema.columns)} "
                f"{t} features",
                build_native,
                kind="sklearn",
            )
        )
    descriptions = {
        "zero-shot": f"trained on all {src} cells only, tested on {t}",
        "finetune": f"pretrained on {src}, all weights fine-tuned on the {t} training fold",
        "freeze-warmup": f"pretrained on {src}, head warm-up with frozen encoder, then unfrozen",
        "joint": f"shared encoder, {src} and {t} heads trained jointly, then {t} fine-tune",
    }
    for strategy in settings.strategies:
        name = strategy.replace("-", "_")

        def build(schema, seed, s=strategy):
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

        add(
            ModelSpec(
                name,
                descriptions[strategy] + coral_note,
                build,
                kind="transfer",
                fit_params={"source": source},
            ),
            strategy_reference(t),
        )
    for model in settings.pooled:
        add(
            ModelSpec(
                f"pooled_{model}",
                f"{'random forest' if model == 'rf' else 'gradient boosting'} on "
                f"{src} + {t} training cells with a species indicator",
                lambda schema, seed, m=model: PooledClassifier(model=m, random_state=seed),
                kind="transfer",
                fit_params={"source": source},
            ),
            target_arm(t, model),
        )
    if native is not None and settings.heterogeneous:
        arms.update(_heterogeneous_arms(source, t, settings, native, params, pretrain_cache))
    for adapter in settings.adapters:
        add(
            ModelSpec(
                adapted_arm(adapter),
                f"gradient boosting on {src} + {t} training cells with a species indicator, "
                f"after {get_adapter(adapter).description}",
                lambda schema, seed, a=adapter: PooledClassifier(
                    model="hgb", adapter=a, random_state=seed
                ),
                kind="transfer",
                fit_params={"source": source},
            ),
            target_arm(t, "hgb"),
        )
    return arms


def _heterogeneous_arms(
    source: SourceData,
    t: str,
    settings: TransferSettings,
    native: PatchSeqData,
    params,
    pretrain_cache: str | None,
) -> dict[str, TransferArm]:
    """The target-only BiLSTM on the aligned + target-only families, and the same network
    pretrained on the source (whose target-only families are empty, hence masked)."""
    schema = heterogeneous_schema(native.schema, t)
    aligned = to_aligned(native)
    table = heterogeneous_table(aligned.X, schema, native.X)
    het_source = SourceData(heterogeneous_table(source.X, schema), source.y, source.name)
    src = source.name.split()[0]
    n_own = len(schema.columns) - len(aligned.schema.columns)

    def build(strategy: str, seed: int) -> NativeFeatures:
        network = TransferClassifier(
            strategy=strategy,
            families=schema.family_index(),
            family_names=schema.family_names,
            bilstm_params=params,
            pretrain_seed=plan_seed(seed),
            pretrain_cache=pretrain_cache,
            random_state=seed,
        )
        return NativeFeatures(estimator=network, table=table)

    layout = f"the aligned families and {n_own} {t}-only features in their own families"
    own = ModelSpec(
        het_arm(t),
        f"{t}-only attention BiLSTM on {layout}",
        lambda schema_, seed: build("finetune", seed),
        kind="transfer",
    )
    arms = {own.name: TransferArm(own, TARGET_ONLY)}
    for strategy in settings.heterogeneous:
        name = het_arm(t, strategy)
        spec = ModelSpec(
            name,
            f"heterogeneous {strategy}: aligned-family encoders pretrained on {src}, "
            f"{t}-only families learnt on {t} ({layout})",
            lambda schema_, seed, s=strategy: build(s, seed),
            kind="transfer",
            fit_params={"source": het_source},
        )
        # the same network on the same features, without the source
        arms[name] = TransferArm(spec, TRANSFER, own.name)
    return arms


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


@dataclass
class TransferResult:
    """The arms on one plan of target folds, the learning curve and the few-shot curve.
    ``references``: each transfer arm's target-only reference (:attr:`TransferArm.reference`);
    the evaluation's other models are the target-only arms."""

    evaluation: Evaluation
    curve: pd.DataFrame | None
    target: str
    source: str
    coral: bool
    few_shot: pd.DataFrame | None = None
    references: dict[str, str] = field(default_factory=dict)

    @property
    def target_only(self) -> list[str]:
        return [m for m in self.evaluation.models if m not in self.references]

    @property
    def transfer(self) -> list[str]:
        return [m for m in self.evaluation.models if m in self.references]

    def gains(self, metric: str = "macro_f1") -> pd.DataFrame:
        """Each transfer arm minus its target-only reference, paired on identical folds."""
        rows = [
            {"arm": arm, "reference": ref, **self.evaluation.compare(arm, ref, metric)}
            for arm in self.transfer
            for ref in [self.references[arm]]
        ]
        return pd.DataFrame(rows).set_index("arm")

    @property
    def best_target_only(self) -> str:
        """The target-only arm with the highest mean macro-F1 (on these folds: the strongest
        comparison a transfer arm can face, chosen after the fact, so if anything it favours
        the target-only side). Only arms run on every fold of the plan compete."""
        every = len(self.evaluation.plan.folds)
        only = [m for m in self.target_only if self.evaluation.n_fits(m) == every]
        return max(only, key=lambda m: self.evaluation.summary(m)["macro_f1"]["mean"])

    def gains_vs_best(self, metric: str = "macro_f1") -> pd.DataFrame:
        """Each transfer arm minus the best target-only arm, paired on identical folds."""
        best = self.best_target_only
        rows = [
            {"arm": arm, "reference": best, **self.evaluation.compare(arm, best, metric)}
            for arm in self.transfer
        ]
        return pd.DataFrame(rows).set_index("arm")

    def to_metrics(self) -> dict:
        return {
            "transfer": {
                "source": self.source,
                "target": self.target,
                "coral": self.coral,
                "gains_macro_f1": self.gains("macro_f1").reset_index().to_dict(orient="records"),
                "gains_accuracy": self.gains("accuracy").reset_index().to_dict(orient="records"),
                "best_target_only": self.best_target_only,
                "gains_vs_best_macro_f1": self.gains_vs_best("macro_f1")
                .reset_index()
                .to_dict(orient="records"),
            },
            **(
                {"learning_curve": self.curve.to_dict(orient="records")}
                if self.curve is not None
                else {}
            ),
            **(
                {"few_shot": self.few_shot.to_dict(orient="records")}
                if self.few_shot is not None
                else {}
            ),
        }


def _curve_pairs(
    curve_arms: Sequence[str], references: Mapping[str, str], native_reference: str | None = None
) -> list[tuple[str, str]]:
    """(arm, target-only reference) pairs on the curves: each arm against its own model
    family (``references``) and, when run, against the target-only model on all the target's
    features."""
    pairs = []
    for name in curve_arms:
        arm = name.replace("-", "_")
        pairs.append((arm, references[arm]))
        if native_reference is not None:
            pairs.append((arm, native_reference))
    return pairs


def _curve_rows(
    evaluation: Evaluation, pairs, fraction: float, suffix: str, n_train: float | None = None
) -> list[dict]:
    rows = []
    n_train = evaluation.n_train * fraction if n_train is None else n_train
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
                "n_folds": gain["n_folds"],
            }
        )
    return rows


def write_transfer(result: TransferResult, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write a transfer run like ``evaluate`` does, plus gains.csv, gains_vs_best.csv and
    the learning and few-shot curves."""
    from ephys2type.evaluation.plots import plot_learning_curve, save_figure

    def extra(folder: Path) -> None:
        result.gains("macro_f1").to_csv(folder / "gains.csv", float_format="%.6g")
        result.gains_vs_best("macro_f1").to_csv(folder / "gains_vs_best.csv", float_format="%.6g")
        if result.few_shot is not None:
            result.few_shot.to_csv(folder / "few_shot.csv", index=False, float_format="%.6g")
            fig = plot_learning_curve(
                result.few_shot,
                title=f"{result.source} -> {result.target}: few-shot gain vs {result.target} "
                f"training cells per class ({result.evaluation.plan.description})",
            )
            save_figure(fig, folder / "few_shot.png")
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


def run_transfer(
    source: PatchSeqData,
    target: PatchSeqData,
    plan: SplitPlan,
    settings: TransferSettings | None = None,
    *,
    native: PatchSeqData | None = None,
    importance: bool = False,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> TransferResult:
    """All arms on ``plan`` (target folds), then the learning curve over training fractions
    and the few-shot curve over cells per class. ``native``: the same target cells with all
    their own features (adds the ``settings.native`` target-only arms on them)."""
    settings = settings or TransferSettings()
    if source.schema.columns != target.schema.columns:
        raise Ephys2TypeError(
            f"source ({source.schema.name}) and target ({target.schema.name}) features differ; "
            "load both species with features='aligned'"
        )
    if native is not None and not native.y.reindex(target.X.index).equals(target.y):
        raise Ephys2TypeError(
            "the native target table must hold the same cells with the same labels as the "
            "aligned one (load both with the same label scheme and QC)"
        )
    # the run owns the folder its folds share pretrained networks through, and removes it
    with tempfile.TemporaryDirectory(prefix="ephys2type-pretrained-") as cache:
        arms = transfer_arms(SourceData.from_data(source), target.species, settings, native, cache)
        return _run_arms(
            arms, source.species, target, plan, settings, native, importance, n_jobs, progress
        )


def _run_arms(
    arms: dict[str, TransferArm],
    source_species: str,
    target: PatchSeqData,
    plan: SplitPlan,
    settings: TransferSettings,
    native: PatchSeqData | None,
    importance: bool,
    n_jobs: int,
    progress: Progress | None,
) -> TransferResult:
    """The arms on ``plan``, the learning curve and the few-shot curve."""
    extra = settings.extra_arms(target.species, native=native is not None)
    evaluation = run_evaluation(
        target,
        [arm.spec for name, arm in arms.items() if name not in extra],
        plan,
        importance=importance,
        n_jobs=n_jobs,
        progress=progress,
    )
    if extra:
        evaluation = evaluation.combine(
            run_evaluation(
                target,
                [arms[name].spec for name in extra],
                settings.extra_plan(plan),
                importance=importance,
                n_jobs=n_jobs,
                progress=progress,
            )
        )
    reference = settings.native_reference(target.species, native is not None)
    references = {name: arm.reference for name, arm in arms.items() if arm.role == TRANSFER}
    pairs = _curve_pairs(settings.curve, references, reference)
    needed = sorted({n for pair in pairs for n in pair})
    curve_plan = settings.curve_plan(plan)
    curve = few = None
    if settings.fractions:
        rows = []
        for fraction in settings.fractions:
            specs = [subsampled(arms[n].spec, fraction) for n in needed]
            part = run_evaluation(target, specs, curve_plan, n_jobs=n_jobs, progress=progress)
            rows += _curve_rows(part, pairs, fraction, f"@{fraction:g}")
        rows += _curve_rows(evaluation.on_plan(curve_plan), pairs, 1.0, "")
        curve = pd.DataFrame(rows)
    if settings.per_class:
        rows = []
        counts = target.y.value_counts() * (1 - 1 / plan.n_folds)  # per class in a fold
        for n in settings.per_class:
            specs = [few_shot(arms[name].spec, n) for name in needed]
            part = run_evaluation(target, specs, curve_plan, n_jobs=n_jobs, progress=progress)
            cells = float(counts.clip(upper=n).sum())
            rows += [
                {"per_class": n, **row}
                for row in _curve_rows(part, pairs, 1.0, f"@{n}pc", n_train=cells)
            ]
        few = pd.DataFrame(rows).drop(columns="fraction")
    return TransferResult(
        evaluation, curve, target.species, source_species, settings.coral, few, references
    )
