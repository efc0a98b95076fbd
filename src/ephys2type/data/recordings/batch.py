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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ephys2type.data.recordings.extract import extract_cell, read_recording
from ephys2type.files import atomic_write_text, dumps_json


def extract_one(
    path: str | Path,
    schema: str,
    sweep_qc_profile: str,
    figures: str | Path | None,
    vectors: bool = False,
) -> dict[str, Any]:
    """Features, QC rows (and feature vectors) of one file, as plain data (sent back by
    workers, saved as JSON)."""
    path = Path(path)
    cell = extract_cell(
        read_recording(path),
        schema=schema,
        sweep_qc_profile=sweep_qc_profile,
        figure=None if figures is None else Path(figures) / f"{path.stem}.png",
        vectors=vectors,
    )
    return {
        "file": str(path),
        "cell_id": cell.row.name,
        "row": {k: (None if np.isnan(v) else float(v)) for k, v in cell.row.items()},
        "qc": json.loads(cell.qc.to_json(orient="records")),
        "vectors": {k: [float(x) for x in v] for k, v in cell.vectors.items()},
    }


class BatchResult(NamedTuple):
    """Features (one row per file, indexed by ``cell_id`` = the file's stem, in input
    order), the QC table of all files, how many files a previous, interrupted run had
    finished, and (when asked for) each cell's feature vectors by family."""

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


def _results(
    todo: list[Path],
    args: tuple,
    n_jobs: int,
    scheduler: str | None,
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(file, result) as each file finishes."""
    if scheduler is not None:
        from dask.distributed import Client, as_completed

        with Client(scheduler, timeout="20s") as client:
            futures = {client.submit(extract_one, p, *args, pure=False): p for p in todo}
            for future in as_completed(futures):
                yield futures[future], future.result()
    elif n_jobs > 1:
        from joblib import Parallel, delayed

        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_tagged)(p, *args) for p in todo
        )
    else:
        for p in todo:
            yield p, extract_one(p, *args)


def run_batch(
    paths: Sequence[str | Path],
    *,
    schema: str = "mouse",
    sweep_qc_profile: str = "allen",
    figures: str | Path | None = None,
    n_jobs: int = 1,
    scheduler: str | None = None,
    parts: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    vectors: bool = False,
) -> BatchResult:
    """The files' features, QC table and (with ``vectors``) feature vectors; finished files
    of an interrupted run are taken from ``parts`` (see :class:`BatchResult`)."""
    paths = [Path(p) for p in paths]
    args = (schema, sweep_qc_profile, None if figures is None else str(figures), vectors)
    settings = {"schema": schema, "sweep_qc": sweep_qc_profile, "figures": args[2]}
    if vectors:
        settings["vectors"] = True
    store = None if parts is None else PartStore(parts, settings)
    done: dict[Path, dict[str, Any]] = {}
    if store is not None:
        for p in paths:
            if (part := store.load(p)) is not None:
                done[p] = part
    resumed = len(done)
    todo = [p for p in paths if p not in done]
    for path, result in _results(todo, args, n_jobs, scheduler):
        if store is not None:
            store.save(path, result)
        done[path] = result
        if progress is not None:
            progress(path.name)
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
    sweep_qc_profile: str = "allen",
    figures: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features (one row per file, indexed by ``cell_id`` = the file's stem) and the QC table
    of all files, serially; with ``figures`` (a folder), one ``<file stem>.png`` per cell."""
    result = run_batch(paths, schema=schema, sweep_qc_profile=sweep_qc_profile, figures=figures)
    return result.features, result.qc
