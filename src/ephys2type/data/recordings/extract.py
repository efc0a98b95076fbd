"""IPFX features of current-step recordings, computed by ``ipfx`` and named as in the schemas.

ipfx's ``LongSquareAnalysis`` (its array-level spike and spike-train extractors on the step
window of each sweep) gives the cell's resting potential, input resistance, sag, membrane time
constant, f-I slope, the rheobase and its first spike, and the hero sweep's spike train (the
first sweep 39-61 pA above rheobase). These fill the mouse schema's ``subthreshold``,
``spike_train`` and ``long_square`` families, in the schema's units; families a step protocol
cannot give (ramp, short square, chirp) stay empty, never invented.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.recordings.sweep_qc import sweep_qc
from ephys2type.data.recordings.sweeps import Recording, RecordingError
from ephys2type.data.schema import get_schema

#: Sweep QC profiles: ipfx's criteria (default) or none.
SWEEP_QC = ("allen", "none")
#: Families a current-step protocol provides, per schema.
STEP_FAMILIES = {"mouse": ("subthreshold", "spike_train", "long_square")}
#: Lowest step amplitude (pA) used for subthreshold membrane properties (ipfx's pipeline).
SUBTHRESH_MIN_AMP = -100.0

#: schema column <- (where in ipfx's result, key, scale to the schema's unit)
_CELL = {
    "vrest": ("cell", "v_baseline", 1.0),
    "ri": ("cell", "input_resistance", 1.0),
    "sag": ("cell", "sag", 1.0),
    "tau": ("cell", "tau", 1000.0),  # s -> ms
    "vm_for_sag": ("cell", "vm_for_sag", 1.0),
    "f_i_curve_slope": ("cell", "fi_fit_slope", 1.0),
    "adaptation": ("hero", "adapt", 1.0),
    "latency": ("hero", "latency", 1.0),
    "avg_isi": ("hero", "mean_isi", 1000.0),  # s -> ms
    "threshold_i_long_square": ("cell", "rheobase_i", 1.0),
}
_FIRST_SPIKE = (
    "upstroke_downstroke_ratio",
    "peak_v",
    "peak_t",
    "trough_v",
    "trough_t",
    "fast_trough_v",
    "fast_trough_t",
    "threshold_v",
    "threshold_t",
)


def extract_features(
    recording: Recording,
    *,
    schema: str = "mouse",
    sweep_qc_profile: str = "allen",
    figure: str | Path | None = None,
) -> tuple[pd.Series, pd.DataFrame]:
    """The cell's features (a row in ``schema``'s columns, NaN where not measurable) and its
    QC table: one row per sweep (``used``: the sweeps the features come from) and a last row
    for the cell (``level`` = ``cell``), whose ``reason`` says why it has no features, if so.
    With ``figure`` (a .png path), also draws the cell's check figure there."""
    if schema not in STEP_FAMILIES:
        raise RecordingError(
            f"features from recordings are named for: {', '.join(STEP_FAMILIES)} (not {schema!r})"
        )
    if sweep_qc_profile not in SWEEP_QC:
        raise RecordingError(
            f"sweep QC must be one of {', '.join(SWEEP_QC)}, not {sweep_qc_profile!r}"
        )
    target = get_schema(schema)
    row = pd.Series(np.nan, index=target.columns, name=recording.name, dtype=float)
    qc = sweep_qc(recording)
    keep = qc["passed"].to_numpy() if sweep_qc_profile == "allen" else np.ones(len(qc), bool)
    qc.insert(0, "level", "sweep")
    qc["used"] = keep

    def cell(reason: str) -> pd.DataFrame:
        note = "; ".join(recording.notes)
        summary = {
            "level": "cell",
            "file": recording.path.name,
            "passed": not reason,
            "used": bool(keep.any()) and not reason,
            "reason": reason,
            "not_checked": note,
        }
        return pd.concat([qc, pd.DataFrame([summary])], ignore_index=True)

    if not keep.any():
        return row, cell(f"no sweep passed QC ({sweep_qc_profile}): no features")
    try:
        result = _analyze(recording, [s for s, k in zip(recording.sweeps, keep, strict=True) if k])
    except RecordingError as exc:
        n = int(keep.sum())
        return row, cell(f"{n} sweep{'s' if n != 1 else ''} used: {exc}")
    for column, (where, key, scale) in _CELL.items():
        source = result.get("hero_sweep") if where == "hero" else result
        if source is not None and key in source and source[key] is not None:
            row[column] = float(source[key]) * scale
    rheobase = result.get("rheobase_sweep")
    if rheobase is not None:
        spikes = result["spikes_set"][rheobase.name]
        if len(spikes):
            for key in _FIRST_SPIKE:
                row[f"{key}_long_square"] = float(spikes.iloc[0][key])
    if figure is not None:
        from ephys2type.data.recordings.figures import cell_figure, save_cell_figure

        numbers = [s.number for s, k in zip(recording.sweeps, keep, strict=True) if k]
        rates = dict(zip(numbers, result["sweeps"]["avg_rate"].astype(float), strict=True))
        rheo = None if rheobase is None else float(rheobase["stim_amp"])
        save_cell_figure(cell_figure(recording, rates, rheo), Path(figure))
    return row, cell("")


def _analyze(recording: Recording, sweeps) -> dict:
    """ipfx's long-square analysis of the sweeps (no requirement for sub- or suprathreshold
    sweeps: a missing kind leaves its features empty)."""
    from ipfx.feature_extractor import SpikeFeatureExtractor, SpikeTrainFeatureExtractor
    from ipfx.stimulus_protocol_analysis import LongSquareAnalysis
    from ipfx.sweep import Sweep, SweepSet

    rate = recording.rate
    ipfx_sweeps = [
        Sweep(s.t, s.v, s.i, "CurrentClamp", rate, sweep_number=s.number) for s in sweeps
    ]
    # the Bessel filter of dV/dt must stay below the Nyquist frequency (ipfx's default 10 kHz
    # needs more than 20 kHz sampling)
    cutoff = min(10.0, 0.4 * rate / 1000.0)
    spx = SpikeFeatureExtractor(start=recording.start, end=recording.end, filter=cutoff)
    sptx = SpikeTrainFeatureExtractor(recording.start, recording.end)
    analysis = LongSquareAnalysis(
        spx,
        sptx,
        subthresh_min_amp=SUBTHRESH_MIN_AMP,
        require_subthreshold=False,
        require_suprathreshold=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ipfx's empty-slice means
        try:
            return analysis.analyze(SweepSet(ipfx_sweeps))
        except Exception as exc:  # ipfx raises FeatureError, ValueError, IndexError ...
            raise RecordingError(f"ipfx could not analyse the steps ({exc})") from exc


#: Recording formats by file suffix.
SUFFIXES = (".abf", ".nwb")


def read_recording(path: str | Path) -> Recording:
    """A recording file, by its suffix (``.abf`` or ``.nwb``)."""
    path = Path(path)
    if path.suffix.lower() == ".abf":
        from ephys2type.data.recordings.abf import read_abf

        return read_abf(path)
    if path.suffix.lower() == ".nwb":
        from ephys2type.data.recordings.nwb import read_nwb

        return read_nwb(path)
    raise RecordingError(
        f"{path}: unknown recording format {path.suffix!r} (supported: {', '.join(SUFFIXES)})"
    )
