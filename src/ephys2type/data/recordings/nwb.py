"""NWB 2 intracellular recordings (pynwb): the long-square sweeps of one cell.

An NWB file keeps each sweep as a ``CurrentClampSeries`` (the response, in volts) beside a
``CurrentClampStimulusSeries`` with the same ``sweep_number`` (the command, in amperes), both
named by their stimulus code (``stimulus_description``, e.g. the Allen's ``C1LSCOARSE150216``).
Long-square sweeps are recognised by ipfx's stimulus ontology (the codes whose name is "Long
Square"); a file without them is one clear error. :func:`write_nwb` writes a recording in that
layout (used to test the NWB path on real traces, and to convert ABF files).
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ephys2type.data.recordings.sweeps import Recording, RecordingError, StepSweep, step_window

#: A stimulus code the ipfx ontology knows as a long square (written by :func:`write_nwb`).
LONG_SQUARE_CODE = "C1LSCOARSE150216"


def _is_long_square(code: str) -> bool:
    from ipfx.stimulus import StimulusOntology

    ontology = StimulusOntology.default()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Could not find stimulus" for codes it lacks
        return bool(
            code and ontology.stimulus_has_any_tags(code.split("[")[0], ontology.long_square_names)
        )


def read_nwb(path: str | Path) -> Recording:
    """The long-square sweeps of an NWB 2 file (volts and amperes -> mV and pA)."""
    from pynwb import NWBHDF5IO
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # namespace/version chatter of other writers
            io = NWBHDF5IO(str(path), "r", load_namespaces=True)
            nwb = io.read()
    except Exception as exc:
        raise RecordingError(f"{path}: not a readable NWB file ({exc})") from exc
    try:
        stimuli = {
            int(s.sweep_number): s
            for s in nwb.stimulus.values()
            if isinstance(s, CurrentClampStimulusSeries)
        }
        responses = [s for s in nwb.acquisition.values() if isinstance(s, CurrentClampSeries)]
        if not responses:
            raise RecordingError(f"{path}: no current-clamp sweeps (CurrentClampSeries)")
        chosen = [
            s
            for s in responses
            if _is_long_square(str(s.stimulus_description)) and int(s.sweep_number) in stimuli
        ]
        if not chosen:
            codes = sorted({str(s.stimulus_description) for s in responses})
            raise RecordingError(
                f"{path}: no long-square sweeps (stimulus codes: {', '.join(codes[:8])})"
            )
        sweeps, commands = [], []
        for s in sorted(chosen, key=lambda s: int(s.sweep_number)):
            stim = stimuli[int(s.sweep_number)]
            v = np.asarray(s.data[:], dtype=float) * s.conversion * 1e3  # V -> mV
            i = np.asarray(stim.data[:], dtype=float) * stim.conversion * 1e12  # A -> pA
            rate = float(s.rate)
            t = np.arange(len(v)) / rate
            if len(i) != len(v):
                raise RecordingError(f"{path}: sweep {s.sweep_number} is truncated")
            sweeps.append(StepSweep(int(s.sweep_number), t, v, i))
            commands.append(i)
    finally:
        io.close()
    rate = sweeps[0].rate
    a, b = step_window(commands, rate, path)
    return Recording(
        path=path,
        sweeps=tuple(sweeps),
        start=float(sweeps[0].t[a]),
        end=float(sweeps[0].t[b - 1]),
        amplitudes=tuple(float(np.median(s.i[a:b]) - s.i[0]) for s in sweeps),
        protocol=str(chosen[0].stimulus_description),
    )


def write_nwb(recording: Recording, path: str | Path, *, code: str = LONG_SQUARE_CODE) -> Path:
    """Write the recording's sweeps as NWB 2 current-clamp series named by ``code``."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    nwb = NWBFile(
        session_description=f"converted by ephys2type from {recording.path.name}",
        identifier=recording.name,
        session_start_time=datetime(2000, 1, 1, tzinfo=UTC),
    )
    device = nwb.create_device(name="amplifier")
    electrode = nwb.create_icephys_electrode(
        name="electrode_0", description="recording electrode", device=device
    )
    for sweep in recording.sweeps:
        common = {
            "electrode": electrode,
            "rate": sweep.rate,
            "starting_time": 0.0,
            "sweep_number": np.uint32(sweep.number),
            "stimulus_description": code,
            "gain": 1.0,
        }
        nwb.add_acquisition(
            CurrentClampSeries(
                name=f"data_{sweep.number:05d}", data=sweep.v / 1e3, conversion=1.0, **common
            )
        )
        nwb.add_stimulus(
            CurrentClampStimulusSeries(
                name=f"stimulus_{sweep.number:05d}", data=sweep.i * 1e-12, conversion=1.0, **common
            )
        )
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path
