"""The reproduction report: one self-contained HTML page, a Markdown twin, and summary.json.

Built from the run folder alone: ``run.json`` (the configuration, which declares each stage's
species, labels and protocol) and the stage folders. A stage is found by what it declares,
so renaming a stage in a preset cannot make the report read "not run".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ephys2type._version import __version__
from ephys2type.errors import Ephys2TypeError
from ephys2type.evaluation.stats import curve_gain
from ephys2type.files import atomic_write_text, dumps_json
from ephys2type.study.config import ReproduceConfig
from ephys2type.study.report.builder import (
    PAPER,
    STUDY,
    ReportBuilder,
    because,
    find_comparison,
    fmt_gain,
    fmt_pct,
    load_json,
    paper_inside,
    protocol_text,
    verdict,
)
from ephys2type.study.report.datasets import datasets_section
from ephys2type.study.stages import holdout_folder, stage_folders, stage_name, stage_sections


def write_report(
    out: str | Path, config: ReproduceConfig | None = None, stages: list[dict] | None = None
) -> Path:
    """Build report.html, report.md and summary.json in the run folder ``out`` (written last).

    ``config`` defaults to the folder's ``run.json``; ``stages`` lists
    ``{"stage", "seconds", "cached"}`` of this run (default: as recorded in each stage.json).
    A folder without a readable run.json, or with a stage missing, is one clear error.
    """
    root = Path(out)
    cfg = config or _read_config(root)
    if stages is None:
        stages = [
            {"stage": name, "seconds": _recorded_seconds(root / name), "cached": False}
            for name in stage_folders(cfg)
        ]
    b = ReportBuilder(root)
    title = "ephys2type: reproduction of electrophysiology-to-transcriptomics mapping"
    b.html.append(f"<h1>{html.escape(title)}</h1>")
    b.md.append(f"# {title}\n")
    b.para(
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by ephys2type "
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
    inputs = ReportInputs(
        root=root,
        cfg=cfg,
        models={
            (s.species, s.labels): load_json(root / s.name / "results" / "metrics.json")
            for s in cfg.model_stages
        },
        transfer={
            p: load_json(root / stage_name("transfer", p) / "results" / "metrics.json")
            for p in cfg.transfer_protocols
        },
        qc=load_json(root / stage_name("qc") / "qc.json") or {},
        holdout={
            d: load_json(root / stage_name("holdout") / holdout_folder(*d) / "metrics.json")
            for d in cfg.holdout_datasets()
        },
        stages=stages,
    )
    summary_rows = _paper_rows(inputs.models, inputs.transfer, inputs.qc, inputs.holdout)
    inputs = dataclasses.replace(inputs, paper_rows=summary_rows)
    for section in SECTIONS.values():
        b.section(section.nav, lambda sec=section: sec.render(b, inputs))

    (root / "report.md").write_text("\n".join(b.md) + "\n")
    summary = {
        "config": {
            "quick": cfg.quick,
            "seeds": cfg.seeds,
            "folds": cfg.folds,
            "max_epochs": cfg.max_epochs,
        },
        "paper_vs_ours": summary_rows,
        "stages": [dict(s) for s in stages],
    }
    atomic_write_text(root / "summary.json", dumps_json(summary), overwrite=True)
    atomic_write_text(root / "report.html", b.render_html(title), overwrite=True)
    return root / "report.html"


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    """What every section may read: the run folder, its configuration, the results the
    summary and several sections share, and this run's stages (name, seconds, cached)."""

    root: Path
    cfg: ReproduceConfig
    models: dict[tuple[str, str], dict | None]  # (species, labels) -> metrics.json
    transfer: dict[str, dict | None]  # protocol -> metrics.json
    qc: dict
    holdout: dict[tuple[str, str], dict | None]  # (species, labels) -> metrics.json
    stages: list[dict]
    paper_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Section:
    """A report section: its label in the page's navigation and what writes it (nothing,
    when its stages did not run)."""

    nav: str
    render: Callable[[ReportBuilder, ReportInputs], None]


def _read_config(root: Path) -> ReproduceConfig:
    try:
        return ReproduceConfig.from_dict(json.loads((root / "run.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Ephys2TypeError(f"{root}: not a reproduce run folder (no readable run.json)") from exc


def _recorded_seconds(folder: Path) -> float:
    try:
        return float(json.loads((folder / "stage.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Ephys2TypeError(
            f"{folder}: stage missing or incomplete; run `ephys2type reproduce` again"
        ) from exc


def _model(metrics: dict | None, name: str) -> dict | None:
    return None if metrics is None else metrics["models"].get(name)


def _summary(b: ReportBuilder, run: ReportInputs) -> None:
    """The report's first section: our numbers beside the paper's (the rows summary.json
    holds), the verdicts of the paired comparisons and the note on human labels."""
    b.heading("Our numbers beside the paper's")
    rows = run.paper_rows
    b.table(
        ["quantity", "paper", "ours: mean ± SD [95% CI]", "paper inside our CI?", "protocol"],
        [[r["quantity"], r["paper"], r["ours"], r["paper_inside_ci"], r["protocol"]] for r in rows],
    )
    b.para(
        "The paper reports a single 60/20/20 hold-out split; we report stratified k-fold CV "
        "x seeds, and beside it, for the random forest, the paper's protocol: a stratified "
        "80/20 hold-out repeated over the same seeds (the rows marked 'hold-out'; its "
        "interval is over the repeats). For the BiLSTM, whose inner 20% validation split "
        "makes the hold-out 60/20/20, it runs with `ephys2type evaluate --protocol holdout` "
        "(five BiLSTM fits per dataset, left out of the reproduction for time).",
        "note",
    )
    b.bullets(_verdicts(run.models, run.transfer.get("strat5x5")))
    _human_label_note(b, run.models)


def _paper_rows(models: dict, transfer: dict, qc: dict, holdout: dict) -> list[dict[str, Any]]:
    """One row per quantity the paper reports: its value, ours with its interval, whether
    the paper's lies inside our interval, and the protocol."""
    rows: list[dict[str, Any]] = []
    missing = "not run in this configuration"

    def add(what: str, paper: Any, ours: str, protocol: str, summary: dict | None = None) -> None:
        rows.append(
            {
                "quantity": what,
                "paper": paper,
                "ours": ours,
                "paper_inside_ci": paper_inside(paper, summary),
                "protocol": protocol,
            }
        )

    for species, key in (("mouse", "mouse5/default"), ("human", "revised/default")):
        schemes = qc.get(species, {}).get("schemes", {})
        complete = key.replace("default", "complete")
        ours = (
            f"{schemes[key]['n_cells']} (default QC); {schemes[complete]['n_cells']} "
            "(complete cases)"
            if key in schemes
            else missing
        )
        add(
            f"{species} cells after QC",
            PAPER[f"{species}_cells"],
            ours,
            f"{species}, labels {key.split('/')[0]}",
        )

    def model_row(
        stage: tuple[str, str],
        what: str,
        model: str,
        metric: str,
        paper_key: str,
        source: dict | None = None,
    ) -> None:
        m = (models if source is None else source).get(stage)
        summary = (_model(m, model) or {}).get(metric) if m else None
        add(
            what,
            PAPER[paper_key],
            fmt_pct(summary) if summary else missing,
            protocol_text(m) if m else f"{stage[0]}, labels {stage[1]}",
            summary,
        )

    model_row(("mouse", "mouse5"), "mouse rf accuracy (%)", "rf", "accuracy", "mouse_rf_accuracy")
    if ("mouse", "mouse5") in holdout:
        model_row(
            ("mouse", "mouse5"),
            "mouse rf accuracy (%), the paper's hold-out protocol",
            "rf",
            "accuracy",
            "mouse_rf_accuracy",
            holdout,
        )
    model_row(
        ("mouse", "mouse5"),
        "mouse bilstm-smote accuracy (%)",
        "bilstm-smote",
        "accuracy",
        "mouse_bilstm_smote_accuracy",
    )
    for label in ("revised", "subclass"):
        stage = ("human", label)
        model_row(
            stage,
            f"human rf accuracy (%), labels {label} (the paper's label column is not stated)",
            "rf",
            "accuracy",
            "human_rf_accuracy",
        )
        if stage in holdout:
            model_row(
                stage,
                f"human rf accuracy (%), labels {label}, the paper's hold-out protocol",
                "rf",
                "accuracy",
                "human_rf_accuracy",
                holdout,
            )
        model_row(
            stage,
            f"human bilstm-smote macro-F1 (%), labels {label} (label column not stated)",
            "bilstm-smote",
            "macro_f1",
            "human_bilstm_smote_macro_f1",
        )
    t = transfer.get("strat5x5")
    protocol = protocol_text(t) + ", aligned features" if t else "human, labels aligned4"
    human_only = t["models"].get("human_bilstm") if t else None
    add(
        "human-only macro-F1 (%), aligned 4-class",
        PAPER["transfer_human_only_macro_f1"],
        fmt_pct(human_only["macro_f1"]) if human_only else missing,
        protocol,
        human_only["macro_f1"] if human_only else None,
    )
    joint = t["models"].get("joint") if t else None
    gain = {g["arm"]: g for g in t["transfer"]["gains_macro_f1"]}.get("joint") if t else None
    add(
        "transfer (pretrain mouse, joint + fine-tune) macro-F1 (%)",
        PAPER["transfer_macro_f1"],
        fmt_pct(joint["macro_f1"]) + f"; gain {fmt_gain(gain)}" if joint else missing,
        protocol,
        joint["macro_f1"] if joint else None,
    )
    return rows


def _verdicts(models: dict, t: dict | None) -> list[str]:
    """Each paired comparison the paper makes, said in words (which model is better, by how
    much, and whether the folds can tell)."""
    m5 = models.get(("mouse", "mouse5"))
    verdicts = []
    if m5:
        c = find_comparison(m5, "bilstm-smote", "rf", "accuracy")
        verdicts.append(
            f"Mouse: the BiLSTM + SMOTE {verdict(c)} the random forest in accuracy {because(c)}."
        )
        c = find_comparison(m5, "bilstm-smote", "hgb", "accuracy")
        verdicts.append(
            f"Mouse: the BiLSTM + SMOTE {verdict(c)} gradient boosting in accuracy {because(c)}."
        )
    mh = models.get(("human", "revised"))
    if mh:
        c = find_comparison(mh, "bilstm-smote", "rf", "macro_f1")
        verdicts.append(
            f"Human (revised labels): the BiLSTM + SMOTE {verdict(c)} the random "
            f"forest in macro-F1 {because(c)}."
        )
    if t:
        for g in t["transfer"]["gains_macro_f1"]:
            verdicts.append(
                f"Transfer arm {g['arm']} {verdict(g)} {g['reference']} in human "
                f"macro-F1 {because(g)}."
            )
        best = t["transfer"].get("best_target_only")
        for g in t["transfer"].get("gains_vs_best_macro_f1", []):
            verdicts.append(
                f"Against the best human-only model ({best}): transfer arm {g['arm']} "
                f"{verdict(g)} it in human macro-F1 {because(g)}."
            )
    return verdicts


def _human_label_note(b: ReportBuilder, models: dict) -> None:
    """Which human label column the paper's human forest accuracy is closer to."""
    mh = models.get(("human", "revised"))
    hr, hs = _model(mh, "rf"), _model(models.get(("human", "subclass")), "rf")
    if hr and hs:
        paper = PAPER["human_rf_accuracy"]
        by_label = {
            "Revised_subclass_label": 100 * hr["accuracy"]["mean"],
            "subclass_label": 100 * hs["accuracy"]["mean"],
        }
        closer = min(by_label, key=lambda k: abs(by_label[k] - paper))
        other = next(k for k in by_label if k != closer)
        b.para(
            f"Human labels: the paper's human random-forest accuracy ({paper:.2f}%) is closer "
            f"to ours with {closer} ({by_label[closer]:.2f}%) than with {other} "
            f"({by_label[other]:.2f}%); the two columns disagree for "
            f"{_facts()['label_disagreements']} cells.",
            "note",
        )


@functools.cache
def _facts() -> dict[str, int]:
    """Facts of the bundled data the report's prose quotes, read from the data and schemas
    rather than written into the text: the human and aligned feature counts, and the human
    cells (of the whole Lee, Dalley table) whose two subclass columns disagree."""
    from ephys2type.data.datasets import load_human
    from ephys2type.data.schema import get_schema

    raw = load_human(labels=None, qc=None).meta
    return {
        "human_features": len(get_schema("human").columns),
        "aligned_features": len(get_schema("aligned").columns),
        "label_disagreements": int(
            (raw["subclass"].astype(str) != raw["revised_subclass"].astype(str)).sum()
        ),
    }


def _data_section(b: ReportBuilder, qc: dict) -> None:
    b.heading("Data and quality control")
    b.para(
        "Mouse: Gouwens et al. 2020 (visual cortex, IPFX cell record); human: Lee, Dalley "
        "et al. 2023 (neocortex). QC rules are data (resources/qc.toml): unlabeled and "
        "out-of-scope cells, cells missing a whole essential family or more than 20% of the "
        "counted features, impossible values, classes under 10 cells. The paper's QC is "
        "not published, so counts differ (see README)."
    )
    rows = []
    for species, block in qc.items():
        for key, s in block["schemes"].items():
            scheme, profile = key.split("/")
            if profile == "none":
                continue
            counts = ", ".join(f"{k} {v}" for k, v in s["class_counts"].items())
            if len(s["class_counts"]) > 8:
                counts = f"{len(s['class_counts'])} t-types"
            rows.append([species, scheme, profile, s["n_cells"], counts])
    b.table(["species", "labels", "QC", "cells", "cells per class"], rows)
    for species, block in qc.items():
        for note in block.get("notes", []):
            b.para(f"{species}: {note}", "note")


def _spca_section(b: ReportBuilder, root: Path) -> None:
    b.heading("Subclass separation in sparse-PCA space")
    rows = []
    for species in ("mouse", "human"):
        m = load_json(root / stage_name("spca", species) / "metrics.json")
        if not m:
            continue
        sil = ", ".join(f"{k} {v:.2f}" for k, v in m["silhouette_per_class"].items())
        rows.append(
            [
                species,
                m["n_components"],
                sil,
                f"{m['silhouette_all']:.3f}",
                fmt_pct(m["knn"]["spca"]["accuracy"]),
                fmt_pct(m["knn"]["standardized"]["accuracy"]),
            ]
        )
    b.table(
        [
            "species",
            "sPCA components",
            "mean silhouette per subclass",
            "overall",
            "15-NN accuracy, sPCA (%)",
            "15-NN accuracy, standardized features (%)",
        ],
        rows,
        "Silhouettes on all cells; k-NN accuracy cross-validated with sPCA refitted in each "
        "training fold.",
    )
    b.figures([root / stage_name("spca", s) / "embedding.png" for s in ("mouse", "human")])
    b.figures(
        [root / stage_name("spca", "mouse") / "loadings.png"],
        "Loadings of the kept sparse components per feature family (mouse). The human "
        f"loadings ({_facts()['human_features']} features) are in "
        f"{stage_name('spca', 'human')}/loadings.png "
        "and loadings.csv.",
        wide=True,
    )


def _classifier_section(b: ReportBuilder, root: Path, cfg, models: dict) -> None:
    b.heading("Classifiers")
    b.para(
        "Every model of a dataset ran on the same split plan; preprocessing (imputation, "
        "scaling, sparse PCA, SMOTE, early stopping) is fitted inside each training fold. "
        "BiLSTM variants: bilstm-smote is the paper's model (attention, SMOTE, cross-entropy, "
        "linear head); each other variant changes one of those."
    )
    for stage in cfg.model_stages:
        m = models.get((stage.species, stage.labels))
        if not m:
            continue
        b.heading(f"{stage.species}, labels {stage.labels}", 3)
        b.para(protocol_text(m), "note")
        rows = []
        for name, r in m["models"].items():
            vs_rf = find_comparison(m, name, "rf", "macro_f1") if name != "rf" else None
            vs_hgb = find_comparison(m, name, "hgb", "macro_f1") if name != "hgb" else None
            rows.append(
                [
                    name,
                    fmt_pct(r["accuracy"]),
                    fmt_pct(r["balanced_accuracy"]),
                    fmt_pct(r["macro_f1"]),
                    f"{100 * r['calibration']['ece']:.1f}",
                    fmt_gain(vs_rf) if vs_rf else "",
                    fmt_gain(vs_hgb) if vs_hgb else "",
                ]
            )
        b.table(
            [
                "model",
                "accuracy (%)",
                "balanced accuracy (%)",
                "macro-F1 (%)",
                "ECE (%)",
                "macro-F1 minus rf (points)",
                "macro-F1 minus hgb (points)",
            ],
            rows,
        )
        classes = m["classes"]
        rows = [
            [name] + [f"{100 * r['per_class'][c]['f1']:.1f}" for c in classes]
            for name, r in m["models"].items()
        ]
        b.table(["model", *[f"F1 {c}" for c in classes]], rows, "Per-class F1 (%)")
        folder = root / stage.name / "results"
        b.figures(
            [folder / "confusion_rf.png", folder / "confusion_bilstm-smote.png"],
            f"Confusion matrices: out-of-fold predictions, counts summed over "
            f"{cfg.seeds} seed(s), so each cell is counted once per seed.",
        )
        b.figures([folder / "reliability_rf.png", folder / "reliability_bilstm-smote.png"])


def _attention_section(b: ReportBuilder, root: Path, cfg, models: dict) -> None:
    b.heading("Interpretability: attention over feature families")
    b.para(
        "Mean attention per true class (out-of-fold cells) and, as a check that attention "
        "means something, family permutation importance on the test folds (macro-F1 drop "
        "when a family's values are shuffled across cells), with their Spearman rank "
        "correlation."
    )
    rows, shown = [], []
    for stage in cfg.model_stages:
        m = models.get((stage.species, stage.labels))
        interp = (_model(m, "bilstm-smote") or {}).get("interpretability") if m else None
        if not interp or "spearman_attention_vs_importance" not in interp:
            continue
        rho = interp["spearman_attention_vs_importance"]
        att = interp["mean_attention"]
        imp = interp["permutation_importance_macro_f1"]
        rows.append(
            [
                f"{stage.species}, {stage.labels}",
                max(att, key=att.get),
                max(imp, key=imp.get),
                _rho(rho["rho_of_means"]) + f" (n = {rho['n_families']} families)",
                _rho(rho["rho_per_fold_mean"]) + " ± " + _rho(rho["rho_per_fold_sd"]),
            ]
        )
        shown.append(stage)
    if rows:
        b.table(
            [
                "dataset",
                "most attended family",
                "most important family",
                "Spearman rho, attention vs importance",
                "rho per fold (mean ± SD)",
            ],
            rows,
        )
    for stage in shown:
        folder = root / stage.name / "results"
        b.heading(f"{stage.species}, labels {stage.labels}", 3)
        b.figures([folder / "attention_bilstm-smote.png", folder / "importance_bilstm-smote.png"])


def _rho(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def _transfer_section(b: ReportBuilder, root: Path, transfer: dict) -> None:
    b.heading("Mouse-to-human transfer")
    b.para(
        "Aligned 4-class task (Lamp5, Pvalb, Sst, Vip; mouse Sncg -> Vip) on "
        f"{_facts()['aligned_features']} aligned features. Each species is imputed and "
        "standardized on its own cells (human: the training fold). Every arm ran on the "
        "same human folds; gains are paired."
    )
    for protocol, t in transfer.items():
        if not t:
            continue
        b.heading(f"protocol {protocol}", 3)
        b.para(protocol_text(t), "note")
        rows = [
            [
                name,
                r["description"],
                fmt_pct(r["accuracy"]),
                fmt_pct(r["macro_f1"]),
                ", ".join(f"{c} {100 * v['f1']:.0f}" for c, v in r["per_class"].items()),
            ]
            for name, r in t["models"].items()
        ]
        b.table(["arm", "what", "accuracy (%)", "macro-F1 (%)", "per-class F1 (%)"], rows)
        rows = [
            [g["arm"], g["reference"], fmt_gain(g), str(g["n_folds"]), verdict(g)]
            for g in t["transfer"]["gains_macro_f1"]
        ]
        b.table(
            ["transfer arm", "compared with", "macro-F1 gain (points)", "paired folds", "verdict"],
            rows,
        )
        if "gains_vs_best_macro_f1" in t["transfer"]:
            best = t["transfer"]["best_target_only"]
            b.para(
                f"Against the best human-only arm on these folds ({best}: "
                f"{t['models'][best]['description']}), whatever its features; picked after "
                "the fact, which if anything favours the human-only side:"
            )
            rows = [
                [g["arm"], fmt_gain(g), str(g["n_folds"]), verdict(g)]
                for g in t["transfer"]["gains_vs_best_macro_f1"]
            ]
            b.table(
                ["transfer arm", f"macro-F1 gain over {best} (points)", "paired folds", "verdict"],
                rows,
            )
        folder = root / stage_name("transfer", protocol) / "results"
        for key, point, title, figure in (
            ("learning_curve", "fraction", "Learning curve", "learning_curve.png"),
            ("few_shot", "per_class", "Few-shot: human training cells per class", "few_shot.png"),
        ):
            if key not in t:
                continue
            curve = t[key]
            rows = [
                [
                    f"{r[point]:g}",
                    f"{r['n_train_cells']:.0f}",
                    r["arm"],
                    r["reference"],
                    f"{100 * r['arm_macro_f1']:.2f}",
                    f"{100 * r['reference_macro_f1']:.2f}",
                    fmt_gain(curve_gain(r)),
                ]
                for r in curve
            ]
            b.table(
                [
                    "fraction" if point == "fraction" else "cells per class",
                    "human training cells",
                    "arm",
                    "human-only reference",
                    "arm macro-F1",
                    "reference macro-F1",
                    "gain",
                ],
                rows,
                title
                + (f" ({curve[0]['n_folds']} folds per point)" if "n_folds" in curve[0] else ""),
            )
            b.figures([folder / figure], wide=True)


def _partial_protocols_section(b: ReportBuilder, root: Path, cfg) -> None:
    results = [
        load_json(root / stage_name("partial_protocols", s) / "results" / "partial_protocols.json")
        for s in cfg.partial_protocols_species
    ]
    if not any(results):
        return
    b.heading("Cells recorded with fewer protocols")
    b.para(
        "A lab without the ramp, short-square or chirp protocols has none of those feature "
        "families. For each set of protocols a lab plausibly has (the long square steps "
        "plus any of the others), the test cells of every fold lose the other families and "
        "three models are scored on identical folds: trained on every family with the "
        "absent ones imputed by training medians ('imputed'); what `ephys2type train` saves "
        "and `predict` runs, each cell predicted by the model of the features it has and "
        "left unassigned without evidence, an unassigned cell counted as wrong "
        "('deployed'); and a model trained on exactly those families ('subset', the "
        "reference). All three are fitted on the same cells of each training fold (the "
        "deployed classifier's proper part; the rest calibrates it)."
    )
    for r in results:
        if not r:
            continue
        b.heading(f"{r['species']} ({r['labels']}, {r['n_cells']} cells), {r['model']}", 3)
        b.para(
            f"{r['protocol']['folds']} fits per arm ({r['protocol']['name']}, "
            f"{r['protocol']['seeds']} seed); mean ± SD [95% CI] in %.",
            "note",
        )
        rows = []
        for e in r["subsets"]:
            rows.append(
                [
                    e["name"].replace("+", " + "),
                    fmt_pct(e["imputed"]["accuracy"]),
                    fmt_pct(e["deployed"]["accuracy"]),
                    fmt_pct(e["subset"]["accuracy"]),
                    fmt_pct(e["imputed"]["macro_f1"]),
                    fmt_pct(e["deployed"]["macro_f1"]),
                    fmt_pct(e["subset"]["macro_f1"]),
                    fmt_gain(e["deployed_minus_imputed"]),
                ]
            )
        b.table(
            [
                "families the cells have",
                "accuracy imputed",
                "accuracy deployed",
                "accuracy subset",
                "macro-F1 imputed",
                "macro-F1 deployed",
                "macro-F1 subset",
                "deployed - imputed (macro-F1 points)",
            ],
            rows,
        )
        folder = root / stage_name("partial_protocols", r["species"]) / "results"
        b.figures([folder / "partial_protocols_accuracy.png"])


def _feature_subsets_section(b: ReportBuilder, root: Path, cfg) -> None:
    results = [
        load_json(root / stage_name("feature_subsets", s) / "results" / "feature_subsets.json")
        for s in getattr(cfg, "feature_subsets_species", ())
    ]
    if not any(results):
        return
    b.heading("Cells with only some features")
    b.para(
        "A lab rarely has whole protocols only: it has the features its own extractor "
        "computes. For random sets of 6 to 12 features from 2 or 3 families (one of them "
        "essential), the test cells of every fold keep only the set's features, and four "
        "arms are scored on identical folds: the complete model imputing the rest "
        "('imputed'); the deployed classifier's call from the model of the features each "
        "cell has, fitted on demand from the training cells ('routed', abstention off); the "
        "same with abstention, an unassigned cell counted as wrong ('deployed'); and the "
        "model trained on exactly the set on the whole training fold ('subset', the "
        "reference). 'Expected' is the accuracy the deployed classifier tells a lab for "
        "that feature set (measured on its calibration cells)."
    )
    for r in results:
        if not r:
            continue
        summary = r["summary"]
        within = summary["routed_within_subset_interval"]
        b.heading(f"{r['species']} ({r['labels']}, {r['n_cells']} cells), {r['model']}", 3)
        b.para(
            f"{r['protocol']['folds']} folds ({r['protocol']['name']}, first seed), "
            f"{summary['n_sets']} feature sets. Mean accuracy over the sets: imputed "
            f"{100 * summary['mean_accuracy']['imputed']:.1f}%, routed "
            f"{100 * summary['mean_accuracy']['routed']:.1f}%, subset "
            f"{100 * summary['mean_accuracy']['subset']:.1f}%; the routed model is within "
            f"the paired interval of the subset model for {within} "
            f"of {summary['n_sets']} sets; the deployed classifier called "
            f"{100 * summary['mean_assigned']:.1f}% of the cells.",
            "note",
        )
        rows = [
            [
                f"{e['n_features']}: " + ", ".join(e["features"]),
                f"{100 * e['expected_accuracy']:.1f}",
                fmt_pct(e["imputed"]),
                fmt_pct(e["routed"]),
                fmt_pct(e["subset"]),
                f"{100 * e['assigned']:.0f}% / {100 * e['accuracy_of_calls']:.1f}",
                fmt_gain(e["routed_minus_subset"]),
            ]
            for e in r["sets"]
        ]
        b.table(
            [
                "features",
                "expected (%)",
                "imputed",
                "routed",
                "subset",
                "deployed: called / accuracy of calls",
                "routed - subset (points)",
            ],
            rows,
        )
        b.figures(
            [root / stage_name("feature_subsets", r["species"]) / "results" / "feature_subsets.png"]
        )


def _ci(row: dict, metric: str, scale: float = 100.0, digits: int = 1) -> str:
    value = row.get(metric)
    if value is None or value != value:  # NaN: nothing to report
        return "n/a"
    lo, hi = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
    return f"{scale * value:.{digits}f} [{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"


def _ttype_section(b: ReportBuilder, root: Path, cfg) -> None:
    found = [
        (s, load_json(root / stage_name("ttypes", s) / "results" / "metrics.json"))
        for s in cfg.ttype_species
    ]
    found = [(s, m) for s, m in found if m and "levels" in m]
    if not found:
        return
    b.heading("Transcriptomic types")
    b.para(
        "Subclass, then t-type. Each base model runs flat (one model over all t-types) and "
        "hierarchical ('-hier': a subclass model, then a t-type model within each subclass); "
        "both call top-down (the most likely subclass, then its most likely t-type), so the "
        "two levels never disagree. Both are wrapped in class-conditional split conformal "
        "prediction (crepes' method; a quarter of each training fold calibrates the sets, at each "
        "level), so the models are trained on three quarters of each training fold. "
        "'Called' is the share of test cells whose sets allow a call at that level (t-type: "
        "at most the set-size limit of t-types; subclass: a single subclass, or a t-type "
        "call); the accuracy of those calls is beside it."
    )
    anchors = found[0][1]["levels"]["anchors"]
    b.para(
        "Published anchors (mouse V1): "
        + "; ".join(f"{name}: {value:.3f}" for name, value in anchors.items())
        + ". Our target: mouse t-type balanced accuracy >= 0.45; coverage within 2 "
        "points of the promised level.",
        "note",
    )
    for species, metrics in found:
        lv = metrics["levels"]
        b.heading(
            f"{species}: {lv['n_classes']} t-types in {lv['n_parents']} subclasses "
            f"({metrics['dataset']['n_cells']} cells)",
            3,
        )
        b.para(
            f"{protocol_text(metrics)}; sets at {lv['confidence']:.0%}, a t-type call when the "
            f"set holds at most {lv['max_set_size']} t-types; mean [95% CI] in %.",
            "note",
        )
        rows = [
            [
                r["model"],
                r["level"],
                _ci(r, "accuracy"),
                _ci(r, "balanced_accuracy"),
                _ci(r, "macro_f1"),
                _ci(r, "top3_accuracy"),
                _ci(r, "coverage"),
                f"{r['mean_set_size']:.2f}",
                f"{100 * r['called']:.1f}",
                _ci(r, "accuracy_when_called"),
            ]
            for r in lv["table"]
        ]
        b.table(
            [
                "model",
                "level",
                "accuracy",
                "balanced accuracy",
                "macro-F1",
                "top-3 accuracy",
                f"coverage (promised {lv['confidence']:.0%})",
                "mean set size",
                "called (%)",
                "accuracy of calls made",
            ],
            rows,
        )
        folder = root / stage_name("ttypes", species) / "results"
        b.figures(
            [folder / "accuracy_vs_called.png"],
            "Accuracy of the calls vs the share of cells called (calling only cells above a "
            "probability threshold); stars: where the conformal sets stop the calls.",
        )


def _run_section(b: ReportBuilder, run: ReportInputs) -> None:
    b.heading("Run")
    read_by = {name: SECTIONS[section].nav for name, section in stage_sections(run.cfg).items()}
    rows = [
        [
            s["stage"],
            read_by.get(s["stage"], ""),
            "cached" if s["cached"] else f"{s['seconds']:.1f} s",
        ]
        for s in run.stages
    ]
    total = sum(s["seconds"] for s in run.stages)
    rows.append(["total (this run)", "", f"{total:.1f} s"])
    b.table(["stage", "read in", "time"], rows)
    b.para(
        "Machine-readable results: <stage>/results/metrics.json, fold_metrics.csv, "
        "oof_predictions.csv (with per-cell attention), split_plan.json; summary.json in "
        "this folder.",
        "note",
    )


#: The report's sections in page order; a stage kind names the one that reads it
#: (:data:`ephys2type.study.stages.STAGE_KINDS`).
SECTIONS: dict[str, Section] = {
    "summary": Section("Summary", _summary),
    "data": Section("Data", lambda b, r: _data_section(b, r.qc)),
    "spca": Section("sPCA", lambda b, r: _spca_section(b, r.root)),
    "classifiers": Section(
        "Classifiers", lambda b, r: _classifier_section(b, r.root, r.cfg, r.models)
    ),
    "attention": Section("Attention", lambda b, r: _attention_section(b, r.root, r.cfg, r.models)),
    "transfer": Section("Transfer", lambda b, r: _transfer_section(b, r.root, r.transfer)),
    "partial_protocols": Section(
        "Fewer protocols", lambda b, r: _partial_protocols_section(b, r.root, r.cfg)
    ),
    "feature_subsets": Section(
        "Some features", lambda b, r: _feature_subsets_section(b, r.root, r.cfg)
    ),
    "ttypes": Section("T-types", lambda b, r: _ttype_section(b, r.root, r.cfg)),
    "datasets": Section("Datasets", lambda b, r: datasets_section(b, r.root, r.cfg)),
    "run": Section("Run", _run_section),
}
