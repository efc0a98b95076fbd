"""The command lines that reproduce what the page showed, with the files the user has.

Run in the folder holding the uploaded files (and the page's ``mapping.toml``, when the
columns were mapped in the page), they write the files the page offers for download:
``features.csv`` (with ``features.csv.qc.csv`` and the check pages in ``figures/``) from
recordings, then ``predictions.csv`` with its ``.summary.json`` and ``overview.png``.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from ephys2type.app import bundled_models

#: Names of the files the page writes, in its downloads and in these commands.
FEATURES_FILE = "features.csv"
MAPPING_FILE = "mapping.toml"
FIGURES_DIR = "figures"
PREDICTIONS_FILE = "predictions.csv"
OVERVIEW_FILE = "overview.png"


def h5ad_predictions_file(features: str) -> str:
    """The name of the AnnData predictions of an ``.h5ad`` features file."""
    return f"{Path(features).stem}_with_calls.h5ad"


def features_command(recordings: Sequence[str], *, schema: str, sweep_qc: str) -> list[str]:
    """``ephys2type features`` of the uploaded recordings."""
    return [
        "ephys2type",
        "features",
        *recordings,
        "--out",
        FEATURES_FILE,
        "--schema",
        schema,
        "--sweep-qc",
        sweep_qc,
        "--figures",
        FIGURES_DIR,
    ]


def bundled_model_name(species: str) -> str:
    """The folder name the commands give the bundled model of ``species``."""
    return f"{species}-model"


def train_command(species: str) -> list[str]:
    """``ephys2type train`` of the bundled model of ``species`` (what the app trained)."""
    command = [
        "ephys2type",
        "train",
        "--species",
        species,
        "--model",
        bundled_models.MODEL,
        "--seed",
        str(bundled_models.SEED),
        "--out",
        bundled_model_name(species),
    ]
    if not bundled_models.FAMILY_SUBSETS:
        command.insert(-2, "--no-family-subsets")
    return command


def predict_command(
    model: str,
    features: str,
    *,
    out: str = PREDICTIONS_FILE,
    mapping: str | None = None,
    checks: str | None = None,
    id_column: str | None = None,
    obsm_key: str | None = None,
    sheet: str | None = None,
    call_failed_checks: bool = False,
    overview: bool = True,
) -> list[str]:
    """``ephys2type predict`` with the page's choices."""
    command = ["ephys2type", "predict", "--model", model, "--features", features, "--out", out]
    for option, value in (
        ("--mapping", mapping),
        ("--checks", checks),
        ("--id-column", id_column),
        ("--obsm", obsm_key),
        ("--sheet", sheet),
    ):
        if value is not None:
            command += [option, value]
    if call_failed_checks:
        command.append("--call-failed-checks")
    if overview:
        command += ["--overview", OVERVIEW_FILE]
    return command


def as_lines(commands: Sequence[Sequence[str]]) -> str:
    """The commands as shell lines (quoted where needed)."""
    return "\n".join(shlex.join(c) for c in commands) + "\n"
