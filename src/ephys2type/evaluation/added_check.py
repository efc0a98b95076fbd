"""Did adding a lab's labelled cells help, on that lab's cells? Cross-validation over them.

``train --add-table`` adds a lab's own labelled cells to the bundled ones; its expected
accuracy is measured on bundled calibration cells, so it cannot say how the lab's cells
fare. Their labels can: each of ``folds`` folds of the lab's cells is predicted by the
deployed model trained on the bundled cells plus the lab's other folds (each added cell
counted as ``train`` would count that many), and every lab cell is also predicted by the
model of the bundled cells alone. Both arms score the same cells, so the difference is
paired: a McNemar exact test on the cells one arm gets right and the other wrong, and the
Bonett-Price adjusted Wald interval for a difference of paired proportions (Bonett & Price
2012, J. Educ. Behav. Stat. 37:479; a few lines, where a bootstrap over cells gave a
zero-width interval when no cell changed). Both are conditional on the fitted models: one
partition of the cells into folds, one seed. A donor's cells (``donor`` in the metadata:
one animal or slice) stay in one fold, so a cell is never predicted by a model that saw its
donor's other cells; without donors, each cell is its own. Per class, how many of the lab's
cells each arm calls right: adding cells mostly of one class can make a model call that
class more often (a new user's trial: 8 Vip cells of 40, none called right with the added
cells, while the batch's label-free estimate said the accuracy held). Unassigned cells
count as wrong in ``accuracy``; ``calls_right`` is the share of calls that are right. A lab
cell whose recording check blocks a call (``checks_blocking``, from a table ``ephys2type
features`` wrote) is unassigned by both arms, as ``predict`` leaves it; it is trained on,
as ``train`` trains on it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold

from ephys2type._version import __version__
from ephys2type.data.added_cells import added_repeats
from ephys2type.data.container import PatchSeqData
from ephys2type.data.recordings.check_table import BLOCKING_COLUMN
from ephys2type.errors import Ephys2TypeError
from ephys2type.files import atomic_write_text, dumps_json, refuse_existing_outputs, summary_path
from ephys2type.models.cell_classifier import ABSTAIN
from ephys2type.models.cell_scores import RecordingChecks
from ephys2type.models.deployed import shipped_classifier

#: The two arms, as the per-cell table names them.
WITHOUT, WITH = "without", "with"
#: Fewer cells of a class than this: its per-class counts are said to say little.
MIN_CLASS_CELLS = 5
#: The normal quantile of the 95% intervals.
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class ArmScore:
    """One arm on the lab's cells: accuracy (unassigned counted wrong) with its 95% Wilson
    interval, the share of calls that are right, macro-F1 over the lab's classes, and how
    many cells were called."""

    accuracy: float
    low: float
    high: float
    calls_right: float
    macro_f1: float
    n_called: int


@dataclass(frozen=True)
class AddedCheck:
    """What :func:`check_added_cells` measured.

    cells : per lab cell, ``label``, the ``fold`` it was held out in, and the call of each
        arm (``without``, ``with``); ``without`` / ``with`` : :class:`ArmScore`;
    difference : accuracy with minus without, with its 95% interval (``low``, ``high``),
        the McNemar exact p-value (``p``) and the cells gained and lost; per_class : per lab
        class, its cells (``n``) and how many each arm calls right; stated : the expected
        accuracy (every feature) of the model of the bundled cells alone, measured on its
        calibration cells; weights : how many times each added cell counted, per fold;
        folds : the folds used (``folds_asked``: asked for; fewer when the lab's cells have
        fewer donors, or its largest class fewer cells; ``fold_limit`` says which);
        provenance : what was run on what; n_blocked : the lab's cells a recording check
        leaves unassigned in both arms (as ``predict`` would).
    """

    cells: pd.DataFrame
    without: ArmScore
    with_added: ArmScore
    difference: dict[str, float]
    per_class: pd.DataFrame
    stated: float
    weights: tuple[int, ...]
    folds: int
    folds_asked: int
    fold_limit: str
    model: str
    n_bundled: int
    provenance: dict[str, Any]
    n_blocked: int = 0

    def verdict(self) -> str:
        """Whether the lab's cells helped, as the interval says, and how far to trust it."""
        d = self.difference
        if d["low"] > 0:
            said = "your cells helped: the interval lies above 0"
        elif d["high"] < 0:
            said = "your cells made it worse: the interval lies below 0"
        else:
            said = "not clearly better or worse: the interval includes 0"
        return (
            f"{said} (one partition into folds and one seed: run again with other --seed "
            "values to see how much they move it)"
        )

    def cautions(self) -> list[str]:
        """What the numbers cannot say for these cells: a class of few cells, or cells all
        of one class (the model with them may call that class more often on other cells)."""
        counts = self.per_class["n"]
        out = []
        if len(counts) == 1:
            out.append(
                f"all your cells are {counts.index[0]}: this measures how often the model "
                f"calls {counts.index[0]} cells {counts.index[0]}, not how often it now calls "
                f"other cells {counts.index[0]}"
            )
        few = [f"{c} ({int(n)})" for c, n in counts.items() if n < MIN_CLASS_CELLS]
        if few:
            out.append(
                f"few cells of {', '.join(few)}: their counts say little (at least "
                f"{MIN_CLASS_CELLS} per class)"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (the per-cell table is written on its own)."""
        return {
            "model": self.model,
            "n_bundled": self.n_bundled,
            "n_added": len(self.cells),
            "n_blocked": self.n_blocked,
            "folds": self.folds,
            "folds_asked": self.folds_asked,
            "weights": list(self.weights),
            "stated_expected_accuracy": self.stated,
            WITHOUT: self.without.__dict__,
            WITH: self.with_added.__dict__,
            "difference": self.difference,
            "per_class": self.per_class.reset_index().to_dict(orient="records"),
            "verdict": self.verdict(),
            "cautions": self.cautions(),
            "provenance": self.provenance,
        }


def check_added_cells(
    data: PatchSeqData,
    added: pd.Index,
    *,
    model: str = "rf",
    folds: int = 5,
    add_weight: int | None = None,
    family_subsets: bool = False,
    random_state: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> AddedCheck:
    """Cross-validate ``model`` (deployed, as ``train`` saves it) on the lab's cells
    ``added`` (ids of ``data``; the rest of ``data`` are the bundled cells), with and
    without them in training (module docstring). ``folds`` is lowered to the number of
    donors, or of cells of the largest class, when that is smaller (at least 2 are
    needed); ``progress`` is told of each fit."""
    if data.y is None:
        raise Ephys2TypeError("checking added cells needs their labels")
    if data.label_parents(required=False):
        raise Ephys2TypeError(
            "checking added cells scores one level of labels; use subclass labels "
            "(e.g. --labels mouse5 or revised)"
        )
    added = pd.Index(added)
    bundled = data.X.index.difference(added, sort=False)
    y_added = data.y.loc[added].astype(str)
    donors = data.meta["donor"].loc[added].astype(str).to_numpy()
    donors_given = bool((donors != added.astype(str).to_numpy()).any())  # else: each its own
    n_donors, largest = len(set(donors)), y_added.value_counts()
    k = min(folds, n_donors, int(largest.max()))
    fold_limit = (
        f"your cells have {n_donors} donors"
        + ("" if donors_given else " (each cell its own donor without --donor-column)")
        if n_donors == k < folds
        else f"the largest class, {largest.index[0]}, has {int(largest.max())} cells"
        if k < folds
        else ""
    )
    if k < 2:
        raise Ephys2TypeError(
            f"{len(added)} added cells ({len(set(donors))} donor(s)) are too few to "
            "cross-validate: at least 2 donors and 2 cells of one class"
        )
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():  # a class with fewer cells than folds: said in docs
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        splits = list(splitter.split(np.zeros(len(added)), y_added.to_numpy(), donors))
    total = k + 1
    say = progress or (lambda done, total, what: None)

    checks = _blocking_checks(data, added)

    def calls(clf, rows: np.ndarray | slice) -> np.ndarray:
        """The calls of the lab's cells ``rows``, as ``predict`` makes them."""
        return clf.predict_table(
            data.X.loc[added[rows]],
            recording_checks=None
            if checks is None
            else RecordingChecks(blocking=checks[rows], other=np.full(len(checks[rows]), "")),
        )["predicted"].to_numpy(dtype=object)

    say(0, total, "fitting the model of the bundled cells")
    base = _fit(data, bundled, pd.Index([]), 1, model, family_subsets, random_state)
    without = pd.Series(calls(base, slice(None)), index=added, dtype=object)
    stated = float(base.members_[0].expected_accuracy)

    with_calls = pd.Series(ABSTAIN, index=added, dtype=object)
    fold_of = pd.Series(-1, index=added, dtype=int)
    weights = []
    for i, (train, test) in enumerate(splits):
        say(i + 1, total, f"fold {i + 1} of {k}: the model with your other cells")
        weights.append(added_repeats(len(bundled), len(train), add_weight))
        clf = _fit(data, bundled, added[train], weights[-1], model, family_subsets, random_state)
        with_calls.iloc[test] = calls(clf, test)
        fold_of.iloc[test] = i
    say(total, total, "done")

    cells = pd.DataFrame(
        {"label": y_added, "fold": fold_of, WITHOUT: without, WITH: with_calls}, index=added
    )
    classes = sorted(y_added.unique())
    right_without = (cells[WITHOUT] == cells["label"]).to_numpy()
    right_with = (cells[WITH] == cells["label"]).to_numpy()
    per_class = pd.DataFrame(
        {
            "n": y_added.value_counts().reindex(classes),
            f"right_{WITHOUT}": pd.Series(right_without, index=added).groupby(y_added).sum(),
            f"right_{WITH}": pd.Series(right_with, index=added).groupby(y_added).sum(),
        }
    ).astype(int)
    per_class.index.name = "class"
    return AddedCheck(
        cells=cells,
        without=_score(cells["label"], cells[WITHOUT], classes),
        with_added=_score(cells["label"], cells[WITH], classes),
        difference=paired_difference(right_with, right_without),
        per_class=per_class,
        stated=stated,
        weights=tuple(weights),
        folds=k,
        folds_asked=folds,
        fold_limit=fold_limit,
        model=model,
        n_bundled=len(bundled),
        n_blocked=0 if checks is None else int((checks != "").sum()),
        provenance={
            "random_state": random_state,
            "label_scheme": data.label_scheme,
            "datasets": data.datasets,
            "sources": dict(sorted(data.sources.items())),
            "family_subsets": family_subsets,
            "ephys2type": __version__,
        },
    )


def _blocking_checks(data: PatchSeqData, added: pd.Index) -> np.ndarray | None:
    """Per lab cell, the reasons of its recording checks that block a call (``""``: none);
    None when its table carried no checks."""
    if BLOCKING_COLUMN not in data.meta.columns:
        return None
    values = data.meta[BLOCKING_COLUMN].loc[added].astype(object)
    return values.where(values.notna(), "").astype(str).to_numpy(dtype=object)


def _fit(data, bundled, lab, repeats, model, family_subsets, seed):
    """The deployed ``model`` trained on ``bundled`` plus ``lab`` cells (counted
    ``repeats`` times each), built as ``train`` builds it."""
    part = data.subset(bundled.append(lab))
    clf = shipped_classifier(
        model,
        data.schema,
        random_state=seed,
        family_subsets=family_subsets,
        id_column=data.id_column,
        qc_profile=data.qc.profile if data.qc else "default",
    )
    clf.fit(
        part.X,
        part.y.to_numpy(dtype=object),
        sample_repeats=[1] * len(bundled) + [repeats] * len(lab),
    )
    return clf


def _score(labels: pd.Series, calls: pd.Series, classes: list[str]) -> ArmScore:
    right = (calls == labels).to_numpy()
    called = (calls != ABSTAIN).to_numpy()
    n = len(right)
    ci = stats.binomtest(int(right.sum()), n).proportion_ci(method="wilson")
    return ArmScore(
        accuracy=float(right.mean()),
        low=float(ci.low),
        high=float(ci.high),
        calls_right=float(right[called].mean()) if called.any() else float("nan"),
        macro_f1=float(f1_score(labels, calls, labels=classes, average="macro", zero_division=0)),
        n_called=int(called.sum()),
    )


def paired_difference(right_with: np.ndarray, right_without: np.ndarray) -> dict[str, float]:
    """Accuracy with minus without on the same cells: the difference, its 95% Bonett-Price
    adjusted Wald interval (each discordant count plus one, ``n`` plus two) and McNemar's
    exact two-sided p-value (the cells only one arm gets right)."""
    right_with = np.asarray(right_with, dtype=bool)
    right_without = np.asarray(right_without, dtype=bool)
    n = len(right_with)
    gained = int((right_with & ~right_without).sum())
    lost = int((~right_with & right_without).sum())
    p12, p21 = (gained + 1) / (n + 2), (lost + 1) / (n + 2)
    centre = p12 - p21
    half = Z95 * np.sqrt(max(p12 + p21 - centre**2, 0.0) / (n + 2))
    p = 1.0 if gained + lost == 0 else float(stats.binomtest(gained, gained + lost).pvalue)
    return {
        "mean": (gained - lost) / n,
        "low": float(max(centre - half, -1.0)),
        "high": float(min(centre + half, 1.0)),
        "p": p,
        "gained": gained,
        "lost": lost,
    }


def write_added_check(result: AddedCheck, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write each lab cell's label and both arms' calls to ``out`` (CSV) and the numbers
    beside it (``<out>.summary.json``); returns the summary's path."""
    out = Path(out)
    summary = summary_path(out)
    if not overwrite:
        refuse_existing_outputs(out, summary)
    atomic_write_text(out, result.cells.to_csv(), overwrite=overwrite)
    atomic_write_text(summary, dumps_json(result.to_dict()), overwrite=overwrite)
    return summary
