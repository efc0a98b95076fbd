"""``ephys2type evaluate`` and ``ephys2type spca``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import (
    ConfidenceOpt,
    DataProfileOpt,
    DatasetsOpt,
    DonorColumnOpt,
    FeaturesOpt,
    ForceOpt,
    IdColumnOpt,
    JobsOpt,
    LabelColumnOpt,
    LabelsOpt,
    LocationOpt,
    MaxSetSizeOpt,
    OutOpt,
    ProfileOpt,
    SchemaOpt,
    SpeciesOpt,
    TableLabelsOpt,
    TableOpt,
    check_choice,
    console,
    load_data_for_command,
    load_for_command,
    model_choice,
    progress_bar,
    refuse_existing,
    shrink,
)


def evaluate(
    species: SpeciesOpt = "mouse",
    labels: LabelsOpt = None,
    datasets: DatasetsOpt = None,
    location: LocationOpt = False,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model name; repeat to compare models on the same folds (see --list-models; "
            "default: rf).",
            callback=model_choice,
        ),
    ] = None,
    protocol: Annotated[
        str, typer.Option(help="strat5x5 (default), group5x5 (donor-grouped) or holdout.")
    ] = "strat5x5",
    seeds: Annotated[int, typer.Option(min=1, help="Number of seeds (repeats).")] = 5,
    folds: Annotated[int, typer.Option(min=2, help="Folds per seed (k-fold protocols).")] = 5,
    profile: DataProfileOpt = None,
    features: FeaturesOpt = "native",
    table: TableOpt = None,
    table_labels: TableLabelsOpt = None,
    schema: SchemaOpt = None,
    id_column: IdColumnOpt = None,
    label_column: LabelColumnOpt = "subclass",
    donor_column: DonorColumnOpt = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="A TOML file mapping the column names (and units) of --table to the schema's "
            "features (docs/mappings.md)."
        ),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="Reuse the split_plan.json of an earlier run (paired runs)."),
    ] = None,
    importance: Annotated[
        bool,
        typer.Option(help="Also compute family permutation importance on the test folds."),
    ] = False,
    available_families: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated families the test cells have (the others emptied, as in a "
            "lab without those protocols): each model is scored as trained on all families "
            "with the others imputed ('imputed'), as `train` deploys it ('deployed': a model "
            "per family subset, routed per cell) and trained on exactly these families "
            "('subset'). See `ephys2type data families`.",
        ),
    ] = None,
    confidence: ConfidenceOpt = 0.9,
    max_set_size: MaxSetSizeOpt = 3,
    hierarchical: Annotated[
        bool,
        typer.Option(
            help="With two-level labels: also score each model with hierarchical members "
            "('<model>-hier-deployed': a subclass model, then a t-type model within each "
            "subclass; `train --hierarchical`).",
        ),
    ] = False,
    jobs: JobsOpt = 2,
    out: OutOpt = None,
    force: ForceOpt = False,
    list_models: Annotated[bool, typer.Option(help="List the models and exit.")] = False,
) -> None:
    """Cross-validate models on one split plan; write metrics, predictions and figures.

    With two-level labels (--labels ttype: subclass, then t-type) every model is scored as
    `train --labels ttype` ships it ('<model>-deployed': calibrated, class-conditional
    conformal prediction sets at both levels, calls at the finest level the sets support),
    per level (accuracy, balanced accuracy, macro-F1, top-3 accuracy, coverage and mean set
    size, cells called at each level): levels.csv, coverage_per_class.csv,
    accuracy_vs_called.png.

    Every model runs on identical folds, so the run also reports paired differences
    (corrected resampled t-test). Results go to results/<species>_<labels>_<features>_<protocol>
    unless --out is given; an existing folder is never overwritten without --force.

    Example: ephys2type evaluate --species human --model rf --model hgb

    Example: ephys2type evaluate --species mouse --model hgb --available-families
    subthreshold,spike_train,long_square

    Example: ephys2type evaluate --species human --labels ttype --model rf
    """
    from ephys2type.evaluation.choice import check_options, count_fits, evaluate_models
    from ephys2type.evaluation.choice import write_result as write_evaluation_result
    from ephys2type.evaluation.levels import LevelEvaluation
    from ephys2type.evaluation.splits import PROTOCOLS, SplitPlan, make_plan
    from ephys2type.models.deployed import resolve_model
    from ephys2type.models.registry import DEPLOYED, get_model, model_names

    out_console = console()
    if list_models:
        for name in model_names():
            out_console.print(f"{name:16s} {get_model(name).description}")
        out_console.print(
            f"and each savable model as it ships ({', '.join(model_names(savable=True))}) "
            f"as <name>{DEPLOYED}: routed by the features each cell has, calibrated, with "
            "prediction sets, cells without evidence unassigned (what `train` saves)"
        )
        return
    names = model or ["rf"]
    specs = [resolve_model(n) for n in names]  # unknown names fail before any work
    seeds, folds, _ = shrink(seeds, folds, None)  # epochs: bounded in each model's spec
    protocol = check_choice(protocol, list(PROTOCOLS), "--protocol")
    data, origin = load_data_for_command(
        species=species,
        labels=labels,
        profile=profile,
        features=features,
        table=table,
        table_labels=table_labels,
        schema=schema,
        id_column=id_column,
        label_column=label_column,
        donor_column=donor_column,
        datasets=datasets,
        location=location,
        mapping=mapping,
    )
    families = None
    if available_families is not None:
        families = [f.strip() for f in available_families.split(",") if f.strip()]
    check_options(
        data, importance=importance, available_families=families, hierarchical=hierarchical
    )
    if plan_file is not None:
        plan = SplitPlan.load(plan_file)
        plan.check_matches(data)
    else:
        plan = make_plan(data, protocol, seeds=seeds, n_folds=folds)
    if donor_column is not None and plan.protocol != "group5x5":  # a trial thought it grouped
        console().print(
            f"note: --donor-column groups the folds by donor only with --protocol group5x5; "
            f"these are {plan.description}"
        )
    out_dir = out or Path("results") / (
        f"{origin}_{data.label_scheme}_{features}_{plan.protocol}_{'+'.join(names)}"
        + ("" if available_families is None else "_available")
    )
    refuse_existing(out_dir, force)
    out_console.print(
        f"{plan.dataset['description']}; {plan.description}: "
        f"{len(plan.folds)} fit{'s' if len(plan.folds) != 1 else ''} per model"
    )
    for note in plan.dataset.get("held_out_folds", []):
        missing = note["test_classes_missing_from_training"]
        out_console.print(
            f"  holding out {note['held_out']}: {note['n_test']} test cells, {note['n_train']} "
            f"training cells ({note['train_cells_of_shared_donors_removed']} cells of donors "
            f"also in {note['held_out']} left out)"
            + (
                f"; the training cells hold no {', '.join(missing)} "
                f"({note['test_cells_of_those_classes']} test cells), so those cannot be right"
                if missing
                else ""
            )
        )
    total = count_fits(data, specs, plan, hierarchical=hierarchical)
    with progress_bar(total, "evaluate") as advance:
        result = evaluate_models(
            data,
            specs,
            plan,
            importance=importance,
            available_families=families,
            confidence=confidence,
            max_set_size=max_set_size,
            hierarchical=hierarchical,
            n_jobs=jobs,
            progress=advance,
        )
    write_evaluation_result(result, data, out_dir, overwrite=force)
    if isinstance(result, LevelEvaluation):
        print_levels(result, out_console)
    else:
        from ephys2type.evaluation.breakdown import group_breakdowns

        print_evaluation(result, out_console)
        for column, frame in group_breakdowns(result, data.meta).items():
            print_breakdown(frame, column, out_console)
        print_batch_checks(result, out_console)
    out_console.print(f"results: {out_dir}")


def print_batch_checks(evaluation, out_console) -> None:
    """For a leave-dataset-out plan: what `predict` would say of each held-out dataset as a
    batch (deployed models only)."""
    from ephys2type.evaluation.breakdown import batch_checks

    checks = batch_checks(evaluation)
    held = evaluation.plan.dataset.get("held_out")
    if checks is None or not held:
        return
    for model, rows in checks.groupby("model", sort=False):
        parts = []
        for fold, part in rows.groupby("fold"):
            fired = part["batch_shift_detected"].mean()
            estimate = ""
            if "estimated_accuracy" in part.columns:
                estimate = (
                    f", estimated accuracy {part['estimated_accuracy'].mean():.0%} "
                    f"(in-distribution {part['stated_accuracy'].mean():.0%})"
                )
            warned = (
                f", warned in {part['batch_warned'].mean():.0%}"
                if "batch_warned" in part.columns
                else ""
            )
            parts.append(
                f"{held[int(fold)]}: shift detected in {fired:.0%} of seeds{warned}, "
                f"{part['out_of_distribution'].mean():.1%} of cells flagged{estimate}"
            )
        out_console.print(f"batch check of {model} on each held-out dataset: " + "; ".join(parts))


def _model_column(table: Table, names) -> None:
    """The model column, as wide as its longest name: the other columns wrap instead (a
    trial read 'rf-depl…' at 100 columns)."""
    table.add_column("model", no_wrap=True, min_width=max(map(len, map(str, names)), default=5))


def print_breakdown(frame, column: str, out_console) -> None:
    """One row per model and group of cells (dataset, layer): scores in %, mean over seeds."""
    table = Table(
        title=f"by {column}: test cells of each {column}, in % (mean over seeds; accuracy "
        f"range over seeds; scores over the classes the group holds)",
        title_justify="left",
    )
    _model_column(table, frame["model"])
    for col in (column, "cells", "accuracy", "balanced acc.", "macro-F1", "called"):
        table.add_column(col, justify="left" if col == column else "right")
    flags = frame["flagged"].notna().any()
    if flags:
        for col in ("flagged", "acc. flagged / not"):
            table.add_column(col, justify="right")

    def pct(value) -> str:
        return "—" if value != value else f"{100 * value:.1f}"

    for row in frame.to_dict(orient="records"):
        cells = [
            str(row["model"]),
            str(row[column]),
            f"{row['cells']:.0f}",
            f"{pct(row['accuracy'])} ({pct(row['accuracy_min'])}-{pct(row['accuracy_max'])})",
            pct(row["balanced_accuracy"]),
            pct(row["macro_f1"]),
            pct(row["called"]),
        ]
        if flags:
            cells += [
                pct(row["flagged"]),
                f"{pct(row['accuracy_flagged'])} / {pct(row['accuracy_unflagged'])}",
            ]
        table.add_row(*cells)
    out_console.print(table)


def _pct_or_dash(value: float) -> str:
    """``93.8``; a dash where there is no value (no cell called at that level)."""
    return "—" if value != value else f"{100 * value:.1f}"  # NaN is not equal to itself


def print_levels(result, out_console) -> None:
    """Per model and level: the scores with 95% CIs, coverage and set size."""
    table = Table(
        title=f"per level, mean [95% CI] over folds, in % (accuracy to top-3: of each cell's "
        "most probable class at that level, every cell counted, where a flat run counts "
        f"unassigned cells as wrong; sets at {result.confidence:.0%}; called: cells whose set "
        f"allows a call at that level, at most {result.max_set_size} t-types; right: of those "
        "calls)",
        title_justify="left",
    )
    rows = result.table()
    _model_column(table, rows["model"])
    for col in ("level", "accuracy", "balanced acc.", "macro-F1", "top-3", "coverage"):
        table.add_column(col, justify="left" if col == "level" else "right")
    table.add_column("mean set size", justify="right")
    table.add_column("called", justify="right")
    table.add_column("right", justify="right")
    for row in rows.to_dict(orient="records"):

        def pct(metric: str, r=row) -> str:
            return (
                f"{100 * r[metric]:.1f} [{100 * r[metric + '_ci_low']:.1f}, "
                f"{100 * r[metric + '_ci_high']:.1f}]"
            )

        table.add_row(
            row["model"],
            row["level"],
            *(pct(m) for m in ("accuracy", "balanced_accuracy", "macro_f1", "top3_accuracy")),
            pct("coverage"),
            f"{row['mean_set_size']:.2f}",
            f"{100 * row['called']:.1f}",
            _pct_or_dash(row["accuracy_when_called"]),
        )
    out_console.print(table)


def print_evaluation(evaluation, out_console, *, pairs: bool = True) -> None:
    from ephys2type.evaluation.stats import HEADLINE
    from ephys2type.evaluation.stats import format_difference as fmt_diff
    from ephys2type.evaluation.stats import format_p as fmt_p
    from ephys2type.evaluation.stats import format_summary as fmt_ci

    table = Table(
        title="mean ± SD over folds [95% CI, corrected resampled t], in %", title_justify="left"
    )
    _model_column(table, evaluation.models)
    for metric in HEADLINE:
        table.add_column(metric, justify="right")
    for name in evaluation.models:
        s = evaluation.summary(name)
        table.add_row(name, *(fmt_ci(s[m]) for m in HEADLINE))
    out_console.print(table)
    for name in evaluation.models:  # why a deployed model scores low: its refusals
        n_none, n, reasons = evaluation.unassigned(name)
        predictions = evaluation.predictions
        seeds = predictions.loc[predictions["model"] == name, "seed"].nunique()
        over = f" over {seeds} seeds" if seeds > 1 else ""  # predictions, not cells (review)
        if n_none:
            why = ", ".join(f"{k} {v}" for k, v in reasons.items())
            out_console.print(
                f"{name}: {n_none} of {n} test predictions{over} unassigned, counted wrong "
                "above" + (f" ({why})" if why else "")
            )
    names = list(evaluation.models)
    if pairs and len(names) > 1:
        comp = Table(
            title="paired differences on identical folds (macro-F1, accuracy), in points",
            title_justify="left",
        )
        comp.add_column("a - b", overflow="fold")  # folded, never cut (review)
        for col in ("macro-F1 diff [95% CI]", "p", "accuracy diff [95% CI]", "p"):
            comp.add_column(col, justify="right")
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                f1 = evaluation.compare(a, b, "macro_f1")
                acc = evaluation.compare(a, b, "accuracy")
                comp.add_row(
                    f"{a} - {b}", fmt_diff(f1), fmt_p(f1["p"]), fmt_diff(acc), fmt_p(acc["p"])
                )
        out_console.print(comp)


def spca(
    species: SpeciesOpt = "mouse",
    labels: LabelsOpt = None,
    profile: ProfileOpt = "default",
    embedding: Annotated[str, typer.Option(help="umap (if installed, else PCA) or pca.")] = "umap",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds for the cross-validated k-NN.")] = 1,
    folds: Annotated[int, typer.Option(min=2, help="Folds of the cross-validated k-NN.")] = 5,
    out: OutOpt = None,
    force: ForceOpt = False,
) -> None:
    """Subclass separation in per-family sparse-PCA space: embedding, loadings, numbers.

    Writes embedding.png (cells coloured by subclass), loadings.png, silhouette.png,
    metrics.json (silhouette per subclass; cross-validated k-NN accuracy in sPCA space and on
    standardized features) and the components and embedding as CSV.

    Example: ephys2type spca --species human --embedding pca
    """
    from ephys2type.evaluation.stats import format_summary as fmt_ci
    from ephys2type.files import atomic_directory
    from ephys2type.study.separation import separation, write_separation

    embedding = check_choice(embedding, ("umap", "pca"), "--embedding")
    data = load_for_command(species, labels, profile, "native")
    out_dir = out or Path("results") / f"spca_{species}_{data.label_scheme}"
    refuse_existing(out_dir, force)
    out_console = console()
    out_console.print(
        f"{species}: {len(data)} cells, labels {data.label_scheme}; fitting "
        f"sparse PCA per family, embedding and cross-validated k-NN ..."
    )
    result = separation(data, embedding=embedding, seeds=seeds, n_folds=folds)
    desc = f"{species}, {data.label_scheme}, {len(data)} cells"
    with atomic_directory(out_dir, overwrite=force) as tmp:
        write_separation(result, data, tmp)
    table = Table(title=f"subclass separation, {desc}", title_justify="left")
    table.add_column("class")
    table.add_column("mean silhouette", justify="right")
    for cls, v in result.silhouette.items():
        table.add_row(str(cls), f"{v:.3f}")
    out_console.print(table)
    for space, res in result.knn.items():
        out_console.print(
            f"{result.n_neighbors}-NN, {space}: accuracy {fmt_ci(res['accuracy'])}, "
            f"balanced accuracy {fmt_ci(res['balanced_accuracy'])} (%; strat {folds}-fold x "
            f"{len(result.plan.seeds)} seed(s), sPCA refitted in each fold)"
        )
    out_console.print(f"{result.components.shape[1]} components; results: {out_dir}")
