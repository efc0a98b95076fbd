"""The report's section on mouse-to-human transfer (the ``transfer_<protocol>`` stages):
every arm's scores, each transfer arm's paired gain over its human-only reference and over
the best human-only arm, and the learning and few-shot curves."""

from __future__ import annotations

from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.estimates import Comparison
from ephys2type.study.report.evaluations import CurvePoint, TransferResult
from ephys2type.study.report.summary import TransferResults
from ephys2type.study.report.wording import fmt_gain, fmt_pct, protocol_text, verdict


def transfer_section(b: ReportBuilder, transfer: TransferResults) -> None:
    b.heading("Mouse-to-human transfer")
    features = (
        f"{transfer.aligned_features} aligned features"
        if transfer.aligned_features is not None
        else "the aligned features"
    )
    b.para(
        f"Aligned 4-class task (Lamp5, Pvalb, Sst, Vip; mouse Sncg -> Vip) on {features}. "
        "Each species is imputed and standardized on its own cells (human: the training "
        "fold). Every arm ran on the same human folds; gains are paired."
    )
    for t in transfer.by_protocol.values():
        if t:
            _protocol(b, t)


def _protocol(b: ReportBuilder, t: TransferResult) -> None:
    """One transfer experiment, headed by what its split ran (read from its metrics, not
    the preset's name: a quick run's 'strat5x5' ran 3 folds x 1 seed)."""
    b.heading(f"protocol: {t.provenance.protocol}", 3)
    b.para(protocol_text(t.provenance), "note")
    rows = [
        [
            name,
            r.description,
            fmt_pct(r.accuracy),
            fmt_pct(r.macro_f1),
            ", ".join(f"{c} {100 * f1:.0f}" for c, f1 in r.f1_per_class.items()),
        ]
        for name, r in t.models.items()
    ]
    b.table(["arm", "what", "accuracy (%)", "macro-F1 (%)", "per-class F1 (%)"], rows)
    b.para(
        "Each gain is paired on the folds both arms ran on; an arm run on the first seed only "
        "is compared with its reference on those folds, where the reference's mean (beside "
        "the gain) can differ from its mean over every fold above."
    )
    b.table(
        [
            "transfer arm",
            "compared with",
            "macro-F1 on these folds, arm / reference (%)",
            "macro-F1 gain (points)",
            "paired folds",
            "verdict",
        ],
        [[g.a, g.b, _paired_means(g), fmt_gain(g), str(g.n_folds), verdict(g)] for g in t.gains],
    )
    if t.gains_vs_best is not None:
        best = t.best_target_only
        b.para(
            f"Against the best human-only arm on these folds ({best}: "
            f"{t.models[best].description}), whatever its features; picked after "
            "the fact, which if anything favours the human-only side:"
        )
        b.table(
            [
                "transfer arm",
                f"macro-F1 on these folds, arm / {best} (%)",
                f"macro-F1 gain over {best} (points)",
                "paired folds",
                "verdict",
            ],
            [
                [g.a, _paired_means(g), fmt_gain(g), str(g.n_folds), verdict(g)]
                for g in t.gains_vs_best
            ],
        )
    for curve, point, title, figure in (
        (t.learning_curve, "fraction", "Learning curve", "learning_curve.png"),
        (t.few_shot, "cells per class", "Few-shot: human training cells per class", "few_shot.png"),
    ):
        if curve is not None:
            _curve(b, curve, point, title)
            b.figures([t.folder / figure], wide=True)


def _paired_means(g: Comparison) -> str:
    """Both arms' means on the folds of their paired gain ("-" in results without them)."""
    if g.mean_a is None or g.mean_b is None:
        return "-"
    return f"{100 * g.mean_a:.2f} / {100 * g.mean_b:.2f}"


def _with_ci(value: float, ci: tuple[float, float] | None) -> str:
    """'55.18 [43.33, 67.03]' in %, the value alone where no interval was recorded."""
    if ci is None:
        return f"{100 * value:.2f}"
    return f"{100 * value:.2f} [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"


def _curve(b: ReportBuilder, curve: tuple[CurvePoint, ...], point: str, title: str) -> None:
    """One curve's table: per point, the human training cells, the arm, its reference, their
    macro-F1 and the paired gain."""
    rows = [
        [
            f"{p.point:g}",
            f"{p.n_train_cells:.0f}",
            p.arm,
            p.reference,
            _with_ci(p.arm_macro_f1, p.arm_ci),
            _with_ci(p.reference_macro_f1, p.reference_ci),
            fmt_gain(p.gain),
        ]
        for p in curve
    ]
    folds = curve[0].n_folds if curve else None
    with_ci = " [95% CI]" if any(p.arm_ci is not None for p in curve) else ""
    b.table(
        [
            point,
            "human training cells",
            "arm",
            "human-only reference",
            "arm macro-F1" + with_ci,
            "reference macro-F1" + with_ci,
            "gain",
        ],
        rows,
        title + (f" ({folds} folds per point)" if folds is not None else ""),
    )
