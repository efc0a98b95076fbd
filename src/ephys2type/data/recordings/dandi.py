"""Recordings from the DANDI Archive, downloaded with the ``dandi`` client.

The study we reproduce read its cells from two Dandisets: 000020 (Gouwens et al. 2020, mouse
visual cortex Patch-seq, 4,000+ NWB files) and 000636 (Lee, Dalley et al. 2023, human
neocortex). :func:`fetch_recordings` downloads a Dandiset's NWB files into a folder, keeping
the archive's paths; each file is written under a temporary name and renamed when complete,
so an interrupted download leaves no partial file and the same call again skips the files
already there (same size). The ``dandi`` client is an optional dependency
(``pip install ephys2type[dandi]``); the project's own set-up installs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ephys2type.data.recordings.sweeps import RecordingError

#: Dandisets of the study, with what they hold.
DANDISETS = {
    "000020": "Gouwens et al. 2020: mouse visual cortex Patch-seq (Allen Institute)",
    "000636": "Lee, Dalley et al. 2023: human neocortex Patch-seq (Allen Institute)",
}


@dataclass(frozen=True)
class RemoteFile:
    """One file of a Dandiset: its path in the archive, its size, and how to download it."""

    path: str
    size: int
    download: Callable[[Path], None]


@dataclass(frozen=True)
class FetchResult:
    """Files downloaded now and files already present (skipped), as local paths."""

    downloaded: list[Path]
    present: list[Path]


def dandi_assets(dandiset: str, version: str = "draft") -> Iterator[RemoteFile]:
    """The files of a Dandiset on the DANDI Archive, in the archive's path order."""
    try:
        from dandi.dandiapi import DandiAPIClient
    except ImportError as exc:
        raise RecordingError(
            "fetch-recordings needs the dandi client: pip install 'ephys2type[dandi]'"
        ) from exc
    try:
        with DandiAPIClient.for_dandi_instance("dandi") as client:
            remote = client.get_dandiset(dandiset, version)
            for asset in remote.get_assets(order="path"):
                yield RemoteFile(asset.path, int(asset.size), lambda to, a=asset: a.download(to))
    except RecordingError:
        raise
    except Exception as exc:  # network errors, unknown Dandiset or version
        raise RecordingError(
            f"DANDI Archive: could not list Dandiset {dandiset} ({version}): {exc}"
        ) from exc


def fetch_recordings(
    files: Iterable[RemoteFile],
    folder: str | Path,
    *,
    limit: int | None = None,
    suffix: str = ".nwb",
    progress: Callable[[str], None] | None = None,
) -> FetchResult:
    """Download the ``suffix`` files (the first ``limit`` of them) into ``folder``, keeping
    their archive paths; files already there with the right size are skipped."""
    if limit is not None and limit < 1:
        raise RecordingError(f"--limit must be at least 1, not {limit}")
    folder = Path(folder)
    downloaded: list[Path] = []
    present: list[Path] = []
    for remote in files:
        if not remote.path.lower().endswith(suffix):
            continue
        if limit is not None and len(downloaded) + len(present) >= limit:
            break
        target = folder / remote.path
        if target.is_file() and target.stat().st_size == remote.size:
            present.append(target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            partial.unlink(missing_ok=True)
            try:
                remote.download(partial)
                if partial.stat().st_size != remote.size:
                    raise RecordingError(
                        f"{remote.path}: downloaded {partial.stat().st_size} bytes, "
                        f"expected {remote.size}"
                    )
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
            downloaded.append(target)
        if progress is not None:
            progress(remote.path)
    return FetchResult(downloaded, present)
