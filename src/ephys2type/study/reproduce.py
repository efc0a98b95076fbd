"""One-command reproduction of the study: QC, sPCA separation, baselines, BiLSTM ablations,
mouse-to-human transfer, and an HTML report that sets our numbers beside the paper's.

Each stage writes its own folder under the run folder, atomically, with a ``stage.json``
that records its cache key: a hash of the stage's configuration, the SHA-256 of the data
files, and a fingerprint of ephys2type's own source files. A later run reuses a stage only
when that key matches exactly, so changing the code, the data or the configuration never
serves a stale result. The report is written last; an interrupted run leaves no report.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ephys2type._version import __version__
from ephys2type.evaluation.folds import counting_fits
from ephys2type.files import atomic_directory, dumps_json
from ephys2type.study.config import ReproduceConfig
from ephys2type.study.report.sections import write_report
from ephys2type.study.stages import Stage, planned, study_data


def code_fingerprint() -> str:
    """Hash of ephys2type's own source and data files: a code change invalidates caches."""
    digest = hashlib.sha256(__version__.encode())
    root = resources.files("ephys2type")
    for path in sorted(Path(str(root)).rglob("*")):
        if path.suffix in (".py", ".toml", ".txt", ".css") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(Path(str(root))).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class StageResult:
    name: str
    folder: Path
    seconds: float
    cached: bool
    #: models fitted (counted in a serial run; None otherwise or when cached)
    fits_made: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "seconds": self.seconds, "cached": self.cached}


def rebuild_report(out: str | Path) -> Path:
    """Write the report again from a run folder's finished stages, without recomputing.

    Stage times are those recorded when each stage ran.
    """
    return write_report(out)


class Reproduction:
    """Runs the stages of a :class:`ReproduceConfig` into ``out`` (see module docstring)."""

    def __init__(
        self,
        config: ReproduceConfig,
        out: str | Path,
        *,
        stage_progress: Callable[[str, int], Callable[[str], None]] | None = None,
    ):
        self.config = config
        self.out = Path(out)
        self.stage_progress = stage_progress
        self.results: list[StageResult] = []
        self._code = code_fingerprint()
        self._sources: dict[str, str] = {}

    # -- stage machinery -------------------------------------------------------------------------

    def _key(self, stage: str, spec: dict[str, Any]) -> str:
        payload = {"stage": stage, "spec": spec, "sources": self._sources, "code": self._code}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def run_stage(self, stage: Stage) -> StageResult:
        """Compute ``stage`` into its folder, or reuse the folder when its key matches."""
        folder = self.out / stage.name
        key = self._key(stage.name, stage.spec)
        marker = folder / "stage.json"
        if marker.exists():
            try:
                if json.loads(marker.read_text())["key"] == key:
                    result = StageResult(stage.name, folder, 0.0, cached=True)
                    self.results.append(result)
                    if self.stage_progress is not None:
                        self.stage_progress(f"{stage.name} (cached)", 1)("cached")
                    return result
            except (OSError, ValueError, KeyError):
                pass  # unreadable marker: recompute
        advance = (
            self.stage_progress(stage.name, stage.n_fits)
            if self.stage_progress is not None
            else (lambda _text: None)
        )
        start = time.perf_counter()
        with atomic_directory(folder, overwrite=True) as tmp, counting_fits() as fits:
            stage.work(tmp, advance)
            seconds = time.perf_counter() - start
            # fits made in this process: all of them in a serial run (jobs 1)
            made = fits[0] if self.config.jobs == 1 else None
            (tmp / "stage.json").write_text(
                dumps_json(
                    {
                        "stage": stage.name,
                        "key": key,
                        "spec": stage.spec,
                        "seconds": seconds,
                        "fits_planned": stage.fits,
                        "fits_made": made,
                    }
                )
            )
        result = StageResult(stage.name, folder, seconds, cached=False, fits_made=made)
        self.results.append(result)
        return result

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> Path:
        """Run every stage and write the report; returns the run folder."""
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in ("report.html", "report.md", "summary.json"):  # no old report beside
            (self.out / stale).unlink(missing_ok=True)  # new stages
        (self.out / "run.json").write_text(dumps_json(self.config.to_dict()))
        for species in ("mouse", "human"):
            self._sources |= study_data(species, labels=None, qc=None).sources
        for kind, key in planned(self.config):
            self.run_stage(kind.build(self.config, key))
        write_report(self.out, self.config, [r.to_dict() for r in self.results])
        return self.out
