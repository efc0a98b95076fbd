"""``ephys2type app``: the predict workflow in a local web page."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import console


def app(
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Port of 127.0.0.1 to serve the page on (default: 8501 when it is free, "
            "else one the system picks).",
            show_default=False,
        ),
    ] = None,
    browser: Annotated[
        bool,
        typer.Option(
            "--browser/--no-browser",
            help="Open the page in the default web browser once it is up.",
        ),
    ] = True,
) -> None:
    """Start the app: ephys2type in your web browser, for cells and recordings, no code.

    The page runs on this computer only (127.0.0.1; nothing you give it leaves the machine,
    no usage statistics are sent). In it you upload a feature table (CSV, TSV, semicolon or
    decimal-comma text, .xlsx, .h5ad; with a mapping file, or the columns mapped in the page)
    or ABF/NWB recordings (features made as `ephys2type features` makes them, with the same
    sweep QC and checks), choose a model (the bundled model of a species, trained once on
    this computer and kept in the cache folder, or a folder made by `ephys2type train`),
    and read the calls: the table of calls with their sets, probabilities, expected accuracy
    and the reasons of unassigned cells, a page per cell with its recording checks and its
    features among the training cells, the batch summary and the overview figure. The
    predictions (the bytes `ephys2type predict --out` writes), the features, the figures and
    the command lines that reproduce them can be downloaded. Ctrl-C stops the app.

    Example: ephys2type app --port 8502 --no-browser
    """
    from ephys2type.app.server import serve

    def ready(url: str) -> None:
        console().print(f"ephys2type app: {url} (Ctrl-C stops it)")

    serve(port, open_browser=browser, on_ready=ready)
