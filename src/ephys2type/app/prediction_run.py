"""One press of Predict, without Streamlit: save the uploads, make the features of recordings
(``ephys2type features``' library call), find the model (the bundled one, trained once, or a
folder made by ``train``), predict (``ephys2type predict``'s library call) and record what
reproduces it. The page shows the :class:`Outcome`; the tests call :func:`run_prediction`
directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ephys2type.app import commands
from ephys2type.app.bundled_models import ensure_bundled_model
from ephys2type.app.messages import user_warnings
from ephys2type.app.uploads import Upload, save_upload, save_uploads
from ephys2type.data.recordings.sweep_qc import DEFAULT_PRESET
from ephys2type.errors import Ephys2TypeError
from ephys2type.persist.predict import AUTO, Prediction
from ephys2type.wording import plural

#: ``progress(fraction done, what)``
Progress = Callable[[float, str], None]

#: One piece of work at a time in this server: the machine's cores go to it, and Python's
#: warning filters (which collect the messages for the page) are not per thread.
_WORK = threading.Lock()
#: How a warning given before an error is attached to the error (a note on the exception).
WARNING = "warning: "


@dataclass(frozen=True)
class TableCells:
    """Cells as a feature table (CSV, TSV, ``;``/decimal-comma text, ``.xlsx``, ``.h5ad``),
    with a mapping file or a mapping chosen in the page (its TOML text), the recording
    checks ``ephys2type features`` wrote for them, the id column, and the ``.obsm`` key or
    the workbook's sheet."""

    table: Upload
    mapping_file: Upload | None = None
    mapping_text: str | None = None
    checks: Upload | None = None
    id_column: str | None = None
    obsm_key: str | None = None
    sheet: str | None = None


@dataclass(frozen=True)
class RecordedCells:
    """Cells as recordings (ABF, NWB; one file each) and the sweep QC preset."""

    recordings: tuple[Upload, ...]
    sweep_qc: str = DEFAULT_PRESET


@dataclass(frozen=True)
class ModelChoice:
    """The bundled model of a species, or a model folder made by ``ephys2type train``."""

    species: str | None = None
    folder: str | None = None

    def __post_init__(self) -> None:
        if (self.species is None) == (self.folder is None or not self.folder.strip()):
            raise Ephys2TypeError("choose a bundled model or give a model folder")

    def describe(self) -> str:
        if self.species is not None:
            return f"the bundled {self.species} model"
        return f"the model folder {self.folder}"


@dataclass
class Outcome:
    """What one Predict press produced, and what made it."""

    prediction: Prediction
    workdir: Path
    features: Path
    checks: Path | None
    figures: Path | None
    mapping: Path | None
    model_folder: Path
    cells: TableCells | RecordedCells
    model: ModelChoice
    call_failed_checks: bool
    commands: list[list[str]]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def from_recordings(self) -> bool:
        return isinstance(self.cells, RecordedCells)


def recordings_schema(model_folder: str | Path) -> str:
    """The naming ``ephys2type features --schema`` must give recordings for this model."""
    from ephys2type.data.recordings.extract import SCHEMAS
    from ephys2type.data.recordings.sweeps import RecordingError
    from ephys2type.data.schema import get_schema
    from ephys2type.persist.format import load_model

    name = load_model(model_folder).schema.name
    for key in SCHEMAS:
        if get_schema(key).name == name:
            return key
    raise RecordingError(
        f"features from recordings are named for the {' or '.join(SCHEMAS)} schema; the model "
        f"at {model_folder} reads schema {name!r}: give it a feature table instead"
    )


def _model_folder(model: ModelChoice, progress: Progress | None) -> Path:
    if model.species is not None:

        def training(message: str) -> None:
            if progress is not None:
                progress(0.0, message)

        return ensure_bundled_model(model.species, on_training=training)
    return Path(str(model.folder).strip()).expanduser()


def run_prediction(
    cells: TableCells | RecordedCells,
    model: ModelChoice,
    workdir: str | Path,
    *,
    call_failed_checks: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Predict ``cells`` with ``model`` in ``workdir`` (a fresh folder, made if absent) as
    the command line would; our warnings are collected in the outcome, errors are raised
    with the warnings given before them (:func:`warnings_before`)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    said: list[str] = []
    start = time.perf_counter()
    try:
        with _WORK, user_warnings(said, workdir):
            return _run(cells, model, workdir, call_failed_checks, progress, said, start)
    except Exception as exc:
        # what the command line prints before its error (e.g. which workbook sheet was read)
        for line in said:
            exc.add_note(f"{WARNING}{line}")
        raise


def warnings_before(exc: BaseException) -> list[str]:
    """The warnings a failed :func:`run_prediction` gave before its error, in order."""
    notes = getattr(exc, "__notes__", [])
    return [n.removeprefix(WARNING) for n in notes if n.startswith(WARNING)]


def _run(
    cells: TableCells | RecordedCells,
    model: ModelChoice,
    workdir: Path,
    call_failed_checks: bool,
    progress: Progress | None,
    said: list[str],
    start: float,
) -> Outcome:
    """:func:`run_prediction`'s work, its warnings collected into ``said``."""
    from ephys2type.data.fetch import cache_dir
    from ephys2type.persist.predict import predict_cells

    model_folder = _model_folder(model, progress)
    model_arg = (
        commands.bundled_model_name(model.species)
        if model.species is not None
        else str(model.folder).strip()
    )
    steps: list[list[str]] = []
    if model.species is not None:
        steps.append(commands.train_command(model.species))
    mapping = checks = figures = None
    if isinstance(cells, RecordedCells):
        features, checks, figures, step = _recording_features(
            cells, model_folder, workdir, progress
        )
        steps.append(step)
        steps.append(
            commands.predict_command(
                model_arg, features.name, call_failed_checks=call_failed_checks
            )
        )
    else:
        features = save_upload(cells.table, workdir)
        if cells.mapping_file is not None:
            mapping = save_upload(cells.mapping_file, workdir)
        elif cells.mapping_text is not None:
            mapping = save_upload(
                Upload(commands.MAPPING_FILE, cells.mapping_text.encode()), workdir
            )
        if cells.checks is not None:
            checks = save_upload(cells.checks, workdir)
        options = {
            "mapping": None if mapping is None else mapping.name,
            "checks": None if checks is None else checks.name,
            "id_column": cells.id_column,
            "obsm_key": cells.obsm_key,
            "sheet": cells.sheet,
            "call_failed_checks": call_failed_checks,
        }
        steps.append(commands.predict_command(model_arg, features.name, **options))
        if features.suffix.lower() == ".h5ad":
            out = commands.h5ad_predictions_file(features.name)
            steps.append(
                commands.predict_command(
                    model_arg, features.name, out=out, overview=False, **options
                )
            )

    def predicting(done: int, total: int, what: str) -> None:
        if progress is not None:
            progress(done / max(total, 1), what)

    if progress is not None:
        progress(0.0, "predicting")
    prediction = predict_cells(
        model_folder,
        features,
        id_column=None if isinstance(cells, RecordedCells) else cells.id_column,
        obsm_key=None if isinstance(cells, RecordedCells) else cells.obsm_key,
        sheet=None if isinstance(cells, RecordedCells) else cells.sheet,
        mapping=mapping,
        # no QC table uploaded: the table's own check columns, as `predict` reads them
        recording_checks=AUTO if checks is None else checks,
        call_failed_checks=call_failed_checks,
        member_cache=cache_dir() / "models",
        progress=predicting,
    )
    return Outcome(
        prediction=prediction,
        workdir=workdir,
        features=features,
        checks=checks,
        figures=figures,
        mapping=mapping,
        model_folder=model_folder,
        cells=cells,
        model=model,
        call_failed_checks=call_failed_checks,
        commands=steps,
        warnings=said,
        seconds=time.perf_counter() - start,
    )


def _recording_features(
    cells: RecordedCells, model_folder: Path, workdir: Path, progress: Progress | None
) -> tuple[Path, Path, Path, list[str]]:
    """``ephys2type features`` of the recordings: the features, checks and figures paths,
    and the command."""
    from ephys2type.data.recordings.batch import write_features

    schema = recordings_schema(model_folder)
    files = save_uploads(cells.recordings, workdir)
    done = [0]

    def finished(name: str) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0] / len(files), f"features of {name} ({done[0]}/{len(files)})")

    if progress is not None:
        progress(0.0, f"features of {plural(len(files), 'recording')}")
    written = write_features(
        files,
        workdir / commands.FEATURES_FILE,
        schema=schema,
        sweep_qc_profile=cells.sweep_qc,
        figures=workdir / commands.FIGURES_DIR,
        progress=finished,
    )
    step = commands.features_command(
        [f.name for f in files], schema=schema, sweep_qc=cells.sweep_qc
    )
    return written.features_path, written.qc_path, workdir / commands.FIGURES_DIR, step
