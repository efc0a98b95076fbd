"""Predict the cells of a features file (CSV or AnnData ``.h5ad``) with a saved model: what
``ephys2type predict`` does, as one library call (:func:`predict_cells`) and one writer
(:func:`write_prediction`)."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.h5ad import annotate_h5ad, calls_for_h5ad, is_h5ad, write_h5ad
from ephys2type.data.mapping import load_mapping
from ephys2type.data.recordings.check_table import (
    CHECK_COLUMNS,
    cell_checks,
    checks_elsewhere,
    qc_table_path,
)
from ephys2type.data.schema_match import SCHEMA_OF_MODEL
from ephys2type.data.tables import read_feature_table
from ephys2type.errors import Ephys2TypeWarning, TableError
from ephys2type.files import atomic_write_text, dumps_json, refuse_existing_outputs, summary_path
from ephys2type.models.batch_check import BatchSummary, summarize_batch, training_cells_note
from ephys2type.models.cell_classifier import CellTypeClassifier
from ephys2type.models.cell_scores import CellScores, RecordingChecks


def read_features(
    model: CellTypeClassifier,
    features: str | Path,
    *,
    id_column: str | None = None,
    obsm_key: str | None = None,
    mapping: str | Path | None = None,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a features CSV or ``.h5ad`` file for ``model`` (checked against its schema),
    indexed by cell id. Columns of the schema may be absent (whole families a lab did not
    record, or single features): the model predicts each cell from the features it has, and
    one warning names them. ``mapping`` is a TOML file mapping another lab's columns (and
    units) onto the schema's (:mod:`ephys2type.data.mapping`); ``sheet`` names the sheet of
    an ``.xlsx`` workbook (else the one named like a feature table, else the first)."""
    if id_column is not None and is_h5ad(features):
        raise TableError(f"{features}: the cell ids of an .h5ad file are its obs_names")
    return read_feature_table(
        features,
        model.schema_,
        id_column=id_column,
        preferred_id_column=model.id_column,
        obsm_key=obsm_key,
        allow_missing=True,  # absent features: each cell is predicted from those it has
        check_unit_ranges=False,  # the model checks every cell against its training cells
        mapping=None if mapping is None else load_mapping(mapping, model.schema_),
        schema_source=SCHEMA_OF_MODEL,
        note_absent=True,
        sheet=sheet,
    )


@dataclass(frozen=True)
class FeatureSetUse:
    """One feature set's model in a batch: the features it reads, the cells it served, the
    expected accuracy of its calls with its 95% interval, whether it was fitted on demand
    (no saved model reads exactly these features), its families, and ``distinct``: the
    features that set it apart from the other sets of the same size in the batch (those not
    every set of that size has; empty when its size is its own), so two sets of 45 features
    are told apart, and ``same_size``: how many sets of that size the batch has;
    ``n_imputing`` of its cells lack features of it that most training cells have
    (``imputed``; new-user trial: the 85% said of cells without v_baseline, input
    resistance, tau and sag, imputed, was that of cells with them)."""

    features: tuple[str, ...]
    n_cells: int
    expected_accuracy: float
    low: float
    high: float
    on_demand: bool
    families: tuple[str, ...]
    distinct: tuple[str, ...] = ()
    same_size: int = 1  # the sets of this size in the batch, this one included
    #: its cells that lack features most training cells have (imputed), and which features
    n_imputing: int = 0
    imputed: tuple[str, ...] = ()


def feature_set_uses(scores: CellScores, clf: CellTypeClassifier, rows=None) -> list[FeatureSetUse]:
    """The feature sets of ``clf``'s models that served the cells ``rows`` (a boolean mask;
    default: every routed cell), largest first, then by cells served: one entry per model,
    however many sets share its size (:class:`FeatureSetUse`)."""
    schema = clf.schema_
    rows = scores.routed if rows is None else np.asarray(rows, dtype=bool) & scores.routed
    position = {c: j for j, c in enumerate(schema.columns)}
    usual = np.asarray(clf.usually_measured_, dtype=bool)
    counts: dict[int, int] = {}
    members = {}
    imputing: dict[int, int] = {}
    imputed: dict[int, set[str]] = {}
    for i in np.flatnonzero(rows):
        member = scores.members[i]
        key = id(member)
        counts[key] = counts.get(key, 0) + 1
        members[key] = member
        lacking = {
            c for c in member.features if usual[position[c]] and not scores.measured[i, position[c]]
        }
        if lacking:
            imputing[key] = imputing.get(key, 0) + 1
            imputed.setdefault(key, set()).update(lacking)
    uses = []
    for key, member in members.items():
        low, high = member.interval()
        wanted = set(member.features)
        uses.append(
            FeatureSetUse(
                features=tuple(member.features),
                n_cells=counts[key],
                expected_accuracy=float(member.expected_accuracy),
                low=float(low),
                high=float(high),
                on_demand=member.origin != "fit",
                families=tuple(f.name for f in schema.families if wanted & set(f.columns)),
                n_imputing=imputing.get(key, 0),
                imputed=tuple(c for c in member.features if c in imputed.get(key, ())),
            )
        )
    by_size: dict[int, list[FeatureSetUse]] = {}
    for use in uses:
        by_size.setdefault(len(use.features), []).append(use)
    out = []
    for use in uses:
        same = by_size[len(use.features)]
        if len(same) > 1:
            shared = set.intersection(*(set(u.features) for u in same))
            distinct = tuple(c for c in use.features if c not in shared)
            use = replace(use, distinct=distinct, same_size=len(same))
        out.append(use)
    return sorted(out, key=lambda u: (-len(u.features), -u.n_cells, u.features))


@dataclass
class Prediction:
    """One batch predicted: the model, the cells as read, the one computation they got,
    the per-cell table, the batch summary, and where the recording checks came from
    (:func:`resolve_recording_checks`; None: none)."""

    model: CellTypeClassifier
    cells: pd.DataFrame
    scores: CellScores
    table: pd.DataFrame
    batch: BatchSummary
    checks_source: str | None = None

    @property
    def checks_in_table(self) -> bool:
        """Whether the recording checks came from the features table's own columns."""
        return self.checks_source is not None and self.checks_source.endswith(_IN_TABLE)

    def feature_sets(self) -> list[FeatureSetUse]:
        """The feature sets whose models made the calls (the cells called), largest first
        (:func:`feature_set_uses`)."""
        return feature_set_uses(self.scores, self.model, self.scores.called)


#: How a checks source says the checks are the table's own columns.
_IN_TABLE = f"(columns {', '.join(CHECK_COLUMNS)})"

#: ``recording_checks="auto"``: the QC table ``ephys2type features`` writes beside its
#: features table, when there is one.
AUTO = "auto"


def read_recording_checks(
    checks: str | Path | pd.DataFrame,
    cells: pd.Index,
    *,
    own: pd.DataFrame | None = None,
) -> RecordingChecks:
    """The failed recording checks of ``cells`` from a recordings QC table (a path or the
    table). A cell it does not list keeps its table's ``own`` checks (the check columns,
    per row of ``cells``), else is taken to have passed every check; a warning names how many
    cells it does not list (new-user trial: a cell whose own columns said it may not be an
    interneuron was called when --checks gave a QC table of other cells)."""
    table = checks if isinstance(checks, pd.DataFrame) else _read_qc(Path(checks))
    try:
        listed = cell_checks(table)
    except ValueError as exc:
        raise TableError(f"{checks}: {exc}") from None
    ids = cells.astype(str)
    per_cell = listed.reindex(ids).fillna("")
    unlisted = ~ids.isin(listed.index)
    if unlisted.any():
        if own is not None:
            per_cell.loc[unlisted] = own.loc[unlisted].to_numpy()
        shown = ", ".join(map(repr, ids[unlisted][:3])) + (", ..." if unlisted.sum() > 3 else "")
        what = "the recording checks given" if isinstance(checks, pd.DataFrame) else checks
        kept = (
            "their own checks_failed and checks_blocking columns are used"
            if own is not None
            else "they are taken to have passed every recording check"
        )
        warnings.warn(
            f"{what}: {int(unlisted.sum())} of the {len(ids)} cells have no row there "
            f"({shown}): {kept}",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    return RecordingChecks.of(per_cell)


def _read_qc(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"cell_id": str})
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: cannot read the recording checks ({exc})") from None


def resolve_recording_checks(
    features: str | Path,
    cells: pd.DataFrame,
    recording_checks: str | Path | pd.DataFrame | None = AUTO,
) -> tuple[RecordingChecks | None, str | None]:
    """The recording checks of ``cells`` (as :func:`read_features` read them from
    ``features``) and where they came from (None: none). ``recording_checks`` as
    :func:`predict_cells` takes it; ``"auto"``: the table's own check columns
    (:data:`~ephys2type.data.recordings.check_table.CHECK_COLUMNS`, which ``ephys2type
    features`` writes and a copy keeps), else the ``<features>.qc.csv`` beside it; with
    neither, a warning when another QC table in its folder holds these cells' checks."""
    columns = getattr(cells, "checks", None)  # the table's own check columns, if any
    if not (isinstance(recording_checks, str) and recording_checks == AUTO):
        if recording_checks is None:
            return None, None
        source = None if isinstance(recording_checks, pd.DataFrame) else str(recording_checks)
        return read_recording_checks(recording_checks, cells.index, own=columns), source
    if columns is not None:
        return RecordingChecks.of(columns), f"{features} {_IN_TABLE}"
    beside = qc_table_path(features)
    if beside.exists():
        return read_recording_checks(beside, cells.index), str(beside)
    if other := checks_elsewhere(features, cells.index):
        warnings.warn(
            f"{features}: no {beside.name} beside it, but {other} holds the recording "
            f"checks of these cells (was the table renamed?); give them with predict --checks "
            f"{other} (recording_checks=...) so that they reach the calls",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    return None, None


def predict_cells(
    model: CellTypeClassifier | str | Path,
    features: str | Path,
    *,
    id_column: str | None = None,
    obsm_key: str | None = None,
    mapping: str | Path | None = None,
    sheet: str | int | None = None,
    recording_checks: str | Path | pd.DataFrame | None = AUTO,
    call_failed_checks: bool = False,
    member_cache: str | Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Prediction:
    """Read a features file and predict every cell, as ``ephys2type predict`` does.

    ``model`` is a model folder (from ``train``) or a loaded classifier. Cells whose
    feature set no saved member serves get a member fitted on demand (``progress`` is told
    of each fit); a loaded classifier keeps them for later calls (its other parameters are
    left as they were); with ``member_cache`` (a folder; needs a model folder) those members
    are kept there and found again by later calls, in any process. ``sheet`` names the sheet of
    an ``.xlsx`` workbook (default: the only one, else the one named like a feature table,
    else the first visible one).

    ``recording_checks`` is the recordings QC table of the cells (a path or the table;
    ``"auto"``: the checks ``ephys2type features`` wrote into the features table's columns,
    else the ``<features>.qc.csv`` beside it; None: none). A cell whose checks say it may not
    be an interneuron or fires at rest is unassigned, unless ``call_failed_checks``; every
    failed check is shown in its row.
    """
    model, cells, scores, source = score_file(
        model,
        features,
        id_column=id_column,
        obsm_key=obsm_key,
        mapping=mapping,
        sheet=sheet,
        recording_checks=recording_checks,
        call_failed_checks=call_failed_checks,
        member_cache=member_cache,
        progress=progress,
    )
    table = model.table_of(scores)
    batch = summarize_batch(model, scores, table)
    return Prediction(model, cells, scores, table, batch, checks_source=source)


def score_file(
    model: CellTypeClassifier | str | Path,
    features: str | Path,
    *,
    id_column: str | None = None,
    obsm_key: str | None = None,
    mapping: str | Path | None = None,
    sheet: str | int | None = None,
    recording_checks: str | Path | pd.DataFrame | None = AUTO,
    call_failed_checks: bool = False,
    member_cache: str | Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[CellTypeClassifier, pd.DataFrame, CellScores, str | None]:
    """The one computation :func:`predict_cells` makes, before its table: the model (loaded
    from a folder), the cells as read, their scores, and where their recording checks came
    from (:func:`resolve_recording_checks`; None: none). ``ephys2type data check --model``
    runs exactly this, so a table it passes is a table ``predict`` serves, in the same way.
    Arguments as :func:`predict_cells`."""
    from ephys2type.persist.format import FolderStore, load_model

    store = None
    if not isinstance(model, CellTypeClassifier):
        path = Path(model)
        model = load_model(path)
        if member_cache is not None:
            store = FolderStore.for_model(member_cache, path, model)
    else:  # this call's option is not the caller's model's (new-user trial: it stuck); the
        # members it fits on demand are kept in the caller's model, a cache (saved with it)
        model = copy.copy(model)
    cells = read_features(
        model, features, id_column=id_column, obsm_key=obsm_key, mapping=mapping, sheet=sheet
    )
    warn_training_cells(model, cells, features)
    checks, checks_file = resolve_recording_checks(features, cells, recording_checks)
    model.set_params(refuse_failed_checks=not call_failed_checks)
    model.fit_missing(cells, store=store, progress=progress, recording_checks=checks)
    return model, cells, model.score_cells(cells, recording_checks=checks), checks_file


def warn_training_cells(model: CellTypeClassifier, cells: pd.DataFrame, what: str | Path) -> None:
    """Say when cells to predict are cells the model was trained on
    (:func:`~ephys2type.models.batch_check.training_cells_note`; the batch summary keeps it
    among its notes)."""
    note = training_cells_note(model, cells)
    if note is not None:
        warnings.warn(f"{what}: {note}", Ephys2TypeWarning, stacklevel=3)


def write_prediction(
    prediction: Prediction,
    out: str | Path,
    *,
    features: str | Path | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write the predictions (CSV, or ``.h5ad``: :func:`write_predictions`) and the batch
    summary beside them (``<out>.summary.json``); returns both paths."""
    out = Path(out)
    summary = summary_path(out)
    if not overwrite:
        refuse_existing_outputs(out, summary)
    write_predictions(
        prediction.table, out, features=features, cells=prediction.cells, overwrite=overwrite
    )
    atomic_write_text(summary, dumps_json(prediction.batch.to_dict()), overwrite=overwrite)
    return out, summary


def predict_file(
    model: CellTypeClassifier,
    features: str | Path,
    *,
    id_column: str | None = None,
    obsm_key: str | None = None,
    mapping: str | Path | None = None,
    sheet: str | int | None = None,
    recording_checks: str | Path | pd.DataFrame | None = AUTO,
    call_failed_checks: bool = False,
) -> pd.DataFrame:
    """Read a features CSV or AnnData ``.h5ad`` file and predict every cell: the table
    ``predict`` writes (:func:`predict_cells`' table, recording checks and warnings
    included, the batch warning too: new-user trial, a Python user got each cell's
    in-distribution 83% and nothing of the batch's estimated 42%).

    ``id_column=None`` finds the cell ids of a CSV: the model's training id column if the
    file has it, else a common id column name, else the one column of unique text ids. An
    ``.h5ad`` file's ids are its ``.obs_names``; its features are ``.X`` (``var_names`` as
    feature names) or the data frame ``.obsm[obsm_key]``.
    """
    prediction = predict_cells(
        model,
        features,
        id_column=id_column,
        obsm_key=obsm_key,
        mapping=mapping,
        sheet=sheet,
        recording_checks=recording_checks,
        call_failed_checks=call_failed_checks,
    )
    if (message := prediction.batch.warning()) is not None:
        warnings.warn(f"{features}: {message}", Ephys2TypeWarning, stacklevel=2)
    return prediction.table


def write_predictions(
    predictions: pd.DataFrame,
    out: str | Path,
    *,
    features: str | Path | None = None,
    cells: pd.DataFrame | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a prediction table as CSV, or, for an ``.h5ad`` ``out``, as AnnData.

    An ``.h5ad`` ``out`` is a copy of the ``features`` file when that is ``.h5ad`` too (its
    data kept), else a new file with ``cells`` as ``.X``; the calls become ``.obs`` columns
    named ``ephys2type_<column>`` and the probabilities ``.obsm["ephys2type_probabilities"]``.
    """
    if not is_h5ad(out):
        return atomic_write_text(out, predictions.to_csv(float_format="%.6g"), overwrite=overwrite)
    obs, obsm = calls_for_h5ad(predictions)
    if features is not None and is_h5ad(features):
        return annotate_h5ad(features, out, obs, obsm, overwrite=overwrite)
    if cells is None:
        raise TableError(
            f"{out}: a new .h5ad file needs the features of the cells: pass them as cells= (a "
            "DataFrame), or an .h5ad features= file to copy"
            + (f" ({features} is not one)" if features is not None else "")
        )
    return write_h5ad(out, cells, obs, obsm, overwrite=overwrite)
