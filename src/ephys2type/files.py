"""Atomic writes that never clobber what the user already has.

A file is written under a temporary name in its destination folder and renamed into place
only when complete, so an interrupted or failed write leaves nothing that looks finished.
An existing destination is an error unless ``overwrite=True``. Results are JSON written by
:func:`dumps_json`, the same bytes for the same numbers.

Temporary files and folders are created private (``mkstemp``/``mkdtemp`` use 0600/0700);
before they are renamed into place they get the mode any other tool would give them under
the user's umask (0644/0755 under umask 022), so results can be shared.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ephys2type.errors import Ephys2TypeError, OutputExistsError


def _umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, *, directory: bool) -> None:
    """Give a finished temporary file, or a folder and its contents, the umask's mode."""
    mask = _umask()
    file_mode, dir_mode = 0o666 & ~mask, 0o777 & ~mask
    if not directory:
        os.chmod(path, file_mode)
        return
    os.chmod(path, dir_mode)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), dir_mode)
        for name in files:
            os.chmod(os.path.join(root, name), file_mode)


def _check_target(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} already exists; choose another path, or pass --force (in Python, "
            "overwrite=True)"
        )
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Ephys2TypeError(f"{path.parent}: cannot create folder ({exc.strerror})") from exc


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary file name that becomes ``path`` only if the block completes.

    For writers that need a file name rather than bytes (HDF5); on any exception the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    _check_target(path, overwrite)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _publish_mode(tmp, directory=False)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise Ephys2TypeError(f"{path}: write failed ({exc.strerror or exc})") from exc
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``path`` only if the block completes.

    On any exception (including Ctrl-C) the temporary folder is removed and ``path`` is
    untouched. With ``overwrite=True`` an existing ``path`` is replaced at the very end.
    """
    path = Path(path)
    _check_target(path, overwrite)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        _publish_mode(tmp, directory=True)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise Ephys2TypeError(f"{path}: write failed ({exc.strerror or exc})") from exc
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if not math.isfinite(float(obj)) else float(obj)
    return obj


def refuse_existing_outputs(*paths: str | Path) -> None:
    """Refuse, before anything is written, when any of a command's outputs exists (a
    command writing several files replaces none of them unless told to)."""
    for path in map(Path, paths):
        if path.exists():
            raise OutputExistsError(f"{path} already exists; choose another --out or --force")


def summary_path(out: str | Path) -> Path:
    """Where the numbers of an output file go: ``<out>.summary.json`` beside it (the
    predictions of ``predict``, the calls of ``evaluate-added``)."""
    out = Path(out)
    return out.with_name(out.name + ".summary.json")


def dumps_json(obj: Any) -> str:
    """Deterministic JSON (NaN and infinities become null)."""
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n"
