"""Sweep QC with the Allen's criteria, as ``ipfx`` ships them (``qc_criteria.json``).

Measured on each sweep with ipfx's measure (``ipfx.qc_features.measure_vm``) over ipfx's
window lengths: the RMS noise of the first and last 1.5 ms, the mean and RMS of the membrane
potential over up to 500 ms of holding before the step, and its change between that baseline
and up to 500 ms at the end of the sweep, after its last command change (no change measured
when less than 100 ms is left: ``vm_delta_mv`` empty). Other labs' protocols give no long rest
before the step as the Allen's do, so the windows are cut where the command changes.
Seal, access resistance and bridge balance need the
test-pulse and break-in records of an Allen NWB file; an ABF file has none, so those criteria
are not applied (said in each row's ``not_checked``).
"""

from __future__ import annotations

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


def default_criteria() -> dict[str, float]:
    """ipfx's default sweep QC thresholds (those :data:`CRITERIA` name)."""
    from ipfx.qc_feature_evaluator import load_default_qc_criteria

    raw = load_default_qc_criteria()
    return {k: float(raw[k]) for k in CRITERIA}


def sweep_qc(recording: Recording, criteria: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per sweep of every stimulus kind: the measures, ``passed``, and ``reason``
    (every failed criterion with its value and threshold, '; '-joined; empty when the sweep
    passes)."""
    criteria = criteria or default_criteria()
    rows: list[dict[str, Any]] = []
    for stimulus in recording.stimulus_sets():
        for sweep, amplitude in zip(stimulus.sweeps, stimulus.amplitudes, strict=True):
            row = _sweep_row(sweep, stimulus.start, criteria)
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


def _sweep_row(sweep: StepSweep, start: float, criteria: dict[str, float]) -> dict[str, Any]:
    """The measures of one sweep whose stimulus starts at ``start`` (s), and its verdict."""
    import ipfx.epochs as ep
    from ipfx.qc_features import measure_vm

    v, hz = sweep.v, sweep.rate
    noise = max(2, int(ep.NOISE_EPOCH * hz))
    stable = int(ep.PRESTIM_STABILITY_EPOCH * hz)
    changes = np.flatnonzero(np.diff(np.round(sweep.i, 2))) + 1
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
