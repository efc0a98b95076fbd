"""One figure per cell, so a person can check the extraction: the most hyperpolarising, the
rheobase and the strongest step sweeps, and the f-I curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ephys2type.data.recordings.sweeps import Recording


def cell_figure(recording: Recording, rates: dict[int, float], rheobase: float | None) -> Figure:
    """Three sweeps (voltage, the step window shaded) and the firing rate vs step amplitude.

    ``rates``: sweep number -> mean firing rate in the step (Hz), for the sweeps used;
    ``rheobase``: the rheobase step amplitude (pA), if any sweep spiked.
    """
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    axes = fig.subplots(1, 4)
    amps = dict(zip((s.number for s in recording.sweeps), recording.amplitudes, strict=True))
    used = [s for s in recording.sweeps if s.number in rates]
    picks = []
    if used:
        picks.append(("most hyperpolarising", min(used, key=lambda s: amps[s.number])))
        if rheobase is not None:
            at = [s for s in used if amps[s.number] == rheobase]
            if at:
                picks.append(("rheobase", at[0]))
        picks.append(("strongest", max(used, key=lambda s: amps[s.number])))
    for ax, (title, sweep) in zip(axes[:3], picks, strict=False):
        ax.plot(sweep.t, sweep.v, lw=0.6, color="#333333")
        ax.axvspan(recording.start, recording.end, color="#4C72B0", alpha=0.08)
        ax.set_title(f"{title}: {amps[sweep.number]:+.0f} pA", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("membrane potential (mV)")
    for ax in axes[len(picks) : 3]:
        ax.axis("off")
    ax = axes[3]
    if rates:
        x = np.array([amps[n] for n in rates])
        y = np.array(list(rates.values()))
        order = np.argsort(x)
        ax.plot(x[order], y[order], marker="o", color="#4C72B0")
    ax.set_xlabel("step amplitude (pA)")
    ax.set_ylabel("firing rate in the step (Hz)")
    ax.set_title("f-I curve", fontsize=9)
    fig.suptitle(recording.path.name, fontsize=10)
    return fig


def save_cell_figure(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
