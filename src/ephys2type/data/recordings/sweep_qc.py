"""Sweep QC: the Allen's criteria as ``ipfx`` ships them (``qc_criteria.json``), criteria for
typical lab rigs, or none (:data:`PRESETS`).

Measured on each sweep with ipfx's measure (``ipfx.qc_features.measure_vm``) over ipfx's
window lengths: the RMS noise of the first and last 1.5 ms, the mean and RMS of the membrane
potential over up to 500 ms of holding before the step, and its change between that baseline
and up to 500 ms at the end of the sweep, after its last command change (no change measured
when less than 100 ms is left: ``vm_delta_mv`` empty). Other labs' protocols give no long rest
before the step as the Allen's do, so the windows are cut where the command changes.
Seal, access resistance and bridge balance need the
test-pulse and break-in records of an Allen NWB file; an ABF file has none, so those criteria
are not applied (said in each row's ``not_checked``).

The ``lab`` preset (our measurement on the five example recordings of pyABF, 10-20 kHz lab
rigs): their fast noise is 0.015-0.15 mV RMS against the Allen's 0.07 limit (Allen rigs
sample at 50 kHz behind heavier filtering), so 4 of 5 files kept no sweep; their holding
periods are short and often follow a hyperpolarising pulse whose recovery the Allen's 500 ms
window measures as slow noise (2.5-3.5 mV in 18711001). ``lab`` measures the baseline over
the last 100 ms before the step and allows 0.2 mV fast noise, 1 mV slow noise and 3 mV
between the baseline and the end of the sweep. A cell firing at rest still fails it in the
sweeps where it fires (its slow noise is 8 mV), and the cell-level checks say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.recordings.sweeps import Recording, StepSweep

#: The criteria applied, as named in ipfx's qc_criteria.json.
CRITERIA = (
    "pre_noise_rms_mv_max",
    "post_noise_rms_mv_max",
    "slow_noise_rms_mv_max",
    "vm_delta_mv_max",
)
NOT_CHECKED = "seal, access resistance, bridge balance (no test-pulse records)"


@dataclass(frozen=True)
class SweepQCPreset:
    """A sweep QC preset: its thresholds (None: ipfx's defaults; ``apply`` False: measured,
    never failed) and the baseline window before the step it measures (s)."""

    name: str
    criteria: dict[str, float] | None
    baseline_seconds: float
    apply: bool = True

    def thresholds(self) -> dict[str, float]:
        return dict(self.criteria) if self.criteria is not None else default_criteria()


#: The ``--sweep-qc`` choices.
PRESETS = {
    "allen": SweepQCPreset("allen", None, 0.5),
    "lab": SweepQCPreset(
        "lab",
        {
            "pre_noise_rms_mv_max": 0.2,
            "post_noise_rms_mv_max": 0.2,
            "slow_noise_rms_mv_max": 1.0,
            "vm_delta_mv_max": 3.0,
        },
        0.1,
    ),
    "none": SweepQCPreset("none", None, 0.5, apply=False),
}
#: The preset ``features`` uses unless told (see the README: the example files).
DEFAULT_PRESET = "lab"


def default_criteria() -> dict[str, float]:
    """ipfx's default sweep QC thresholds (those :data:`CRITERIA` name)."""
    from ipfx.qc_feature_evaluator import load_default_qc_criteria

    raw = load_default_qc_criteria()
    return {k: float(raw[k]) for k in CRITERIA}


def sweep_qc(recording: Recording, preset: str | SweepQCPreset = "allen") -> pd.DataFrame:
    """One row per sweep of every stimulus kind: the measures, ``passed``, and ``reason``
    (every failed criterion with its value and threshold, '; '-joined; empty when the sweep
    passes)."""
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    criteria = preset.thresholds()
    rows: list[dict[str, Any]] = []
    for stimulus in recording.stimulus_sets():
        for sweep, amplitude in zip(stimulus.sweeps, stimulus.amplitudes, strict=True):
            row = _sweep_row(sweep, stimulus.start, criteria, preset.baseline_seconds)
            if not preset.apply:
                row.update(passed=True, reason="")
            rows.append(
                {
                    "file": recording.path.name,
                    "stimulus": stimulus.kind,
                    "sweep": sweep.number,
                    "stim_amp_pa": amplitude,
                    **row,
                    "not_checked": NOT_CHECKED,
                }
            )
    return pd.DataFrame(rows)


def _sweep_row(
    sweep: StepSweep, start: float, criteria: dict[str, float], baseline_seconds: float
) -> dict[str, Any]:
    """The measures of one sweep whose stimulus starts at ``start`` (s), and its verdict."""
    import ipfx.epochs as ep
    from ipfx.qc_features import measure_vm

    v, hz = sweep.v, sweep.rate
    noise = max(2, int(ep.NOISE_EPOCH * hz))
    stable = int(baseline_seconds * hz)
    changes = sweep.command_changes()
    stim = round(start * hz)
    before = changes[changes < stim]
    first = max(int(before[-1]) if len(before) else 0, stim - stable)
    last = int(changes[-1]) if len(changes) else 0
    pre_vm, slow_noise = measure_vm(v[first:stim])
    tail = v[max(last, len(v) - stable) :]
    post_vm = measure_vm(tail)[0] if len(tail) >= 0.1 * hz else np.nan
    measures = {
        "pre_noise_rms_mv": measure_vm(v[:noise])[1],
        "post_noise_rms_mv": measure_vm(v[-noise:])[1],
        "slow_noise_rms_mv": slow_noise,
        "vm_delta_mv": abs(pre_vm - post_vm),
    }
    failed = [
        f"{name} {value:.3f} > {criteria[name + '_max']:.3f}"
        for name, value in measures.items()
        if value > criteria[name + "_max"]  # NaN (not measured) never fails
    ]
    return {
        "pre_vm_mv": pre_vm,
        **measures,
        "passed": not failed,
        "reason": "; ".join(failed),
    }


def failure_summary(recording: Recording, qc: pd.DataFrame, preset: str) -> str:
    """When no long-square sweep passed: which criterion failed most, and which other preset
    would keep sweeps (empty when some passed)."""
    steps = qc[qc["stimulus"] == "long_square"]
    if steps["passed"].any() or not len(steps):
        return ""
    counts: dict[str, int] = {}
    for reason in steps["reason"]:
        for part in str(reason).split("; "):
            if part:
                name = part.split(" ")[0]
                counts[name] = counts.get(name, 0) + 1
    worst = max(counts, key=counts.get) if counts else "none"
    others = []
    for name, other in PRESETS.items():
        if name == preset:
            continue
        kept = sweep_qc(recording, other)
        n = int(kept[kept["stimulus"] == "long_square"]["passed"].sum())
        if n:
            others.append(f"--sweep-qc {name} keeps {n}")
    return (
        f"all {len(steps)} long-square sweeps failed sweep QC ({preset}); most often "
        f"{worst} ({counts.get(worst, 0)} sweeps)" + (f"; {', '.join(others)}" if others else "")
    )
