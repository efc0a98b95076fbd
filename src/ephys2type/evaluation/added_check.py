"""Did adding a lab's labelled cells help, on that lab's cells? Cross-validation over them.

``train --add-table`` adds a lab's own labelled cells to the bundled ones; its expected
accuracy is measured on bundled calibration cells, so it cannot say how the lab's cells
fare. Their labels can: each of ``folds`` folds of the lab's cells is predicted by the
deployed model trained on the bundled cells plus the lab's other folds (each added cell
counted as ``train`` would count that many), and every lab cell is also predicted by the
model of the bundled cells alone. Both arms score the same cells, so the difference is
paired: a McNemar exact test on the cells one arm gets right and the other wrong, and a
bootstrap interval over cells. Per class, how many of the lab's cells each arm calls right:
adding cells mostly of one class can make a model call that class more often (a new
user's trial: 8 Vip cells of 40, none called right with the added cells, while the batch's
label-free estimate said the accuracy held). Unassigned cells count as wrong in
``accuracy``; ``calls_right`` is the share of calls that are right.
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
from sklearn.model_selection import StratifiedKFold

from ephys2type.data.added_cells import added_repeats
from ephys2type.data.container import PatchSeqData
from ephys2type.errors import Ephys2TypeError, OutputExistsError
from ephys2type.files import atomic_write_text, dumps_json
from ephys2type.models.cell_classifier import ABSTAIN, deployed
from ephys2type.models.registry import get_model

#: The two arms, as the per-cell table names them.
WITHOUT, WITH = "without", "with"
#: Bootstrap resamples of the paired difference.
N_BOOTSTRAP = 2000


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
    difference : accuracy with minus without, with its 95% bootstrap interval (``low``,
        ``high``) and the McNemar exact p-value (``p``); per_class : per lab class, its
        cells (``n``) and how many each arm calls right; stated : the expected accuracy
        (every feature) of the model without the lab's cells, measured on bundled
        calibration cells; weight : how many times each added cell counted in the folds.
    """

    cells: pd.DataFrame
    without: ArmScore
    with_added: ArmScore
    difference: dict[str, float]
    per_class: pd.DataFrame
    stated: float
    weight: int
    folds: int
    model: str
    n_bundled: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (the per-cell table is written on its own)."""
        return {
            "model": self.model,
            "n_bundled": self.n_bundled,
            "n_added": len(self.cells),
            "folds": self.folds,
            "weight": self.weight,
            "stated_expected_accuracy": self.stated,
            WITHOUT: self.without.__dict__,
            WITH: self.with_added.__dict__,
            "difference": self.difference,
            "per_class": self.per_class.reset_index().to_dict(orient="records"),
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
    without them in training (module docstring). ``folds`` is lowered to the smallest
    class's count when that is smaller (at least 2); ``progress`` is told of each fit."""
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
    smallest = int(y_added.value_counts().min())
    k = max(2, min(folds, smallest))
    if len(added) < 2 * k or len(added) < 4:
        raise Ephys2TypeError(
            f"{len(added)} added cells are too few to cross-validate; add at least 4"
        )
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():  # a class with fewer cells than folds: said in docs
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        splits = list(splitter.split(np.zeros(len(added)), y_added.to_numpy()))
    total = k + 1
    say = progress or (lambda done, total, what: None)

    say(0, total, "fitting the model of the bundled cells")
    base = _fit(data, bundled, pd.Index([]), 1, model, family_subsets, random_state)
    without = pd.Series(base.predict(data.X.loc[added]), index=added, dtype=object)
    stated = float(base.members_[0].expected_accuracy)

    with_calls = pd.Series(ABSTAIN, index=added, dtype=object)
    fold_of = pd.Series(-1, index=added, dtype=int)
    weight = added_repeats(len(bundled), len(splits[0][0]), add_weight)
    for i, (train, test) in enumerate(splits):
        say(i + 1, total, f"fold {i + 1} of {k}: the model with your other cells")
        repeats = added_repeats(len(bundled), len(train), add_weight)
        clf = _fit(data, bundled, added[train], repeats, model, family_subsets, random_state)
        with_calls.iloc[test] = clf.predict(data.X.loc[added[test]])
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
        difference=_paired(right_with, right_without, random_state),
        per_class=per_class,
        stated=stated,
        weight=weight,
        folds=k,
        model=model,
        n_bundled=len(bundled),
    )


def _fit(data, bundled, lab, repeats, model, family_subsets, seed):
    """The deployed ``model`` trained on ``bundled`` plus ``lab`` cells (counted
    ``repeats`` times each), as ``train`` trains it."""
    cells = bundled.append(lab)
    part = data.subset(cells)
    clf = deployed(
        get_model(model),
        family_subsets=family_subsets,
        parent_of=None,
        id_column=data.id_column,
        qc_profile=data.qc.profile if data.qc else "default",
    ).build(data.schema, seed)
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


def _paired(right_with: np.ndarray, right_without: np.ndarray, seed: int) -> dict[str, float]:
    """Accuracy with minus without, its 95% bootstrap interval over cells and McNemar's
    exact p-value (the cells only one arm gets right)."""
    d = right_with.astype(float) - right_without.astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(d), size=(N_BOOTSTRAP, len(d)))
    means = d[draws].mean(axis=1)
    gained, lost = int((d > 0).sum()), int((d < 0).sum())
    p = 1.0 if gained + lost == 0 else float(stats.binomtest(gained, gained + lost).pvalue)
    return {
        "mean": float(d.mean()),
        "low": float(np.quantile(means, 0.025)),
        "high": float(np.quantile(means, 0.975)),
        "p": p,
        "gained": gained,
        "lost": lost,
    }


def summary_path(out: str | Path) -> Path:
    """Where :func:`write_added_check` writes the numbers of ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".summary.json")


def write_added_check(result: AddedCheck, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write each lab cell's label and both arms' calls to ``out`` (CSV) and the numbers
    beside it (``<out>.summary.json``); returns the summary's path."""
    out = Path(out)
    summary = summary_path(out)
    if not overwrite:
        for path in (out, summary):
            if path.exists():
                raise OutputExistsError(f"{path} already exists; choose another --out or --force")
    atomic_write_text(out, result.cells.to_csv(), overwrite=overwrite)
    atomic_write_text(summary, dumps_json(result.to_dict()), overwrite=overwrite)
    return summary
