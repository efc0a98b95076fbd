"""The report's sections on the classifiers of each declared model stage: scores, paired
differences, per-class F1, confusion and reliability figures, and the BiLSTM's attention
over feature families beside the family permutation importance."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ephys2type.study.config import FIGURE_MODELS
from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.evaluations import Attention
from ephys2type.study.report.summary import ClassifierResult
from ephys2type.study.report.wording import fmt_gain, fmt_pct, protocol_text

#: The paper's forest and its network, whose figures the sections show (the network's
#: attention too); the stages draw these (FIGURE_MODELS) and no other model's.
FOREST, PAPER_MODEL = FIGURE_MODELS
#: The baselines each model's paired macro-F1 difference is given against.
REFERENCES = ("rf", "hgb")
#: Up to this many families the attention check's permutation p is exact (8! = 40,320
#: orders); beyond, it is from this many orders drawn.
EXACT_FAMILIES, PERMUTATIONS = 8, 9999


def classifier_section(b: ReportBuilder, results: tuple[ClassifierResult, ...], seeds: int) -> None:
    """One subsection per model stage that wrote results (``seeds``: the run's, which the
    confusion matrices add up)."""
    b.heading("Classifiers")
    b.para(
        "Every model of a dataset ran on the same split plan; preprocessing (imputation, "
        "scaling, sparse PCA, SMOTE, early stopping) is fitted inside each training fold. "
        "BiLSTM variants: bilstm-smote is the paper's model (attention, SMOTE, cross-entropy, "
        "linear head); each other variant changes one of those."
    )
    for result in results:
        m = result.evaluation
        if not m:
            continue
        b.heading(f"{result.stage.species}, labels {result.stage.labels}", 3)
        b.para(protocol_text(m.provenance), "note")
        # the baselines every model is compared with, where the stage ran them
        references = [ref for ref in REFERENCES if ref in m.models]
        rows = []
        for name, r in m.models.items():
            gains = [
                m.comparison(name, ref, "macro_f1") if name != ref else None for ref in references
            ]
            rows.append(
                [
                    name,
                    fmt_pct(r.accuracy),
                    fmt_pct(r.balanced_accuracy),
                    fmt_pct(r.macro_f1),
                    "n/a" if r.ece is None else f"{100 * r.ece:.1f}",
                    *(fmt_gain(g) if g else "" for g in gains),
                ]
            )
        b.table(
            [
                "model",
                "accuracy (%)",
                "balanced accuracy (%)",
                "macro-F1 (%)",
                "ECE (%)",
                *(f"macro-F1 minus {ref} (points)" for ref in references),
            ],
            rows,
            "ECE: expected calibration error of the out-of-fold probabilities (every seed "
            "pooled, no interval). The BiLSTMs' probabilities are temperature-scaled on their "
            "inner validation split; the forest's, boosting's and the regression's are their "
            "own, uncalibrated, so the column compares a calibrated model with uncalibrated "
            "ones (what predict serves is calibrated whatever the model: the deployed "
            "classifier temperature-scales each member on held-out training cells).",
        )
        rows = [
            [name] + [f"{100 * r.f1_per_class[c]:.1f}" for c in m.classes]
            for name, r in m.models.items()
        ]
        b.table(["model", *[f"F1 {c}" for c in m.classes]], rows, "Per-class F1 (%)")
        b.figures(
            [m.folder / f"confusion_{FOREST}.png", m.folder / f"confusion_{PAPER_MODEL}.png"],
            f"Confusion matrices: out-of-fold predictions, counts summed over "
            f"{seeds} seed(s), so each cell is counted once per seed.",
        )
        b.figures(
            [m.folder / f"reliability_{FOREST}.png", m.folder / f"reliability_{PAPER_MODEL}.png"]
        )


def attention_section(b: ReportBuilder, results: tuple[ClassifierResult, ...]) -> None:
    """The paper's BiLSTM's attention per dataset where its importance was computed."""
    b.heading("Interpretability: attention over feature families")
    b.para(
        "Mean attention per true class (out-of-fold cells) and, as a check that attention "
        "means something, family permutation importance on the test folds (macro-F1 drop "
        "when a family's values are shuffled across cells), with their Spearman rank "
        "correlation."
    )
    rows, shown = [], []
    for result in results:
        bilstm = result.evaluation.models.get(PAPER_MODEL) if result.evaluation else None
        att = bilstm.attention if bilstm else None
        if att is None:
            continue
        rows.append(
            [
                f"{result.stage.species}, {result.stage.labels}",
                max(att.mean_attention, key=att.mean_attention.__getitem__),
                max(att.importance, key=att.importance.__getitem__),
                _rho(att.rho_of_means) + f" (n = {att.n_families} families)",
                _rho(att.rho_per_fold_mean) + " ± " + _rho(att.rho_per_fold_sd),
            ]
        )
        shown.append(result)
    if rows:
        b.table(
            [
                "dataset",
                "most attended family",
                "most important family",
                "Spearman rho, attention vs importance",
                "rho per fold (mean ± SD)",
            ],
            rows,
        )
        b.bullets(
            _attention_verdict(
                f"{r.stage.species}, {r.stage.labels}", r.evaluation.models[PAPER_MODEL].attention
            )
            for r in shown
        )
    for result in shown:
        folder = result.evaluation.folder
        b.heading(f"{result.stage.species}, labels {result.stage.labels}", 3)
        b.figures(
            [folder / f"attention_{PAPER_MODEL}.png", folder / f"importance_{PAPER_MODEL}.png"]
        )


def _attention_verdict(dataset: str, att: Attention) -> str:
    """Whether attention ranks the families as their importance does, with the exact
    permutation p-value of the rank correlation (a few families give little power)."""
    families = [f for f in att.mean_attention if f in att.importance]
    if len(families) < 3 or att.rho_of_means is None:
        return f"{dataset}: too few families to compare attention with importance."
    attention = np.array([att.mean_attention[f] for f in families], dtype=float)
    ranks = stats.rankdata([att.importance[f] for f in families])
    ranks -= ranks.mean()

    def spearman(x: np.ndarray, axis: int) -> np.ndarray:
        """Spearman's rho of each permutation of ``x`` with the importance, all at once."""
        rx = stats.rankdata(x, axis=axis)
        rx -= rx.mean(axis=axis, keepdims=True)
        return (rx * ranks).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ranks**2).sum())

    # one sample permuted against the fixed importance: its n! orders, exactly, up to 8
    # families (40,320); beyond, a seeded sample of them
    exact = len(families) <= EXACT_FAMILIES
    p = stats.permutation_test(
        (attention,),
        spearman,
        permutation_type="pairings",
        vectorized=True,
        n_resamples=math.factorial(len(families)) if exact else PERMUTATIONS,
        random_state=0,
    ).pvalue
    rho = att.rho_of_means
    said = (
        "attention's ranking of the families agrees with their importance's more than chance would"
        if p < 0.05 and rho > 0
        else "attention's ranking of the families runs against their importance's more than "
        "chance would"
        if p < 0.05
        else "no evidence either way that attention's ranking of the families agrees with "
        "their importance's"
    )
    how = "exact permutation p" if exact else f"permutation p ({PERMUTATIONS:,} orders drawn)"
    return f"{dataset}: rho = {rho:.2f} over {len(families)} families, {how} = {p:.2g}: {said}."


def _rho(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"
