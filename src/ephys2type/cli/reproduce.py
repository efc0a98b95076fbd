"""``ephys2type reproduce``: the whole study on the bundled data, and its report."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import JobsOpt, add_bar, console, new_progress, shrink


def reproduce(
    quick: Annotated[
        bool,
        typer.Option(
            help="1 seed x 3 folds, capped epochs, fewer models (about 3 min on 2 cores)."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run folder (default results/reproduce[-quick])."),
    ] = None,
    jobs: JobsOpt = 2,
) -> None:
    """Run QC, sPCA separation, baselines, the BiLSTM and its ablations, and transfer;
    write report.html (self-contained), report.md and summary.json.

    Stages whose configuration, data and code are unchanged are reused from an earlier run
    into the same folder; everything else is recomputed. The report is written last.

    Example: ephys2type reproduce --quick
    """
    from ephys2type.limits import current
    from ephys2type.study.config import ReproduceConfig
    from ephys2type.study.reproduce import Reproduction

    config = ReproduceConfig.quick_run(jobs) if quick else ReproduceConfig.full(jobs)
    if current().any():
        seeds, folds, epochs = shrink(config.seeds, config.folds, config.max_epochs)
        config = replace(config, seeds=seeds, folds=folds, max_epochs=epochs)
    out = out or Path("results") / ("reproduce-quick" if quick else "reproduce")
    progress = new_progress(label_width=22, remaining=False)

    def stage_progress(name: str, total: int):
        return add_bar(progress, name, total)

    start = time.perf_counter()
    run = Reproduction(config, out, stage_progress=stage_progress)
    with progress:
        run.run()
    out_console = console()
    table = Table(title=f"stages ({'quick' if quick else 'full'} run)", title_justify="left")
    table.add_column("stage")
    table.add_column("time", justify="right")
    for r in run.results:
        table.add_row(r.name, "cached" if r.cached else f"{r.seconds:.1f} s")
    table.add_row("total", f"{time.perf_counter() - start:.1f} s")
    out_console.print(table)
    out_console.print(f"report: {out / 'report.html'}")


def report(
    run_folder: Annotated[
        Path,
        typer.Argument(metavar="RUN_FOLDER", help="A folder written by `ephys2type reproduce`."),
    ],
) -> None:
    """Write report.html, report.md and summary.json again from a finished run folder.

    Nothing is recomputed: the report is built from the stages' saved results, e.g. after
    upgrading ephys2type's report layout.

    Example: ephys2type report results/reproduce
    """
    from ephys2type.study.reproduce import rebuild_report

    path = rebuild_report(run_folder)
    console().print(f"report: {path}")
