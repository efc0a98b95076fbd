"""What a reproduction runs: stages and their models, as data.

The presets are TOML files (``resources/presets/full.toml`` and ``quick.toml``); a stage's
model list may name registered models or a kind of model (``"kind:bilstm"``: the paper's
BiLSTM and its ablations, as the model registry lists them). The stages themselves (folder,
cache spec, work, report section) are :mod:`ephys2type.study.stages`.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from importlib import resources
from typing import Any

from ephys2type.errors import Ephys2TypeError
from ephys2type.evaluation.transfer import TransferSettings
from ephys2type.limits import RunLimits
from ephys2type.models.registry import get_model, model_names

PRESETS = ("full", "quick")
_DEFAULT_TRANSFER = TransferSettings()


#: The study's data: the tables the paper reports numbers on (Gouwens et al. 2020, Lee, Dalley
#: et al. 2023). Every stage but the one about datasets reads these, whatever the library's
#: default datasets are, so the comparison with the paper stays on the paper's cells.
STUDY_DATASETS: dict[str, tuple[str, ...]] = {
    "mouse": ("gouwens2020",),
    "human": ("lee2023",),
}

#: The models whose per-model figures (confusion matrix, reliability, attention, importance)
#: the study's stages draw: the two the report shows, the paper's forest and BiLSTM. The
#: tables behind every model's figures are in each results folder; ``ephys2type evaluate``
#: and ``ephys2type transfer`` draw every model's.
FIGURE_MODELS: tuple[str, ...] = ("rf", "bilstm-smote")


@dataclass(frozen=True)
class ModelStage:
    """One dataset evaluated with a list of models on one split plan."""

    name: str
    species: str
    labels: str
    models: tuple[str, ...]
    importance: tuple[str, ...] = ()  # models whose family permutation importance is computed
    #: models (among ``models``) run on the plan's first seed only (compared with the others
    #: on those folds): variants read for their direction, not at full precision
    first_seed: tuple[str, ...] = ()
    #: seeds of this stage's plan (None: the run's)
    seeds: int | None = None

    def __post_init__(self):
        stray = set(self.first_seed) - set(self.models)
        if stray:
            raise Ephys2TypeError(
                f"stage {self.name}: first_seed names models it does not run: "
                f"{', '.join(sorted(stray))}"
            )


@dataclass(frozen=True)
class ReproduceConfig:
    """What a reproduction runs. ``quick`` trades seeds, folds and epochs for speed."""

    quick: bool = False
    seeds: int = 3
    folds: int = 5
    jobs: int = 2
    max_epochs: int | None = None
    #: caps on a random forest's trees and gradient boosting's iterations, every model of
    #: the run (the quick run's, which is not for conclusions; None: the models' own)
    max_trees: int | None = None
    max_iter: int | None = None
    embedding: str = "umap"
    spca_species: tuple[str, ...] = ("mouse", "human")
    model_stages: tuple[ModelStage, ...] = ()
    transfer_protocols: tuple[str, ...] = ("strat5x5", "group5x5")
    transfer_fractions: tuple[float, ...] = _DEFAULT_TRANSFER.fractions
    transfer_curve_protocols: tuple[str, ...] = ("strat5x5",)  # learning curve only here
    transfer_curve_seeds: int | None = None  # the curve on the plan's first seeds (None: all)
    transfer_strategies: tuple[str, ...] = _DEFAULT_TRANSFER.strategies
    transfer_pooled: tuple[str, ...] = _DEFAULT_TRANSFER.pooled
    #: skada domain adaptations before pooled gradient boosting (first protocol only)
    transfer_adapters: tuple[str, ...] = _DEFAULT_TRANSFER.adapters
    #: heterogeneous transfer strategies (first protocol only)
    transfer_heterogeneous: tuple[str, ...] = _DEFAULT_TRANSFER.heterogeneous
    #: seeds the adapted and heterogeneous arms run on (None: all)
    transfer_extra_seeds: int | None = None
    #: transfer strategies run on those seeds only (read for their direction beside the
    #: main strategy, which runs on every seed)
    transfer_extra_strategies: tuple[str, ...] = ()
    #: strategies on the protocols after the first (a robustness check of the main claim,
    #: without pooled baselines); None: the same arms as the first protocol
    transfer_check_strategies: tuple[str, ...] | None = None
    #: seeds of the protocols after the first (None: the run's)
    transfer_check_seeds: int | None = None
    #: target-only models on all the target's features beside the aligned arms
    transfer_native: tuple[str, ...] = _DEFAULT_TRANSFER.native
    #: few-shot points (target cells per class), on the curve protocols only
    transfer_per_class: tuple[int, ...] = _DEFAULT_TRANSFER.per_class
    #: models run on the paper's own protocol (a stratified hold-out, 60/20/20 with the
    #: inner validation split) beside our CV, on the datasets the paper reports numbers for
    holdout_models: tuple[str, ...] = ("rf",)
    #: species of the partial-protocol table (cells with fewer protocols), its model and seeds
    partial_protocols_species: tuple[str, ...] = ("mouse", "human")
    partial_protocols_model: str = "rf"
    partial_protocols_seeds: int = 1
    #: cells with only some features (random sets of 6-12 features from 2-3 families): the
    #: deployed classifier against a model of exactly those features; species, model, draws
    feature_subsets_species: tuple[str, ...] = ("mouse", "human")
    feature_subsets_model: str = "rf"
    feature_subsets_draws: int = 10
    #: t-types (subclass, then t-type; flat and hierarchical, conformal sets): species, base
    #: models, seeds and the coverage promised
    ttype_species: tuple[str, ...] = ("mouse", "human")
    ttype_models: tuple[str, ...] = ("rf",)
    ttype_seeds: int = 1
    ttype_confidence: float = 0.9
    #: cells of other datasets: the species whose bundled datasets are evaluated by holding
    #: each out (its models) and by comparing training sets (its model), on ``datasets_seeds``
    datasets_species: tuple[str, ...] = ("human",)
    datasets_models: tuple[str, ...] = ("rf", "hgb", "logreg", "rf-deployed")
    datasets_compare_model: str = "rf"
    datasets_seeds: int = 1

    @classmethod
    def preset(cls, name: str, *, jobs: int = 2) -> ReproduceConfig:
        """A shipped preset (``full`` or ``quick``) with ``jobs`` folds run at a time."""
        if name not in PRESETS:
            raise Ephys2TypeError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        text = resources.files("ephys2type").joinpath("resources", "presets", f"{name}.toml")
        raw = tomllib.loads(text.read_text("utf-8"))
        raw["jobs"] = jobs
        raw["model_stages"] = [
            {
                **stage,
                "models": _expand(stage["models"]),
                "first_seed": _expand(stage.get("first_seed", [])),
            }
            for stage in raw.get("model_stages", [])
        ]
        return cls.from_dict(raw)

    @classmethod
    def full(cls, jobs: int = 2) -> ReproduceConfig:
        return cls.preset("full", jobs=jobs)

    @classmethod
    def quick_run(cls, jobs: int = 2) -> ReproduceConfig:
        return cls.preset("quick", jobs=jobs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ReproduceConfig:
        """The config from :meth:`to_dict` output (``run.json``) or a preset's TOML."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise Ephys2TypeError(f"unknown reproduce settings: {', '.join(sorted(unknown))}")
        values = dict(raw)
        values["model_stages"] = tuple(
            ModelStage(
                **{
                    **s,
                    "models": tuple(s["models"]),
                    "importance": tuple(s.get("importance", ())),
                    "first_seed": tuple(s.get("first_seed", ())),
                }
            )
            for s in raw.get("model_stages", ())
        )
        for f in fields(cls):
            if f.name in values and isinstance(values[f.name], list):
                values[f.name] = tuple(values[f.name])
        return cls(**values)

    def protocol_note(self) -> str:
        note = f"stratified {self.folds}-fold CV x {self.seeds} seed(s)"
        if self.max_epochs:
            note += f", BiLSTM capped at {self.max_epochs} epochs"
        if self.max_trees:
            note += f", forests at {self.max_trees} trees"
        if self.max_iter:
            note += f", boosting at {self.max_iter} iterations"
        return note

    def run_limits(self, outer: RunLimits) -> RunLimits:
        """``outer`` (the limits in force) tightened by this run's caps on trees and
        iterations: the limits its stages are built and run under."""
        return replace(
            outer,
            max_trees=outer.cap("max_trees", self.max_trees),
            max_iter=outer.cap("max_iter", self.max_iter),
        )

    def holdout_datasets(self) -> list[tuple[str, str]]:
        """(species, labels) of the hold-out stage: the model stages whose labels the paper
        reports numbers for (mouse5, human revised and subclass), when models are set."""
        if not self.holdout_models:
            return []
        return [
            (s.species, s.labels)
            for s in self.model_stages
            if s.labels in ("mouse5", "revised", "subclass")
        ]

    def transfer_seeds(self, protocol: str) -> int:
        """Seeds of a transfer protocol (the check protocols may run fewer)."""
        if protocol != self.transfer_protocols[0] and self.transfer_check_seeds is not None:
            return self.transfer_check_seeds
        return self.seeds

    def transfer_settings(self, protocol: str) -> TransferSettings:
        """The transfer experiment of one protocol (learning and few-shot curves only where
        declared; on the protocols after the first, only the check strategies if declared)."""
        curves = protocol in self.transfer_curve_protocols
        check = (
            self.transfer_check_strategies is not None and protocol != self.transfer_protocols[0]
        )
        strategies = self.transfer_check_strategies if check else self.transfer_strategies
        return TransferSettings(
            strategies=strategies,
            pooled=() if check else self.transfer_pooled,
            adapters=() if check else self.transfer_adapters,
            heterogeneous=() if check else self.transfer_heterogeneous,
            extra_seeds=self.transfer_extra_seeds,
            extra_strategies=tuple(s for s in self.transfer_extra_strategies if s in strategies),
            fractions=self.transfer_fractions if curves else (),
            per_class=self.transfer_per_class if curves else (),
            native=self.transfer_native,
            curve_seeds=self.transfer_curve_seeds,
        ).with_max_epochs(self.max_epochs)


def _expand(models: list[str]) -> list[str]:
    """Model names with ``kind:<kind>`` replaced by the registered models of that kind."""
    out: list[str] = []
    for name in models:
        if name.startswith("kind:"):
            kind = name.removeprefix("kind:")
            names = model_names(kind)
            if not names:
                raise Ephys2TypeError(f"no registered model of kind {kind!r}")
            out += names
        else:
            get_model(name)  # unknown names fail here, with the list of models
            out.append(name)
    return out
