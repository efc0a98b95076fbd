"""``ephys2type reproduce``: the whole study on the bundled data, and its report."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import JobsOpt, StepProgress, console, duration, plural, shrink


def reproduce(
    quick: Annotated[
        bool,
        typer.Option(
            help="1 seed x 3 folds, capped epochs, fewer models (the run says at its start how "
            "long it usually takes)."
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

    It says at the start how long the run usually takes on 2 cores, shows a progress bar per
    stage (one line per fit when the output is not a terminal, so a log follows the run),
    and after each stage its time and an estimate of the time left.

    Example: ephys2type reproduce --quick
    """
    from ephys2type.limits import current
    from ephys2type.study.config import ReproduceConfig
    from ephys2type.study.reproduce import Reproduction, usual_minutes

    preset = "quick" if quick else "full"
    config = ReproduceConfig.preset(preset, jobs=jobs)
    limited = current().any()
    if limited:
        seeds, folds, epochs = shrink(config.seeds, config.folds, config.max_epochs)
        config = replace(config, seeds=seeds, folds=folds, max_epochs=epochs)
    out = out or Path("results") / ("reproduce-quick" if quick else "reproduce")
    usual = usual_minutes(preset)
    start = time.perf_counter()
    with StepProgress(label_width=22, remaining=False) as progress:

        def stage_done(result, clock) -> None:
            left = clock.remaining()
            took = "reused" if result.cached else f"done in {duration(result.seconds)}"
            more = clock.stages_done < clock.n_stages
            estimate = f"; about {duration(left)} left" if more and left is not None else ""
            progress.note(
                f"{result.name}: {took} ({clock.stages_done} of "
                f"{plural(clock.n_stages, 'stage')}{estimate})"
            )

        run = Reproduction(config, out, stage_progress=progress.bar, on_stage=stage_done)
        plan = run.plan(usual_seconds=None if usual is None or limited else usual * 60)
        reused = sum(cached for _, cached in plan)
        fits = sum(stage.fits for stage, cached in plan if not cached)
        usually = "" if usual is None else f"; usually about {usual:g} min on 2 cores"
        if limited:
            usually += " without the limits in force"
        elif reused:
            usually += f" when nothing is reused ({reused} reused here)"
        progress.note(
            f"reproduce, {preset} run: {plural(len(plan), 'stage')}, "
            f"{plural(fits, 'model')} to fit{usually}; into {out}"
        )
        run.run()
    out_console = console()
    table = Table(title=f"stages ({preset} run)", title_justify="left")
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
