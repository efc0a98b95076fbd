"""One text style for every figure ephys2type draws: the report's, ``predict --overview``'s and
the recording check pages.

Text must be readable where a figure is shown, at 100% zoom: at least 9 pt, that is 12 CSS
pixels. A figure ``W`` inches wide shown ``D`` CSS pixels wide shows ``F`` pt text at
``F * D / (72 * W)`` px. The report (``resources/report.css``) shows a figure at most
:data:`REPORT_PX` wide and a wide one at most :data:`REPORT_WIDE_PX`; a file opened by
itself shows one figure pixel per CSS pixel, so ``F * dpi / 72`` px. Each figure is sized
for where it is shown so that :data:`FONT_PT` text stays at or above :data:`MIN_TEXT_PX`
(``tests/test_figures.py`` checks every text of every figure against this).

The style is applied where a figure is made (:func:`styled`), never globally, so a user's
``matplotlibrc`` neither shrinks our text nor is changed by drawing our figures.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

#: Size of all text in our figures (titles, labels, ticks, legends, annotations), in points.
FONT_PT = 10.0
#: Smallest text, in CSS pixels at 100% zoom: 9 pt.
MIN_TEXT_PX = 12.0
#: Widest a figure is shown in the report (``figure`` in report.css), in CSS pixels.
REPORT_PX = 560
#: Widest a ``figure.wide`` is shown in the report: the page width.
REPORT_WIDE_PX = 1180

#: Widest figure (inches) whose :data:`FONT_PT` text stays readable shown :data:`REPORT_PX`
#: wide (6.48 in).
REPORT_INCHES = FONT_PT * REPORT_PX / (72 * MIN_TEXT_PX)
#: The same for a wide figure (13.66 in).
REPORT_WIDE_INCHES = FONT_PT * REPORT_WIDE_PX / (72 * MIN_TEXT_PX)

#: matplotlib settings of every figure: every text size set to :data:`FONT_PT`, a figure's
#: own title a little larger, legends without frames.
STYLE = {
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT,
    "ytick.labelsize": FONT_PT,
    "legend.fontsize": FONT_PT,
    "legend.title_fontsize": FONT_PT,
    "figure.titlesize": FONT_PT + 1,
    "figure.labelsize": FONT_PT,
    "legend.frameon": False,
}

P = ParamSpec("P")
R = TypeVar("R")


def styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Run a function that builds a figure inside :data:`STYLE`, so every artist it makes
    takes the one text size whatever the user's matplotlib settings say."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import matplotlib as mpl

        with mpl.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


def shown_px(font_pt: float, figure_inches: float, shown_at_px: float) -> float:
    """CSS pixels of ``font_pt`` text in a figure ``figure_inches`` wide shown
    ``shown_at_px`` CSS pixels wide."""
    return font_pt * shown_at_px / (72.0 * figure_inches)
