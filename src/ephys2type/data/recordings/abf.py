"""Axon Binary Format (ABF 1 and 2) current-clamp recordings, read with ``pyabf``.

Protocols differ between labs, so nothing is assumed about them: the recorded channel is the
one in volts (mV or V), its command channel must be in amperes (pA or nA), and the current
step is found in the command waveform that ``pyabf`` builds from the file's epoch table
(:func:`~.sweeps.step_window`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ephys2type.data.recordings.sweeps import Recording, RecordingError, StepSweep

_VOLTS = {"mV": 1.0, "V": 1000.0}
_AMPERES = {"pA": 1.0, "nA": 1000.0}


def read_abf(path: str | Path) -> Recording:
    """The current-clamp step sweeps of an ABF file (one clear error when there are none)."""
    import pyabf

    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    try:
        abf = pyabf.ABF(str(path))
    except Exception as exc:  # pyabf raises bare exceptions on damaged files
        raise RecordingError(
            f"{path}: not a readable ABF file (truncated or damaged? pyabf says: {exc})"
        ) from exc
    channel, notes = _current_clamp_channel(abf, path)
    v_scale = _VOLTS[abf.adcUnits[channel]]
    i_scale = _AMPERES[str(abf.dacUnits[channel]).strip("\x00 ")]
    sweeps = []
    try:
        for k in abf.sweepList:
            abf.setSweep(k, channel=channel)
            t = np.asarray(abf.sweepX, dtype=float).copy()
            v = np.asarray(abf.sweepY, dtype=float) * v_scale
            i = np.asarray(abf.sweepC, dtype=float) * i_scale
            if len(v) != len(t) or len(i) != len(t):
                raise RecordingError(f"{path}: sweep {k} is truncated")
            sweeps.append(StepSweep(int(k), t, v, i))
    except RecordingError:
        raise
    except Exception as exc:
        raise RecordingError(f"{path}: cannot read its sweeps ({exc})") from exc
    if not sweeps or not all(np.isfinite(s.v).all() for s in sweeps):
        raise RecordingError(f"{path}: no complete sweep (empty or truncated data)")
    return Recording.from_steps(
        path,
        sweeps,
        rate=float(abf.dataRate),
        channel=channel,
        protocol=str(abf.protocol or ""),
        notes=tuple(notes),
    )


def _current_clamp_channel(abf, path: Path) -> tuple[int, list[str]]:
    """The recorded channel in volts whose command is in amperes; a note when the file has
    other channels."""
    n = abf.channelCount
    dac = [str(u).strip("\x00 ") or "none" for u in abf.dacUnits]
    usable = [
        c for c in range(n) if abf.adcUnits[c] in _VOLTS and c < len(dac) and dac[c] in _AMPERES
    ]
    if not usable:
        units = ", ".join(f"channel {c}: {abf.adcUnits[c]}" for c in range(n))
        if any(abf.adcUnits[c] in _AMPERES for c in range(n)):
            raise RecordingError(
                f"{path}: no current-clamp data (the recorded channels are in amperes: "
                f"voltage clamp; {units})"
            )
        raise RecordingError(
            f"{path}: no channel recorded in volts with a current command in pA or nA "
            f"({units}; command units: {', '.join(dac)})"
        )
    notes = []
    if n > 1:
        notes.append(
            f"{n} recorded channels; channel {usable[0]} used (recorded in "
            f"{abf.adcUnits[usable[0]]}, command in {dac[usable[0]]})"
        )
    return usable[0], notes
