"""Locate the reference data files and prove they are the published bytes.

The six Allen Institute tables are never shipped with ephys2type. Each file is looked up,
in this order:

1. the folder named by the ``EPHYS2TYPE_DATA`` environment variable;
2. ``../shared/data`` beside the project root (a source checkout);
3. the pooch cache (``EPHYS2TYPE_CACHE``, else the OS cache folder), downloading from the
   upstream repository at a pinned commit if it is not there yet.

Whatever the source, the file must match its SHA-256 in :data:`REGISTRY`; a mismatch is an
error that names the file and says what to do, never a silent fallback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ephys2type.errors import DataFileError

ENV_DATA = "EPHYS2TYPE_DATA"
ENV_CACHE = "EPHYS2TYPE_CACHE"


def _pooch(root: Path | None = None):
    """A pooch for the cache folder, with the registry file (``name sha256:digest url``)."""
    import pooch

    fetcher = pooch.create(path=root or cache_dir(), base_url="", retry_if_failed=1)
    with resources.as_file(
        resources.files("ephys2type").joinpath("resources", "registry.txt")
    ) as f:
        fetcher.load_registry(f)
    return fetcher


def _registry() -> tuple[dict[str, str], dict[str, str]]:
    fetcher = _pooch(Path("."))
    hashes = {name: digest.removeprefix("sha256:") for name, digest in fetcher.registry.items()}
    return hashes, dict(fetcher.urls)


@dataclass(frozen=True)
class DataFile:
    """A verified reference file: where it was found and its checksum."""

    name: str
    path: Path
    sha256: str
    origin: str  # "EPHYS2TYPE_DATA", "shared", or "cache"


def project_root() -> Path:
    """The source checkout that holds this package (``src/ephys2type/data`` -> three levels up)."""
    return Path(__file__).resolve().parents[3]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the project root."""
    return project_root().parent / "shared" / "data"


def cache_dir() -> Path:
    """The pooch cache folder, honouring ``EPHYS2TYPE_CACHE``."""
    import pooch

    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else Path(pooch.os_cache("ephys2type"))


#: file name (relative to the data folder) -> SHA-256 of the published bytes, and
#: file name -> upstream raw-file address (repository at a pinned commit).
REGISTRY, URLS = _registry()


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes (pooch's ``file_hash``)."""
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


_verified: dict[tuple[str, int, int], str] = {}


def _verify(name: str, path: Path, origin: str) -> DataFile:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    digest = _verified.get(key) or sha256_of(path)
    expected = REGISTRY[name]
    if digest != expected:
        raise DataFileError(
            f"{path}: SHA-256 {digest[:12]}... does not match the published {expected[:12]}... "
            f"for {name}; the file is modified or truncated. Replace it with the original from "
            f"{URLS[name]} (or delete it so ephys2type can download it)."
        )
    _verified[key] = digest
    return DataFile(name=name, path=path, sha256=digest, origin=origin)


def _candidate_dirs() -> list[tuple[Path, str]]:
    dirs: list[tuple[Path, str]] = []
    env = os.environ.get(ENV_DATA)
    if env:
        dirs.append((Path(env), ENV_DATA))
    dirs.append((shared_data_dir(), "shared"))
    return dirs


def fetch(name: str, *, download: bool = True) -> DataFile:
    """Find, verify and return the reference file ``name`` (see module docstring for the order).

    Raises :class:`DataFileError` with one line naming the file and the remedy when the file
    is nowhere to be found, cannot be downloaded, or fails its checksum.
    """
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise DataFileError(f"unknown reference file {name!r}; known files: {known}")
    for folder, origin in _candidate_dirs():
        path = folder / name
        if path.is_file():
            return _verify(name, path, origin)
    cached = cache_dir() / name
    if cached.is_file():
        return _verify(name, cached, "cache")
    where = " or ".join(str(folder / name) for folder, _ in _candidate_dirs())
    if not download:
        raise DataFileError(
            f"{name} not found (looked in {where} and {cached}); set {ENV_DATA} to a folder "
            f"that holds it."
        )
    _download(name, cache_dir(), where)
    return _verify(name, cached, "cache")


def _download(name: str, root: Path, looked: str) -> None:
    try:
        _pooch(root).fetch(name, progressbar=False)
    except Exception as exc:  # network errors come in many types (requests, OSError, ...)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFileError(
            f"{name} not found (looked in {looked} and the cache) and the download from "
            f"{URLS[name]} failed ({reason}); set {ENV_DATA} to a folder that holds the "
            f"Allen tables, or connect to the internet."
        ) from exc
