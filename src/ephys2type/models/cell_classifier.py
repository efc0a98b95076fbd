"""The classifier that is evaluated and shipped: routed by the features each cell has,
calibrated, with prediction sets, an out-of-distribution score, and abstention with a reason.

:class:`CellTypeClassifier` wraps any model of the registry. ``evaluate --model rf-deployed``
scores it on cross-validation folds, ``ephys2type train`` fits it on every cell and saves it,
``ephys2type predict`` loads and runs it; :mod:`ephys2type.persist` only writes and reads its
fitted state. Nothing a call depends on lives anywhere else.

How a cell is called
--------------------
1. **Its features.** Each cell is predicted by a model trained on the features it has: a
   *member* of the classifier. Members are fitted at ``fit`` for the whole schema and, with
   ``family_subsets``, for each family subset a lab plausibly has (the long-square families
   plus any other protocols); a cell is served by the member of exactly its features if
   there is one, else by the member with the most of its features among those it fits: it
   has at least half of the member's features of each stimulus protocol, and lacks at most
   ``max_imputed_share`` of the member's features (the gaps a training cell may have after
   QC; features many training cells lack are not counted). The gaps are imputed with
   training medians, as in training. A cell no member fits gets
   a member fitted on demand on exactly its measured features, from the training cells the
   classifier keeps; it is cached, so the next cell with that feature set is instant (a
   member fitted on demand serves only cells of exactly its features: one fitted for
   another lab's 10 features must not answer for a cell with 9 of them and 2 others).
2. **Calibration.** Every member is fitted on the same proper part of the training cells
   (``1 - calibration_size``, stratified); the rest, never seen by the fit, gives the
   member's softmax temperature, its class-conditional conformal scores, and its
   ``expected_accuracy`` (accuracy on those held-out cells, with a Wilson interval): what
   a lab can expect from that feature set.
3. **Abstention.** A cell is ``unassigned`` (:data:`ABSTAIN`), with its reason, when it has
   no features; a value outside the plausible range of the training cells
   (:mod:`~ephys2type.models.plausibility`); none of the schema's essential families; a
   feature set whose expected accuracy is below ``min_expected_accuracy``; a distance to
   the training cells beyond that of every held-out training cell
   (:mod:`~ephys2type.models.novelty`); or a prediction set larger than
   ``max_set_size`` (with two-level labels: no single class at the level above either).
   ``predict`` gives ``unassigned`` and ``predict_proba`` NaN for such a cell.
4. **Levels.** With ``parent_of`` (t-type -> subclass) the call is made top-down at the
   finest level the sets support: the t-type when its set holds at most ``max_set_size``
   types, else the subclass when its set holds one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from ephys2type.data.columns import proba_columns
from ephys2type.data.schema import FeatureSchema
from ephys2type.data.tables import as_feature_frame
from ephys2type.errors import Ephys2TypeError, TableError
from ephys2type.limits import with_jobs
from ephys2type.models.calibration import fit_temperature, probability_logits, softmax
from ephys2type.models.conformal import NO_CALL, ConformalScores, levels_table
from ephys2type.models.novelty import FeatureDistance
from ephys2type.models.plausibility import PlausibleRanges
from ephys2type.models.preprocessing import FamilyPreprocessor
from ephys2type.models.priors import PriorShift, adapt_priors
from ephys2type.models.registry import DEPLOYED, MODELS, ModelSpec, get_model

#: The call of a cell the evidence does not support.
ABSTAIN = "unassigned"
#: A member serves a cell only if the cell has at least this share of its features of
#: each stimulus protocol.
PRESENT_SHARE = 0.5
#: Default floor of a feature set's expected accuracy (see the README for its measurement).
MIN_EXPECTED_ACCURACY = 0.6
#: Fewest cells whose class proportions ``adapt_priors`` estimates.
MIN_ADAPT_CELLS = 10
#: ``<savable model>-deployed-adapt``: the deployed classifier with ``adapt_priors``.
ADAPTED = "-adapt"


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


@dataclass
class Member:
    """A model of one feature set, fitted on the proper part of the training cells and
    calibrated on the rest.

    features : the columns it reads (schema order); temperature : its softmax temperature;
    conformal : its calibration scores; accuracy / parent_accuracy : accuracy of its
    (top-down) calls on the calibration cells at the class / parent level; n_calibration :
    how many; origin : ``"fit"`` (fitted with the classifier) or ``"on demand"``.
    ``estimator`` is the fitted pipeline (``predict_proba`` on a DataFrame of ``features``),
    or a loader returning it (a saved member is read when a cell first needs it).
    """

    features: tuple[str, ...]
    temperature: float
    conformal: ConformalScores
    accuracy: float
    n_calibration: int
    origin: str
    parent_accuracy: float | None = None
    loader: Callable[[], Any] | None = field(default=None, repr=False)
    _estimator: Any = field(default=None, repr=False)

    @property
    def estimator(self) -> Any:
        if self._estimator is None:
            if self.loader is None:
                raise Ephys2TypeError("member without a fitted model")
            self._estimator = self.loader()
        return self._estimator

    @property
    def expected_accuracy(self) -> float:
        """The accuracy its calls are judged by: the parent level's with two-level labels."""
        return self.accuracy if self.parent_accuracy is None else self.parent_accuracy

    def interval(self) -> tuple[float, float]:
        return wilson_interval(
            round(self.expected_accuracy * self.n_calibration), self.n_calibration
        )

    def probabilities(self, X: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities (columns in ``classes`` order) of the cells ``X``."""
        raw = class_probabilities(self.estimator, X[list(self.features)], classes)
        return softmax(probability_logits(raw), self.temperature)

    def attention(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """Per-cell attention over the member's families (BiLSTM), else None."""
        from ephys2type.models.inspection import explain

        table = explain(self.estimator, X[list(self.features)])
        if table is None:
            return None
        table.index = X.index
        return table

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts (not the model)."""
        low, high = self.interval()
        return {
            "features": list(self.features),
            "temperature": self.temperature,
            "conformal": self.conformal.to_dict(),
            "accuracy": self.accuracy,
            "parent_accuracy": self.parent_accuracy,
            "expected_accuracy_interval": [low, high],
            "n_calibration": self.n_calibration,
            "origin": self.origin,
        }


def class_probabilities(estimator, X: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """predict_proba with columns in ``classes`` order (zeros for classes the model lacks)."""
    proba = estimator.predict_proba(X)
    return (
        pd.DataFrame(proba, columns=list(estimator.classes_))
        .reindex(columns=list(classes), fill_value=0.0)
        .to_numpy()
    )


def _top(attention: pd.DataFrame, top: int, measured: Mapping[str, np.ndarray]) -> list[str]:
    """``"rheo (0.41); subthreshold (0.22)"``: each cell's ``top`` families by attention,
    among the families it has (``measured``: family -> cells with any of its features): a
    family the model imputed for the cell (a protocol it was never recorded with) is never
    named."""
    names = [str(c).removeprefix("attention:") for c in attention.columns]
    values = attention.to_numpy(dtype=float).copy()
    for j, name in enumerate(names):
        if name in measured:
            values[~measured[name], j] = -np.inf
    order = np.argsort(-values, axis=1)[:, :top]
    return [
        "; ".join(f"{names[j]} ({values[r, j]:.2f})" for j in row if np.isfinite(values[r, j]))
        for r, row in enumerate(order)
    ]


class MemberCache:
    """Members fitted on demand, by feature set. The default keeps them in memory; a loaded
    model folder gets one that also keeps them on disk (:mod:`ephys2type.persist`)."""

    def __init__(self):
        self._members: dict[frozenset[str], Member] = {}

    def get(self, features: Sequence[str]) -> Member | None:
        return self._members.get(frozenset(features))

    def put(self, member: Member) -> None:
        self._members[frozenset(member.features)] = member

    def members(self) -> list[Member]:
        return list(self._members.values())


class CellTypeClassifier(ClassifierMixin, BaseEstimator):
    """A registry model, routed, calibrated and abstaining (see the module docstring).

    Parameters
    ----------
    model : str or ModelSpec, default "rf"
        The registry model each member is built from.
    schema : FeatureSchema
        The schema of the columns of ``X``.
    family_subsets : bool, default True
        Also fit members for the schema's protocol subsets at ``fit`` (else they are fitted
        on demand when cells need them).
    calibration_size : float, default 0.2
        Share of the training cells (stratified) kept apart to calibrate.
    confidence : float, default 0.9
        Coverage promised by the prediction sets.
    max_set_size : int, default 3
        Largest prediction set that still gives a call (at the class level).
    parent_of : mapping class -> parent class, optional
        Two-level labels (t-type -> subclass).
    level_names : (str, str), default ("subclass", "t_type")
        Column prefixes of the parent and class levels in :meth:`predict_table`.
    min_expected_accuracy : float, default :data:`MIN_EXPECTED_ACCURACY`
        A cell whose feature set's expected accuracy is lower is not called.
    max_imputed_share : float, default 0.2
        Most of a member's features a cell may lack and still be served by it (features
        that more than this share of the training cells lack are not counted).
    random_state : int, default 0
    n_jobs : int, optional
        Overrides the ``n_jobs`` of the members' models.
    adapt_priors : bool, default False
        Re-estimate the class proportions of the batch being predicted from its cells
        (:func:`~ephys2type.models.priors.adapt_priors`, Saerens et al. 2002) and re-weight
        their probabilities before the calls and sets; for batches of at least
        :data:`MIN_ADAPT_CELLS` called cells. Off by default: it helps only where the class
        mix alone changed (see the README for where it hurts).

    Attributes
    ----------
    classes_, members_ (fitted at ``fit``, largest first), scaler_ (standardization of
    all training cells), distance_ (:class:`FeatureDistance`), ranges_
    (:class:`PlausibleRanges`), usually_measured_ (features at least ``1 -
    max_imputed_share`` of the training cells have), X_train_, y_train_, calibration_ (mask
    of the calibration cells), feature_names_in_, n_features_in_.
    """

    def __init__(
        self,
        *,
        model: str | ModelSpec = "rf",
        schema: FeatureSchema | None = None,
        family_subsets: bool = True,
        calibration_size: float = 0.2,
        confidence: float = 0.9,
        max_set_size: int = 3,
        parent_of: Mapping[str, str] | None = None,
        level_names: tuple[str, str] = ("subclass", "t_type"),
        min_expected_accuracy: float = MIN_EXPECTED_ACCURACY,
        max_imputed_share: float = 0.2,
        random_state: int = 0,
        n_jobs: int | None = None,
        adapt_priors: bool = False,
    ):
        self.model = model
        self.schema = schema
        self.family_subsets = family_subsets
        self.calibration_size = calibration_size
        self.confidence = confidence
        self.max_set_size = max_set_size
        self.parent_of = parent_of
        self.level_names = level_names
        self.min_expected_accuracy = min_expected_accuracy
        self.max_imputed_share = max_imputed_share
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.adapt_priors = adapt_priors

    # -- fitting -------------------------------------------------------------------------------

    def model_spec(self) -> ModelSpec:
        """The registry model the members are built from."""
        return get_model(self.model) if isinstance(self.model, str) else self.model

    def fit(self, X: pd.DataFrame, y, *, sample_repeats=None) -> CellTypeClassifier:
        """Fit the members, the calibration, the distance and the plausible ranges.

        ``sample_repeats`` (a whole number >= 1 per cell, default 1) makes a few cells count
        more: a cell with ``r`` repeats enters every member's training cells ``r`` times,
        and is never a calibration cell (so the calibration, prediction sets and expected
        accuracy stay measured on unrepeated cells). ``train --add-table`` uses it for a
        lab's own labelled cells.
        """
        if self.schema is None:
            raise ValueError("CellTypeClassifier needs the schema of X")
        if not 0 < self.calibration_size < 1:
            raise ValueError(f"calibration_size must be in (0, 1), not {self.calibration_size}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, not {self.confidence}")
        X = self._frame(X, fitting=True)
        y = np.asarray(y, dtype=object)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} cells and y {len(y)} labels")
        if pd.isna(y).any():
            raise Ephys2TypeError("training needs a label for every cell (apply QC first)")
        counts = pd.Series(y).value_counts()
        if (counts < 2).any():
            raise Ephys2TypeError(
                f"{int((counts < 2).sum())} class(es) have a single cell (e.g. "
                f"{counts.idxmin()!r}); calibration needs at least 2 cells per class"
            )
        if self.parent_of is not None:
            unknown = sorted(set(counts.index) - set(self.parent_of))
            if unknown:
                raise Ephys2TypeError(f"no parent class for {', '.join(map(str, unknown[:5]))}")
        self.classes_ = np.asarray(sorted(counts.index), dtype=object)
        repeats = (
            np.ones(len(y), dtype=np.int64)
            if sample_repeats is None
            else np.asarray(sample_repeats, dtype=np.int64)
        )
        if repeats.shape != (len(y),) or (repeats < 1).any():
            raise ValueError("sample_repeats needs one whole number >= 1 per cell")
        once = np.flatnonzero(repeats == 1)
        if len(once) < len(y) and (pd.Series(y[once]).value_counts() < 2).any():
            raise Ephys2TypeError(
                "calibration needs at least 2 cells per class among the cells not repeated"
            )
        _, calibration = train_test_split(
            once,
            test_size=self.calibration_size,
            stratify=y[once],
            random_state=self.random_state,
        )
        self.repeats_ = repeats
        self.calibration_ = np.zeros(len(y), dtype=bool)
        self.calibration_[calibration] = True
        self.X_train_, self.y_train_ = X, y
        self.feature_names_in_ = np.asarray(self.schema.columns, dtype=object)
        self.n_features_in_ = len(self.schema.columns)
        self.scaler_ = FamilyPreprocessor(families=self.schema.family_index()).fit(X)
        self.distance_ = FeatureDistance(
            families=self.schema.family_index(), random_state=self.random_state
        ).fit(self.scaler_.standardize_measured(X))
        self.ranges_ = PlausibleRanges.fit(X)
        self.usually_measured_ = X.notna().mean().to_numpy() >= 1 - self.max_imputed_share
        sets = [tuple(self.schema.columns)]
        if self.family_subsets:
            for families in self.schema.protocol_subsets():
                sets.append(tuple(self.schema.restrict(families).columns))
        self.members_ = [self.fit_member(cols) for cols in dict.fromkeys(sets)]
        self.cache_ = MemberCache()
        return self

    def fit_member(self, features: Sequence[str], *, origin: str = "fit") -> Member:
        """A member for ``features``, fitted on the proper training cells and calibrated on
        the calibration cells (the same split for every member)."""
        check_is_fitted(self, "calibration_")
        features = tuple(c for c in self.schema.columns if c in set(features))
        spec = self.model_spec()
        estimator = clone(spec.build(self.schema.select(features), self.random_state))
        if self.n_jobs is not None:
            with_jobs(estimator, self.n_jobs)
        proper, cal = ~self.calibration_, self.calibration_
        X = self.X_train_[list(features)]
        fit_rows = np.flatnonzero(proper)
        repeats = getattr(self, "repeats_", None)
        if repeats is not None and (repeats > 1).any():
            fit_rows = np.repeat(fit_rows, repeats[fit_rows])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns of a few cells
            estimator.fit(X.iloc[fit_rows], self.y_train_[fit_rows], **spec.fit_params)
        raw = class_probabilities(estimator, X[cal], self.classes_)
        position = {c: k for k, c in enumerate(self.classes_)}
        truth = np.array([position[c] for c in self.y_train_[cal]])
        temperature = fit_temperature(probability_logits(raw), truth)
        proba = softmax(probability_logits(raw), temperature)
        conformal = ConformalScores.calibrate(
            proba,
            self.classes_,
            self.y_train_[cal],
            confidence=self.confidence,
            parent_of=self.parent_of,
        )
        accuracy = float(np.mean(proba.argmax(axis=1) == truth))
        parent_accuracy = None
        if self.parent_of is not None:
            from ephys2type.models.hierarchy import top_down

            calls = top_down(proba, self.classes_, self.parent_of)
            truth_up = np.array([self.parent_of[c] for c in self.y_train_[cal]], dtype=object)
            parent_accuracy = float(np.mean(calls["parent"].to_numpy() == truth_up))
            accuracy = float(np.mean(calls["child"].to_numpy() == self.y_train_[cal]))
        return Member(
            features=features,
            temperature=temperature,
            conformal=conformal,
            accuracy=accuracy,
            parent_accuracy=parent_accuracy,
            n_calibration=int(cal.sum()),
            origin=origin,
            _estimator=estimator,
        )

    # -- inputs ------------------------------------------------------------------------------------

    def _frame(self, X, *, fitting: bool = False, id_column: str | None = None) -> pd.DataFrame:
        """The cells as a float DataFrame in schema order (errors as the data layer says)."""
        schema = self.schema
        if fitting and isinstance(X, pd.DataFrame) and list(X.columns) == schema.columns:
            return X.astype(np.float64)
        preferred = getattr(self, "id_column_", None)
        X = as_feature_frame(X, schema, id_column=id_column, preferred_id_column=preferred)
        if not fitting:
            # a column wholly outside: a unit slip when a power of ten explains it, or a
            # wrong column when several cells agree; one odd value is the cell's own problem
            slips = [s for s in self.ranges_.unit_slips(X) if s.factor or s.n_values >= 3]
            if slips:
                units = {f.name: f.unit for f in schema.features}
                shown = "; ".join(s.message(units[s.feature]) for s in slips[:3])
                more = f"; and {len(slips) - 3} more such columns" if len(slips) > 3 else ""
                raise TableError(f"features: {shown}{more}")
        return X

    # -- routing ---------------------------------------------------------------------------------

    def _serves(self, member: Member, measured: np.ndarray) -> tuple[bool, int, int]:
        """Whether ``member`` fits a cell measured as ``measured`` (schema-wide mask), with
        how many of its features the cell has and lacks."""
        position = {c: j for j, c in enumerate(self.schema.columns)}
        cols = np.array([position[c] for c in member.features])
        has = measured[cols]
        lacking = int((~has).sum())
        # a feature many training cells lack (e.g. an ISI at a one-spike rheobase) is imputed
        # as routinely as in training: it does not count against the cell
        unusual = int((~has & self.usually_measured_[cols]).sum())
        if unusual > self.max_imputed_share * len(cols):
            return False, int(has.sum()), lacking
        wanted = set(member.features)
        for protocol in self.schema.protocols:
            inside = [
                position[c]
                for fam in self.schema.families
                if fam.stimulus == protocol
                for c in fam.columns
                if c in wanted
            ]
            if inside and measured[inside].mean() < PRESENT_SHARE:
                return False, int(has.sum()), lacking
        return True, int(has.sum()), lacking

    def _member_for(self, measured: np.ndarray, fit: bool) -> Member | None:
        """The member serving a cell measured as ``measured``: one of exactly its features
        (fitted with the classifier or on demand before), else the fitted member that fits
        it best (most of its features, fewest imputed), else, when ``fit``, one fitted now
        on exactly its features (None when not ``fit``)."""
        columns = [c for c, m in zip(self.schema.columns, measured, strict=True) if m]
        wanted = frozenset(columns)
        for member in self.members_:
            if frozenset(member.features) == wanted:
                return member
        member = self.cache_.get(columns)
        if member is not None:
            return member
        best, key = None, None
        for member in self.members_:
            ok, has, lacking = self._serves(member, measured)
            if ok and (key is None or (has, -lacking) > key):
                best, key = member, (has, -lacking)
        if best is not None or not fit:
            return best
        member = self.fit_member(columns, origin="on demand")
        self.cache_.put(member)
        return member

    def route(self, X) -> pd.Series:
        """The member (its number of features) each cell would be predicted by, indexed like
        the cells; 0 for a cell no stored member fits (it would get one on demand)."""
        check_is_fitted(self, "members_")
        X = self._frame(X)
        measured = X.notna().to_numpy()
        out = []
        for row in measured:
            member = self._member_for(row, fit=False)
            out.append(0 if member is None else len(member.features))
        return pd.Series(out, index=X.index, name="n_model_features")

    # -- prediction ------------------------------------------------------------------------------

    def predict_table(self, X, *, id_column: str | None = None, top: int = 2) -> pd.DataFrame:
        """One row per cell, indexed by the caller's cell ids: the call (``predicted``:
        a class, or :data:`ABSTAIN`) and ``reason`` (``"<kind>: <detail>"``, empty when
        called), its probability, every class's
        probability (``proba:<class>``, NaN when unassigned), the prediction set, the
        features it had and the model that used them (``n_features``, ``families``,
        ``model_features``, ``n_imputed``, ``imputed``), the ``expected_accuracy`` of that
        feature set with its interval, the out-of-distribution score and flag, and
        ``qc_flag`` (the training QC rule it fails, if any); with two-level labels, each
        level's call, probability and set, and ``call_level``."""
        check_is_fitted(self, "members_")
        X = self._frame(X, id_column=id_column)
        return self._table(X, top=top)

    def _table(self, X: pd.DataFrame, *, top: int = 2) -> pd.DataFrame:
        n = len(X)
        classes = self.classes_
        measured = X.notna().to_numpy()
        reason = np.full(n, "", dtype=object)
        families = self.schema.families
        position = {c: j for j, c in enumerate(self.schema.columns)}
        fam_cols = [[position[c] for c in fam.columns] for fam in families]
        has_family = np.column_stack([measured[:, cols].any(axis=1) for cols in fam_cols])
        # 1. nothing measured
        reason[~measured.any(axis=1)] = "no features: the cell has no measured feature"
        # 2. implausible values
        bad = self.ranges_.implausible(X).to_numpy()
        units = {f.name: f.unit for f in self.schema.features}
        for i in np.flatnonzero(bad.any(axis=1) & (reason == "")):
            j = int(np.flatnonzero(bad[i])[0])
            col = self.schema.columns[j]
            more = int(bad[i].sum()) - 1
            reason[i] = (
                "implausible value: "
                + self.ranges_.describe(col, float(X.iat[i, j]), units[col])
                + (f" and {more} more" if more else "")
            )
        # 3. no essential family
        essential = [k for k, fam in enumerate(families) if fam.essential]
        if essential:
            names = ", ".join(families[k].name for k in essential)
            lacking = ~has_family[:, essential].any(axis=1) & (reason == "")
            reason[lacking] = f"no essential family: none of {names} measured"
        # 4. route the others; fit members on demand for feature sets no member fits
        member_of: list[Member | None] = [None] * n
        todo = np.flatnonzero(reason == "")
        patterns, inverse = np.unique(measured[todo], axis=0, return_inverse=True)
        order = np.argsort(-np.bincount(inverse.ravel(), minlength=len(patterns)))
        for k in order:
            member = self._member_for(patterns[k], fit=True)
            for i in todo[inverse.ravel() == k]:
                member_of[i] = member
        proba = np.full((n, len(classes)), np.nan)
        top_families = None
        for member in {id(m): m for m in member_of if m is not None}.values():
            rows = np.array([m is member for m in member_of])
            proba[rows] = member.probabilities(X.loc[rows], classes)
            att = member.attention(X.loc[rows])
            if att is not None:
                top_families = (
                    np.full(n, "", dtype=object) if top_families is None else top_families
                )
                has = {fam.name: has_family[rows, k] for k, fam in enumerate(families)}
                top_families[rows] = _top(att, top, has)
        expected = np.array(
            [np.nan if m is None else m.expected_accuracy for m in member_of], dtype=float
        )
        interval = np.array(
            [(np.nan, np.nan) if m is None else m.interval() for m in member_of], dtype=float
        ).reshape(n, 2)
        for i in np.flatnonzero(expected < self.min_expected_accuracy):
            if reason[i] == "":
                reason[i] = (
                    f"low expected accuracy: its {int(measured[i].sum())} features support about "
                    f"{expected[i]:.0%} accuracy, below the floor of "
                    f"{self.min_expected_accuracy:.0%}"
                )
        # 5. unlike every training cell
        score = self.distance_.score_samples(self.scaler_.standardize_measured(X))
        far = (score > self.distance_.max_training_score_) & (reason == "")
        for i in np.flatnonzero(far):
            reason[i] = (
                f"unlike the training cells: distance {score[i]:.2f} x the 99.5% threshold, "
                f"farther than every held-out training cell "
                f"({self.distance_.max_training_score_:.2f})"
            )
        shift = self._adapted(proba, reason) if self.adapt_priors else None
        # 6. prediction sets
        out = pd.DataFrame(index=X.index.copy())
        scored = ~np.isnan(proba).any(axis=1)
        sets = np.zeros((n, len(classes)), dtype=bool)
        by_member: dict[int, list[int]] = {}
        for i in np.flatnonzero(scored):
            by_member.setdefault(id(member_of[i]), []).append(i)
        parent_sets = None
        if self.parent_of is not None:
            parents = sorted(set(self.parent_of[c] for c in classes))
            parent_sets = np.zeros((n, len(parents)), dtype=bool)
        for rows in by_member.values():
            member = member_of[rows[0]]
            sets[rows] = member.conformal.sets(proba[rows], classes, seed=self.random_state)
            if parent_sets is not None:
                parent_sets[rows] = member.conformal.parent_sets(
                    proba[rows], classes, seed=self.random_state
                )
        if self.parent_of is None:
            predicted = np.where(scored, classes[np.nan_to_num(proba).argmax(axis=1)], ABSTAIN)
            probability = np.where(scored, np.nan_to_num(proba).max(axis=1), np.nan)
            size = sets.sum(axis=1)
            large = scored & (size > self.max_set_size) & (reason == "")
            for i in np.flatnonzero(large):
                reason[i] = (
                    f"large prediction set: {size[i]} of {len(classes)} classes at "
                    f"{self.confidence:.0%} ({'; '.join(classes[sets[i]])})"
                )
            out["predicted"] = predicted
            out["probability"] = probability
            out["set"] = [
                "; ".join(classes[row]) if s else "" for row, s in zip(sets, scored, strict=True)
            ]
            out["set_size"] = np.where(scored, size, 0)
        else:
            levels = self._levels(proba, scored, sets, parent_sets)
            levels.index = out.index
            undecided = (levels["call_level"] == NO_CALL).to_numpy() & scored & (reason == "")
            up = self.level_names[0]
            for i in np.flatnonzero(undecided):
                reason[i] = (
                    f"large prediction set: more than one {up} at {self.confidence:.0%} "
                    f"({levels[f'{up}_set'].iloc[i]})"
                )
            out["predicted"] = levels["call"].to_numpy()
            out["probability"] = levels["call_probability"].to_numpy()
            out = pd.concat([out, levels.drop(columns=["call", "call_probability"])], axis=1)
        abstain = reason != ""
        out.loc[abstain, "predicted"] = ABSTAIN
        out.loc[abstain, "probability"] = np.nan
        out["reason"] = reason
        for k, cls in enumerate(classes):
            out[proba_columns([cls])[0]] = np.where(abstain, np.nan, proba[:, k])
        if top_families is not None:
            out["top_families"] = top_families
        out["n_features"] = measured.sum(axis=1)
        out["families"] = [
            ", ".join(f.name for f, h in zip(families, row, strict=True) if h) for row in has_family
        ]
        out["model_features"] = [0 if m is None else len(m.features) for m in member_of]
        imputed = [
            [] if m is None else [c for c in m.features if not measured[i, position[c]]]
            for i, m in enumerate(member_of)
        ]
        out["n_imputed"] = [len(v) for v in imputed]
        out["imputed"] = ["; ".join(v) for v in imputed]
        if shift is not None:  # what the batch's class mix was estimated to be
            names = [str(c) for c in classes]
            out.attrs["batch_priors"] = dict(zip(names, shift.priors.tolist(), strict=True))
            out.attrs["training_priors"] = dict(
                zip(names, shift.training_priors.tolist(), strict=True)
            )
        out["families_used"] = [
            "" if m is None else "+".join(self.schema.select(m.features).family_names)
            for m in member_of
        ]
        out["expected_accuracy"] = expected
        out["expected_accuracy_low"] = interval[:, 0]
        out["expected_accuracy_high"] = interval[:, 1]
        out["ood_score"] = score
        out["out_of_distribution"] = score > 1.0
        out["qc_flag"] = self._qc_flags(X)
        return out

    def _levels(self, proba, scored, sets, parent_sets) -> pd.DataFrame:
        """Per cell and level: the top-down call, its probability, the set and its size;
        ``call`` / ``call_level`` / ``call_probability``: the finest level the sets support."""
        up, fine = self.level_names
        safe = np.where(scored[:, None], np.nan_to_num(proba), 1.0 / proba.shape[1])
        table = levels_table(
            safe, self.classes_, self.parent_of, sets, parent_sets, self.max_set_size
        )
        out = pd.DataFrame(
            {
                up: table["parent"],
                f"{up}_probability": table["parent_probability"],
                f"{up}_set": table["parent_set"],
                f"{up}_set_size": table["parent_set_size"],
                fine: table["child"],
                f"{fine}_probability": table["child_probability"],
                f"{fine}_set": table["set"],
                f"{fine}_set_size": table["set_size"],
            }
        )
        level = table["call_level"].to_numpy()
        out["call_level"] = np.select([level == "class", level == "parent"], [fine, up], NO_CALL)
        out["call"] = np.select([level == "class", level == "parent"], [out[fine], out[up]], "")
        out["call_probability"] = np.select(
            [level == "class", level == "parent"],
            [out[f"{fine}_probability"], out[f"{up}_probability"]],
            np.nan,
        )
        out.loc[~scored, [up, fine, f"{up}_set", f"{fine}_set", "call"]] = ""
        out.loc[~scored, "call_level"] = NO_CALL
        return out

    def _qc_flags(self, X: pd.DataFrame) -> pd.Series:
        """``"rule: detail"`` for cells the training QC profile would have dropped."""
        from ephys2type.data.container import PatchSeqData
        from ephys2type.data.qc import apply_qc

        profile = getattr(self, "qc_profile_", None) or "default"
        cells = X.copy()
        cells.index = pd.RangeIndex(len(X))  # QC works on unique, plain ids
        data = PatchSeqData(
            X=cells,
            meta=pd.DataFrame(index=cells.index),
            schema=self.schema,
            species=self.schema.species,
        )
        drops = apply_qc(data, profile).qc.drops
        flags = pd.Series("", index=cells.index, dtype=object)
        flags[drops.index] = drops["rule"] + ": " + drops["detail"]
        return pd.Series(flags.to_numpy(), index=X.index)

    def training_priors(self) -> np.ndarray:
        """The class proportions the probabilities are calibrated to: those of the
        calibration cells (``classes_`` order)."""
        check_is_fitted(self, "calibration_")
        counts = pd.Series(self.y_train_[self.calibration_]).value_counts()
        return (counts.reindex(self.classes_).fillna(0) / counts.sum()).to_numpy(dtype=float)

    def _adapted(self, proba: np.ndarray, reason: np.ndarray) -> PriorShift | None:
        """Re-weight, in place, the probabilities of the cells still to be called by the
        batch's estimated class proportions; None when too few cells to estimate them."""
        rows = ~np.isnan(proba).any(axis=1) & (reason == "")
        if rows.sum() < MIN_ADAPT_CELLS:
            return None
        shift = adapt_priors(proba[rows], np.maximum(self.training_priors(), 1e-6))
        proba[rows] = shift.probabilities
        return shift

    def explain(self, X) -> pd.DataFrame:
        """Per cell, why it was called or not: ``reason``, ``expected_accuracy``,
        ``model_features``, ``out_of_distribution`` and the prediction set (``set``, or with
        two-level labels the finest level's), what an evaluation keeps beside each
        prediction."""
        table = self.predict_table(X)
        sets = "set" if self.parent_of is None else f"{self.level_names[1]}_set"
        columns = ["reason", "expected_accuracy", "model_features", "out_of_distribution", sets]
        return table[columns].rename(columns={sets: "set"}).reset_index(drop=True)

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities (columns in ``classes_`` order); NaN rows for cells
        that are not called."""
        table = self.predict_table(X)
        return table[proba_columns(self.classes_)].to_numpy(dtype=float)

    def predict(self, X) -> np.ndarray:
        """The call of each cell: a class (with two-level labels, the finest level the sets
        support), or :data:`ABSTAIN`."""
        return self.predict_table(X)["predicted"].to_numpy(dtype=object)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of :meth:`predict` against ``y`` (an unassigned cell counts as wrong)."""
        return float(np.mean(self.predict(X) == np.asarray(y, dtype=object)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def deployed(spec: ModelSpec, **options: Any) -> ModelSpec:
    """``spec`` as ``ephys2type train`` saves it and ``predict`` runs it: inside a
    :class:`CellTypeClassifier` (``options`` are its parameters). ``evaluate --model
    rf-deployed`` scores exactly what ``train --model rf`` saves."""

    def build(schema: FeatureSchema, seed: int) -> BaseEstimator:
        return CellTypeClassifier(model=spec, schema=schema, random_state=seed, **options)

    return ModelSpec(
        spec.name + DEPLOYED,
        f"{spec.description}; as deployed (routed by the features each cell has, "
        "calibrated, conformal sets, unassigned without evidence)",
        build,
        kind="deployed",
        params={"model": spec.name, **spec.params, **options},
        savable=spec.savable,
    )


def resolve_model(name: str) -> ModelSpec:
    """A model by name: a registered one, ``<savable model>-deployed`` (:func:`deployed`), or
    ``<savable model>-deployed-adapt`` (the same re-weighting each test fold to its
    estimated class proportions, ``adapt_priors``)."""
    adapt = name.endswith(DEPLOYED + ADAPTED)
    base = (
        name.removesuffix(ADAPTED).removesuffix(DEPLOYED) if adapt else name.removesuffix(DEPLOYED)
    )
    if base != name and base in MODELS and MODELS[base].savable:
        if not adapt:
            return deployed(MODELS[base])
        spec = deployed(MODELS[base], adapt_priors=True)
        return replace(
            spec,
            name=spec.name + ADAPTED,
            description=spec.description + "; class proportions re-estimated per batch",
        )
    return get_model(name)
