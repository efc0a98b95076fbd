"""The report's section on transcriptomic types (the ``ttypes_<species>`` stages): subclass,
then t-type, each model as ``train --labels ttype`` ships it, with conformal prediction sets."""

from __future__ import annotations

from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.estimates import number
from ephys2type.study.report.evaluations import Estimate, Levels, LevelsResult
from ephys2type.study.report.wording import protocol_text

#: The mouse t-type balanced accuracy we aim at (above the published 35.1%).
TTYPE_TARGET = 0.45
#: How far a level's coverage may stray from the promised level and still be said to hold.
COVERAGE_TOLERANCE = 0.02


def ttype_section(b: ReportBuilder, results: tuple[LevelsResult, ...]) -> None:
    if not results:
        return
    b.heading("Transcriptomic types")
    b.para(
        "Subclass, then t-type. Each model is scored as `train --labels ttype` ships it "
        "('-deployed'): one model over all t-types per feature set, calibrated on a fifth of "
        "each training fold (temperature, and class-conditional split conformal sets at "
        "both levels, crepes' method with each cell's own smoothing draw), so it is trained on "
        "four fifths. Calls are made "
        "top-down (the most likely subclass, then its most likely t-type), so the two levels "
        "never disagree, at the finest level whose set allows it and holds the call. "
        "'Called' is the share of test cells called at that level (t-type: a set of at most "
        "the set-size limit of t-types; subclass: a single subclass, or a t-type call); the "
        "accuracy of those calls is beside it. A hierarchical variant (a subclass model, then "
        "a t-type model within each subclass) is `evaluate --labels ttype --hierarchical` and "
        "benchmarks/ttype_hierarchy.py."
    )
    anchors = results[0].levels.anchors
    b.para(
        "Published anchors (mouse V1; balanced accuracy unless marked): "
        + "; ".join(f"{name}: {100 * value:.1f}%" for name, value in anchors.items())
        + f". Our target: mouse t-type balanced accuracy >= {100 * TTYPE_TARGET:.0f}%; "
        f"coverage within {100 * COVERAGE_TOLERANCE:.0f} points of the promised level.",
        "note",
    )
    for result in results:
        lv, about = result.levels, result.provenance
        b.heading(
            f"{about.species}: {lv.n_classes} t-types in {lv.n_parents} subclasses "
            f"({about.n_cells} cells)",
            3,
        )
        b.para(
            f"{protocol_text(about)}; sets at {lv.confidence:.0%}, a t-type call when the "
            f"set holds at most {lv.max_set_size} t-types; mean [95% CI] in %.",
            "note",
        )
        rows = [
            [
                r.model,
                r.level,
                _ci(r.accuracy),
                _ci(r.balanced_accuracy),
                _ci(r.macro_f1),
                _ci(r.top3_accuracy),
                _ci(r.coverage),
                f"{r.mean_set_size:.2f}",
                f"{100 * r.called:.1f}",
                _ci(r.accuracy_when_called),
            ]
            for r in lv.rows
        ]
        b.table(
            [
                "model",
                "level",
                "accuracy",
                "balanced accuracy",
                "macro-F1",
                "top-3 accuracy",
                f"coverage (promised {lv.confidence:.0%})",
                "mean set size",
                "called (%)",
                "accuracy of calls made",
            ],
            rows,
        )
        b.bullets(_verdicts(about.species, lv))
        b.figures(
            [result.folder / "accuracy_vs_called.png"],
            "Accuracy of the calls vs the share of cells called (calling only cells above a "
            "probability threshold); stars: where the conformal sets stop the calls.",
            wide=True,
        )


def _verdicts(species: str, lv: Levels) -> list[str]:
    """Each level's coverage against its promise and, for mouse t-types, the balanced
    accuracy against the target, said in words."""
    said = []
    for r in lv.rows:
        cover = number(r.coverage.value)
        if cover is not None:
            off = cover - lv.confidence
            kept = (
                "within"
                if abs(off) <= COVERAGE_TOLERANCE
                else "above (the promise kept, loosely)"
                if off > 0
                else "below (the promise not kept)"
            )
            said.append(
                f"{r.model}, {r.level}: its sets held the true class of {100 * cover:.1f}% of "
                f"cells, {kept}"
                + (f" {100 * COVERAGE_TOLERANCE:.0f} points of" if kept == "within" else ",")
                + f" the promised {lv.confidence:.0%}."
            )
        if r.level == "t-type" and r.called == 0:
            said.append(
                f"{r.model}: no cell got a t-type call: its {lv.confidence:.0%} sets hold "
                f"{r.mean_set_size:.1f} t-types on average, and a call needs at most "
                f"{lv.max_set_size}."
            )
        if species == "mouse" and r.level == "t-type":
            said.append(f"{r.model}: mouse t-type balanced accuracy {_target(r.balanced_accuracy)}")
    return said


def _target(balanced: Estimate) -> str:
    """The balanced accuracy against :data:`TTYPE_TARGET`: met or missed when its interval
    says so, not settled when the interval holds the target."""
    value, low, high = (number(v) for v in (balanced.value, balanced.ci_low, balanced.ci_high))
    target = f"the target of {100 * TTYPE_TARGET:.0f}%"
    if value is None:
        return f"not measured, so not compared with {target}."
    if low is None or high is None:
        side = "above" if value >= TTYPE_TARGET else "below"
        return f"{100 * value:.1f} (one fit, no interval), {side} {target}."
    shown = _ci(balanced)
    if low >= TTYPE_TARGET:
        return f"{shown} against {target}: met."
    if high < TTYPE_TARGET:
        return f"{shown} against {target}: missed."
    side = "above" if value >= TTYPE_TARGET else "below"
    return f"{shown} against {target}: not settled (the interval holds it; the mean is {side})."


def _ci(estimate: Estimate) -> str:
    """'86.0 [79.5, 92.5]' in %; 'n/a' where the level has no such score (None or NaN)."""
    value, lo, hi = estimate.value, estimate.ci_low, estimate.ci_high
    if value is None or value != value:
        return "n/a"
    if lo is None or hi is None:
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
