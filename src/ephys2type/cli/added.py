"""``ephys2type evaluate-added``: does adding a lab's labelled cells help on cells like them?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (
    AddLabelsOpt,
    AddMappingOpt,
    AddTableOpt,
    AddWeightOpt,
    DatasetsOpt,
    LabelsOpt,
    SpeciesOpt,
    StepProgress,
    console,
    load_request,
    model_choice,
    plural,
    refuse_existing,
)


def evaluate_added(
    add_table: AddTableOpt,
    add_labels: AddLabelsOpt,
    species: SpeciesOpt = "mouse",
    labels: LabelsOpt = None,
    datasets: DatasetsOpt = None,
    mapping: AddMappingOpt = None,
    add_weight: AddWeightOpt = None,
    id_column: Annotated[
        str | None,
        typer.Option(help="Cell id column of --add-table (default: found as `predict` finds it)."),
    ] = None,
    label_column: Annotated[str, typer.Option(help="Label column of --add-labels.")] = "subclass",
    donor_column: Annotated[
        str | None,
        typer.Option(
            help="Donor (animal, slice) column of --add-labels: a donor's cells stay in one "
            "fold (default: each cell its own donor)."
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="rf (default), hgb, logreg or a BiLSTM.", callback=model_choice
        ),
    ] = "rf",
    folds: Annotated[
        int,
        typer.Option(
            min=2,
            help="Folds over your cells (fewer when they have fewer donors, or cells "
            "in their largest class).",
        ),
    ] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write each of your cells' label and calls (CSV), with the numbers in "
            "<out>.summary.json.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Cross-validate on your labelled cells: the model with them against the model without.

    `train --add-table` adds your cells to the bundled ones, but its expected accuracy is
    measured on bundled cells and cannot say how cells like yours fare. This command can:
    each of --folds folds of your cells is predicted by the model (as `train` saves it,
    without family-subset models: a cell lacking features gets a model of its own) trained on
    the bundled cells plus your other folds, and every one of your cells by the model of the
    bundled cells alone. A donor's cells (--donor-column) stay in one fold. Printed: accuracy
    (unassigned counted wrong, 95% Wilson interval), the share of calls right and macro-F1 of
    both, how many cells of each of your classes each gets right, and the paired difference
    (95% Bonett-Price interval, McNemar's exact test; one partition into folds, one seed),
    beside the expected accuracy the model of the bundled cells states. A class whose cells
    the model with yours gets right less often than the one without is named. It ends with a
    verdict read from the interval (helped, made it worse, or not clearly either), and
    cautions when a class has fewer than 5 cells or all your cells are of one class. Cells
    whose features agree with a bundled cell's are refused as copies; a cell whose recording
    check blocks a call (a table from `ephys2type features`) is unassigned by both, as
    predict leaves it.

    Example: ephys2type evaluate-added --species human --datasets lee2023 --add-table
    my_cells.csv --add-labels my_labels.csv
    """
    from ephys2type.data.requests import DataRequest
    from ephys2type.evaluation.added_check import check_added_cells, write_added_check
    from ephys2type.files import summary_path

    if out is not None:  # before a minute of fitting, not after
        refuse_existing(out, force)
        refuse_existing(summary_path(out), force)
    loaded = load_request(
        DataRequest(
            species=species,
            labels=labels,
            datasets=datasets,
            id_column=id_column,
            label_column=label_column,
            donor_column=donor_column,
            add_table=add_table,
            add_labels=add_labels,
            mapping=mapping,
            add_weight=add_weight,
        )
    )
    data = loaded.data
    added = data.X.index[(data.meta["dataset"] == "added").to_numpy()]
    with StepProgress() as progress:
        result = check_added_cells(
            data,
            added,
            model=model,
            folds=folds,
            add_weight=add_weight,
            random_state=seed,
            progress=progress.fraction("models fitted"),
        )
    written = None
    if out is not None:
        written = write_added_check(result, out, overwrite=force)
    _show(result, out, written)


def _show(result, out: Path | None, written: Path | None) -> None:
    show = console()
    counts = ", ".join(f"{c} {int(n)}" for c, n in result.per_class["n"].items())
    fewer = ""
    if result.folds < result.folds_asked:
        fewer = f" (not {result.folds_asked}: {result.fold_limit})"
    weights = sorted(set(result.weights))
    counted = "/".join(map(str, weights)) + (" times" if weights != [1] else " time")
    show.print(
        f"your {len(result.cells)} cells ({counts}) in {result.folds} folds{fewer}, "
        f"{result.model} as `train` saves it, beside {result.n_bundled} bundled cells; in "
        f"the folds each of your cells counted {counted}",
        highlight=False,
    )
    if result.n_blocked:
        show.print(
            f"{result.n_blocked} of your cells failed a recording "
            "check that blocks a call: unassigned by both models, as predict leaves them "
            "(counted wrong; trained on with their labels)",
            highlight=False,
        )
    for name, arm in (("without your cells", result.without), ("with them", result.with_added)):
        calls = (
            f"{arm.calls_right:.1%} of {plural(arm.n_called, 'call')} right"
            if arm.n_called
            else "no cell called"
        )
        show.print(
            f"{name + ':':<19} accuracy {arm.accuracy:.1%} [{arm.low:.1%}, {arm.high:.1%}], "
            f"{calls}, macro-F1 {arm.macro_f1:.3f}",
            highlight=False,
        )
    d = result.difference
    show.print(
        f"with minus without: {100 * d['mean']:+.1f} points [95% CI {100 * d['low']:+.1f}, "
        f"{100 * d['high']:+.1f}]; {d['gained']} of your cells gained, {d['lost']} lost "
        f"(McNemar p = {d['p']:.2g})",
        highlight=False,
    )
    show.print(result.verdict(), highlight=False)
    for cls, row in result.per_class.iterrows():
        fewer_right = row["right_with"] < row["right_without"]
        worse = "  (fewer right with your cells)" if fewer_right else ""
        show.print(
            f"  {cls} ({plural(int(row['n']), 'cell')}): {int(row['right_without'])} right "
            f"without, {int(row['right_with'])} with{worse}",
            highlight=False,
        )
    show.print(
        f"the model of the bundled cells alone states an expected accuracy of "
        f"{result.stated:.1%} (measured on bundled calibration cells, not yours)",
        highlight=False,
    )
    for caution in result.cautions():
        show.print(f"caution: {caution}", highlight=False)
    if out is not None:
        show.print(f"calls written to {out}; numbers: {written}", highlight=False)
