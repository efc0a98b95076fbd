"""Files the browser sent, saved where the library reads them: under their own names (the
suffix tells the library the format: .csv, .tsv, .txt, .xlsx, .h5ad, .toml, .abf, .nwb) in
a working folder of their own, one per Predict press, removed when the server stops."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ephys2type.errors import Ephys2TypeError

#: Suffixes of feature tables the library reads.
TABLE_SUFFIXES = ("csv", "tsv", "txt", "xlsx", "h5ad")
#: Suffixes of recordings.
RECORDING_SUFFIXES = ("abf", "nwb")

_ROOT: Path | None = None


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name in the browser and its bytes."""

    name: str
    data: bytes


def working_root() -> Path:
    """The folder of this server's working folders (removed when the process ends)."""
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="ephys2type-app-"))
        atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
    return _ROOT


def new_workdir() -> Path:
    """A fresh working folder for one Predict press."""
    return Path(tempfile.mkdtemp(prefix="run-", dir=working_root()))


def remove_workdir(folder: str | Path | None) -> None:
    """Remove a working folder the app made (nothing else)."""
    if folder is not None and Path(folder).parent == working_root():
        shutil.rmtree(folder, ignore_errors=True)


def save_upload(upload: Upload, folder: str | Path) -> Path:
    """Write ``upload`` into ``folder`` under its own name; returns its path."""
    name = Path(upload.name.replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise Ephys2TypeError(f"{upload.name!r}: not a file name")
    path = Path(folder) / name
    if path.exists():
        raise Ephys2TypeError(f"{name}: two of the files given have this name; rename one")
    path.write_bytes(upload.data)
    return path


def save_uploads(uploads: Sequence[Upload], folder: str | Path) -> list[Path]:
    """Write each upload into ``folder`` (created); two files of one name are refused, as
    they would be one cell."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [Path(u.name.replace("\\", "/")).name for u in uploads]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise Ephys2TypeError(
            f"{', '.join(twice)} uploaded twice: each file is one cell, named by its file name"
        )
    return [save_upload(u, folder) for u in uploads]
