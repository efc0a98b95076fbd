"""Cell-level checks a physiologist makes before trusting a recording's features.

ipfx measures; these checks sit around its results and say when a measurement should not be
believed: the cell fires at rest, goes into depolarisation block at the strongest steps,
has no hyperpolarising step (or none deep enough for a sag), gives a negative or implausible
f-I slope, drifts in resting potential across sweeps, or fires spikes of a shape outside the
interneuron range (or, with only -100 pA or stronger hyperpolarising steps, none in the range
ipfx takes input resistance and tau from). Each check gives a :class:`Flag` naming what it
saw (with numbers), the quantities it makes untrustworthy (:data:`QUANTITIES`, emptied by the
extractor) and where it happens (sweeps and times, drawn by :mod:`.figures`).

Thresholds, and where they come from:

- spontaneous firing: a spike (ipfx's detector, the step's settings) in the baseline before
  the step of at least :data:`SPONTANEOUS_MIN_SWEEPS` sweeps (one stray spike is not a
  cell that fires at rest);
- depolarisation block: a sweep whose spikes stop more than :data:`BLOCK_SILENT_FRACTION` of
  the step before its end, with fewer spikes than a weaker step (its rate falls as the current
  rises) and the membrane held flat (5-95% range around its trend under
  :data:`BLOCK_TAIL_SPREAD_MV`: no spikes ipfx's detector missed) above the first spike's
  threshold minus :data:`BLOCK_BELOW_THRESHOLD_MV` in the second half of the silent tail;
  every stronger step counts as blocked;
- sag sweep: ipfx takes the subthreshold sweep closest to -100 mV; it must reach
  :data:`SAG_MIN_DEFLECTION_MV` below rest (the sag sweeps of the training cells reached at
  least 6.1 mV (mouse, 0.5th percentile of 3,906 cells) and 5.4 mV (human, 666 cells); the
  least 4.2 and 3.7 mV);
- f-I slope: negative, or above :data:`FI_SLOPE_MAX` Hz/pA (the steepest of the 4,572
  training cells is 2.83);
- resting potential: the pre-step baseline (median of its last 100 ms) of the long-square
  sweeps spans more than :data:`VREST_DRIFT_MV` (our choice; the five example recordings span
  2.0-8.0 mV, and 20.6 mV for the one that fires at rest);
- spike shape: the first spike at rheobase with an upstroke/downstroke ratio above
  :data:`UPSTROKE_DOWNSTROKE_MAX` or a width above :data:`WIDTH_MAX_MS` ms (above 99.5% of
  the training interneurons: ratio 5.0 in mouse, 4.1 in human; width 1.5 ms in human)
  is reported as "may not be an interneuron" and empties nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.recordings.analysis import ProtocolAnalysis, filter_cutoff_khz
from ephys2type.data.recordings.check_table import CHECKS as CHECKS
from ephys2type.data.recordings.sweeps import Recording

SPONTANEOUS_MIN_SWEEPS = 2
BLOCK_SILENT_FRACTION = 0.2
BLOCK_BELOW_THRESHOLD_MV = 10.0
BLOCK_TAIL_SPREAD_MV = 15.0
SAG_MIN_DEFLECTION_MV = 5.0
FI_SLOPE_MAX = 3.0
VREST_DRIFT_MV = 10.0
UPSTROKE_DOWNSTROKE_MAX = 5.0
WIDTH_MAX_MS = 1.5

#: What a flag can make untrustworthy; :mod:`.naming` maps each to the schema's columns.
QUANTITIES = ("vrest", "ri", "tau", "sag", "fi_slope", "rheobase")


@dataclass(frozen=True)
class Flag:
    """One check that failed: what was seen, the quantities left empty, where it happens
    (sweep numbers; times in s of the spikes or onsets to mark), and for a block the
    recomputed rheobase and f-I slope from the sweeps before it (``replaces``)."""

    check: str
    message: str
    clears: tuple[str, ...] = ()
    sweeps: tuple[int, ...] = ()
    times: tuple[tuple[int, float], ...] = ()
    replaces: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ValueError(f"unknown check {self.check!r}; checks: {', '.join(CHECKS)}")
        unknown = set(self.clears) | set(self.replaces)
        if not unknown <= set(QUANTITIES):
            raise ValueError(f"unknown quantities {sorted(unknown - set(QUANTITIES))}")


def check_cell(recording: Recording, lsq: ProtocolAnalysis) -> list[Flag]:
    """Every check on the long-square sweeps ipfx analysed (``lsq``), in :data:`CHECKS` order;
    an empty list when the recording passes them all."""
    sweeps = _sweep_table(lsq)
    block = _block(lsq, sweeps)
    # the f-I slope checked is the one the cell keeps: below the block when there is one
    if block is not None:
        slope = block.replaces["fi_slope"]
        n = int(((sweeps["n_spikes"] > 0) & ~sweeps["number"].isin(block.sweeps)).sum())
    else:
        slope = lsq.features.get("fi_fit_slope")
        n = len(lsq.features.get("spiking_sweeps", []))
    flags = [
        _spontaneous(recording),
        block,
        _no_hyperpolarising(recording, sweeps),
        _shallow_sag(lsq, sweeps),
        _fi_slope(slope, n),
        _vrest_drift(recording),
        _spike_shape(lsq),
    ]
    return [f for f in flags if f is not None]


def _sweep_table(lsq: ProtocolAnalysis) -> pd.DataFrame:
    """ipfx's per-sweep table with the sweep numbers and spike counts beside it."""
    table = lsq.features["sweeps"].copy()
    table["number"] = [s.sweep_number for s in lsq.sweeps.sweeps]
    table["n_spikes"] = [len(s) for s in lsq.features["spikes_set"]]
    return table


def _spikes(sweep, start: float, end: float) -> pd.DataFrame:
    """ipfx's spikes of one recorded sweep in [start, end] (s), the step analysis' detector."""
    from ipfx.feature_extractor import SpikeFeatureExtractor

    cutoff = filter_cutoff_khz(sweep.rate)
    return SpikeFeatureExtractor(start=start, end=end, filter=cutoff).process(
        sweep.t, sweep.v, sweep.i
    )


def _spontaneous(recording: Recording) -> Flag | None:
    """Spikes in the baseline before the step, in any long-square sweep (QC-passed or not:
    firing at rest is a fact about the cell)."""
    found: list[tuple[int, float]] = []
    seconds = 0.0
    for sweep in recording.sweeps:
        window = _baseline_window(sweep, recording.start)
        if window is None:
            continue
        seconds += window[1] - window[0]
        spikes = _spikes(sweep, *window)
        found += [(sweep.number, float(t)) for t in spikes.get("threshold_t", [])]
    spiking = sorted({n for n, _ in found})
    if not found or len(spiking) < min(SPONTANEOUS_MIN_SWEEPS, len(recording.sweeps)):
        return None
    rate = len(found) / seconds if seconds else float("nan")
    return Flag(
        "spontaneous_firing",
        f"fires at rest: {len(found)} spike(s) before the step in {len(spiking)} of "
        f"{len(recording.sweeps)} sweeps ({rate:.1f} Hz over the pre-step baselines); "
        "resting potential, rheobase and f-I slope not trusted",
        clears=("vrest", "rheobase", "fi_slope"),
        sweeps=tuple(spiking),
        times=tuple(found),
    )


def _baseline_window(sweep, start: float) -> tuple[float, float] | None:
    """From the last command change before the step (a test pulse's end) to the step."""
    t, changes = sweep.t, sweep.command_changes()
    before = changes[t[changes] < start - 1e-9]
    first = float(t[before[-1]]) if len(before) else float(t[0])
    return (first, start) if start - first >= 0.02 else None


def _block(lsq: ProtocolAnalysis, sweeps: pd.DataFrame) -> Flag | None:
    """Spiking that stops early, at a lower count than a weaker step, on a depolarised
    plateau: block from that step on; rheobase and f-I slope refitted below it."""
    duration = lsq.end - lsq.start
    spikes_set = lsq.features["spikes_set"]
    order = sweeps.sort_values("stim_amp").index
    best, onset = 0, None
    for k in order:
        spikes = spikes_set[k]
        amp = float(sweeps.loc[k, "stim_amp"])
        if amp <= 0 or not len(spikes):
            best = max(best, len(spikes))
            continue
        silent = lsq.end - float(spikes["threshold_t"].iloc[-1])
        sweep = lsq.sweeps.sweeps[k]
        in_tail = (sweep.t >= lsq.end - silent / 2) & (sweep.t <= lsq.end)
        plateau, spread = _plateau(sweep.t[in_tail], sweep.v[in_tail])
        threshold = float(spikes["threshold_v"].iloc[0])
        if (
            silent > BLOCK_SILENT_FRACTION * duration
            and len(spikes) < best
            and plateau > threshold - BLOCK_BELOW_THRESHOLD_MV
            and spread < BLOCK_TAIL_SPREAD_MV
        ):
            onset = (k, amp, silent, plateau, threshold)
            break
        best = max(best, len(spikes))
    if onset is None:
        return None
    k, amp, silent, plateau, threshold = onset
    blocked = sweeps[sweeps["stim_amp"] >= amp]
    before = sweeps[(sweeps["stim_amp"] < amp) & (sweeps["n_spikes"] > 0)]
    replaces = _refit(before)
    times = tuple(
        (int(sweeps.loc[j, "number"]), float(spikes_set[j]["threshold_t"].iloc[-1]))
        for j in blocked.index
        if len(spikes_set[j])
    )
    return Flag(
        "depolarisation_block",
        f"depolarisation block from {amp:+.0f} pA: spiking stops {silent * 1000:.0f} ms before "
        f"the step ends with the membrane at {plateau:.1f} mV (first spike threshold "
        f"{threshold:.1f} mV) in {len(blocked)} sweep(s); rheobase and f-I slope from the "
        f"{len(before)} spiking sweep(s) below it",
        sweeps=tuple(int(n) for n in blocked["number"]),
        times=times,
        replaces=replaces,
    )


def _plateau(t: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """Median voltage of a stretch, and its 5-95% range around its straight-line trend (a
    blocked membrane creeps slowly; missed spikes make it large)."""
    if len(v) < 3:
        return -np.inf, np.inf
    residual = v - np.polyval(np.polyfit(t, v, 1), t)
    low, high = np.percentile(residual, [5, 95])
    return float(np.median(v)), float(high - low)


def _refit(spiking: pd.DataFrame) -> dict[str, float]:
    """Rheobase and f-I slope (ipfx's fit) from these spiking sweeps; NaN when too few."""
    from ipfx.spike_train_features import fit_fi_slope

    out = {"rheobase": np.nan, "fi_slope": np.nan}
    if len(spiking):
        out["rheobase"] = float(spiking["stim_amp"].min())
    if len(spiking) >= 2:
        out["fi_slope"] = float(
            fit_fi_slope(spiking["stim_amp"].to_numpy(float), spiking["avg_rate"].to_numpy(float))
        )
    return out


def _no_hyperpolarising(recording: Recording, sweeps: pd.DataFrame) -> Flag | None:
    """No step below 0 pA among the sweeps used: no input resistance, tau or sag; or none in
    the range ipfx takes input resistance and tau from."""
    from ephys2type.data.recordings.analysis import SUBTHRESH_MIN_AMP

    amps = sweeps["stim_amp"]
    if (amps < 0).any():
        if ((amps < 0) & (amps > SUBTHRESH_MIN_AMP)).any():
            return None
        below = ", ".join(f"{a:+.0f}" for a in sorted(amps[amps < 0].unique()))
        return Flag(
            "no_step_for_ri",
            f"no step above {SUBTHRESH_MIN_AMP:+.0f} pA and below 0 pA, the range ipfx "
            f"measures input resistance and tau in (the hyperpolarising steps: {below} pA); "
            "those two left empty",
            clears=("ri", "tau"),
        )
    message = (
        f"no hyperpolarising step: the steps used run from {amps.min():+.0f} to "
        f"{amps.max():+.0f} pA; input resistance, tau and sag need one"
    )
    pulse = _fixed_pulse(recording)
    if pulse is not None:
        level, begin, length = pulse
        message += (
            f" (the {level:+.0f} pA pulse of {length * 1000:.0f} ms at {begin:.2f} s before every "
            "step is the same in all sweeps and is not used as one)"
        )
    return Flag("no_hyperpolarising_step", message, clears=("ri", "tau", "sag"))


def _fixed_pulse(recording: Recording) -> tuple[float, float, float] | None:
    """A hyperpolarising command pulse before the step, the same in every sweep."""
    c = np.round(np.asarray(recording.sweeps[0].i, dtype=float) - recording.sweeps[0].i[0], 2)
    t = recording.sweeps[0].t
    below = np.flatnonzero((c < 0) & (t < recording.start))
    if not len(below) or any(
        not np.allclose(np.round(s.i - s.i[0], 2)[below], c[below]) for s in recording.sweeps
    ):
        return None
    run = below[: np.argmax(np.diff(np.append(below, below[-1] + 2)) > 1) + 1]
    return float(c[run[0]]), float(t[run[0]]), float(len(run) / recording.rate)


def _shallow_sag(lsq: ProtocolAnalysis, sweeps: pd.DataFrame) -> Flag | None:
    """ipfx's sag sweep not hyperpolarised enough, from its own baseline, for a sag to mean
    anything."""
    f = lsq.features
    vm, subthreshold = f.get("vm_for_sag"), f.get("subthreshold_sweeps")
    if vm is None or subthreshold is None or not len(subthreshold):
        return None
    levels = np.array([v[0] for v in subthreshold["peak_deflect"]])
    k = subthreshold.index[int(np.argmin(np.abs(levels - float(vm))))]
    depth = float(sweeps.loc[k, "v_baseline"]) - float(vm)
    if depth >= SAG_MIN_DEFLECTION_MV:
        return None
    amp = float(sweeps.loc[k, "stim_amp"])
    if amp >= 0 and not (sweeps["stim_amp"] < 0).any():
        return None  # no hyperpolarising step at all: no_hyperpolarising_step says so
    return Flag(
        "shallow_sag_sweep",
        f"sag sweep not hyperpolarised enough: the deepest subthreshold step ({amp:+.0f} pA) "
        f"reached {float(vm):.1f} mV, {abs(depth):.1f} mV {'below' if depth >= 0 else 'above'} "
        f"its baseline; a sag needs at least {SAG_MIN_DEFLECTION_MV:.0f} mV below",
        clears=("sag",),
        sweeps=(int(sweeps.loc[k, "number"]),),
    )


def _fi_slope(slope: float | None, n: int) -> Flag | None:
    """A negative or implausibly steep f-I slope (fitted over ``n`` spiking sweeps)."""
    if slope is None or not np.isfinite(slope) or 0 <= slope <= FI_SLOPE_MAX:
        return None
    what = "negative" if slope < 0 else f"above {FI_SLOPE_MAX:g} Hz/pA"
    return Flag(
        "fi_slope",
        f"f-I slope {slope:.3g} Hz/pA is {what} (fit over {n} spiking sweep(s)); not used",
        clears=("fi_slope",),
    )


def pre_step_baselines(recording: Recording) -> pd.Series:
    """Each long-square sweep's resting potential before the step (median of the last 100 ms
    before it, mV), indexed by sweep number; sweeps without such a window are left out."""
    values = {}
    for sweep in recording.sweeps:
        window = (sweep.t >= recording.start - 0.1) & (sweep.t < recording.start)
        if window.any():
            values[sweep.number] = float(np.median(sweep.v[window]))
    return pd.Series(values, dtype=float)


def _vrest_drift(recording: Recording) -> Flag | None:
    """The pre-step baseline (:func:`pre_step_baselines`) moving across the long-square
    sweeps."""
    base = pre_step_baselines(recording)
    if len(base) < 2 or base.max() - base.min() <= VREST_DRIFT_MV:
        return None
    first, last = base.iloc[0], base.iloc[-1]
    return Flag(
        "vrest_drift",
        f"resting potential drifts across sweeps: {base.min():.1f} to {base.max():.1f} mV "
        f"(first sweep {first:.1f}, last {last:.1f}); resting potential not trusted",
        clears=("vrest",),
        sweeps=tuple(int(n) for n in base.index),
    )


def _spike_shape(lsq: ProtocolAnalysis) -> Flag | None:
    """A first spike at rheobase broader or more asymmetric than interneurons' spikes."""
    rheo = lsq.features.get("rheobase_sweep")
    if rheo is None:
        return None
    spikes = lsq.features["spikes_set"][rheo.name]
    if not len(spikes):
        return None
    ratio = float(spikes["upstroke_downstroke_ratio"].iloc[0])
    width_ms = float(spikes["width"].iloc[0]) * 1000.0
    seen = []
    if ratio > UPSTROKE_DOWNSTROKE_MAX:
        seen.append(f"upstroke/downstroke ratio {ratio:.1f} (> {UPSTROKE_DOWNSTROKE_MAX:g})")
    if width_ms > WIDTH_MAX_MS:
        seen.append(f"spike width {width_ms:.2f} ms (> {WIDTH_MAX_MS:g} ms)")
    if not seen:
        return None
    return Flag(
        "spike_shape",
        "may not be an interneuron: first spike at rheobase with "
        + " and ".join(seen)
        + ", outside 99.5% of the training interneurons",
        sweeps=(int(lsq.sweeps.sweeps[rheo.name].sweep_number),),
        times=(
            (int(lsq.sweeps.sweeps[rheo.name].sweep_number), float(spikes["threshold_t"].iloc[0])),
        ),
    )


def flag_effects(flags: list[Flag]) -> dict[str, tuple[float | None, str]]:
    """What the flags do to each quantity they touch: its value recomputed below a block, or
    None when a check empties it (emptying wins over a recomputation), with the check."""
    out: dict[str, tuple[float | None, str]] = {}
    for flag in flags:
        for quantity, value in flag.replaces.items():
            out[quantity] = (value, flag.check)
    for flag in flags:
        for quantity in flag.clears:
            out[quantity] = (None, flag.check)
    return out


def flag_rows(
    flags: list[Flag], file: str, columns: dict[str, tuple[str, ...]]
) -> list[dict[str, Any]]:
    """The QC table's rows of these flags (``level`` = ``check``): each flag's reason and the
    columns it emptied (or replaced)."""
    rows = []
    for flag in flags:
        cleared = [c for q in flag.clears for c in columns.get(q, ())]
        replaced = [c for q in flag.replaces for c in columns.get(q, ())]
        rows.append(
            {
                "level": "check",
                "file": file,
                "check": flag.check,
                "passed": False,
                "reason": flag.message,
                "cleared": "; ".join(cleared),
                "replaced": "; ".join(replaced),
                "sweeps": " ".join(str(n) for n in flag.sweeps),
            }
        )
    return rows
