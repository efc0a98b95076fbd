"""ipfx's results named and scaled as the columns of either training table.

- ``mouse`` (Gouwens et al. 2020): the cell record ipfx writes
  (``ipfx.feature_record.build_cell_feature_record``): resting potential, Ri, sag, tau (ms),
  f-I slope, the hero sweep's adaptation, latency and mean ISI (ms), the first spike of the
  rheobase sweep, and the mean first spike of the ramp and short-square sweeps. The ramp and
  short-square columns come from ipfx's own record builder.
- ``human`` (Lee, Dalley et al. 2023): the Allen's feature collection for that table (rheobase
  and hero sweeps with their first spike; voltages of peak, trough and fast trough as
  differences from threshold, ``*_deltav_*``; inverse first ISI; adaptation ratios of the
  fourth to the first spike in the first sweep with at least five spikes; the after-
  hyperpolarisation delay ratio; ramp and short-square first spikes averaged over the spiking
  ramp sweeps and the short squares at the most common spiking amplitude). Columns that need
  measurements stock ipfx 2.1.2 does not make are left empty, never approximated: sag peak
  time, area and time constant, the depolarising sag (stock ipfx's per-sweep ``sag`` of a
  depolarising step is not the table's: it gives values far outside the table's 0-0.7),
  its time and area, suprathreshold width, post-AP
  slope, slow-trough differences, normalised squared ISI variation, the ``*_max`` summaries and
  the chirp family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ephys2type.data.recordings.analysis import ProtocolAnalysis

Analyses = Mapping[str, ProtocolAnalysis]

#: Long-square mouse columns <- (where in ipfx's result, key, scale to the column's unit)
_MOUSE_CELL = {
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


#: Where the mouse table's spike times start counting: its times are the time since the
#: stimulus began plus this (first spikes of a 3 ms short square at 0.502-0.515 s, of the
#: long square's rheobase sweep from 0.508 s, of a ramp from 1.127 s, 1st-99th percentiles of
#: the 3,906 cells). A recording's own clock starts wherever its protocol put the step (the
#: sample ABF files: 0.15-1.05 s), which put those columns far from the training cells' (a
#: new-user trial: a simulated Allen-protocol cell's short-square spike 10 training SDs away)
#: and changed calls; they are measured from the stimulus onset and shifted to this.
TABLE_ONSET = 0.5


def _table_time(t: float, onset: float) -> float:
    """A spike time ``t`` (s, on the recording's clock) on the mouse table's clock."""
    return t - onset + TABLE_ONSET


def _value(x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return np.nan
    return x


def mouse_record(analyses: Analyses) -> dict[str, float]:
    """The mouse table's columns that the analyses give."""
    from ipfx.feature_record import build_cell_feature_record

    record: dict[str, float] = {}
    lsq = analyses.get("long_square")
    if lsq is not None:
        result = lsq.features
        for column, (where, key, scale) in _MOUSE_CELL.items():
            source = result.get("hero_sweep") if where == "hero" else result
            if source is not None and key in source and source[key] is not None:
                record[column] = _value(source[key]) * scale
        rheobase = result.get("rheobase_sweep")
        if rheobase is not None:
            spikes = result["spikes_set"][rheobase.name]
            if len(spikes):
                for key in _FIRST_SPIKE:
                    value = _value(spikes.iloc[0][key])
                    if key.endswith("_t"):
                        value = _table_time(value, lsq.start)
                    record[f"{key}_long_square"] = value
    others = {
        "long_squares": {},
        "ramps": _record_input(analyses.get("ramp")),
        "short_squares": _record_input(analyses.get("short_square")),
    }
    if others["ramps"] or others["short_squares"]:
        built = build_cell_feature_record(others)
        record.update(
            {k: _value(v) for k, v in built.items() if k.endswith(("_ramp", "_short_square"))}
        )
    return record


def _record_input(analysis: ProtocolAnalysis | None) -> dict:
    """The part of ipfx's analysis its record builder reads (``mean_spike_0`` and, for short
    squares, ``stimulus_amplitude``)."""
    if analysis is None:
        return {}
    f = analysis.features
    spike = {k: _value(v) for k, v in dict(f["mean_spike_0"]).items()}
    # spike times on the mouse table's clock (TABLE_ONSET)
    spike = {k: _table_time(v, analysis.start) if k.endswith("_t") else v for k, v in spike.items()}
    out = {"mean_spike_0": spike}
    if "stimulus_amplitude" in f:
        out["stimulus_amplitude"] = _value(f["stimulus_amplitude"])
    return out


#: Spike features of the human table's first spikes (rheobase, hero, ramp, short square)
_BASE_SPIKE = (
    "upstroke_downstroke_ratio",
    "threshold_v",
    "peak_v",
    "fast_trough_v",
    "width",
    "upstroke",
    "downstroke",
)
_LS_SPIKE = (*_BASE_SPIKE, "trough_v")
_RAMP_SPIKE = (*_BASE_SPIKE, "trough_v", "threshold_i")
#: Spike features whose 4th-to-1st spike ratio the human table holds
_ADAPT_SPIKE = (
    "isi",
    "width",
    "upstroke",
    "downstroke",
    "peak_v",
    "threshold_v",
    "fast_trough_v",
)
#: Cell-level long-square results the human table holds under ipfx's own names
_HUMAN_CELL = (
    "v_baseline",
    "input_resistance",
    "tau",
    "sag",
    "vm_for_sag",
    "rheobase_i",
    "fi_fit_slope",
)
#: Voltages reported as differences from the spike's threshold.
_DELTA = ("trough_v", "fast_trough_v", "peak_v")


def _spike(spikes: pd.DataFrame, index: int, names, suffix: str) -> dict[str, float]:
    row = spikes.iloc[index]
    out = {f"{n}{suffix}": _value(row.get(n)) for n in names}
    return _relative_to_threshold(out, suffix)


def _relative_to_threshold(values: dict[str, float], suffix: str) -> dict[str, float]:
    """``trough_v`` -> ``trough_deltav`` (and fast trough, peak): minus the threshold."""
    threshold = values.get(f"threshold_v{suffix}", np.nan)
    for name in _DELTA:
        if f"{name}{suffix}" in values:
            values[f"{name[:-2]}_deltav{suffix}"] = values.pop(f"{name}{suffix}") - threshold
    return values


def _ahp_delay_ratio(spikes: pd.DataFrame) -> float:
    """Time from the second-to-last spike's peak to its trough over the last ISI."""
    if len(spikes) < 2:
        return np.nan
    isi = spikes["peak_t"].iloc[-1] - spikes["peak_t"].iloc[-2]
    return _value((spikes["trough_t"].iloc[-2] - spikes["peak_t"].iloc[-2]) / isi)


def _mean_first_spike(analysis: ProtocolAnalysis, rows: pd.DataFrame, names, suffix: str):
    spikes = [analysis.features["spikes_set"][i] for i in rows.index]
    values = {}
    for n in names:
        v = [_value(s.iloc[0][n]) for s in spikes if len(s) and n in s]
        values[f"{n}{suffix}"] = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
    return _relative_to_threshold(values, suffix)


def human_record(analyses: Analyses) -> dict[str, float]:
    """The human table's columns that stock ipfx's results give (see the module's notes)."""
    record: dict[str, float] = {}
    lsq = analyses.get("long_square")
    if lsq is not None:
        record.update(_human_long_square(lsq))
    ramp = analyses.get("ramp")
    if ramp is not None and len(ramp.features["spiking_sweeps"]):
        record.update(
            _mean_first_spike(ramp, ramp.features["spiking_sweeps"], _RAMP_SPIKE, "_ramp")
        )
    ssq = analyses.get("short_square")
    if ssq is not None:
        rows = ssq.features["common_amp_sweeps"]
        record.update(_mean_first_spike(ssq, rows, _BASE_SPIKE, "_short_square"))
    return record


def _human_long_square(lsq: ProtocolAnalysis) -> dict[str, float]:
    f = lsq.features
    record = {k: _value(f.get(k)) for k in _HUMAN_CELL}
    spikes_set = f["spikes_set"]
    rheo = f.get("rheobase_sweep")
    if rheo is not None and len(spikes_set[rheo.name]):
        spikes = spikes_set[rheo.name]
        for n in ("latency", "avg_rate", "mean_isi"):
            record[f"{n}_rheo"] = _value(rheo.get(n))
        record["first_isi_inv_rheo"] = 1.0 / _value(rheo.get("first_isi"))
        record.update(_spike(spikes, 0, _LS_SPIKE, "_rheo"))
        record["fast_trough_v_last_rheo"] = _value(spikes.iloc[-1]["fast_trough_v"])
        record["adp_v_last_rheo"] = _value(spikes.iloc[-1]["adp_v"])
    hero = f.get("hero_sweep")
    if hero is not None and len(spikes_set[hero.name]):
        spikes = spikes_set[hero.name]
        for n in ("adapt", "avg_rate", "latency", "mean_isi", "median_isi", "isi_cv"):
            record[f"{n}_hero"] = _value(hero.get(n))
        record["first_isi_inv_hero"] = 1.0 / _value(hero.get("first_isi"))
        record.update(_spike(spikes, 0, _LS_SPIKE, "_hero"))
        record["ahp_delay_ratio_hero"] = _ahp_delay_ratio(spikes)
    spiking = f.get("spiking_sweeps")
    if spiking is not None and len(spiking):
        record["adapt_mean"] = _value(spiking["adapt"].mean())
        record["isi_cv_mean"] = _value(spiking["isi_cv"].mean())
        record.update(_adaptation_ratios(spiking, spikes_set))
    return record


def _adaptation_ratios(spiking: pd.DataFrame, spikes_set, nth: int = 4) -> dict[str, float]:
    """Fourth-spike over first-spike ratios in the lowest depolarising sweep with at least
    five spikes, and its after-hyperpolarisation delay ratio."""
    counts = pd.Series([len(spikes_set[i]) for i in spiking.index], index=spiking.index)
    candidates = spiking[(counts >= nth + 1) & (spiking["stim_amp"] > 0)]
    if not len(candidates):
        return {}
    spikes = spikes_set[candidates.sort_values("stim_amp").index[0]].copy()
    spikes["isi"] = spikes["peak_t"].shift(-1) - spikes["peak_t"]
    out = {}
    for n in _ADAPT_SPIKE:
        first, later = _value(spikes.iloc[0][n]), _value(spikes.iloc[nth - 1][n])
        out[f"{n}_adapt_ratio"] = later / first if first and later else np.nan
    out["ahp_delay_ratio_5spike"] = _ahp_delay_ratio(spikes)
    return out


#: Per schema: the columns holding each quantity the cell-level checks (:mod:`.checks`) may
#: empty or replace.
QUANTITY_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "mouse": {
        "vrest": ("vrest",),
        "ri": ("ri",),
        "tau": ("tau",),
        "sag": ("sag", "vm_for_sag"),
        "fi_slope": ("f_i_curve_slope",),
        "rheobase": ("threshold_i_long_square",),
    },
    "human": {
        "vrest": ("v_baseline",),
        "ri": ("input_resistance",),
        "tau": ("tau",),
        "sag": ("sag", "vm_for_sag"),
        "fi_slope": ("fi_fit_slope",),
        "rheobase": ("rheobase_i",),
    },
}

#: Column naming per schema name (the ``--schema`` choices).
NAMINGS: dict[str, Callable[[Analyses], dict[str, float]]] = {
    "mouse": mouse_record,
    "human": human_record,
}
