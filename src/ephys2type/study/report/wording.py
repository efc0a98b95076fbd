"""How the report says a number: scores with their intervals, paired differences, verdicts
derived from a paired test's 95% interval ("beats", "is worse than", "is not
distinguishable from"; never written by hand) and the protocol every number carries.

Formats only: the same text in the HTML page and in the Markdown twin.
"""

from __future__ import annotations

import math

from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.stats import format_difference, format_p, format_summary
from ephys2type.study.report.estimates import Difference, Interval
from ephys2type.study.report.evaluations import Provenance


def fmt_pct(summary: Interval | None) -> str:
    """'92.17 ± 0.89 [91.18, 93.16]': mean ± SD [95% CI] in percent ('n/a' if absent)."""
    return format_summary(None if summary is None else summary.as_dict())


def fmt_gain(c: Difference | None) -> str:
    """'+1.23 [-0.40, +2.86], p = 0.12': a paired difference in points ('n/a' if absent)."""
    return format_difference(None if c is None else c.as_dict(), with_p=True)


def because(c: Difference | None) -> str:
    """'(difference -0.31 points, 95% CI -1.69 to +1.08, p = 0.44)'."""
    if c is None:
        return "(no paired comparison available)"
    if c.ci_low is None or c.ci_high is None:
        return f"(difference {100 * c.mean_diff:+.2f} points; one fit, no CI)"
    return (
        f"(difference {100 * c.mean_diff:+.2f} points, 95% CI {100 * c.ci_low:+.2f} to "
        f"{100 * c.ci_high:+.2f}, p = {format_p(c.p)})"
    )


def verdict(c: Difference | None) -> str:
    """'beats', 'is worse than' or 'is not distinguishable from' (95% CI of the difference)."""
    if c is None or c.ci_low is None or c.ci_high is None:
        return "cannot be compared with"
    if c.ci_low > 0:
        return "beats"
    if c.ci_high < 0:
        return "is worse than"
    return "is not distinguishable from"


def paper_inside(paper: object, summary: Interval | None, n_test: int | None = None) -> str:
    """Does the paper's value (in %) lie inside our 95% interval? 'yes', '' if unknown, else
    'no', and with the size of the paper's test set (``n_test``) whether the difference also
    goes beyond the paper's own sampling error: its value is one hold-out of ``n_test`` cells,
    with a binomial standard error of its own (a reviewer: treating it as exact overstates a
    'no'). The two errors are combined as independent normals (ours from the half-width of
    our interval), at 95%; for a macro-F1 the binomial error is an approximation."""
    if summary is None or not isinstance(paper, int | float):
        return ""
    if summary.ci_low is None or summary.ci_high is None:
        return ""
    if 100 * summary.ci_low <= paper <= 100 * summary.ci_high:
        return "yes"
    if n_test is None:
        return "no"
    share = paper / 100
    theirs = math.sqrt(share * (1 - share) / n_test)
    ours = (summary.ci_high - summary.ci_low) / (2 * 1.96)
    margin = 1.96 * math.hypot(theirs, ours)
    both = f"±{100 * margin:.1f} points, with the paper's own error on its {n_test} test cells"
    if abs(summary.mean - share) < margin:
        return f"no, but within both errors combined ({both})"
    return f"no, beyond both errors combined ({both})"


def protocol_text(p: Provenance) -> str:
    """'human, labels revised, QC default, lee2023_human features, 666 cells; stratified
    3-fold CV x 1 seed' (and the models run on the first seed only, if any)."""
    text = (
        f"{p.species}, labels {p.label_scheme}, QC {p.qc_profile}, "
        f"{p.features} features, {p.n_cells} cells; {p.protocol}"
    )
    if p.fewer_fits:
        names = ", ".join(p.fewer_fits)
        text += (
            f"; {names} on the first seed only ({min(p.fewer_fits.values())} fits, compared "
            "with the other models on those folds)"
        )
    return text


def split_text(name: str, folds: int, seeds: int) -> str:
    """What a split ran, from the protocol entry a stage wrote (the preset's ``name``, its
    ``folds`` over all seeds, its ``seeds``), in the words of
    :attr:`~ephys2type.evaluation.splits.SplitPlan.description`: the quick run's 'strat5x5'
    on 3 folds of 1 seed is 'stratified 3-fold CV x 1 seed', never the preset's name."""
    plan = SplitPlan(
        protocol=name,
        seeds=tuple(range(seeds)),
        n_folds=folds // max(seeds, 1),
        cells=(),
        folds=(),
        dataset={},
    )
    return plan.description


def pct(value: float | None, digits: int = 1) -> str:
    """A share in percent ('—' where undefined: None or NaN)."""
    return "—" if value is None or value != value else f"{100 * value:.{digits}f}"
