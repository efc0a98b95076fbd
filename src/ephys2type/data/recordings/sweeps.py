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


@dataclass(frozen=True)
class Recording:
    """The step sweeps of one cell, with their common step window (``start``/``end`` in s
    from the sweep's start) and each sweep's step amplitude (pA, relative to holding)."""

    path: Path
    sweeps: tuple[StepSweep, ...]
    start: float
    end: float
    amplitudes: tuple[float, ...]
    channel: int = 0
    protocol: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def rate(self) -> float:
        return self.sweeps[0].rate


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
    return min(levels, key=lambda w: (-len(levels[w]), w[0]))
