"""``ephys2type transfer``: does the other species make calls on this one better?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ephys2type.models.transfer.names import (
    ADAPTERS,
    CURVE_ARM,
    FRACTIONS,
    HETEROGENEOUS,
    NATIVE,
    PER_CLASS,
    POOLED,
    STRATEGIES,
)

from .common import (
    SPECIES,
    DatasetsOpt,
    ForceOpt,
    JobsOpt,
    OutOpt,
    ProfileOpt,
    check_choice,
    console,
    load_for_command,
    progress_bar,
    refuse_existing,
    shrink,
)
from .evaluate import print_evaluation


def transfer(
    source: Annotated[str, typer.Option(help="Species to learn from: mouse or human.")] = "mouse",
    target: Annotated[str, typer.Option(help="Species whose cells are classified.")] = "human",
    protocol: Annotated[
        str, typer.Option(help="Target folds: strat5x5 (default) or group5x5 (donor-grouped).")
    ] = "strat5x5",
    seeds: Annotated[int, typer.Option(min=1, help="Number of seeds (repeats).")] = 5,
    folds: Annotated[int, typer.Option(min=2, help="Folds per seed.")] = 5,
    coral: Annotated[
        bool, typer.Option(help="CORAL: map source features to the target fold's covariance.")
    ] = False,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            help=f"Transfer strategy, repeatable: {', '.join(STRATEGIES)} (default: all).",
        ),
    ] = None,
    pooled: Annotated[
        list[str] | None,
        typer.Option(
            "--pooled",
            help="Baselines fitted on both species' cells with a species indicator: "
            f"{', '.join(POOLED)} (repeat; default all), or none.",
        ),
    ] = None,
    adapt: Annotated[
        str,
        typer.Option(
            help="Domain adaptation (skada) before pooled gradient boosting, comma-separated: "
            "coral, sa (subspace alignment), ot (class-aware optimal transport); empty for "
            "none.",
        ),
    ] = ",".join(ADAPTERS),
    heterogeneous: Annotated[
        str,
        typer.Option(
            help="Heterogeneous transfer strategies, comma-separated (finetune, freeze-warmup, "
            "joint): shared families pretrained on --source, the target's own families learnt "
            "on it (needs a --native model); empty for none.",
        ),
    ] = ",".join(HETEROGENEOUS),
    fractions: Annotated[
        str,
        typer.Option(
            help="Learning-curve fractions of the target training fold, "
            "comma-separated; empty for none."
        ),
    ] = ",".join(f"{f:g}" for f in FRACTIONS),
    per_class: Annotated[
        str,
        typer.Option(
            help="Few-shot points: target training cells per class, comma-separated; empty "
            "for none.",
        ),
    ] = ",".join(str(n) for n in PER_CLASS),
    native: Annotated[
        list[str] | None,
        typer.Option(
            "--native",
            help="Target-only models on all the target's own features (not only the aligned "
            f"ones), the strongest reference: {', '.join(NATIVE)} by default; repeat for "
            "more (rf, hgb, logreg), or none.",
        ),
    ] = None,
    curve_arm: Annotated[
        list[str] | None,
        typer.Option(
            "--curve-arm",
            help=f"Strategies on the learning curve (default: {CURVE_ARM}).",
        ),
    ] = None,
    max_epochs: Annotated[
        int | None, typer.Option(min=1, help="Cap BiLSTM training epochs (quick runs).")
    ] = None,
    datasets: DatasetsOpt = None,
    profile: ProfileOpt = "default",
    jobs: JobsOpt = 2,
    out: OutOpt = None,
    force: ForceOpt = False,
) -> None:
    """Pretrain on one species, fine-tune on the other (aligned schema, aligned4 labels).

    Each species' cells are its bundled datasets named in --datasets (every dataset of a
    species none of them names): --datasets lee2023 gives the study's human cells, those
    the docs' transfer numbers rest on.

    Runs target-only baselines (BiLSTM, random forest, gradient boosting on the aligned
    features, and --native models on all the target's own features), zero-shot, three
    fine-tuning strategies, pooled forests and boosting, pooled boosting after skada
    domain adaptation (--adapt) and heterogeneous transfer (--heterogeneous: the shared
    families pretrained on the source, the target's own families beside them) on identical
    target folds, and reports each
    transfer arm minus its target-only reference of the same model family and minus the best
    target-only arm (whatever its features), with a corrected 95% CI and p-value; then a
    learning curve over the share of target training cells and a few-shot curve over target
    training cells per class, each against the target-only BiLSTM and the first --native
    model.

    Example: ephys2type transfer --source mouse --target human --coral
    """
    from dataclasses import replace

    from ephys2type.evaluation.splits import PROTOCOLS, make_plan
    from ephys2type.evaluation.transfer import (
        TransferSettingError,
        TransferSettings,
        count_fits,
        run_transfer,
        write_transfer,
    )
    from ephys2type.limits import current

    source = check_choice(source, SPECIES, "--source")
    target = check_choice(target, SPECIES, "--target")
    if source == target:
        raise typer.BadParameter("--source and --target must be different species")
    protocol = check_choice(protocol, [p for p in PROTOCOLS if p != "holdout"], "--protocol")
    # parsing here; every range and name is checked once, by TransferSettings. Results name
    # arms with underscores (zero_shot); both spellings are accepted here
    strategies = [s.replace("_", "-") for s in strategy] if strategy else list(STRATEGIES)
    curve_arm = [s.replace("_", "-") for s in curve_arm] if curve_arm else None
    try:
        fraction_list = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"--fractions must be numbers like 0.1,0.25: {exc}") from None
    pooled_models = list(POOLED) if not pooled else [] if pooled == ["none"] else pooled
    native_models = list(NATIVE) if not native else [] if native == ["none"] else native
    try:
        shots = [int(n) for n in per_class.split(",") if n.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"--per-class must be integers like 10,25: {exc}") from None
    seeds, folds, max_epochs = shrink(seeds, folds, max_epochs)
    try:
        settings = TransferSettings(
            strategies=tuple(strategies),
            pooled=tuple(pooled_models),
            adapters=tuple(_names(adapt)),
            heterogeneous=tuple(_names(heterogeneous)),
            fractions=tuple(fraction_list),
            per_class=tuple(shots),
            native=tuple(native_models),
            curve_arms=tuple(curve_arm) if curve_arm else None,
            coral=coral,
        ).with_max_epochs(max_epochs)
    except TransferSettingError as exc:
        raise typer.BadParameter(f"{_OPTIONS.get(exc.setting, exc.setting)}: {exc}") from None
    points = current().curve_points
    if points is not None:  # a limited run: the first points of each curve
        settings = replace(
            settings, fractions=settings.fractions[:points], per_class=settings.per_class[:points]
        )
    src_sets, tgt_sets = _of_species(datasets, source), _of_species(datasets, target)
    src = load_for_command(source, "aligned4", profile, "aligned", src_sets)
    tgt = load_for_command(target, "aligned4", profile, "aligned", tgt_sets)
    tgt_native = (
        load_for_command(target, "aligned4", profile, "native", tgt_sets) if native_models else None
    )
    out_dir = out or Path("results") / (
        f"transfer_{source}_to_{target}_{protocol}" + ("_coral" if coral else "")
    )
    refuse_existing(out_dir, force)
    plan = make_plan(tgt, protocol, seeds=seeds, n_folds=folds)
    n_fits = count_fits(settings, plan, target, native=tgt_native is not None)
    out_console = console()
    capped = settings.bilstm_params.get("max_epochs")
    out_console.print(
        f"source: {len(src)} {source} cells; target: {plan.dataset['description']}; "
        f"{plan.description}" + (f"; BiLSTMs capped at {capped} epochs" if capped else "")
    )
    with progress_bar(n_fits, "transfer") as advance:
        result = run_transfer(
            src, tgt, plan, settings, native=tgt_native, n_jobs=jobs, progress=advance
        )

    write_transfer(result, out_dir, overwrite=force)
    print_evaluation(result.evaluation, out_console, pairs=False)
    print_gains(result, out_console)
    out_console.print(f"results: {out_dir}")


def _of_species(datasets: str | None, species: str) -> str | None:
    """The names in ``--datasets`` of ``species``' bundled datasets; None (every dataset of
    the species) when it names none of them."""
    from ephys2type.data.datasets import DATASETS, dataset_names

    names = [n.strip() for n in (datasets or "").split(",") if n.strip()]
    if unknown := [n for n in names if n not in DATASETS]:
        raise typer.BadParameter(
            f"--datasets: unknown dataset {unknown[0]!r}; bundled: {', '.join(dataset_names())}"
        )
    names = [n for n in names if DATASETS[n].species == species]
    return ",".join(names) or None


def _names(value: str) -> list[str]:
    """A comma-separated list of names (results' underscore spelling accepted)."""
    return [n.strip().replace("_", "-") for n in value.split(",") if n.strip()]


#: The option of each transfer setting, for errors.
_OPTIONS = {
    "strategies": "--strategy",
    "curve_arms": "--curve-arm",
    "pooled": "--pooled",
    "adapters": "--adapt",
    "heterogeneous": "--heterogeneous",
    "native": "--native",
    "fractions": "--fractions",
    "per_class": "--per-class",
}


def print_gains(result, out_console) -> None:
    from ephys2type.evaluation.stats import curve_gain
    from ephys2type.evaluation.stats import format_difference as fmt_diff
    from ephys2type.evaluation.stats import format_p as fmt_p

    table = Table(
        title=f"transfer minus {result.target}-only on identical folds (points, 95% CI)",
        title_justify="left",
    )
    for col in ("arm", "reference", "macro-F1 gain", "p", "accuracy gain", "p"):
        table.add_column(col, justify="left" if col in ("arm", "reference") else "right")
    f1, acc = result.gains("macro_f1"), result.gains("accuracy")
    for arm in f1.index:
        table.add_row(
            arm,
            f1.loc[arm, "reference"],
            fmt_diff(f1.loc[arm]),
            fmt_p(f1.loc[arm, "p"]),
            fmt_diff(acc.loc[arm]),
            fmt_p(acc.loc[arm, "p"]),
        )
    out_console.print(table)
    best = result.best_target_only
    vs_best = Table(
        title=f"transfer minus the best {result.target}-only arm ({best}) on identical folds "
        "(macro-F1 points, 95% CI)",
        title_justify="left",
    )
    for col in ("arm", "macro-F1 gain", "p"):
        vs_best.add_column(col, justify="left" if col == "arm" else "right")
    for arm, row in result.gains_vs_best("macro_f1").iterrows():
        vs_best.add_row(arm, fmt_diff(row), fmt_p(row["p"]))
    out_console.print(vs_best)
    for name, frame, point in (
        ("learning curve", result.curve, "fraction"),
        ("few-shot", result.few_shot, "per_class"),
    ):
        if frame is None:
            continue
        curve = Table(title=f"{name} (macro-F1, %)", title_justify="left")
        columns = (
            "fraction" if point == "fraction" else "per class",
            "cells",
            "arm",
            "reference",
            "arm macro-F1",
            "reference macro-F1",
            "gain",
            "p",
        )
        for col in columns:
            curve.add_column(col, justify="left" if col in ("arm", "reference") else "right")
        for _, r in frame.sort_values(["arm", "reference", point]).iterrows():
            curve.add_row(
                f"{r[point]:g}",
                f"{r['n_train_cells']:.0f}",
                r["arm"],
                r["reference"],
                f"{100 * r['arm_macro_f1']:.2f}",
                f"{100 * r['reference_macro_f1']:.2f}",
                fmt_diff(curve_gain(r)),
                fmt_p(r["gain_p"]),
            )
        out_console.print(curve)
