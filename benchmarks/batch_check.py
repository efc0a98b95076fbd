"""Benchmark: does the batch check answer "will the stated accuracy hold here?"

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/batch_check.py [--model rf] [--batches 50] [--out FILE.json]

Two parts, both with the classifier as ``ephys2type train`` fits it (family subsets,
calibration, abstention), trained on every bundled dataset of the species:

1. **False alarms** on training-like batches. Each species' cells are split 60/40
   (stratified); the model is trained on the 60%, and batches are drawn from the 40%: random
   batches, one-class batches, and (mouse) batches of one Cre line (what a lab that targets
   one line records; many lines hold a few t-types of a subclass) of 10, 30, 100 and 300
   cells (``--batches`` each, where there are enough cells). Reported per kind
   and size: the share declared shifted (goal: at most 5%), and the error of the estimated
   accuracy and of the stated (in-distribution) accuracy against the batch's real accuracy,
   with the interval's coverage.
2. **Detection** on shifted human splits: the four of ``human_shift_splits.py`` (slice
   culture <-> acute, MTG -> other regions, Lee, Dalley -> the layer-1 cells of Chartrand et
   al.) and the two leave-dataset-out folds (train on one bundled human dataset, predict the
   other). The whole held-out set as one batch (declared shifted? estimated vs real
   accuracy), batches of 30 and 100 of it, and an in-distribution control (a quarter of the
   training domain held back, predicted by the same model).
3. **Cross-species**: a model of the mouse cells predicting the human cells and the reverse,
   on the aligned schema and the four shared classes (``aligned4``), with a control quarter.
4. **Fresh** (``--part fresh`` only): the six shifted splits of ``fresh_shift_splits.py``, on
   which no choice of the check was made (time, region or indication, layer; three per
   species), as detection.

"Real accuracy" is the quantity estimated: the share of the batch's routed cells whose most
probable class is right (the parent level for two-level labels), before abstention.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from benchmark_output import write_result
from ephys2type.data.datasets import dataset_names, load_species
from ephys2type.errors import Ephys2TypeWarning
from ephys2type.models.batch_cells import call_confidence as batch_confidence
from ephys2type.models.batch_check import (
    CONFIDENCE,
    MIN_ESTIMATE_CELLS,
    AccuracyEstimate,
    check_batch,
    estimate_accuracy,
    shift_test,
)
from ephys2type.persist.train import train_model
from fresh_shift_splits import fresh_shift_splits
from human_shift_splits import human_shift_splits

SIZES = (10, 30, 100, 300)


def _mean_confidence(model, scores) -> float | None:
    """AC: the mean calibrated confidence of the cells a model read (a cell flagged out of
    distribution counted as wrong, as the shipped estimate counts it)."""
    routed = scores.routed
    if routed.sum() < MIN_ESTIMATE_CELLS:
        return None
    conf = np.where(scores.distance > 1.0, 0.0, batch_confidence(model, scores.proba))
    return float(conf[routed].mean())


def _luck(chance: np.ndarray) -> float | None:
    """How far a batch's accuracy strays by chance alone: the mean absolute deviation of the
    share of right calls from its median, were each call right with exactly its own chance
    (``chance``: its calibrated confidence), the calls independent (a Poisson-binomial count).
    Were the calibrated probabilities each call's real chance, no estimate could be closer on
    average (given the probabilities, the median is the best single guess of the share); a model
    that knows more of which calls are right can be, and over-confident or correlated calls
    stray further."""
    if not len(chance):
        return None
    dist = np.array([1.0])
    for p in chance:
        dist = np.convolve(dist, [1.0 - p, p])
    share = np.arange(len(dist)) / len(chance)
    median = share[np.searchsorted(np.cumsum(dist), 0.5)]
    return float((dist * np.abs(share - median)).sum())


def _one(model, data, cells: pd.Index, seed: int, em_only: bool = False) -> dict:
    """The batch check of ``cells`` beside their real accuracy (``em_only``: also the shift
    test against the batch's EM mix alone, one more shift test)."""
    scores = model.score_cells(data.X.loc[cells])
    summary = check_batch(model, scores, random_state=seed)
    # the bootstrap interval alone (check_batch widens it by SHIFT_ALLOWANCE on a batch
    # declared shifted; shift_allowance.py needs the interval before that)
    bootstrap = (
        estimate_accuracy(model, scores, random_state=seed) if summary.shift_allowance else None
    )
    mean_conf = _mean_confidence(model, scores)
    routed = scores.routed
    counting = estimate_accuracy(model, scores, random_state=seed, count_unlike=True)
    at_chance = estimate_accuracy(model, scores, random_state=seed, unlike_at_chance=True)
    plain = estimate_accuracy(model, scores, random_state=seed, weighted=False)
    unshrunk = estimate_accuracy(model, scores, random_state=seed, shrink=0.0)
    flattened = estimate_accuracy(model, scores, random_state=seed, shrink=0.0, flatten=0.5)
    # difference of confidences (Guillory et al. 2021): unweighted, and weighted to the
    # batch's shrunk mix as the shipped ATC is
    doc = estimate_accuracy(model, scores, random_state=seed, method="doc", weighted=False)
    doc_weighted = estimate_accuracy(model, scores, random_state=seed, method="doc")
    # the shift test against the batch's EM mix alone (shipped until 2026-12-07: now the
    # larger p-value of the EM mix and the mean of the calibrated probabilities)
    em = None
    if em_only:
        test = shift_test(model, scores, random_state=seed, mixes=("em",))
        em = replace(
            summary,
            shift_p=test.p,
            shift_detected=test.detected,
            most_shifted_features=test.shifted,
        )

    def warned_with(estimate: float | None) -> bool | None:
        """Whether ``predict`` would warn with this estimate in place of the shipped one."""
        if estimate is None or summary.stated_accuracy is None:
            return None
        held = AccuracyEstimate(estimate, 0.0, 1.0, summary.stated_accuracy, int(routed.sum()))
        return (not held.holds) or summary.large_shift

    truth = data.y.loc[cells].to_numpy(dtype=object)
    real = float(np.mean(scores.top_class()[routed] == truth[routed])) if routed.any() else None
    return {
        "n": len(cells),
        "p": summary.shift_p,
        "detected": summary.shift_detected,
        # the KS distance of the most shifted variable (the effect behind the p-value)
        "ks": summary.most_shifted_features[0]["ks"] if summary.most_shifted_features else None,
        "estimate": summary.estimated_accuracy,
        # the interval as predict gives it (since 2026-12-07 widened on a batch declared
        # shifted), the allowance, and the bootstrap interval alone
        "low": summary.estimated_accuracy_low,
        "high": summary.estimated_accuracy_high,
        "shift_allowance": summary.shift_allowance,
        "low_bootstrap": summary.estimated_accuracy_low if bootstrap is None else bootstrap.low,
        "high_bootstrap": summary.estimated_accuracy_high if bootstrap is None else bootstrap.high,
        # ATC on label-shift-weighted calibration cells counting every cell (the shipped
        # estimate leaves cells flagged out of distribution uncounted)
        "estimate_counting_unlike": None if counting is None else counting.estimate,
        # cells flagged out of distribution counted as right by chance (one in as many
        # classes as the model has), with that chance in the interval
        "estimate_unlike_at_chance": None if at_chance is None else at_chance.estimate,
        "unlike_at_chance_low": None if at_chance is None else at_chance.low,
        "unlike_at_chance_high": None if at_chance is None else at_chance.high,
        # ATC as published: calibration cells unweighted (and cells flagged out of
        # distribution left uncounted, as shipped)
        "estimate_unweighted": None if plain is None else plain.estimate,
        # the batch's own EM class mix, not shrunk towards the training mix (shipped until
        # 2026-12: the shipped estimate shrinks it by CLASS_MIX_PRIOR_CELLS pseudo-cells)
        "estimate_unshrunk": None if unshrunk is None else unshrunk.estimate,
        # the unshrunk mix's class weights flattened to their square root (Shimodaira 2000)
        "estimate_flattened": None if flattened is None else flattened.estimate,
        "stated": summary.stated_accuracy,
        "real": real,
        # how far the batch's accuracy strays by chance, were each call right with its
        # calibrated probability (_luck)
        "luck": _luck(np.clip(batch_confidence(model, scores.proba)[routed], 0.0, 1.0)),
        "holds": summary.accuracy_holds,
        # what the user sees: a warning (the estimate below the stated accuracy by more than
        # chance allows, or a feature moved 1 SD or more beyond the sampling error of the
        # batch's median, median_margin), or a note (a smaller shift)
        "large_shift": summary.large_shift,
        "warned": summary.warns,
        "max_shift_sd": max(
            (
                abs(f["shift_sd"])
                for f in summary.most_shifted_features
                if f["feature"] != CONFIDENCE
            ),
            default=None,
        ),
        "flagged": float((scores.distance > 1.0).mean()),
        **(
            {
                "p_em_only": em.shift_p,
                "detected_em_only": em.shift_detected,
                "warned_em_only": em.warns,
            }
            if em is not None
            else {}
        ),
        "estimate_mean_confidence": mean_conf,
        "warned_mean_confidence": warned_with(mean_conf),
        "estimate_doc": None if doc is None else doc.estimate,
        "warned_doc": warned_with(None if doc is None else doc.estimate),
        # DoC with the calibration cells weighted to the batch's shrunk mix, as the shipped
        # ATC weights them, with its bootstrap interval
        "estimate_doc_weighted": None if doc_weighted is None else doc_weighted.estimate,
        "doc_weighted_low": None if doc_weighted is None else doc_weighted.low,
        "doc_weighted_high": None if doc_weighted is None else doc_weighted.high,
        "warned_doc_weighted": warned_with(None if doc_weighted is None else doc_weighted.estimate),
    }


def _aggregate(rows: list[dict]) -> dict:
    frame = pd.DataFrame([r for r in rows if r["real"] is not None and r["estimate"] is not None])
    if frame.empty:
        return {"n_batches": 0}
    return {
        "n_batches": len(frame),
        "declared_shifted": float(frame["detected"].mean()),
        "warned": float(frame["warned"].mean()),
        **{
            f"{v}_em_only": float(frame[f"{v}_em_only"].mean())
            for v in ("detected", "warned")
            if f"{v}_em_only" in frame
        },
        "estimate_mae": float((frame["estimate"] - frame["real"]).abs().mean()),
        "estimate_counting_unlike_mae": float(
            (frame["estimate_counting_unlike"] - frame["real"]).abs().mean()
        ),
        "estimate_unweighted_mae": float(
            (frame["estimate_unweighted"] - frame["real"]).abs().mean()
        ),
        **{
            f"{v}_mae": float((frame[v] - frame["real"]).abs().mean())
            for v in (
                "estimate_unshrunk",
                "estimate_flattened",
                "estimate_unlike_at_chance",
                "estimate_mean_confidence",
                "estimate_doc",
                "estimate_doc_weighted",
            )
            if v in frame
        },
        **(
            {
                "unlike_at_chance_coverage": float(
                    (
                        (frame["unlike_at_chance_low"] <= frame["real"])
                        & (frame["real"] <= frame["unlike_at_chance_high"])
                    ).mean()
                )
            }
            if "unlike_at_chance_low" in frame
            else {}
        ),
        "stated_mae": float((frame["stated"] - frame["real"]).abs().mean()),
        **({"luck_mae": float(frame["luck"].mean())} if "luck" in frame else {}),
        "estimate_bias": float((frame["estimate"] - frame["real"]).mean()),
        "interval_coverage": float(
            ((frame["low"] <= frame["real"]) & (frame["real"] <= frame["high"])).mean()
        ),
        "mean_real": float(frame["real"].mean()),
        "mean_estimate": float(frame["estimate"].mean()),
        "mean_stated": float(frame["stated"].mean()),
    }


def _batches(
    model, data, pool: pd.Index, size: int, n: int, rng, em_only: bool = False
) -> list[dict]:
    return [
        _one(model, data, pd.Index(rng.choice(pool, size=size, replace=False)), int(k), em_only)
        for k in range(n)
    ]


def _kinds(data, test: pd.Index, only: list[str] | None) -> dict[str, pd.Index]:
    """The held-out cells of each batch kind: random, one class, (mouse) one Cre line."""
    y = data.y.loc[test]
    kinds = {"random": test, **{f"one class: {c}": test[(y == c).to_numpy()] for c in data.classes}}
    if "genotype" in data.meta.columns:  # mouse: what a lab that records one Cre line sends
        line = data.meta.loc[test, "genotype"].astype(str).str.split(";").str[0]
        for name, n in line.value_counts().items():
            if n >= 30 and "Cre" in name:
                kinds[f"one Cre line: {name}"] = test[(line == name).to_numpy()]
    if only:  # --kinds: the kinds whose name holds one of these
        kinds = {k: v for k, v in kinds.items() if any(o in k for o in only)}
    return kinds


def false_alarms(
    species: str,
    model_name: str,
    n_batches: int,
    seed: int,
    only: list[str] | None = None,
    split_seeds: int = 1,
    em_only: bool = False,
    record_folds: int = 0,
) -> dict:
    """Batches like the training cells. With ``split_seeds`` > 1 the 60/40 split is drawn
    that many times (seeds ``seed``, ``seed + 1``, ...), a model trained on each, and each
    row's ``n_batches`` shared among them: the batches of one split share its held-out cells,
    so one split's chance difference from the training cells moves a whole row."""
    data = load_species(species, datasets=dataset_names(species))
    per_split = [
        n_batches // split_seeds + (k < n_batches % split_seeds) for k in range(split_seeds)
    ]
    out: dict = {"species": species, "split_seeds": split_seeds, "splits": [], "rows": []}
    batches_by_row: dict[tuple[str, int], list[dict]] = {}
    for k, n_here in enumerate(per_split):
        split_seed = seed + k
        train, test = train_test_split(
            np.asarray(data.X.index), test_size=0.4, stratify=data.y, random_state=split_seed
        )
        train, test = pd.Index(train), pd.Index(test)
        model = train_model(
            data.subset(train), model_name, random_state=split_seed, record_folds=record_folds
        )
        rng = np.random.default_rng(split_seed)
        out["splits"].append({"seed": split_seed, "n_train": len(train), "n_held_out": len(test)})
        for kind, pool in _kinds(data, test, only).items():
            for size in SIZES:
                if len(pool) >= size:
                    rows = _batches(model, data, pool, size, n_here, rng, em_only)
                    for row in rows:
                        row["split_seed"] = split_seed
                    batches_by_row.setdefault((kind, size), []).extend(rows)
        print(f"{species}: split {split_seed} done", flush=True)
    out["n_train"], out["n_held_out"] = out["splits"][0]["n_train"], out["splits"][0]["n_held_out"]
    every = []
    for (kind, size), rows in batches_by_row.items():
        every += rows
        entry = {"kind": kind, "size": size, **_aggregate(rows)}
        out["rows"].append(entry)
        print(
            f"{species} {kind:22s} {size:4d}: shifted {entry['declared_shifted']:.0%} "
            + (f"(the EM mix alone {entry['detected_em_only']:.0%})" if em_only else "")
            + ", "
            f"warned {entry['warned']:.0%}, "
            f"estimate MAE {entry['estimate_mae']:.3f} (stated {entry['stated_mae']:.3f}), "
            f"coverage {entry['interval_coverage']:.0%}",
            flush=True,
        )
    out["overall"] = _aggregate(every)
    out["batches"] = [
        {"kind": kind, "size": size, **row}
        for (kind, size), rows in batches_by_row.items()
        for row in rows
    ]
    return out


def shifted_splits() -> list[tuple[str, object, pd.Index, pd.Index]]:
    """The six shifted human splits (name, data, cells to train on, cells to predict): the four
    of ``human_shift_splits`` and the two leave-dataset-out folds."""
    splits = [(s.name, s.data, s.train, s.test) for s in human_shift_splits()]
    both = load_species("human", datasets=dataset_names("human"))
    dataset = both.meta["dataset"]
    for held in dataset_names("human"):
        splits.append(
            (
                f"leave-dataset-out: predict {held}",
                both,
                both.X.index[(dataset != held).to_numpy()],
                both.X.index[(dataset == held).to_numpy()],
            )
        )
    return splits


def _split_entry(
    name: str,
    model,
    n_train: int,
    held_out,
    control,
    n_batches: int,
    rng,
    seed: int,
    em_only: bool = False,
) -> dict:
    """One shifted split's result: the whole held-out set (``held_out``: its data and cells)
    and the control (likewise) as one batch each, and batches of 30 and 100 cells of each
    where there are that many (drawn in that order from ``rng``)."""
    (test_data, test), (control_data, control) = held_out, control
    test, control = pd.Index(test), pd.Index(control)
    entry = {
        "split": name,
        "n_train": n_train,
        "held_out": _one(model, test_data, test, seed, em_only),
    }
    entry["control"] = _one(model, control_data, control, seed, em_only)
    for size in (30, 100):
        if len(test) >= size:
            rows = _batches(model, test_data, test, size, n_batches, rng, em_only)
            entry[f"batches_of_{size}"] = _aggregate(rows)
            entry[f"batches_of_{size}_rows"] = rows
        if len(control) >= size:
            entry[f"control_batches_of_{size}"] = _aggregate(
                _batches(model, control_data, control, size, n_batches, rng, em_only)
            )
    return entry


def detection_sets(seed: int, splits=shifted_splits):
    """Each shifted split (``splits()``: the human ones by default) as (name, data, cells to
    fit a model on, (data, cells held out), (data, control cells)): the control is a
    stratified share of the training domain (a quarter, at most as many cells as are held
    out), drawn with ``seed``."""
    for name, data, train, test in splits():
        n_control = min(len(test), len(train) // 4)
        fit_cells, control = train_test_split(
            np.asarray(train), test_size=n_control, stratify=data.y.loc[train], random_state=seed
        )
        yield name, data, fit_cells, (data, test), (data, control)


def cross_species_sets(seed: int):
    """A model of one species' cells (the aligned schema, four shared classes) predicting
    every cell of the other, as :func:`detection_sets` gives a split: the control is a
    stratified quarter of the training species, drawn with ``seed``."""
    both = {
        s: load_species(s, labels="aligned4", features="aligned", datasets=dataset_names(s))
        for s in ("mouse", "human")
    }
    for source, target in (("mouse", "human"), ("human", "mouse")):
        data, other = both[source], both[target]
        fit_cells, control = train_test_split(
            np.asarray(data.X.index), test_size=0.25, stratify=data.y, random_state=seed
        )
        name = f"cross-species: a {source} model predicting {target} cells"
        yield name, data, fit_cells, (other, other.X.index), (data, control)


def _fitted_entry(
    sets, model_name: str, n_batches: int, seed: int, em_only: bool, record_folds: int = 0
) -> tuple[str, dict]:
    """The model of one split of ``detection_sets`` / ``cross_species_sets`` and its entry."""
    name, data, fit_cells, held_out, control = sets
    model = train_model(
        data.subset(pd.Index(fit_cells)), model_name, random_state=seed, record_folds=record_folds
    )
    rng = np.random.default_rng(seed)
    entry = _split_entry(
        name, model, len(fit_cells), held_out, control, n_batches, rng, seed, em_only
    )
    return name, entry


def detection(
    model_name: str,
    n_batches: int,
    seed: int,
    em_only: bool = False,
    record_folds: int = 0,
    splits=shifted_splits,
) -> list[dict]:
    out = []
    for sets in detection_sets(seed, splits):
        name, entry = _fitted_entry(sets, model_name, n_batches, seed, em_only, record_folds)
        whole = entry["held_out"]
        out.append(entry)
        print(
            f"{name:45s} whole: p={whole['p']:.3f} shifted={whole['detected']} "
            f"estimate {whole['estimate']:.3f} [{whole['low']:.3f}, {whole['high']:.3f}] "
            f"(counting unlike {whole['estimate_counting_unlike']:.3f}, "
            f"unweighted {whole['estimate_unweighted']:.3f}) "
            f"stated {whole['stated']:.3f} real {whole['real']:.3f} "
            f"flagged {whole['flagged']:.3f} warned={whole['warned']}; batches of 30 shifted "
            f"{entry.get('batches_of_30', {}).get('declared_shifted')}, warned "
            f"{entry.get('batches_of_30', {}).get('warned')}",
            flush=True,
        )
    return out


def cross_species(
    model_name: str, n_batches: int, seed: int, em_only: bool = False, record_folds: int = 0
) -> list[dict]:
    """A model of one species' cells predicting every cell of the other species: a shift no
    human split has (another species, other protocols and labs), with a control quarter of the
    training species held back (:func:`cross_species_sets`)."""
    out = []
    for sets in cross_species_sets(seed):
        name, entry = _fitted_entry(sets, model_name, n_batches, seed, em_only, record_folds)
        whole = entry["held_out"]
        out.append(entry)
        print(
            f"{name:45s} whole: p={whole['p']:.3f} estimate {whole['estimate']:.3f} "
            f"[{whole['low']:.3f}, {whole['high']:.3f}] (at chance "
            f"{whole['estimate_unlike_at_chance']:.3f}) stated {whole['stated']:.3f} "
            f"real {whole['real']:.3f} flagged {whole['flagged']:.3f} warned={whole['warned']}",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="rf")
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--part",
        choices=("all", "false-alarms", "detection", "cross-species", "fresh"),
        default="all",
        help="fresh: the six splits of fresh_shift_splits.py, as detection (not in 'all')",
    )
    parser.add_argument("--species", action="append", help="species of the false alarms")
    parser.add_argument(
        "--kinds",
        action="append",
        help="false alarms: only the batch kinds whose name holds this (e.g. Lamp5, random)",
    )
    parser.add_argument(
        "--split-seeds",
        type=int,
        default=1,
        help="false alarms: draw the 60/40 split this many times, sharing each row's batches",
    )
    parser.add_argument(
        "--em-only",
        action="store_true",
        help="also record the shift test against the batch's EM mix alone (shipped until "
        "2026-12-07; one more shift test per batch)",
    )
    parser.add_argument(
        "--record-folds",
        type=int,
        default=0,
        help="train the models with this record_folds (0, shipped: the calibration cells)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/batch_check.json"))
    args = parser.parse_args()
    warnings.simplefilter("ignore", Ephys2TypeWarning)
    # scikit-learn's note on its own delayed() inside forests' threads, once per prediction
    warnings.filterwarnings("ignore", message=".*sklearn.utils.parallel.delayed.*")
    start = time.perf_counter()
    result: dict = {
        "model": args.model,
        "batches": args.batches,
        "seed": args.seed,
        "record_folds": args.record_folds,
    }
    if args.part in ("all", "detection"):
        result["detection"] = detection(
            args.model, args.batches, args.seed, args.em_only, args.record_folds
        )
    if args.part == "fresh":
        result["fresh"] = detection(
            args.model,
            args.batches,
            args.seed,
            args.em_only,
            args.record_folds,
            fresh_shift_splits,
        )
    if args.part in ("all", "cross-species"):
        result["cross_species"] = cross_species(
            args.model, args.batches, args.seed, args.em_only, args.record_folds
        )
    if args.part in ("all", "false-alarms"):
        result["false_alarms"] = [
            false_alarms(
                s,
                args.model,
                args.batches,
                args.seed,
                args.kinds,
                args.split_seeds,
                args.em_only,
                args.record_folds,
            )
            for s in (args.species or ["human", "mouse"])
        ]
    write_result(result, args.out, start)


if __name__ == "__main__":
    main()
