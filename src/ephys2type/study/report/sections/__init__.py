"""What the reproduction report says, section by section, and :func:`write_report`, which
reads a run folder once (:func:`~ephys2type.study.report.summary.read_run`), lets each
section describe itself (:mod:`~ephys2type.study.report.builder`) and renders the one
description as HTML and Markdown (:mod:`~ephys2type.study.report.render`).

:data:`SECTIONS` lists the sections in page order; each stage kind names the one that
reads it (:data:`ephys2type.study.stages.STAGE_KINDS`). A section receives only its own
typed inputs from the :class:`~ephys2type.study.report.summary.RunSummary`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ephys2type._version import __version__
from ephys2type.files import atomic_write_text, dumps_json
from ephys2type.study.config import ReproduceConfig
from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.document import Document
from ephys2type.study.report.paper import STUDY
from ephys2type.study.report.render import render_html, render_markdown
from ephys2type.study.report.sections.classifiers import attention_section, classifier_section
from ephys2type.study.report.sections.data import data_section
from ephys2type.study.report.sections.datasets import datasets_section
from ephys2type.study.report.sections.incomplete_cells import (
    feature_subsets_section,
    partial_protocols_section,
)
from ephys2type.study.report.sections.paper import paper_section
from ephys2type.study.report.sections.spca import spca_section
from ephys2type.study.report.sections.transfer import transfer_section
from ephys2type.study.report.sections.ttypes import ttype_section
from ephys2type.study.report.summary import RunSummary, read_run

TITLE = "ephys2type: reproduction of electrophysiology-to-transcriptomics mapping"


@dataclass(frozen=True)
class Section:
    """A report section: its label in the page's navigation and what writes it from the
    run's summary (nothing, when its stages did not run)."""

    nav: str
    write: Callable[[ReportBuilder, RunSummary], None]


def write_report(
    out: str | Path, config: ReproduceConfig | None = None, stages: list[dict] | None = None
) -> Path:
    """Build report.html, report.md and summary.json in the run folder ``out`` (written last).

    ``config`` defaults to the folder's ``run.json``; ``stages`` lists
    ``{"stage", "seconds", "cached"}`` of this run (default: as recorded in each stage.json).
    A folder without a readable run.json, or with a stage missing, is one clear error.
    """
    run = read_run(out, config, stages)
    document = describe(run, generated=dt.datetime.now(dt.UTC))
    root = run.root
    atomic_write_text(root / "report.md", render_markdown(document), overwrite=True)
    atomic_write_text(root / "summary.json", dumps_json(run.to_json()), overwrite=True)
    atomic_write_text(root / "report.html", render_html(document), overwrite=True)
    return root / "report.html"


def describe(run: RunSummary, *, generated: dt.datetime) -> Document:
    """The whole report of ``run`` as one format-neutral document (``generated``: the time
    the page says it was written)."""
    cfg = run.config
    b = ReportBuilder(run.root, TITLE)
    b.para(
        f"Generated {generated.strftime('%Y-%m-%d %H:%M UTC')} by ephys2type "
        f"{__version__}; protocol: {cfg.protocol_note()}; folds run {cfg.jobs} at a time. "
        "Intervals are 95% corrected resampled-t intervals (Nadeau & Bengio 2003) over the "
        "folds; paired differences compare two models on identical folds.",
        "note",
    )
    b.para(
        f"The study reproduced: {STUDY}. It builds on the Allen Institute Patch-seq data of "
        "Gouwens et al. 2020 (mouse visual cortex) and Lee, Dalley et al. 2023 (human "
        "neocortex). It reports one human number per quantity without naming the label "
        "column it used, so we show both human label columns beside it."
    )
    if cfg.quick:
        b.para(
            "QUICK MODE: 1 seed x 3 folds, BiLSTM training capped at "
            f"{cfg.max_epochs} epochs, a reduced model list and PCA instead of UMAP. "
            "These numbers show that everything runs; use the full run for conclusions.",
            "quick",
        )
    b.nav_here()
    for section in SECTIONS.values():
        b.section(section.nav, lambda section=section: section.write(b, run))
    return b.document()


def _run_section(b: ReportBuilder, run: RunSummary) -> None:
    """The run's stages: which section reads each, and how long each took (or reused)."""
    b.heading("Run")
    read_by = {name: SECTIONS[section].nav for name, section in run.stage_sections.items()}
    rows = [
        [s.name, read_by.get(s.name, ""), "cached" if s.cached else f"{s.seconds:.1f} s"]
        for s in run.stages
    ]
    total = sum(s.seconds for s in run.stages)
    rows.append(["total (this run)", "", f"{total:.1f} s"])
    b.table(["stage", "read in", "time"], rows)
    b.para(
        "Machine-readable results: <stage>/results/metrics.json, fold_metrics.csv, "
        "oof_predictions.csv (with per-cell attention), split_plan.json; summary.json in "
        "this folder.",
        "note",
    )


#: The report's sections in page order, by id; a stage kind names the one that reads it.
SECTIONS: dict[str, Section] = {
    "summary": Section("Summary", lambda b, r: paper_section(b, r.paper)),
    "data": Section("Data", lambda b, r: data_section(b, r.data)),
    "spca": Section("sPCA", lambda b, r: spca_section(b, r.separation)),
    "classifiers": Section(
        "Classifiers", lambda b, r: classifier_section(b, r.classifiers, r.config.seeds)
    ),
    "attention": Section("Attention", lambda b, r: attention_section(b, r.classifiers)),
    "transfer": Section("Transfer", lambda b, r: transfer_section(b, r.transfer)),
    "partial_protocols": Section(
        "Fewer protocols", lambda b, r: partial_protocols_section(b, r.partial_protocols)
    ),
    "feature_subsets": Section(
        "Some features", lambda b, r: feature_subsets_section(b, r.feature_subsets)
    ),
    "ttypes": Section("T-types", lambda b, r: ttype_section(b, r.ttypes)),
    "datasets": Section("Datasets", lambda b, r: datasets_section(b, r.datasets)),
    "run": Section("Run", _run_section),
}
