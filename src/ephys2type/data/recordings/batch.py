"""Many recordings at once: serially, in local processes (joblib) or on a Dask cluster.

Each file is one independent task (:func:`extract_one`). With a parts folder, every finished
file's features and QC rows are saved there as soon as it finishes (JSON, atomically, keyed by
the file and the extraction settings), so a crash or Ctrl-C loses nothing finished and a rerun
skips the files already done. The assembled table is in the order of the input files, so a
parallel or distributed run gives exactly the serial run's result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ephys2type.data.recordings.check_table import qc_table_path as qc_table_path
from ephys2type.data.recordings.check_table import with_check_columns
from ephys2type.data.recordings.extract import SUFFIXES, extract_cell, read_recording
from ephys2type.data.recordings.sweep_qc import DEFAULT_PRESET
from ephys2type.data.recordings.sweeps import RecordingError
from ephys2type.errors import Ephys2TypeWarning
from ephys2type.files import atomic_write_text, dumps_json, refuse_existing_outputs

#: Suffixes of other acquisition programs' recordings (HEKA, Axon text, Igor, WaveSurfer,
#: AxoGraph, Spike2, Neo-readable binaries): a folder's such files are not read, and that is
#: said (a new-user trial: a folder's .dat and .atf cells were left out without a word).
OTHER_RECORDINGS = (
    ".dat",
    ".atf",
    ".ibw",
    ".pxp",
    ".h5",
    ".axgd",
    ".axgx",
    ".smr",
    ".smrx",
    ".wcp",
)


def _say_other_recordings(folder: Path) -> None:
    """Warn of the files below ``folder`` that look like recordings ephys2type cannot read."""
    other = sorted(
        q for q in folder.rglob("*") if q.suffix.lower() in OTHER_RECORDINGS and q.is_file()
    )
    if other:
        names = ", ".join(q.name for q in other[:3]) + (", ..." if len(other) > 3 else "")
        warnings.warn(
            f"{folder}: {len(other)} file(s) that look like recordings in another format are "
            f"not read ({names}); ephys2type reads {' and '.join(SUFFIXES)} files: export "
            "them as NWB (e.g. with the acquisition program or neo)",
            Ephys2TypeWarning,
            stacklevel=3,
        )


def find_recordings(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path | None]]:
    """The recording files (``.abf``, ``.nwb``) of ``paths``, each a file or a folder searched
    with its sub-folders (sorted), and for each file the folder it was found in (None for a
    file given by itself): what :func:`cell_ids` names the cells by. A file found twice (a
    folder given twice, or a file and its folder) is read once, as first found; a path that
    does not exist, or none found, is an error."""
    files: list[Path] = []
    roots: list[Path | None] = []
    seen: set[Path] = set()
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                q for q in path.rglob("*") if q.suffix.lower() in SUFFIXES and q.is_file()
            )
            pairs = [(q, path) for q in found]
            _say_other_recordings(path)
        elif not path.exists():
            raise RecordingError(f"{path}: no such file or folder")
        else:
            pairs = [(path, None)]
        for file, root in pairs:
            # the path made absolute, links not followed: two links to one file (a DANDI
            # or git-annex layout) stay two cells
            if (key := Path(os.path.abspath(file))) not in seen:
                seen.add(key)
                files.append(file)
                roots.append(root)
    if not files:
        raise RecordingError(f"no {' or '.join(SUFFIXES)} files in the folders given")
    return files, roots


def cell_ids(paths: Sequence[str | Path], roots: Sequence[str | Path | None]) -> list[str]:
    """Each file's cell id: its path relative to the folder it was found in (``roots``: that
    folder, or None for a file given by itself), without its suffix, '/'-separated; so two
    files of one name in different folders stay two cells. A clash is an error naming both."""
    ids: dict[str, Path] = {}
    out = []
    for path, root in zip(paths, roots, strict=True):
        path = Path(path)
        rel = path.relative_to(root) if root is not None else Path(path.name)
        cell = rel.with_suffix("").as_posix()
        if cell in ids:
            raise RecordingError(
                f"two recordings would both be cell {cell!r}: {ids[cell]} and {path}; give "
                "their common parent folder instead, or rename one"
            )
        ids[cell] = path
        out.append(cell)
    return out


def extract_one(
    path: str | Path,
    schema: str,
    sweep_qc_profile: str,
    figures: str | Path | None,
    vectors: bool = False,
    cell_id: str | None = None,
) -> dict[str, Any]:
    """Features, QC rows (and feature vectors) of one file, as plain data (sent back by
    workers, saved as JSON); the cell is ``cell_id`` (default: the file's stem)."""
    path = Path(path)
    cell_id = cell_id or path.stem
    cell = extract_cell(
        read_recording(path),
        schema=schema,
        sweep_qc_profile=sweep_qc_profile,
        figure=None if figures is None else Path(figures) / f"{cell_id}.png",
        vectors=vectors,
    )
    qc = cell.qc.copy()
    qc.insert(0, "cell_id", cell_id)
    return {
        "file": str(path),
        "cell_id": cell_id,
        "row": {k: (None if np.isnan(v) else float(v)) for k, v in cell.row.items()},
        "qc": json.loads(qc.to_json(orient="records")),
        "vectors": {k: [float(x) for x in v] for k, v in cell.vectors.items()},
    }


class BatchResult(NamedTuple):
    """Features (one row per file, indexed by ``cell_id``, in input order), the QC table of
    all files, how many files a previous, interrupted run had finished, and (when asked for)
    each cell's feature vectors by family."""

    features: pd.DataFrame
    qc: pd.DataFrame
    resumed: int
    vectors: dict[str, dict[str, np.ndarray]]


class PartStore:
    """Finished files of one run, one JSON file each, valid for one set of settings."""

    def __init__(self, folder: str | Path, settings: dict[str, Any]):
        self.folder = Path(folder)
        self.key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def _path(self, file: str | Path) -> Path:
        digest = hashlib.sha256(str(Path(file).resolve()).encode()).hexdigest()[:16]
        return self.folder / f"{Path(file).stem}-{digest}.json"

    def load(self, file: str | Path) -> dict[str, Any] | None:
        try:
            part = json.loads(self._path(file).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return part if part.get("key") == self.key else None

    def save(self, file: str | Path, result: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self._path(file), dumps_json({**result, "key": self.key}), overwrite=True)


def _tagged(path: Path, *args) -> tuple[Path, dict[str, Any]]:
    return path, extract_one(path, *args)


def _args(args: tuple, ids: dict[Path, str], path: Path) -> tuple:
    return (*args, ids[path])


def _results(
    todo: list[Path],
    args: tuple,
    ids: dict[Path, str],
    n_jobs: int,
    scheduler: str | None,
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(file, result) as each file finishes."""
    if scheduler is not None:
        from dask.distributed import Client, as_completed

        with Client(scheduler, timeout="20s") as client:
            futures = {
                client.submit(extract_one, p, *_args(args, ids, p), pure=False): p for p in todo
            }
            for future in as_completed(futures):
                yield futures[future], future.result()
    elif n_jobs > 1:
        from joblib import Parallel, delayed
        from joblib.externals.loky import get_reusable_executor

        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_tagged)(p, *_args(args, ids, p)) for p in todo
        )
        # the worker processes hold ipfx, pynwb and h5py: let them go rather than hand them
        # to the next parallel job of this process (a model's folds, which deadlocked in
        # them: tests/test_bilstm.py after tests/test_recordings.py)
        get_reusable_executor().shutdown(wait=True)
    else:
        for p in todo:
            yield p, extract_one(p, *_args(args, ids, p))


def run_batch(
    paths: Sequence[str | Path],
    *,
    schema: str = "mouse",
    sweep_qc_profile: str = DEFAULT_PRESET,
    figures: str | Path | None = None,
    n_jobs: int = 1,
    scheduler: str | None = None,
    parts: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    vectors: bool = False,
    ids: Sequence[str] | None = None,
) -> BatchResult:
    """The files' features, QC table and (with ``vectors``) feature vectors; finished files
    of an interrupted run are taken from ``parts`` (see :class:`BatchResult`). ``ids``: each
    file's cell id (default: its stem; :func:`cell_ids` makes unique ones). ``progress`` is
    told each cell's id as it is done, first those of the interrupted run."""
    paths = [Path(p) for p in paths]
    names = list(ids) if ids is not None else cell_ids(paths, [None] * len(paths))
    by_path = dict(zip(paths, names, strict=True))
    args = (schema, sweep_qc_profile, None if figures is None else str(figures), vectors)
    settings = {"schema": schema, "sweep_qc": sweep_qc_profile, "figures": args[2]}
    if vectors:
        settings["vectors"] = True
    store = None if parts is None else PartStore(parts, settings)
    done: dict[Path, dict[str, Any]] = {}
    if store is not None:
        for p in paths:
            if (part := store.load(p)) is not None and part.get("cell_id") == by_path[p]:
                done[p] = part
    resumed = len(done)
    if progress is not None:  # counted first, so the count is of all files (it restarted at 1)
        for p in paths:
            if p in done:
                progress(f"{by_path[p]} (from the interrupted run)")
    todo = [p for p in paths if p not in done]
    for path, result in _results(todo, args, by_path, n_jobs, scheduler):
        if store is not None:
            store.save(path, result)
        done[path] = result
        if progress is not None:
            progress(by_path[path])  # the cell: two files of one name are two cells
    rows = [pd.Series(done[p]["row"], name=done[p]["cell_id"], dtype=float) for p in paths]
    features = pd.DataFrame(rows)
    features.index.name = "cell_id"
    qc = pd.DataFrame([r for p in paths for r in done[p]["qc"]])
    found = {
        done[p]["cell_id"]: {k: np.asarray(v, float) for k, v in done[p]["vectors"].items()}
        for p in paths
        if done[p]["vectors"]
    }
    return BatchResult(features, qc, resumed, found)


def extract_files(
    paths: Sequence[str | Path],
    *,
    schema: str = "mouse",
    sweep_qc_profile: str = DEFAULT_PRESET,
    figures: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features (one row per file, indexed by ``cell_id``) and the QC table of all files,
    serially; ``paths`` are files or folders (searched with their sub-folders), and a cell is
    named as ``ephys2type features`` names it (:func:`cell_ids`: a file given by itself by its
    stem, a file found in a folder by its path below it); with ``figures`` (a folder), one
    ``<cell_id>.png`` per cell. Each cell's failed recording checks are in the features'
    ``checks_failed`` and ``checks_blocking`` columns, as ``ephys2type features`` writes them,
    so a model's ``predict_table`` acts on them (a cell that may not be an interneuron is
    unassigned)."""
    files, roots = find_recordings(paths)
    result = run_batch(
        files,
        schema=schema,
        sweep_qc_profile=sweep_qc_profile,
        figures=figures,
        ids=cell_ids(files, roots),
    )
    return with_check_columns(result.features, result.qc), result.qc


class WrittenFeatures(NamedTuple):
    """What :func:`write_features` wrote: the features (indexed by ``cell_id``, in input
    order) and QC table, their paths, how many files an interrupted run had finished, and the
    schema of the feature vectors (None when not asked for, or no cell gave vectors) with
    how many cells gave them."""

    features: pd.DataFrame
    qc: pd.DataFrame
    features_path: Path
    qc_path: Path
    resumed: int
    vector_schema: Path | None
    n_vector_cells: int


def write_features(
    files: Sequence[str | Path],
    out: str | Path,
    *,
    roots: Sequence[str | Path | None] | None = None,
    schema: str = "mouse",
    sweep_qc_profile: str = DEFAULT_PRESET,
    figures: str | Path | None = None,
    n_jobs: int = 1,
    scheduler: str | None = None,
    vectors: str | Path | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> WrittenFeatures:
    """What ``ephys2type features`` does, as one call: the features of the recording
    ``files`` (each named by its path below its folder in ``roots``, see :func:`cell_ids`;
    default: by its name) written to ``out`` (CSV) and their QC table to
    ``<out>.qc.csv`` (:func:`qc_table_path`), each cell's failed checks also in two columns of
    the features table (:func:`with_check_columns`); with ``figures``, one check page per cell in
    that folder; with ``vectors`` (an ``.h5ad`` path), the feature vectors and their schema.
    Finished files are kept in ``<out>.parts/`` until the tables are written, so the same
    call after an interruption skips them. Nothing existing is replaced unless
    ``overwrite``; ``progress`` is told the id of each cell as it finishes (:func:`run_batch`)."""
    out = Path(out)
    qc_path = qc_table_path(out)
    targets = [out, qc_path]
    if vectors is not None:
        vectors = Path(vectors)
        if vectors.suffix.lower() != ".h5ad":
            raise RecordingError(f"--vectors {vectors}: feature vectors are written as .h5ad")
        targets.append(vectors)
    if not overwrite:
        refuse_existing_outputs(*targets)
    files = [Path(f) for f in files]
    ids = cell_ids(files, list(roots) if roots is not None else [None] * len(files))
    parts = out.with_name(out.name + ".parts")
    result = run_batch(
        files,
        schema=schema,
        sweep_qc_profile=sweep_qc_profile,
        figures=figures,
        n_jobs=n_jobs,
        scheduler=scheduler,
        parts=parts,
        progress=progress,
        vectors=vectors is not None,
        ids=ids,
    )
    vector_schema = None
    if vectors is not None and result.vectors:
        from ephys2type.data.recordings.vectors import write_vectors

        vector_schema = write_vectors(result.vectors, vectors)[0]
    table = with_check_columns(result.features, result.qc)  # the checks travel with the cells
    atomic_write_text(out, table.to_csv(float_format="%.6g"), overwrite=overwrite)
    atomic_write_text(
        qc_path, result.qc.to_csv(index=False, float_format="%.6g"), overwrite=overwrite
    )
    shutil.rmtree(parts, ignore_errors=True)
    return WrittenFeatures(
        result.features,
        result.qc,
        out,
        qc_path,
        result.resumed,
        vector_schema,
        len(result.vectors),
    )
