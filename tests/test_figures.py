"""Every figure is readable where it is shown: each plotting function's figure, built on small
synthetic inputs, has every drawn text (titles, labels, tick labels, legends, annotations,
colour-bar labels) at 9 pt or more at 100% zoom, that is 12 CSS px, and inside the figure.

A figure ``W`` inches wide that the report shows ``D`` CSS px wide shows ``F`` pt text at
``F * D / (72 * W)`` px; the report shows a figure at most 560 px wide and a wide one at most
the page, 1180 px (resources/report.css). A file opened by itself (the check pages, the
``predict --overview`` PNG) shows one image pixel per CSS pixel: ``F * dpi / 72`` px, and a
PDF overview shows ``F`` pt, so its text is 9 pt or more too. Figures are built under a
matplotlib configuration with tiny text, as a user's matplotlibrc might set: our style must
not depend on matplotlib's defaults. Which figure the report shows wide is checked against a
real report in test_reproduce.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from ephys2type import figure_style
from ephys2type.evaluation import plots
from ephys2type.evaluation.overview import plot_batch_overview

#: 9 pt at 100% zoom, in CSS px.
MIN_PX = 12.0
#: Where a figure is shown: the report beside another, the report across the page, or a
#: file at this many dots per inch.
REPORT, WIDE = "report", "wide"

#: A matplotlib configuration a user might have: every text tiny.
TINY_TEXT = {
    "font.size": 5,
    "axes.titlesize": 5,
    "axes.labelsize": 5,
    "xtick.labelsize": 5,
    "ytick.labelsize": 5,
    "legend.fontsize": 5,
    "legend.title_fontsize": 5,
    "figure.titlesize": 5,
}

CLASSES = ["Lamp5", "Pvalb", "Sncg", "Sst", "Vip"]
FAMILIES = ["subthreshold", "rheo", "hero", "spike_adaptation", "ramp", "short_square", "chirp"]


def _interval(mean: float) -> dict:
    return {"mean": mean, "ci_low": mean - 0.05, "ci_high": mean + 0.04}


def _confusion() -> Figure:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 40, (5, 5)) + np.diag([418, 735, 156, 1605, 676])
    title = (
        "bilstm-smote\nmouse, mouse5, stratified 5-fold CV x 5 seeds\n(counts summed over 5 "
        "seed(s): each cell counted once per seed)"
    )
    return plots.plot_confusion(counts, CLASSES, title=title).figure


def _embedding() -> Figure:
    rng = np.random.default_rng(0)
    labels = rng.choice(CLASSES, 300)
    return plots.plot_embedding(
        rng.normal(size=(300, 2)),
        labels,
        title="sparse PCA (23 components), mouse, mouse5, 3906 cells",
        axis_label="UMAP",
    ).figure


def _loadings() -> Figure:
    rng = np.random.default_rng(0)
    features = [f"threshold_v_long_square_{i}" for i in range(39)]
    components = [f"short_square:spc{i}" for i in range(23)]
    values = rng.normal(size=(39, 23)) * (rng.random((39, 23)) < 0.1)
    table = pd.DataFrame(values, index=features, columns=components)
    return plots.plot_loadings(table, title="sparse PCA loadings per family, mouse").figure


def _silhouette() -> Figure:
    values = pd.Series([0.1, 0.2, -0.05, 0.03, 0.15], index=CLASSES)
    return plots.plot_class_bars(
        values, xlabel="mean silhouette", title="silhouette in sPCA space, mouse, 3906 cells"
    ).figure


def _attention() -> Figure:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        rng.dirichlet(np.ones(len(FAMILIES)), 6), index=[*CLASSES, "all cells"], columns=FAMILIES
    )
    return plots.plot_attention(table, title="bilstm-smote: mean attention per class").figure


def _importance() -> Figure:
    rng = np.random.default_rng(0)
    importance = pd.Series(rng.uniform(-0.01, 0.15, len(FAMILIES)), index=FAMILIES)
    attention = pd.Series(rng.dirichlet(np.ones(len(FAMILIES))), index=FAMILIES)
    return plots.plot_importance(
        importance, attention, title="bilstm-smote: family permutation importance (test folds)"
    ).figure


def _importance_alone() -> Figure:
    importance = pd.Series([0.1, 0.05, 0.02], index=FAMILIES[:3])
    return plots.plot_importance(importance, title="rf: family permutation importance").figure


def _learning_curve() -> Figure:
    rows = []
    for arm, reference in (("finetune", "human_bilstm"), ("joint", "human_bilstm")):
        for n in (44, 111, 222, 444):
            rows.append(
                {
                    "arm": arm,
                    "reference": reference,
                    "n_train_cells": n,
                    **{f"{p}_macro_f1": 0.6 for p in ("arm", "reference")},
                    **{f"{p}_ci_low": 0.55 for p in ("arm", "reference")},
                    **{f"{p}_ci_high": 0.65 for p in ("arm", "reference")},
                    "gain": 0.02,
                    "gain_ci_low": -0.01,
                    "gain_ci_high": 0.05,
                }
            )
    return plots.plot_learning_curve(
        pd.DataFrame(rows),
        title="mouse -> human: gain from mouse data vs human training cells "
        "(stratified 5-fold CV x 3 seeds)",
    )


def _reliability() -> Figure:
    bins = [
        {"confidence": c, "accuracy": min(1.0, c + 0.1), "n": 50} for c in np.linspace(0.3, 1, 8)
    ]
    return plots.plot_reliability(
        {"bins": bins, "ece": 0.05}, title="bilstm-smote: reliability"
    ).figure


def _partial_protocols() -> Figure:
    base = ["subthreshold", "rheo", "hero", "spike_adaptation"]
    extra = [[], ["ramp"], ["short_square"], ["chirp"], ["ramp", "short_square"]]
    table = [
        {
            "families": base + e,
            **{
                arm: {m: _interval(0.7) for m in ("accuracy", "macro_f1")}
                for arm in ("imputed", "deployed", "subset")
            },
        }
        for e in extra
    ]
    return plots.plot_partial_protocols(
        table, metric="accuracy", title="human (revised), logreg: cells with only"
    ).figure


def _selective() -> Figure:
    rows = [
        {"level": level, "model": model, "share_called": s, "accuracy": 0.5 + 0.4 * (1 - s)}
        for level in ("subclass", "t-type")
        for model in ("rf", "rf-hier")
        for s in np.linspace(0.05, 1, 20)
    ]
    table = pd.DataFrame(
        [
            {"model": m, "level": level, "called": 0.4, "accuracy_when_called": 0.9}
            for level in ("subclass", "t-type")
            for m in ("rf", "rf-hier")
        ]
    )
    return plots.plot_selective(pd.DataFrame(rows), table)


def _feature_subsets() -> Figure:
    table = [
        {
            "subset": {"mean": 0.65 + 0.01 * i},
            "routed": {"mean": 0.64 + 0.01 * i},
            "imputed": {"mean": 0.55},
            "expected_accuracy": 0.66 + 0.01 * i,
            "n_features": 6 + 2 * i,
        }
        for i in range(4)
    ]
    return plots.plot_feature_subsets(table, title="human (revised), logreg: random feature sets")


def _overview() -> Figure:
    rng = np.random.default_rng(0)
    y = np.repeat(["Lamp5", "Pvalb", "Sst", "Vip"], 100)
    X = pd.DataFrame(
        {"upstroke_downstroke_ratio_long_square": rng.normal(size=400), "tau": rng.normal(size=400)}
    )
    X.loc[y == "Pvalb", "tau"] += 3
    cells = X.sample(5, random_state=0).set_axis([f"cell_{i}" for i in range(5)])
    calls = ["Pvalb", "unassigned", "Sst", "Vip", "Lamp5"]
    return plot_batch_overview(
        X, y, cells, calls, title="5 new cells among 400 training cells"
    ).figure


def _cell_among_class() -> Figure:
    from ephys2type.evaluation.overview import plot_cell_among_class

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 6)), columns=[f"feature_{j}" for j in range(6)])
    # a lab's long cell id (new-user trial: the title's key was cut at both edges)
    cell = X.iloc[0].rename("Pvalb-IRES-Cre;Ai14-470303.03.02.01")
    families = {c: "subthreshold" for c in X.columns}
    return plot_cell_among_class(
        X, np.arange(200) < 50, cell, units={"feature_0": "mV"}, families=families, cls="Sst"
    ).figure


def _check_page(amplitudes: tuple[float, ...], holding_pa: float) -> Callable[[], Figure]:
    def build() -> Figure:
        from ephys2type.data.recordings.analysis import analyze_stimulus
        from ephys2type.data.recordings.checks import check_cell
        from ephys2type.data.recordings.figures import cell_figure
        from ephys2type.testing.neuron import step_protocol_recording

        rec = step_protocol_recording(amplitudes, holding_pa=holding_pa)
        lsq = analyze_stimulus(rec.stimulus("long_square"))
        return cell_figure(rec, lsq, check_cell(rec, lsq))

    return build


def _page_dpi() -> float:
    from ephys2type.data.recordings.figures import PAGE_DPI

    return PAGE_DPI


def _sample_page() -> Figure:
    """The check page of a pyABF example with a flag's sweep in the last column (skipped
    when the examples are not beside the project)."""
    from pathlib import Path

    from ephys2type.data.recordings.abf import read_abf
    from ephys2type.data.recordings.analysis import analyze_stimulus
    from ephys2type.data.recordings.checks import check_cell
    from ephys2type.data.recordings.figures import cell_figure

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings"
    path = path / "pyabf_samples" / "171116sh_0019.abf"
    if not path.parents[2].exists():  # the shared folder; where it is, the file must be
        pytest.skip("the shared data folder is not beside the project")
    rec = read_abf(path)
    lsq = analyze_stimulus(rec.stimulus("long_square"))
    return cell_figure(rec, lsq, check_cell(rec, lsq))


#: name -> (builder, where it is shown: REPORT, WIDE, or a file's dpi).
FIGURES: dict[str, tuple[Callable[[], Figure], str | float]] = {
    "confusion": (_confusion, REPORT),
    "reliability": (_reliability, REPORT),
    "attention": (_attention, REPORT),
    "importance": (_importance, REPORT),
    "importance without attention": (_importance_alone, REPORT),
    "embedding": (_embedding, REPORT),
    "loadings": (_loadings, WIDE),
    "silhouette": (_silhouette, 150),
    "partial protocols": (_partial_protocols, REPORT),
    "feature subsets": (_feature_subsets, WIDE),
    "learning curve": (_learning_curve, WIDE),
    "t-type accuracy vs share called": (_selective, WIDE),
    "predict --overview": (_overview, 150),
    # the app's page of a cell: a PNG at 120 dpi shown at its own size
    "a cell among the training cells of its class (app)": (_cell_among_class, 120),
    "check page, firing at rest": (_check_page(tuple(range(-100, 101, 20)), 60.0), "page"),
    "check page, no hyperpolarising step": (_check_page(tuple(range(0, 191, 20)), 0.0), "page"),
    "check page, depolarisation block (pyABF example)": (_sample_page, "page"),
}


def drawn_texts(fig: Figure) -> list[Text]:
    """The texts drawing ``fig`` puts on the page (visible and not empty), in drawing order."""
    seen: list[Text] = []
    draw = Text.draw

    def record(self, renderer):
        if self.get_visible() and self.get_text().strip():
            seen.append(self)
        return draw(self, renderer)

    Text.draw = record
    try:
        FigureCanvasAgg(fig).draw()
    finally:
        Text.draw = draw
    return seen


def shown_px(text: Text, fig: Figure, where: str | float) -> float:
    """CSS px of ``text`` where its figure is shown."""
    size = text.get_fontsize()
    if where == REPORT:
        return size * figure_style.REPORT_PX / (72 * fig.get_figwidth())
    if where == WIDE:
        return size * figure_style.REPORT_WIDE_PX / (72 * fig.get_figwidth())
    return size * float(where) / 72


def test_the_report_widths_are_those_of_the_stylesheet():
    css = resources.files("ephys2type").joinpath("resources", "report.css").read_text()
    body = re.search(r"body\{[^}]*max-width:(\d+)px", css)
    figure = re.search(r"(?<![.\w])figure\{[^}]*max-width:(\d+)px", css)
    assert body and int(body.group(1)) == figure_style.REPORT_WIDE_PX
    assert figure and int(figure.group(1)) == figure_style.REPORT_PX
    assert re.search(r"figure\.wide\{[^}]*max-width:100%", css)


@pytest.mark.parametrize(
    "name",
    [
        # a check page extracts a recording's features first (make test-slow: make test's time)
        pytest.param(name, marks=pytest.mark.slow) if name.startswith("check page") else name
        for name in FIGURES
    ],
)
def test_every_text_reads_at_9_pt_where_the_figure_is_shown(name):
    build, where = FIGURES[name]
    if where == "page":
        where = _page_dpi()
    with mpl.rc_context(TINY_TEXT):
        fig = build()
        texts = drawn_texts(fig)
    assert texts
    small = [
        f"{t.get_text()[:40]!r}: {t.get_fontsize():g} pt -> {shown_px(t, fig, where):.1f} px"
        for t in texts
        if shown_px(t, fig, where) < MIN_PX - 1e-9
        or (where not in (REPORT, WIDE) and t.get_fontsize() < 9)
    ]
    assert not small, f"{name}: text under 9 pt at 100% zoom:\n" + "\n".join(small)
    # one style: no text is set smaller than it (a 7 pt legend fails even where it would read)
    unstyled = {t.get_text()[:40] for t in texts if t.get_fontsize() < figure_style.FONT_PT}
    assert not unstyled, f"{name}: text under the style's {figure_style.FONT_PT:g} pt: {unstyled}"
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    outside = [
        t.get_text()[:40]
        for t in texts
        if (e := t.get_window_extent(renderer)).x0 < box.x0 - 1
        or e.x1 > box.x1 + 1
        or e.y0 < box.y0 - 1
        or e.y1 > box.y1 + 1
    ]
    assert not outside, f"{name}: text cut at the figure's edge: {outside}"


def test_the_importance_plot_has_one_x_axis_per_panel():
    fig = _importance()
    axes = fig.axes
    assert len(axes) == 2  # importance, attention: side by side, no twin axes
    assert [a.get_xlabel().split()[0] for a in axes] == ["macro-F1", "mean"]
    left, right = axes
    assert left.get_shared_y_axes().joined(left, right)
    assert all(a.xaxis.get_label_position() != "top" for a in axes)
    with pytest.raises(ValueError, match="two panels"):
        plots.plot_importance(
            pd.Series([0.1], index=["a"]),
            pd.Series([0.5], index=["a"]),
            ax=plots.new_axes(),
        )


def _legend_labels(fig: Figure) -> list[str]:
    legends = [a.get_legend() for a in fig.axes] + list(fig.legends)
    legends += [c for a in fig.axes for c in a.get_children() if isinstance(c, mpl.legend.Legend)]
    return [t.get_text() for lg in legends if lg for t in lg.get_texts()]


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_markers_are_explained_in_a_legend():
    # the t-type figure's stars: where the conformal sets stop the calls
    assert any("conformal sets" in t for t in _legend_labels(_selective()))
    # the feature-subset figure's diagonals
    assert {"routed", "imputed", "equal accuracy", "accuracy as expected"} <= set(
        _legend_labels(_feature_subsets())
    )
    # the partial-protocol figure's error bars
    assert "95% CI" in _legend_labels(_partial_protocols())
    # the overview's large markers: called and unassigned new cells
    labels = _legend_labels(_overview())
    assert "unassigned" in labels and any("call" in t for t in labels)
    # the check page: the step window, ipfx's thresholds and the failed checks' marks
    labels = _legend_labels(_check_page(tuple(range(-100, 101, 20)), 60.0)())
    assert "spike threshold (ipfx)" in labels
    assert any(t.startswith("where a failed check") for t in labels)
    assert any(t.startswith("step window") for t in labels)


def test_the_style_leaves_the_users_settings_alone():
    before = dict(mpl.rcParams)
    _confusion()
    assert dict(mpl.rcParams) == before
