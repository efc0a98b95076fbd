"""A recording as the feature extractor needs it: current-clamp sweeps of one cell with the
window and amplitude of their current step."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from ephys2type.errors import Ephys2TypeError

#: Shortest step taken for a long-square-like step (shorter ones are test pulses or short
#: squares).
MIN_STEP_SECONDS = 0.1


class RecordingError(Ephys2TypeError):
    """A recording that cannot give features (names the file and what is wrong)."""


@dataclass(frozen=True)
class StepSweep:
    """One current-clamp sweep: times (s), membrane voltage (mV), command current (pA)."""

    number: int
    t: np.ndarray
    v: np.ndarray
    i: np.ndarray

    @property
    def rate(self) -> float:
        return float(1.0 / (self.t[1] - self.t[0]))

    def command_changes(self) -> np.ndarray:
        """Sample indices where the command current changes (to 0.01 pA): the edges of the
        step and of any test pulse, which bound the baselines the checks measure."""
        return np.flatnonzero(np.diff(np.round(np.asarray(self.i, dtype=float), 2))) + 1


#: Stimulus kinds features are computed from (ipfx's stimulus ontology names them Long
#: Square, Short Square and Ramp).
STIMULUS_KINDS = ("long_square", "short_square", "ramp")


@dataclass(frozen=True)
class StimulusSet:
    """The sweeps of one stimulus kind with their common stimulus window (``start``/``end``
    in s from the sweep's start) and each sweep's amplitude (pA, relative to holding; for a
    ramp, its largest value)."""

    kind: str
    sweeps: tuple[StepSweep, ...]
    start: float
    end: float
    amplitudes: tuple[float, ...]


@dataclass(frozen=True)
class Recording:
    """The current-clamp sweeps of one cell: its long-square (step) sweeps, with their common
    step window and amplitudes, and the other stimulus kinds it holds (``others``: short
    squares, ramps of an Allen-protocol file; empty for a step protocol)."""

    path: Path
    sweeps: tuple[StepSweep, ...]
    start: float
    end: float
    amplitudes: tuple[float, ...]
    channel: int = 0
    protocol: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    others: tuple[StimulusSet, ...] = ()

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def rate(self) -> float:
        return self.sweeps[0].rate

    @classmethod
    def from_steps(
        cls, path: Path, sweeps: list[StepSweep], *, rate: float | None = None, **extra
    ) -> Recording:
        """The recording of these step sweeps: the step window found in their commands
        (:func:`step_window`), each sweep's amplitude the median command in it, relative to
        holding; ``extra`` are the other fields (channel, protocol, notes, others)."""
        rate = sweeps[0].rate if rate is None else rate
        a, b = step_window([s.i for s in sweeps], rate, path)
        return cls(
            path=path,
            sweeps=tuple(sweeps),
            start=float(sweeps[0].t[a]),
            end=float(sweeps[0].t[b - 1]),
            amplitudes=tuple(float(np.median(s.i[a:b]) - s.i[0]) for s in sweeps),
            **extra,
        )

    def stimulus_sets(self) -> tuple[StimulusSet, ...]:
        """Every stimulus kind the recording holds, the long squares first."""
        steps = StimulusSet("long_square", self.sweeps, self.start, self.end, self.amplitudes)
        return (steps, *self.others)

    def stimulus(self, kind: str) -> StimulusSet | None:
        """The sweeps of one stimulus kind, or None when the recording has none."""
        return next((s for s in self.stimulus_sets() if s.kind == kind), None)


#: A first command pulse shorter than this, followed by more stimulus, is a test pulse.
TEST_PULSE_SECONDS = 0.05


def stimulus_set(kind: str, sweeps: list[StepSweep], path: Path) -> StimulusSet:
    """A short-square or ramp set: its window is the strongest sweep's command away from
    holding (a leading test pulse passed over), its amplitudes each sweep's largest command
    in that window."""
    ref = max(sweeps, key=lambda s: float(np.max(np.abs(s.i - s.i[0]))))  # not a 0 pA sweep
    c = np.round(np.asarray(ref.i, dtype=float) - ref.i[0], 2)
    away = np.flatnonzero(c != 0)
    if not len(away):
        raise RecordingError(f"{path}: the {kind.replace('_', ' ')} sweeps have a flat command")
    runs = np.split(away, np.flatnonzero(np.diff(away) > 1) + 1)
    if len(runs) > 1 and len(runs[0]) / ref.rate < TEST_PULSE_SECONDS:
        runs = runs[1:]
    a, b = int(runs[0][0]), int(runs[-1][-1]) + 1
    amplitudes = []
    for sweep in sweeps:
        window = np.asarray(sweep.i[a:b], dtype=float) - sweep.i[0]
        amplitudes.append(float(window[np.argmax(np.abs(window))]) if len(window) else 0.0)
    t = ref.t
    return StimulusSet(kind, tuple(sweeps), float(t[a]), float(t[b - 1]), tuple(amplitudes))


def step_window(commands: list[np.ndarray], rate: float, path: Path) -> tuple[int, int]:
    """Start and end index of the current step that varies across sweeps.

    Each sweep's command is cut into runs of constant level; runs away from the holding level
    (the first sample) lasting at least :data:`MIN_STEP_SECONDS` are candidate steps. The
    window is the candidate whose level takes the most distinct values over the sweeps (the
    f-I step, not a fixed test pulse); ties go to the earliest.
    """
    levels: dict[tuple[int, int], set[float]] = {}
    for c in commands:
        c = np.round(np.asarray(c, dtype=float), 2)
        edges = np.flatnonzero(np.diff(c)) + 1
        bounds = np.concatenate([[0], edges, [len(c)]])
        for a, b in pairwise(bounds):
            if c[a] != c[0] and (b - a) / rate >= MIN_STEP_SECONDS:
                levels.setdefault((int(a), int(b)), set()).add(float(c[a] - c[0]))
    if not levels:
        raise RecordingError(
            f"{path}: no current step of at least {MIN_STEP_SECONDS * 1000:.0f} ms in the "
            "command waveform of any sweep"
        )
    window = min(levels, key=lambda w: (-len(levels[w]), w[0]))
    if len(commands) > 1 and len(levels[window]) == 1:
        # a new-user trial: a ramp protocol's fixed -100 pA pulse was read as the f-I step,
        # and ipfx then said "Cannot find rheobase sweep in spiking sweeps with amplitudes:"
        (level,) = levels[window]
        raise RecordingError(
            f"{path}: no current step varies across its {len(commands)} sweeps (the only "
            f"step, {level:+.0f} pA, is the same in each; is the command a ramp?): features "
            "are measured from a series of long square steps of increasing current"
        )
    return window
