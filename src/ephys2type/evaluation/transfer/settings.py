"""What a transfer experiment runs: :class:`TransferSettings`, the one place its defaults
live (strategies, pooled baselines, domain adaptations, heterogeneous transfer, curves,
BiLSTM parameters), for the command line, the reproduction and the Python API.

Every setting is checked once, when the settings are made; a setting out of its range raises
:class:`TransferSettingError`, which names the field so a command can name its own option.
Which arms and fits these settings make is :mod:`~ephys2type.evaluation.transfer.fits`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ephys2type.evaluation.splits import SplitPlan
from ephys2type.models.transfer.adaptation import get_adapter
from ephys2type.models.transfer.names import (
    ADAPTERS,
    CURVE_ARM,
    FRACTIONS,
    HETEROGENEOUS,
    NATIVE,
    POOLED,
    STRATEGIES,
)

#: Models of the target-only arms on all the target's features (``native``).
NATIVE_MODELS = ("rf", "hgb", "logreg")


class TransferSettingError(ValueError):
    """A transfer setting out of its range; ``setting`` names the :class:`TransferSettings`
    field, so a command can name its own option."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting


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
    extra_strategies : strategies (among ``strategies``) that run on that plan too, read for
        their direction beside the main one;
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
    extra_strategies: tuple[str, ...] = ()
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
        for s in self.extra_strategies:
            if s not in self.strategies:
                fail("extra_strategies", f"strategy {s!r} is not among the strategies run")
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
        """The settings as JSON-ready values (what a run's cache key and folder record)."""
        return {
            "strategies": list(self.strategies),
            "pooled": list(self.pooled),
            "adapters": list(self.adapters),
            "heterogeneous": list(self.heterogeneous),
            "extra_seeds": self.extra_seeds,
            **({"extra_strategies": list(self.extra_strategies)} if self.extra_strategies else {}),
            "fractions": list(self.fractions),
            "curve_arms": list(self.curve),
            "curve_seeds": self.curve_seeds,
            "coral": self.coral,
            "native": list(self.native),
            "per_class": list(self.per_class),
            "bilstm": dict(self.bilstm_params),
        }

    def extra_plan(self, plan: SplitPlan) -> SplitPlan:
        """The plan the adapted and heterogeneous arms and the ``extra_strategies`` run on
        (the first ``extra_seeds``)."""
        return plan if self.extra_seeds is None else plan.first_seeds(self.extra_seeds)

    def curve_plan(self, plan: SplitPlan) -> SplitPlan:
        """The plan the learning and few-shot curves run on (the first ``curve_seeds``)."""
        return plan if self.curve_seeds is None else plan.first_seeds(self.curve_seeds)
