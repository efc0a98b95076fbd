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
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np

from ephys2type.data.recordings.sweeps import (
    STIMULUS_KINDS,
    Recording,
    RecordingError,
    StepSweep,
    stimulus_set,
)

#: Stimulus codes the ipfx ontology knows, one per kind (written by :func:`write_nwb`).
CODES = {
    "long_square": "C1LSCOARSE150216",
    "short_square": "C1SSFINEST150112",
    "ramp": "C1RP25PR1S141203",
}
LONG_SQUARE_CODE = CODES["long_square"]


@cache
def _ontology():
    from ipfx.stimulus import StimulusOntology

    return StimulusOntology.default()


@cache
def _stimulus_kind(code: str) -> str | None:
    """The kind of a stimulus code by ipfx's ontology: one of :data:`STIMULUS_KINDS`,
    ``chirp``, or None (anything else: test pulses, search, noise ...)."""
    ontology = _ontology()
    names = {
        "long_square": ontology.long_square_names,
        "short_square": ontology.short_square_names,
        "ramp": ontology.ramp_names,
        "chirp": {"Chirp"},
    }
    code = code.split("[")[0]
    if not code:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Could not find stimulus" for codes it lacks
        for kind, kind_names in names.items():
            if ontology.stimulus_has_any_tags(code, kind_names) or (
                kind == "chirp" and "CHIRP" in code.upper()
            ):
                return kind
    return None


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
        raise RecordingError(
            f"{path}: not a readable NWB file (truncated or damaged? the reader says: {exc})"
        ) from exc
    try:
        stimuli = {
            int(s.sweep_number): s
            for s in nwb.stimulus.values()
            if isinstance(s, CurrentClampStimulusSeries)
        }
        responses = [s for s in nwb.acquisition.values() if isinstance(s, CurrentClampSeries)]
        if not responses:
            raise RecordingError(f"{path}: no current-clamp sweeps (CurrentClampSeries)")
        by_kind: dict[str, list] = {}
        for s in responses:
            kind = _stimulus_kind(str(s.stimulus_description))
            if kind is not None and int(s.sweep_number) in stimuli:
                by_kind.setdefault(kind, []).append(s)
        notes = []
        if "long_square" not in by_kind:
            # a lab's own stimulus codes (a new-user trial: "IC_steps" was refused): the
            # sweeps of its most used code no ontology knows, read as steps whose step is
            # found in the command waveform, as an ABF file's is
            unknown: dict[str, list] = {}
            for s in responses:
                code = str(s.stimulus_description)
                if _stimulus_kind(code) is None and int(s.sweep_number) in stimuli:
                    unknown.setdefault(code, []).append(s)
            codes = sorted({str(s.stimulus_description) for s in responses})
            if not unknown:
                raise RecordingError(
                    f"{path}: no long-square sweeps (stimulus codes: {', '.join(codes[:8])}); "
                    "ephys2type reads steps of current, by Allen stimulus code or, for other "
                    "codes, from the command waveform"
                )
            code = max(unknown, key=lambda c: len(unknown[c]))
            by_kind["long_square"] = unknown[code]
            notes.append(
                f"stimulus code {code!r} is not one of the Allen Institute's: its "
                f"{len(unknown[code])} sweeps read as steps, the step found in their command"
            )
        sets = {
            kind: [
                _sweep(s, stimuli[int(s.sweep_number)], path)
                for s in sorted(series, key=lambda s: int(s.sweep_number))
            ]
            for kind, series in by_kind.items()
        }
        protocol = str(by_kind["long_square"][0].stimulus_description)
    finally:
        io.close()
    sweeps = sets.pop("long_square")
    if sets.pop("chirp", None):
        notes.append("chirp sweeps not analysed (ipfx 2.1.2 has no chirp cell features)")
    return Recording.from_steps(
        path,
        sweeps,
        protocol=protocol,
        notes=tuple(notes),
        others=tuple(
            stimulus_set(kind, sets[kind], path) for kind in STIMULUS_KINDS if kind in sets
        ),
    )


def _sweep(series, stimulus, path: Path) -> StepSweep:
    """One sweep in mV and pA from its response and stimulus series (volts, amperes)."""
    v = np.asarray(series.data[:], dtype=float) * series.conversion * 1e3
    # amperes -> pA, rounded to 1e-6 pA so 2.5e-10 A reads as 250 pA, not 250.00000000000003
    i = np.round(np.asarray(stimulus.data[:], dtype=float) * stimulus.conversion * 1e12, 6)
    if len(i) != len(v):
        raise RecordingError(f"{path}: sweep {series.sweep_number} is truncated")
    return StepSweep(int(series.sweep_number), np.arange(len(v)) / float(series.rate), v, i)


def write_nwb(
    recording: Recording, path: str | Path, *, codes: Mapping[str, str] | None = None
) -> Path:
    """Write the recording's sweeps as NWB 2 current-clamp series, each named by the
    stimulus code of its kind (``codes``, default :data:`CODES`)."""
    codes = {**CODES, **(codes or {})}
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(
        session_description=f"converted by ephys2type from {recording.path.name}",
        identifier=recording.name,
        session_start_time=datetime(2000, 1, 1, tzinfo=UTC),
    )
    device = nwb.create_device(name="amplifier")
    electrode = nwb.create_icephys_electrode(
        name="electrode_0", description="recording electrode", device=device
    )
    for stimulus in recording.stimulus_sets():
        for sweep in stimulus.sweeps:
            _add_sweep(nwb, electrode, sweep, codes[stimulus.kind])
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def _add_sweep(nwb, electrode, sweep: StepSweep, code: str) -> None:
    """Add one sweep: its response (volts) and its command (amperes)."""
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

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
