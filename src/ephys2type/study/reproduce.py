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
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ephys2type._version import __version__
from ephys2type.evaluation.folds import counting_fits
from ephys2type.files import atomic_directory, dumps_json
from ephys2type.limits import current, limited
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


def usual_minutes(preset: str) -> float | None:
    """How long the ``preset`` (``full``, ``quick``) usually takes on 2 cores, in minutes,
    from ``resources/presets/durations.toml`` (the one place that figure is kept, beside the
    presets); None for a preset it does not list."""
    text = resources.files("ephys2type").joinpath("resources", "presets", "durations.toml")
    value = tomllib.loads(text.read_text("utf-8")).get(preset)
    return None if value is None else float(value)


def work_units(stage: Stage) -> int:
    """What a stage costs the :class:`RunClock`: the models it fits, or for a stage that
    fits none (QC, a sparse PCA), the steps of its progress bar."""
    return stage.fits or stage.n_fits


@dataclass
class RunClock:
    """The time a run has left, estimated from the fits of the stages still to compute.

    ``total_fits`` are the fits of the stages to compute (:func:`work_units`; a reused
    stage takes no time); ``usual_seconds`` is
    what the whole run usually takes (:func:`usual_minutes`). The pace is the seconds per fit
    so far, starting from the usual pace as if a fifth of the fits had run at it, so that
    the first, short stages do not make the estimate swing. Fits of different stages take
    different times: it is an estimate, and says so.
    """

    total_fits: int
    usual_seconds: float | None = None
    n_stages: int = 0
    done_fits: int = 0
    stages_done: int = 0
    elapsed: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def stage_done(self, fits: int) -> None:
        """Count a finished stage that fitted ``fits`` models (0: reused)."""
        self.done_fits += fits
        self.stages_done += 1
        self.elapsed = time.perf_counter() - self.started

    def remaining(self) -> float | None:
        """Seconds left, estimated (None before anything is known)."""
        left = max(self.total_fits - self.done_fits, 0)
        if left == 0:
            return 0.0
        prior = self.total_fits / 5
        if self.usual_seconds and self.total_fits:
            usual_pace = self.usual_seconds / self.total_fits
            pace = (self.elapsed + usual_pace * prior) / (self.done_fits + prior)
        elif self.done_fits:
            pace = self.elapsed / self.done_fits
        else:
            return None
        return left * pace


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
        on_stage: Callable[[StageResult, RunClock], None] | None = None,
    ):
        self.config = config
        self.out = Path(out)
        self.stage_progress = stage_progress
        self.on_stage = on_stage
        self.results: list[StageResult] = []
        self.clock: RunClock | None = None
        self._code = code_fingerprint()
        self._sources: dict[str, str] = {}
        self._stages: list[Stage] | None = None

    # -- stage machinery -------------------------------------------------------------------------

    def _limits(self):
        """The block the stages are built and run in: the limits in force tightened by the
        run's own caps on trees and iterations (:meth:`ReproduceConfig.run_limits`)."""
        return limited(self.config.run_limits(current()))

    def _key(self, stage: str, spec: dict[str, Any]) -> str:
        payload = {"stage": stage, "spec": spec, "sources": self._sources, "code": self._code}
        limits = self.config.run_limits(current())
        if limits.any():  # a limited run's stages are not an unlimited run's, nor another's
            payload["limits"] = asdict(limits)
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def is_current(self, stage: Stage) -> bool:
        """Whether ``stage``'s folder holds its result for this configuration, data and code
        (its key matches), so that a run reuses it."""
        marker = self.out / stage.name / "stage.json"
        if not marker.exists():
            return False
        try:
            return json.loads(marker.read_text())["key"] == self._key(stage.name, stage.spec)
        except (OSError, ValueError, KeyError):
            return False  # unreadable marker: recompute

    def run_stage(self, stage: Stage) -> StageResult:
        """Compute ``stage`` into its folder, or reuse the folder when its key matches."""
        folder = self.out / stage.name
        key = self._key(stage.name, stage.spec)
        if self.is_current(stage):
            result = StageResult(stage.name, folder, 0.0, cached=True)
            self.results.append(result)
            if self.stage_progress is not None:
                self.stage_progress(f"{stage.name} (cached)", 1)("cached")
            self._stage_done(result, 0)
            return result
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
        self._stage_done(result, work_units(stage))
        return result

    def _stage_done(self, result: StageResult, fits: int) -> None:
        """Tell the clock (when the run was planned) and ``on_stage`` of a finished stage."""
        if self.clock is not None:
            self.clock.stage_done(fits)
            if self.on_stage is not None:
                self.on_stage(result, self.clock)

    # -- the plan ------------------------------------------------------------------------------

    def _read_sources(self) -> None:
        if not self._sources:
            for species in ("mouse", "human"):
                self._sources |= study_data(species, labels=None, qc=None).sources

    def plan(self, *, usual_seconds: float | None = None) -> list[tuple[Stage, bool]]:
        """Build every stage before any runs (a stage that cannot be built stops the run
        before it starts) and start the :attr:`clock` on the fits of the stages to compute;
        returns each stage with whether it is reused. ``usual_seconds``: what the run
        usually takes (:class:`RunClock`). Without a plan, :meth:`run` builds each stage
        just before it runs, and keeps no clock."""
        self._read_sources()
        with self._limits():
            self._stages = [kind.build(self.config, key) for kind, key in planned(self.config)]
        plan = [(stage, self.is_current(stage)) for stage in self._stages]
        self.clock = RunClock(
            total_fits=sum(work_units(stage) for stage, reused in plan if not reused),
            usual_seconds=usual_seconds,
            n_stages=len(plan),
        )
        return plan

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> Path:
        """Run every stage and write the report; returns the run folder."""
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in ("report.html", "report.md", "summary.json"):  # no old report beside
            (self.out / stale).unlink(missing_ok=True)  # new stages
        (self.out / "run.json").write_text(dumps_json(self.config.to_dict()))
        self._read_sources()
        with self._limits():
            if self._stages is not None:  # planned: every stage is built already
                for stage in self._stages:
                    self.run_stage(stage)
            else:
                for kind, key in planned(self.config):
                    self.run_stage(kind.build(self.config, key))
        write_report(self.out, self.config, [r.to_dict() for r in self.results])
        return self.out
