"""The report's sections on cells a lab measured only partly: cells recorded with fewer
protocols (``partial_protocols_<species>``) and cells with only some features
(``feature_subsets_<species>``), each scored by the deployed classifier beside a model
imputing the rest and a model trained on exactly what the cells have."""

from __future__ import annotations

from ephys2type.study.report.analyses import FeatureSubsets, PartialProtocols
from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.wording import fmt_gain, fmt_pct, split_text

#: The imputed arm is said to be about a majority-class guess when its mean accuracy lies
#: within this of the guess's.
IMPUTED_NEAR_GUESS = 0.05


def partial_protocols_section(b: ReportBuilder, results: tuple[PartialProtocols, ...]) -> None:
    if not results:
        return
    b.heading("Cells recorded with fewer protocols")
    b.para(
        "A lab without the ramp, short-square or chirp protocols has none of those feature "
        "families. For each set of protocols a lab plausibly has (the long square steps "
        "plus any of the others), the test cells of every fold lose the other families and "
        "three models are scored on identical folds: trained on every family with the "
        "absent ones imputed by training medians ('imputed'); what `ephys2type train` saves "
        "and `predict` runs, each cell predicted by the model of the features it has and "
        "left unassigned without evidence, an unassigned cell counted as wrong "
        "('deployed'); and a model trained on exactly those families ('subset', the "
        "reference). All three are fitted on the same cells of each training fold (the "
        "deployed classifier's proper part; the rest calibrates it)."
    )
    for r in results:
        b.heading(f"{r.species} ({r.labels}, {r.n_cells} cells), {r.model}", 3)
        b.para(
            f"{r.folds} fits per arm ({split_text(r.protocol, r.folds, r.seeds)}); "
            "mean ± SD [95% CI] in %.",
            "note",
        )
        rows = [
            [
                e.name.replace("+", " + "),
                fmt_pct(e.imputed.accuracy),
                fmt_pct(e.deployed.accuracy),
                fmt_pct(e.subset.accuracy),
                fmt_pct(e.imputed.macro_f1),
                fmt_pct(e.deployed.macro_f1),
                fmt_pct(e.subset.macro_f1),
                fmt_gain(e.deployed_minus_imputed),
                "—" if e.deployed_called is None else f"{100 * e.deployed_called:.1f}",
            ]
            for e in r.subsets
        ]
        b.table(
            [
                "families the cells have",
                "accuracy imputed",
                "accuracy deployed",
                "accuracy subset",
                "macro-F1 imputed",
                "macro-F1 deployed",
                "macro-F1 subset",
                "deployed - imputed (macro-F1 points)",
                "called by deployed (%)",
            ],
            rows,
            "The deployed classifier's accuracy counts the cells it leaves unassigned as "
            "wrong; its calls alone are right more often (the share called is the last "
            "column).",
        )
        b.figures([r.folder / "partial_protocols_accuracy.png"])


def feature_subsets_section(b: ReportBuilder, results: tuple[FeatureSubsets, ...]) -> None:
    if not results:
        return
    b.heading("Cells with only some features")
    b.para(
        "A lab rarely has whole protocols only: it has the features its own extractor "
        "computes. For random sets of 6 to 12 features from 2 or 3 families (one of them "
        "essential), the test cells of every fold keep only the set's features, and four "
        "arms are scored on identical folds: the complete model imputing the rest "
        "('imputed'); the deployed classifier's call from the model of the features each "
        "cell has, fitted on demand from the training cells ('routed', abstention off); the "
        "same with abstention, an unassigned cell counted as wrong ('deployed'); and the "
        "model trained on exactly the set on the whole training fold ('subset', the "
        "reference). 'Expected' is the accuracy the deployed classifier tells a lab for "
        "that feature set (measured on its calibration cells)."
    )
    for r in results:
        mean = r.mean_accuracy
        b.heading(f"{r.species} ({r.labels}, {r.n_cells} cells), {r.model}", 3)
        b.para(
            f"{r.folds} folds ({split_text(r.protocol, r.folds, r.seeds)}, the run's first "
            "seed), "
            f"{r.n_sets} feature sets. Mean accuracy over the sets: imputed "
            f"{100 * mean['imputed']:.1f}%, routed {100 * mean['routed']:.1f}%, subset "
            f"{100 * mean['subset']:.1f}%; the routed model is within the paired interval of "
            f"the subset model for {r.routed_within_subset_interval} of {r.n_sets} sets; the "
            f"deployed classifier called {100 * r.mean_assigned:.1f}% of the cells."
            + (
                f" Always guessing the most common class scores {100 * r.majority_share:.1f}%: "
                "with most features imputed by training medians, the complete model is within "
                f"{100 * abs(mean['imputed'] - r.majority_share):.1f} points of that guess."
                if r.majority_share is not None
                and abs(mean["imputed"] - r.majority_share) <= IMPUTED_NEAR_GUESS
                else ""
            ),
            "note",
        )
        rows = [
            [
                f"{e.n_features}: " + ", ".join(e.features),
                f"{100 * e.expected_accuracy:.1f}",
                fmt_pct(e.imputed),
                fmt_pct(e.routed),
                fmt_pct(e.subset),
                f"{100 * e.assigned:.0f}% / {100 * e.accuracy_of_calls:.1f}",
                fmt_gain(e.routed_minus_subset),
            ]
            for e in r.sets
        ]
        b.table(
            [
                "features",
                "expected (%)",
                "imputed",
                "routed",
                "subset",
                "deployed: called / accuracy of calls",
                "routed - subset (points)",
            ],
            rows,
        )
        b.figures([r.folder / "feature_subsets.png"], wide=True)
