"""The classifier that is evaluated and shipped: routed by the features each cell has,
calibrated, with prediction sets, an out-of-distribution score, and abstention with a reason.

:class:`CellTypeClassifier` wraps any model of the registry. ``evaluate --model rf-deployed``
scores it on cross-validation folds, ``ephys2type train`` fits it on every cell and saves it,
``ephys2type predict`` loads and runs it; :mod:`ephys2type.persist` only writes and reads its
fitted state. Nothing a call depends on lives anywhere else.

Like scikit-learn's ``CalibratedClassifierCV`` it is thin and delegates, each part with one
job:

- its **members** (:mod:`~ephys2type.models.members`): one model per feature set, fitted on
  the proper part of the training cells and calibrated on the rest (``1 -
  calibration_size``, stratified, the same split for every member): softmax temperature,
  class-conditional conformal scores and the ``expected_accuracy`` of that feature set;
- the **router** (:mod:`~ephys2type.models.routing`): which member serves which cell, by
  the features it has; a cell no member fits needs a member of its own, which
  :meth:`~CellTypeClassifier.fit_missing` fits and keeps (explicitly, with progress and an
  optional store that outlives the process); ``predict`` never changes the classifier: a
  member it has to fit serves that call only;
- the **abstention rules** (:mod:`~ephys2type.models.abstention`): an ordered list; a cell
  is ``unassigned`` (:data:`ABSTAIN`) with the reason of the first rule that stops it (no
  features, a failed recording check, an implausible value, no essential family, a
  feature set whose expected accuracy is below ``min_expected_accuracy``, a cell farther
  from the training cells than every held-out training cell, a large prediction set, or a
  call outside its own set);
- the **scores** (:mod:`~ephys2type.models.cell_scores`): the one computation a batch
  gets (:meth:`~CellTypeClassifier.score_cells`), read by ``predict``, ``predict_proba``,
  ``predict_table``, ``explain`` and the batch check
  (:mod:`~ephys2type.models.batch_check`);
- the **table** (:mod:`~ephys2type.models.call_table`): the per-cell output columns.

With ``parent_of`` (t-type -> subclass) the call is made top-down at the finest level the
sets support: the t-type when its set holds at most ``max_set_size`` types and the call,
else the subclass when its set is that one subclass.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite
from sklearn.utils._param_validation import Interval, Options
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from ephys2type.data.columns import level_names
from ephys2type.data.feature_frames import FeatureFrame, as_feature_frame
from ephys2type.data.mapping import ColumnMapping
from ephys2type.data.qc import rare_class_minimum
from ephys2type.data.recordings.check_table import CHECK_COLUMNS, checks_from_columns
from ephys2type.data.schema import FeatureSchema
from ephys2type.data.unit_checks import check_units
from ephys2type.errors import Ephys2TypeError, TableError
from ephys2type.limits import with_jobs
from ephys2type.models import abstention
from ephys2type.models.accuracy_record import AccuracyRecord, held_out_folds
from ephys2type.models.batch_check import BatchSummary, summarize_batch
from ephys2type.models.call_table import ABSTAIN, call_table
from ephys2type.models.cell_scores import CellScores, RecordingChecks
from ephys2type.models.conformal import (
    NO_CALL,
    Calibration,
    calibrate,
    cell_draws,
    judged_calls,
    levels_table,
)
from ephys2type.models.members import (
    Member,
    MemberStore,
    class_probabilities,
    wilson_interval,
)
from ephys2type.models.novelty import FeatureDistance
from ephys2type.models.plausibility import PlausibleRanges
from ephys2type.models.preprocessing import FamilyPreprocessor
from ephys2type.models.priors import PriorShift, adapt_priors
from ephys2type.models.registry import ModelSpec, get_model
from ephys2type.models.routing import PRESENT_SHARE, MemberRouter

__all__ = [
    "ABSTAIN",
    "PRESENT_SHARE",
    "CellTypeClassifier",
    "Member",
    "class_probabilities",
    "wilson_interval",
]

#: Default floor of a feature set's expected accuracy (see the README for its measurement).
MIN_EXPECTED_ACCURACY = 0.6
#: Fewest cells whose class proportions ``adapt_priors`` estimates.
MIN_ADAPT_CELLS = 10
#: Parameters read when cells are predicted: they may change after ``fit``. Any other
#: parameter changes what ``fit`` learns, so changing it on a fitted classifier is refused.
PREDICT_PARAMS = frozenset(
    {
        "confidence",
        "max_set_size",
        "level_names",
        "min_expected_accuracy",
        "n_jobs",
        "adapt_priors",
        "id_column",
        "qc_profile",
        "call_inside_set",
        "refuse_failed_checks",
    }
)
#: Called with (done, total, what) while members are fitted on demand.
Progress = Callable[[int, int, str], None]


class CellTypeClassifier(ClassifierMixin, BaseEstimator):
    """A registry model, routed, calibrated and abstaining (see the module docstring).

    Parameters
    ----------
    model : str or ModelSpec, default "rf"
        The registry model each member is built from.
    schema : FeatureSchema, optional
        The schema of the columns of ``X`` (its families route cells and name the
        explanations). None: the columns of ``X`` as one family (``schema_``).
    family_subsets : bool, default True
        Also fit members for the schema's protocol subsets at ``fit`` (else they are fitted
        on demand when cells need them, for that call only unless :meth:`fit_missing` keeps
        them, as ``predict_file`` does: each ``predict`` of cells lacking a protocol fits
        them again; new-user trial, a 3-fold ``cross_val_score`` took 419 s instead of
        116 s).
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
    id_column : str, optional
        The cell id column a table of cells is expected to have (``train`` records the one
        of its training table); else one is looked for.
    qc_profile : str, default "default"
        The QC profile whose rules flag cells (``qc_flag``): the profile of the training
        cells.
    call_inside_set : bool, default True
        A call must lie inside its own prediction set: a cell whose most probable class is
        outside its set (an empty set included) is unassigned (``no typical class``). On
        the evaluation folds (``benchmarks/calls_and_sets.py``, random forest) such calls
        were right 33-67% of the time, against 84-96% for calls inside their set; the rule
        leaves 1.5-5% more cells unassigned and raises the accuracy of the calls by 1-2
        points.
    refuse_failed_checks : bool, default True
        A cell whose recording checks say it may not be an interneuron, or that it fires
        at rest, is unassigned (``failed recording check``); else it is called and the
        check is shown.
    hierarchical : bool, default False
        With ``parent_of``: each member is a :class:`~ephys2type.models.hierarchy.
        HierarchicalClassifier` (a parent-level model, then a model per parent) of the
        registry model, instead of one model over every class.
    record_folds : int, default 0
        0: each member's expected accuracy, and the batch check's accuracy estimate, rest on
        the calibration cells. k >= 2: on the out-of-fold call of every training cell not
        repeated, the proper cells called by k models per member, each fitted without a
        k-th of them (:mod:`~ephys2type.models.accuracy_record`; k more fits per member, on
        demand too). The expected accuracy also decides ``min_expected_accuracy``'s
        refusals, so a classifier with a record can refuse other cells than one without.

    Attributes
    ----------
    schema_ (the schema used), model_params_ (the registry model's parameters as fitted:
    within the run limits in force at ``fit``; members fitted later use the same), classes_,
    members_ (fitted at ``fit``, largest first),
    on_demand_ (members fitted by :meth:`fit_missing`, by feature set), scaler_
    (standardization of all training cells), distance_ (:class:`FeatureDistance`),
    ranges_ (:class:`PlausibleRanges`),
    usually_measured_ (features at least ``1 - max_imputed_share`` of the training cells
    have), X_train_, y_train_, repeats_, calibration_ (mask of the calibration cells),
    provenance_ (what ``fit`` was told about the training data), feature_names_in_,
    n_features_in_.
    """

    _parameter_constraints: ClassVar[dict] = {
        "model": [str, ModelSpec],
        "schema": [FeatureSchema, None],
        "family_subsets": ["boolean"],
        "calibration_size": [Interval(Real, 0, 1, closed="neither")],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "max_set_size": [Interval(Integral, 1, None, closed="left")],
        "parent_of": [Mapping, None],
        "level_names": [tuple, list],
        "min_expected_accuracy": [Interval(Real, 0, 1, closed="both")],
        "max_imputed_share": [Interval(Real, 0, 1, closed="both")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Integral, None],
        "adapt_priors": ["boolean"],
        "id_column": [str, None],
        "qc_profile": [str],
        "call_inside_set": ["boolean"],
        "refuse_failed_checks": ["boolean"],
        "hierarchical": ["boolean"],
        "record_folds": [
            Options(Integral, {0}),
            Interval(Integral, 2, None, closed="left"),
        ],
    }

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
        id_column: str | None = None,
        qc_profile: str = "default",
        call_inside_set: bool = True,
        refuse_failed_checks: bool = True,
        hierarchical: bool = False,
        record_folds: int = 0,
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
        self.id_column = id_column
        self.qc_profile = qc_profile
        self.call_inside_set = call_inside_set
        self.refuse_failed_checks = refuse_failed_checks
        self.hierarchical = hierarchical
        self.record_folds = record_folds

    def set_params(self, **params: Any) -> CellTypeClassifier:
        """Set parameters. On a fitted classifier only those read at prediction
        (:data:`PREDICT_PARAMS`) may change; the others would need another fit."""
        if hasattr(self, "members_"):
            current = self.get_params(deep=False)
            refit = sorted(
                k
                for k, v in params.items()
                if k not in PREDICT_PARAMS and k in current and not _same(current[k], v)
            )
            if refit:
                raise Ephys2TypeError(
                    f"{', '.join(refit)} change(s) what fit learns: set it on an unfitted "
                    "classifier (sklearn.base.clone) and fit again"
                )
        return super().set_params(**params)

    # -- fitting -------------------------------------------------------------------------------

    def model_spec(self) -> ModelSpec:
        """The registry model the members are built from."""
        return get_model(self.model) if isinstance(self.model, str) else self.model

    def fitted_spec(self) -> ModelSpec:
        """The registry model with the parameters it was fitted with (``model_params_``)."""
        check_is_fitted(self, "model_params_")
        spec = self.model_spec()
        if spec.factory is None or dict(spec.params) == self.model_params_:
            return spec
        return spec.with_params(**self.model_params_)

    def fit(
        self,
        X: pd.DataFrame,
        y,
        *,
        sample_repeats=None,
        provenance: Mapping[str, Any] | None = None,
    ) -> CellTypeClassifier:
        """Fit the members, the calibration, the distance and the plausible ranges.

        ``sample_repeats`` (a whole number >= 1 per cell, default 1) makes a few cells count
        more: a cell with ``r`` repeats enters every member's training cells ``r`` times,
        and is never a calibration cell (so the calibration, prediction sets and expected
        accuracy stay measured on unrepeated cells). ``train --add-table`` uses it for a
        lab's own labelled cells. ``provenance`` (JSON-ready facts about the training data:
        datasets, versions, ...) is kept as ``provenance_`` and saved with the model.
        """
        self._validate_params()
        if len(self.level_names) != 2:
            raise ValueError(f"level_names needs two names, not {self.level_names!r}")
        if self.hierarchical and self.parent_of is None:
            raise ValueError("a hierarchical classifier needs parent_of (two-level labels)")
        if not isinstance(X, pd.DataFrame):
            # the array checks scikit-learn's users expect (sparse, complex, empty, 1-D, y)
            X = check_array(X, ensure_all_finite="allow-nan", dtype=np.float64)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name="y")
        if pd.isna(y).any():
            raise Ephys2TypeError("training needs a label for every cell (apply QC first)")
        check_classification_targets(y)
        self.schema_ = self.schema if self.schema is not None else _generic_schema(X)
        X = self._frame(X, fitting=True)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} cells and y {len(y)} labels")
        counts = pd.Series(y).value_counts()
        if (counts < 2).any():
            fewest = rare_class_minimum("default")
            raise Ephys2TypeError(
                f"{int((counts < 2).sum())} class(es) have a single cell (e.g. "
                f"{counts.idxmin()!r}); calibration needs at least 2 cells per class: leave "
                "such classes out or merge them (the QC profile 'default', --profile default, "
                f"leaves out classes of fewer than {fewest} cells)"
            )
        if self.parent_of is not None:
            unknown = sorted(set(counts.index) - set(self.parent_of))
            if unknown:
                raise Ephys2TypeError(f"no parent class for {', '.join(map(str, unknown[:5]))}")
        self.classes_ = np.unique(y)
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
        self.model_params_ = dict(self.model_spec().params)  # what every member is built with
        self.repeats_ = repeats
        self.calibration_ = np.zeros(len(y), dtype=bool)
        self.calibration_[calibration] = True
        self.X_train_, self.y_train_ = X, y
        self.provenance_ = dict(provenance or {})
        self.feature_names_in_ = np.asarray(self.schema_.columns, dtype=object)
        self.n_features_in_ = len(self.schema_.columns)
        self.scaler_ = FamilyPreprocessor(families=self.schema_.family_index()).fit(X)
        self.distance_ = FeatureDistance(
            families=self.schema_.family_index(), random_state=self.random_state
        ).fit(self.scaler_.standardize_measured(X))
        self.ranges_ = PlausibleRanges.fit(X)
        self.usually_measured_ = X.notna().mean().to_numpy() >= 1 - self.max_imputed_share
        sets = [tuple(self.schema_.columns)]
        if self.family_subsets:
            for families in self.schema_.protocol_subsets():
                sets.append(tuple(self.schema_.restrict(families).columns))
        self.members_ = [self.fit_member(cols) for cols in dict.fromkeys(sets)]
        self.on_demand_: dict[frozenset[str], Member] = {}
        return self

    def fit_member(self, features: Sequence[str], *, origin: str = "fit") -> Member:
        """A member for ``features``, fitted on the proper training cells and calibrated on
        the calibration cells (the same split for every member). The classifier is not
        changed: :meth:`fit_missing` keeps members, this only makes one."""
        check_is_fitted(self, "calibration_")
        features = tuple(c for c in self.schema_.columns if c in set(features))
        cal = self.calibration_
        estimator = self._fitted(features, ~cal)
        raw = class_probabilities(estimator, self.X_train_.loc[cal, list(features)], self.classes_)
        calibration = calibrate(
            raw,
            self.y_train_[cal],
            self.classes_,
            confidence=self.confidence,
            parent_of=self.parent_of,
        )
        if self.record_folds:
            calibration = replace(calibration, record=self._record(features, calibration, raw))
        return Member(
            features=features, calibration=calibration, origin=origin, _estimator=estimator
        )

    def _fitted(self, features: tuple[str, ...], rows: np.ndarray) -> Any:
        """A model of ``features`` (the member's kind) fitted on the training cells ``rows``
        (a mask), a repeated cell as many times as it counts."""
        spec = self.fitted_spec()
        schema = self.schema_.select(features)
        if self.hierarchical:
            from ephys2type.models.hierarchy import HierarchicalClassifier

            estimator = HierarchicalClassifier(
                model=spec, schema=schema, parent_of=self.parent_of, random_state=self.random_state
            )
        else:
            estimator = clone(spec.build(schema, self.random_state))
        if self.n_jobs is not None:
            with_jobs(estimator, self.n_jobs)
        X = self.X_train_[list(features)]
        fit_rows = np.flatnonzero(rows)
        if (self.repeats_ > 1).any():
            fit_rows = np.repeat(fit_rows, self.repeats_[fit_rows])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns of a few cells
            estimator.fit(X.iloc[fit_rows], self.y_train_[fit_rows], **spec.fit_params)
        return estimator

    def _record(
        self, features: tuple[str, ...], calibration: Calibration, raw_cal: np.ndarray
    ) -> AccuracyRecord:
        """Every training cell's out-of-fold call of the member of ``features`` (its
        calibration cells' probabilities ``raw_cal``), for ``record_folds``."""
        once = self.repeats_ == 1
        fold = held_out_folds(
            self.y_train_, once & ~self.calibration_, self.record_folds, self.random_state
        )
        proba = np.empty((len(self.y_train_), len(self.classes_)))
        proba[self.calibration_] = calibration.probabilities(raw_cal)
        X = self.X_train_[list(features)]
        for k in range(1, fold.max() + 1):
            held = fold == k
            estimator = self._fitted(features, ~held)
            proba[held] = calibration.probabilities(
                class_probabilities(estimator, X[held], self.classes_)
            )
        calls = judged_calls(proba[once], self.classes_, self.y_train_[once], self.parent_of)
        return AccuracyRecord.of(calls, fold.max())

    def router(self) -> MemberRouter:
        """The router over the fitted members and those fitted on demand."""
        check_is_fitted(self, "members_")
        return MemberRouter(
            self.schema_,
            self.members_,
            self.on_demand_.values(),
            self.usually_measured_,
            self.max_imputed_share,
        )

    def missing_feature_sets(
        self, X, *, recording_checks: RecordingChecks | None = None
    ) -> list[tuple[str, ...]]:
        """The feature sets of the cells of ``X`` that no member serves yet (each needs a
        member fitted on demand; cells stopped before routing do not count, a cell its
        recording checks block included: ``recording_checks`` as :meth:`score_cells` takes
        them)."""
        checks = _carried_checks(X, recording_checks)
        scores = self._prepare(self._frame(X), checks)
        return self.router().missing(scores.measured[scores.reasons == ""])

    def fit_missing(
        self,
        X,
        *,
        store: MemberStore | None = None,
        progress: Progress | None = None,
        recording_checks: RecordingChecks | None = None,
    ) -> list[Member]:
        """Fit, and keep in ``on_demand_``, a member for every feature set of ``X`` that no
        member serves (of the cells :meth:`missing_feature_sets` counts); returns the new
        members. ``store`` is asked first and given every member fitted here
        (:class:`~ephys2type.persist.format.FolderStore` keeps them on disk for the next
        process); ``progress(done, total, what)`` is told of each fit.

        ``predict`` works without it: a member it needs is fitted for that call only.
        """
        todo = self.missing_feature_sets(X, recording_checks=recording_checks)
        new = []
        for k, features in enumerate(todo):
            member = store.get(features) if store is not None else None
            if member is None:
                if progress is not None:
                    progress(k, len(todo), f"fitting a model of {len(features)} features")
                member = self.fit_member(features, origin="on demand")
                if store is not None:
                    store.put(member)
            self.on_demand_[frozenset(features)] = member
            new.append(member)
        if progress is not None and todo:
            progress(len(todo), len(todo), "done")
        return new

    # -- inputs ------------------------------------------------------------------------------------

    def _frame(self, X, *, fitting: bool = False, id_column: str | None = None) -> pd.DataFrame:
        """The cells as a float DataFrame in schema order (errors as the data layer says)."""
        schema = self.schema_
        if fitting and isinstance(X, pd.DataFrame) and list(X.columns) == schema.columns:
            return X.astype(np.float64)
        if not isinstance(X, pd.DataFrame) and not hasattr(X, "to_df"):
            X = check_array(X, ensure_all_finite="allow-nan", dtype=np.float64, ensure_2d=True)
            if X.shape[1] != len(schema.columns):
                raise TableError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{len(schema.columns)} features as input (the columns of "
                    "feature_names_in_, in that order)"
                )
        if isinstance(X, pd.DataFrame) and not isinstance(X, FeatureFrame):
            # recording checks are no features (score_cells reads them first: _carried_checks)
            X = X.drop(columns=[c for c in CHECK_COLUMNS if c in X.columns])
        # a table read from a file is named by its file in every message
        what = getattr(X, "source", "features") if isinstance(X, FeatureFrame) else "features"
        mapping = getattr(X, "mapping", None) if isinstance(X, FeatureFrame) else None
        X = as_feature_frame(
            X, schema, id_column=id_column, preferred_id_column=self.id_column, what=what
        )
        if not fitting:
            # a column wholly outside: a unit slip when a power of ten explains it, or a
            # wrong column when several cells agree; one odd value is the cell's own problem
            units = {f.name: f.unit for f in schema.features}
            slips = self.ranges_.refusing_slips(X, units)
            if slips:
                shown = "; ".join(s.message(units[s.feature], mapping) for s in slips[:3])
                more = f"; and {len(slips) - 3} more such columns" if len(slips) > 3 else ""
                raise TableError(f"{what}: {shown}{more}")
            # from 20 cells on, the schema's plausible medians too (independent of the
            # training cells' ranges, as `data check` reads a table without a model)
            check_units(X, schema, path=what, mapping=mapping)
        return X

    # -- the one computation ---------------------------------------------------------------------

    def _prepare(
        self,
        X: pd.DataFrame,
        checks: RecordingChecks | None = None,
        mapping: ColumnMapping | None = None,
    ) -> CellScores:
        """Scores before routing: what each cell has, and the rules of the ``features``
        stage (``mapping``: the one that renamed the lab's columns, named in reasons)."""
        n = len(X)
        measured = X.notna().to_numpy()
        position = {c: j for j, c in enumerate(self.schema_.columns)}
        has_family = np.column_stack(
            [
                measured[:, [position[c] for c in fam.columns]].any(axis=1)
                for fam in self.schema_.families
            ]
        )
        scores = CellScores(
            X=X,
            classes=self.classes_,
            measured=measured,
            has_family=has_family,
            members=[None] * n,
            proba=np.tile(self.training_priors(), (n, 1)),
            routed=np.zeros(n, dtype=bool),
            distance=np.zeros(n),
            reasons=np.full(n, "", dtype=object),
            recording_checks=checks,
            mapping=mapping,
        )
        abstention.apply("features", scores, self)
        return scores

    def score_cells(
        self,
        X,
        *,
        id_column: str | None = None,
        recording_checks: RecordingChecks | None = None,
        top: int = 2,
    ) -> CellScores:
        """The one computation a batch gets (:class:`CellScores`): route each cell, its
        calibrated probabilities, distance, sets and reasons. ``recording_checks`` are the
        cells' failed recording checks (:func:`ephys2type.data.recordings.checks`), rows
        in the order of ``X``; without them, a DataFrame's own check columns
        (``checks_failed``, ``checks_blocking``: what ``ephys2type features`` and
        :func:`~ephys2type.data.recordings.batch.extract_files` give) are read."""
        check_is_fitted(self, "members_")
        recording_checks = _carried_checks(X, recording_checks)
        mapping = X.mapping if isinstance(X, FeatureFrame) else None
        X = self._frame(X, id_column=id_column)
        if recording_checks is not None and len(recording_checks.blocking) != len(X):
            raise ValueError("recording_checks needs one entry per cell")
        scores = self._prepare(X, recording_checks, mapping)
        self._route(scores, top)
        scores.distance = self.distance_.distance(self.scaler_.standardize_measured(X))
        # a cell with no feature is not unlike the training cells: nothing is known of it
        # (its reason says so); it was counted out of distribution (new-user trial)
        scores.distance[~scores.measured.any(axis=1)] = np.nan
        abstention.apply("member", scores, self)
        if self.adapt_priors:
            scores.prior_shift = self._adapted(scores.proba, scores.reasons, scores.routed)
        self._sets(scores)
        abstention.apply("sets", scores, self)
        return scores

    def _route(self, scores: CellScores, top: int) -> None:
        """Send every cell without a reason to its member (fitting, for this call only,
        one for each feature set no member serves) and take its probabilities."""
        router = self.router()
        todo = np.flatnonzero(scores.reasons == "")
        patterns, inverse = np.unique(scores.measured[todo], axis=0, return_inverse=True)
        inverse = inverse.ravel()
        transient: dict[frozenset[str], Member] = {}
        for k in range(len(patterns)):
            member = router.member_for(patterns[k])
            if member is None:
                features = router.features_of(patterns[k])
                member = transient.get(frozenset(features))
                if member is None:
                    member = self.fit_member(features, origin="on demand")
                    transient[frozenset(features)] = member
            for i in todo[inverse == k]:
                scores.members[i] = member
        scores.routed = np.array([m is not None for m in scores.members], dtype=bool)
        classes = self.classes_
        families = self.schema_.families
        X = scores.X
        for member in {id(m): m for m in scores.members if m is not None}.values():
            rows = np.array([m is member for m in scores.members])
            scores.proba[rows] = member.probabilities(X.loc[rows], classes)
            att = member.attention(X.loc[rows])
            if att is not None:
                if scores.top_families is None:
                    scores.top_families = np.full(scores.n, "", dtype=object)
                has = {fam.name: scores.has_family[rows, k] for k, fam in enumerate(families)}
                scores.top_families[rows] = _top(att, top, has)

    def _sets(self, scores: CellScores) -> None:
        """Each routed cell's prediction sets (and, with two-level labels, its levels), from
        its member's conformal scores at ``confidence``."""
        classes = self.classes_
        n = scores.n
        sets = np.zeros((n, len(classes)), dtype=bool)
        parent_sets = None
        if self.parent_of is not None:
            parents = sorted(set(self.parent_of[c] for c in classes))
            parent_sets = np.zeros((n, len(parents)), dtype=bool)
        by_member: dict[int, list[int]] = {}
        for i in np.flatnonzero(scores.routed):
            by_member.setdefault(id(scores.members[i]), []).append(i)
        draws = cell_draws(scores.X, len(classes), self.random_state)
        for rows in by_member.values():
            conformal = scores.members[rows[0]].conformal.at(self.confidence)
            sets[rows] = conformal.sets(scores.proba[rows], classes, draws=draws[rows])
            if parent_sets is not None:
                parent_sets[rows] = conformal.parent_sets(
                    scores.proba[rows], classes, draws=draws[rows]
                )
        scores.sets, scores.parent_sets = sets, parent_sets
        if parent_sets is not None:
            scores.levels = self._levels(scores.proba, scores.routed, sets, parent_sets)

    def _levels(self, proba, routed, sets, parent_sets) -> pd.DataFrame:
        """Per cell and level: the top-down call, its probability, the set and its size;
        ``call`` / ``call_level`` / ``call_probability``: the finest level the sets support."""
        up, fine = self.level_names
        table = levels_table(
            proba,
            self.classes_,
            self.parent_of,
            sets,
            parent_sets,
            self.max_set_size,
            call_inside_set=self.call_inside_set,
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
        out.loc[~routed, [up, fine, f"{up}_set", f"{fine}_set", "call"]] = ""
        out.loc[~routed, [f"{up}_probability", f"{fine}_probability"]] = np.nan
        out.loc[~routed, "call_level"] = NO_CALL
        return out

    def qc_flags(self, X: pd.DataFrame) -> pd.Series:
        """``"rule: detail"`` for cells the training QC profile would have dropped, each
        judged on the protocols it was recorded with: the features of a stimulus protocol
        without a single value in a cell (one the lab did not run: ramps, short squares,
        chirps) are not counted as missing values, unless the protocol has an essential
        family (new-user trial: every cell of step-only recordings was flagged
        ``max_missing``, which said nothing about the cells; a cell without subthreshold
        features, or with gaps in the protocols it has, still is)."""
        schema = self.schema_
        has = X.reindex(columns=schema.columns).notna()
        recorded = {}
        for protocol in schema.protocols:
            families = [f for f in schema.families if f.stimulus == protocol]
            columns = [c for f in families for c in f.columns]
            essential = any(f.essential for f in families)
            recorded[protocol] = has[columns].any(axis=1).to_numpy() | essential
        patterns = np.column_stack(list(recorded.values())).reshape(len(X), len(recorded))
        flags = np.full(len(X), "", dtype=object)
        for pattern in np.unique(patterns, axis=0):
            rows = np.flatnonzero((patterns == pattern).all(axis=1))
            kept = {p for p, run in zip(recorded, pattern, strict=True) if run}
            families = [f.name for f in schema.families if f.stimulus in kept]
            part = schema.restrict(families) if families else schema  # nothing measured
            flags[rows] = self._qc_drops(X.iloc[rows].reindex(columns=part.columns), part)
        return pd.Series(flags, index=X.index)

    def _qc_drops(self, X: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
        """Per row of ``X`` (``schema``'s columns), the QC profile's ``"rule: detail"``."""
        from ephys2type.data.container import PatchSeqData
        from ephys2type.data.qc import apply_qc

        cells = X.copy()
        cells.index = pd.RangeIndex(len(X))  # QC works on unique, plain ids
        data = PatchSeqData(
            X=cells, meta=pd.DataFrame(index=cells.index), schema=schema, species=schema.species
        )
        drops = apply_qc(data, self.qc_profile).qc.drops
        flags = pd.Series("", index=cells.index, dtype=object)
        flags[drops.index] = drops["rule"] + ": " + drops["detail"]
        return flags.to_numpy(dtype=object)

    def training_priors(self) -> np.ndarray:
        """The class proportions the probabilities are calibrated to: those of the
        calibration cells (``classes_`` order)."""
        check_is_fitted(self, "calibration_")
        counts = pd.Series(self.y_train_[self.calibration_]).value_counts()
        return (counts.reindex(self.classes_).fillna(0) / counts.sum()).to_numpy(dtype=float)

    def _adapted(
        self, proba: np.ndarray, reason: np.ndarray, routed: np.ndarray
    ) -> PriorShift | None:
        """Re-weight, in place, the probabilities of the cells still to be called by the
        batch's estimated class proportions; None when too few cells to estimate them."""
        rows = routed & (reason == "")
        if rows.sum() < MIN_ADAPT_CELLS:
            return None
        shift = adapt_priors(proba[rows], np.maximum(self.training_priors(), 1e-6))
        proba[rows] = shift.probabilities
        return shift

    def calibration_counts(self) -> pd.Series:
        """Calibration cells per class (finest level), fewest first. A class's prediction
        sets rest on its own (class-conditional conformal prediction), so a class of few
        can join a cell's set at a low probability (a trial: 10 Lamp5 cells, Lamp5 in sets
        at 0.015; ``persist.train.calibration_note`` says so after training)."""
        check_is_fitted(self, "calibration_")
        y = pd.Series(np.asarray(self.y_train_, dtype=object)[self.calibration_])
        counts = y.value_counts().reindex(self.classes_, fill_value=0)
        return counts.sort_values(kind="stable").rename("calibration_cells")

    # -- prediction ------------------------------------------------------------------------------

    def route(self, X) -> pd.Series:
        """The member (its number of features) each cell would be predicted by, indexed like
        the cells; 0 for a cell no member fits (it would get one on demand)."""
        check_is_fitted(self, "members_")
        X = self._frame(X)
        router = self.router()
        out = [
            0 if (m := router.member_for(row)) is None else len(m.features)
            for row in X.notna().to_numpy()
        ]
        return pd.Series(out, index=X.index, name="n_model_features")

    def table_of(self, scores: CellScores, *, top: int = 2) -> pd.DataFrame:
        """The per-cell table of a batch's scores (:func:`~ephys2type.models.call_table.
        call_table`)."""
        return call_table(scores, self, top=top)

    def predict_table(
        self,
        X,
        *,
        id_column: str | None = None,
        top: int = 2,
        recording_checks: RecordingChecks | None = None,
    ) -> pd.DataFrame:
        """One row per cell, indexed by the caller's cell ids: the call (``predicted``:
        a class, or :data:`ABSTAIN`) and ``reason`` (``"<kind>: <detail>"``, empty when
        called), its probability, every class's probability (``proba:<class>``), the
        prediction set, the features it had and the model that used them (``n_features``,
        ``families``, ``model_features``, ``n_imputed``, ``imputed``), the
        ``expected_accuracy`` of that feature set with its interval, the
        out-of-distribution score and flag, and ``qc_flag`` (the training QC rule it fails,
        if any); with two-level labels, each level's call, probability, set and expected
        accuracy, and ``call_level`` (:data:`ephys2type.models.call_table.COLUMNS`)."""
        scores = self.score_cells(X, id_column=id_column, recording_checks=recording_checks)
        return self.table_of(scores, top=top)

    def check_batch(
        self,
        X,
        *,
        id_column: str | None = None,
        recording_checks: RecordingChecks | None = None,
    ) -> BatchSummary:
        """The batch check ``ephys2type predict`` prints and writes to
        ``<predictions>.summary.json``, for the cells of ``X`` as one batch: do they differ
        from the training cells beyond their mix of types, their accuracy estimated without
        labels (with its interval: 95% of chance, and for a batch declared shifted at least
        the shift allowance either side; beside the stated in-distribution accuracy), and the
        warning or note it gives (:class:`~ephys2type.models.batch_check.BatchSummary`;
        :mod:`ephys2type.models.batch_check` says how)."""
        scores = self.score_cells(X, id_column=id_column, recording_checks=recording_checks)
        return summarize_batch(self, scores, self.table_of(scores))

    @staticmethod
    def explanation(table: pd.DataFrame) -> pd.DataFrame:
        """The columns of a :meth:`predict_table` an evaluation keeps beside each
        prediction: ``reason``, ``expected_accuracy``, ``model_features``,
        ``out_of_distribution`` and the prediction set (``set``); with two-level labels the
        finest level's set, the level above's (``parent_set``) and ``call_level``."""
        columns = ["reason", "expected_accuracy", "model_features", "out_of_distribution"]
        if "set" in table.columns:
            return table[[*columns, "set"]].reset_index(drop=True)
        up, fine = level_names(table)
        out = table[[*columns, f"{fine}_set", f"{up}_set", "call_level"]].rename(
            columns={f"{fine}_set": "set", f"{up}_set": "parent_set"}
        )
        out["call_level"] = out["call_level"].map({fine: "class", up: "parent"}).fillna(NO_CALL)
        return out.reset_index(drop=True)

    def explain(self, X) -> pd.DataFrame:
        """Per cell, why it was called or not (:meth:`explanation` of its table)."""
        return self.explanation(self.predict_table(X))

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities of every cell (columns in ``classes_`` order;
        the training class proportions for a cell no model could read). Whether a cell is
        called is :meth:`predict`'s business."""
        return self.score_cells(X).proba

    def predict(self, X) -> np.ndarray:
        """The call of each cell: a class (with two-level labels, the finest level the sets
        support), or :data:`ABSTAIN`. When every cell is called the array has the dtype of
        ``classes_``, as scikit-learn's classifiers return; else it is an object array."""
        calls = self.predict_table(X)["predicted"].to_numpy(dtype=object)
        if self.parent_of is None and not (calls == ABSTAIN).any():
            return calls.astype(self.classes_.dtype)
        return calls

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of :meth:`predict` against ``y`` (an unassigned cell counts as wrong),
        weighted by ``sample_weight``. With two-level labels a call is judged at the
        coarser of its level and ``y``'s: a parent-level call is right when it is the parent
        of the cell's class, a finer call when ``y`` is its parent (``predict`` gives the
        finest level the sets support, often the parent: compared with the finest labels
        alone, every such call would count as wrong)."""
        calls = self.predict(X)
        truth = np.asarray(y, dtype=object)
        right = calls == truth
        if self.parent_of is not None:  # y at the finest level, or at the parent level
            parents = np.array([self.parent_of.get(t, t) for t in truth], dtype=object)
            called_parents = np.array([self.parent_of.get(c, c) for c in calls], dtype=object)
            right |= (calls == parents) | (called_parents == truth)
        return float(np.average(right, weights=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _carried_checks(X, checks: RecordingChecks | None) -> RecordingChecks | None:
    """The cells' recording checks: ``checks`` when given, else those a plain DataFrame's
    check columns carry (new-user trial: features computed in Python lost them, and cells
    the command line leaves unassigned were called; ``_frame`` sets the columns aside). A
    table read from a file had its checks taken out when read (the caller decides)."""
    if checks is not None or not isinstance(X, pd.DataFrame) or isinstance(X, FeatureFrame):
        return checks
    carried = checks_from_columns(X)
    return None if carried is None else RecordingChecks.of(carried)


def _generic_schema(X) -> FeatureSchema:
    """The schema of cells given without one: their columns (a DataFrame's names, else
    ``x0``, ``x1``, ...) as one family of dimensionless features."""
    columns = (
        [str(c) for c in X.columns]
        if isinstance(X, pd.DataFrame)
        else [f"x{j}" for j in range(X.shape[1])]
    )
    return FeatureSchema.generic(columns)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else np.array_equal(a, b)
    except (TypeError, ValueError):
        return a is b


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
