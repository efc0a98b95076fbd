"""The files the page offers for download, written by the library's own writers so that they
are the bytes the command line writes: the predictions (``write_prediction``, as
``ephys2type predict --out``; ``.h5ad`` too when the cells came as ``.h5ad``) with the batch
summary, the features (``ephys2type features``' table and QC table, or the cells as the
model read them), the figures, the mapping chosen in the page and the command lines.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from ephys2type.app import commands
from ephys2type.app.prediction_run import Outcome

#: The cells of a feature table as the model read them (schema names, schema units).
CELLS_AS_READ = "features_as_read.csv"
#: The command lines, as a shell script.
COMMANDS_FILE = "commands.sh"


def _downloads(outcome: Outcome) -> Path:
    folder = outcome.workdir / "downloads"
    folder.mkdir(exist_ok=True)
    return folder


def predictions(outcome: Outcome) -> dict[str, bytes]:
    """``predictions.csv`` and ``predictions.csv.summary.json``, as ``predict --out``
    writes them."""
    from ephys2type.persist.predict import write_prediction

    out = _downloads(outcome) / commands.PREDICTIONS_FILE
    paths = write_prediction(outcome.prediction, out, features=outcome.features, overwrite=True)
    return {p.name: p.read_bytes() for p in paths}


def predictions_h5ad(outcome: Outcome) -> tuple[str, bytes] | None:
    """The ``.h5ad`` features file with the calls added (``predict --out X.h5ad``), when
    the cells came as ``.h5ad``; else None."""
    from ephys2type.persist.predict import write_prediction

    if outcome.features.suffix.lower() != ".h5ad":
        return None
    name = commands.h5ad_predictions_file(outcome.features.name)
    out = _downloads(outcome) / name
    write_prediction(outcome.prediction, out, features=outcome.features, overwrite=True)
    return name, out.read_bytes()


def features(outcome: Outcome) -> dict[str, bytes]:
    """From recordings: ``features.csv`` and its ``.qc.csv``, as ``ephys2type features``
    wrote them; from a table: the cells as the model read them (mapped, in the schema's
    units)."""
    if outcome.from_recordings:
        paths = [outcome.features] + ([outcome.checks] if outcome.checks is not None else [])
        return {p.name: p.read_bytes() for p in paths}
    text = outcome.prediction.cells.to_csv(float_format="%.6g")
    return {CELLS_AS_READ: text.encode("utf-8")}


def command_lines(outcome: Outcome) -> str:
    """The commands that reproduce the outcome, one per line."""
    return commands.as_lines(outcome.commands)


def figures_zip(outcome: Outcome, overview: bytes | None) -> bytes:
    """The recording check pages (``figures/<cell>.png``) and the overview figure."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if outcome.figures is not None and outcome.figures.is_dir():
            for page in sorted(outcome.figures.rglob("*.png")):
                archive.write(page, f"{commands.FIGURES_DIR}/{page.relative_to(outcome.figures)}")
        if overview is not None:
            archive.writestr(commands.OVERVIEW_FILE, overview)
    return buffer.getvalue()


def everything_zip(outcome: Outcome, overview: bytes | None) -> bytes:
    """One archive of every download: predictions (and ``.h5ad``), summary, features,
    figures, the mapping chosen in the page, and ``commands.sh``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**predictions(outcome), **features(outcome)}.items():
            archive.writestr(name, data)
        if (h5ad := predictions_h5ad(outcome)) is not None:
            archive.writestr(*h5ad)
        if outcome.mapping is not None:
            archive.writestr(outcome.mapping.name, outcome.mapping.read_bytes())
        with zipfile.ZipFile(io.BytesIO(figures_zip(outcome, overview))) as figures:
            for name in figures.namelist():
                archive.writestr(name, figures.read(name))
        archive.writestr(COMMANDS_FILE, command_lines(outcome))
    return buffer.getvalue()
