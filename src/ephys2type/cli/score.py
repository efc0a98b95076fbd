"""``ephys2type score``: how right were the calls, once the cells' labels are known."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, refuse_existing


def score(
    predictions: Annotated[
        Path,
        typer.Option(
            "--predictions",
            "-p",
            help="The predictions CSV `predict --out` wrote (or the same table saved as "
            ".xlsx); its batch summary (<predictions>.summary.json) is read from beside it.",
        ),
    ],
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            "-l",
            help="A CSV (or TSV, ;-separated, .xlsx) of the cells' labels: their ids in a "
            "column named as the predictions' id column, the labels in --label-column; cells "
            "without a label are not scored.",
        ),
    ],
    label_column: Annotated[str, typer.Option(help="The column of --labels to score.")] = (
        "subclass"
    ),
    level: Annotated[
        str | None,
        typer.Option(
            help="With a two-level model's predictions: the level to score (e.g. subclass or "
            "t_type; its <level> and <level>_set columns). Default: the level its batch "
            "estimate was made at (the subclass); a one-level model's predicted and set "
            "columns."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the scores to this JSON file.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace the --out file if it exists.")] = False,
) -> None:
    """Score predictions against labels that came later: how many cells were called, how
    many calls were right, how often the most probable class was right (the quantity each
    cell's expected accuracy and the batch's label-free estimate describe, shown beside
    them) and how often the true class lay inside the prediction set; with 95% Wilson
    intervals, and per class.

    Cells the model was trained on (the batch summary beside the predictions lists them)
    are left out. A label the model does not have cannot be called right: such cells are
    counted as wrong, and named. On cells unlike the training cells the label-free estimate
    is good to about 20 points; a few dozen labelled cells measure the accuracy instead.

    Example: ephys2type score --predictions predictions.csv --labels labels.csv
    """
    from ephys2type.files import atomic_write_text, dumps_json
    from ephys2type.persist.scoring import score_file

    if out is not None:
        refuse_existing(out, force)
    result = score_file(predictions, labels, label_column=label_column, level=level)
    if out is not None:
        atomic_write_text(out, dumps_json(result.to_dict()), overwrite=force)
    shown = console()
    for line in result.lines():
        shown.print(line, highlight=False)
    if out is not None:
        shown.print(f"scores written to {out}")
