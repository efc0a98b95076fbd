"""ipfx's analysis of each stimulus kind a recording holds.

Each kind goes through ipfx's own protocol analysis with the detection settings ipfx's
pipeline uses for it (``ipfx.data_set_features.detection_parameters``): long squares through
``LongSquareAnalysis`` on the step window, short squares through ``ShortSquareAnalysis`` with
detection thresholds estimated on the first millisecond of the pulse (as
``ipfx.script_utils.preprocess_short_square_sweeps``), ramps through ``RampAnalysis`` from the
ramp's start. The results feed both the named scalar features (:mod:`.naming`) and the
feature vectors (:mod:`.vectors`).

One departure from ipfx: a cell with a single spiking long-square sweep (the others failed
sweep QC, or did not fire) keeps its long-square features with its f-I slope not measured,
where ipfx's f-I fit refuses the whole analysis, subthreshold features included (new-user
trial: a clean cell whose two higher sweeps failed sweep QC got no feature at all).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ephys2type.data.recordings.sweeps import RecordingError, StimulusSet

#: Lowest step amplitude (pA) used for subthreshold membrane properties (ipfx's pipeline).
SUBTHRESH_MIN_AMP = -100.0
#: Time after a short square's end in which its spike is looked for (ipfx's pipeline), s.
SHORT_SQUARE_SPIKE_WINDOW = 0.05


def filter_cutoff_khz(rate: float) -> float:
    """The Bessel cutoff of dV/dt for a sampling ``rate`` (Hz): ipfx's 10 kHz, kept below the
    Nyquist frequency (10 kHz needs more than 20 kHz sampling)."""
    return min(10.0, 0.4 * rate / 1000.0)


@dataclass
class ProtocolAnalysis:
    """ipfx's result for one stimulus kind: its sweep set, its ``analyze()`` output and the
    analysed window."""

    kind: str
    sweeps: Any  # ipfx.sweep.SweepSet
    features: dict
    start: float
    end: float


def analyze_stimulus(stimulus: StimulusSet, *, subthresh_min_amp: float = SUBTHRESH_MIN_AMP):
    """ipfx's analysis of one stimulus set (a :class:`ProtocolAnalysis`); a set ipfx cannot
    analyse raises :class:`RecordingError` naming what ipfx said."""
    from ipfx.sweep import Sweep, SweepSet

    rate = stimulus.sweeps[0].rate
    sweeps = SweepSet(
        [Sweep(s.t, s.v, s.i, "CurrentClamp", rate, sweep_number=s.number) for s in stimulus.sweeps]
    )
    cutoff = filter_cutoff_khz(rate)
    start, end = stimulus.start, stimulus.end
    if stimulus.kind not in _ANALYSES:
        raise RecordingError(f"no ipfx analysis for {stimulus.kind!r} sweeps")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ipfx's empty-slice means
        try:
            analysis = _ANALYSES[stimulus.kind](sweeps, start, end, cutoff, subthresh_min_amp)
            features = analysis.analyze(sweeps)
        except Exception as exc:  # ipfx raises FeatureError, ValueError, IndexError ...
            what = stimulus.kind.replace("_", " ")
            raise RecordingError(f"ipfx could not analyse the {what} sweeps ({exc})") from exc
    return ProtocolAnalysis(stimulus.kind, sweeps, features, start, end)


@functools.cache
def _long_square_analysis() -> type:
    """ipfx's ``LongSquareAnalysis``, except that one spiking sweep gives no f-I slope (NaN)
    rather than no features (module docstring). Made on first use: ipfx is imported late."""
    from ipfx.stimulus_protocol_analysis import LongSquareAnalysis

    class OneSweepLongSquareAnalysis(LongSquareAnalysis):
        def analyze_suprathreshold(self, sweep_set):
            spiking = self.suprathreshold_sweep_features()
            if len(spiking) != 1:
                return super().analyze_suprathreshold(sweep_set)
            rheobase = self.find_rheobase_sweep(spiking)
            return {
                "rheobase_i": rheobase["stim_amp"],
                "rheobase_sweep": rheobase,
                "spiking_sweeps": spiking,
                "fi_fit_slope": np.nan,  # a line needs two sweeps
                # as ipfx picks it when no sweep lies in the hero range: the nearest
                "hero_sweep": self.find_hero_sweep(rheobase["stim_amp"], spiking),
            }

    return OneSweepLongSquareAnalysis


def _long_square(sweeps, start: float, end: float, cutoff: float, subthresh_min_amp: float):
    import ipfx.data_set_features as dsf

    spx, sptx = dsf.extractors_for_sweeps(sweeps, start=start, end=end, filter_frequency=cutoff)
    return _long_square_analysis()(
        spx,
        sptx,
        subthresh_min_amp=subthresh_min_amp,
        require_subthreshold=False,
        require_suprathreshold=False,
    )


def _short_square(sweeps, start: float, end: float, cutoff: float, _min_amp: float):
    import ipfx.data_set_features as dsf
    from ipfx.stimulus import StimulusType
    from ipfx.stimulus_protocol_analysis import ShortSquareAnalysis

    spx, sptx = dsf.extractors_for_sweeps(
        sweeps,
        est_window=[start, start + 0.001],
        start=start,
        end=end + SHORT_SQUARE_SPIKE_WINDOW,
        reject_at_stim_start_interval=0.0002,
        filter_frequency=cutoff,
        **dsf.detection_parameters(StimulusType.SHORT_SQUARE),
    )
    return ShortSquareAnalysis(spx, sptx)


def _ramp(sweeps, start: float, end: float, cutoff: float, _min_amp: float):
    import ipfx.data_set_features as dsf
    from ipfx.stimulus_protocol_analysis import RampAnalysis

    spx, sptx = dsf.extractors_for_sweeps(sweeps, start=start, filter_frequency=cutoff)
    return RampAnalysis(spx, sptx)


#: The ipfx analysis of each stimulus kind, with ipfx's detection settings for it.
_ANALYSES = {"long_square": _long_square, "short_square": _short_square, "ramp": _ramp}
