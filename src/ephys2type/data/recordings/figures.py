"""One page per cell, for a physiologist to check the extraction: the most hyperpolarising,
rheobase and strongest step sweeps (and the sweep of each flag) with ipfx's detected spikes
and thresholds marked, the command current under each trace, the step window shaded and the
values measured on each printed on its panel; the f-I curve (the block marked), the resting
potential across sweeps, and every failed check written out."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ephys2type.data.recordings.checks import flag_effects, pre_step_baselines
from ephys2type.data.recordings.sweeps import Recording

_FLAG_COLOUR = "#C44E52"


def cell_figure(recording: Recording, lsq, flags) -> Figure:
    """The cell's page (see the module). ``lsq``: ipfx's long-square analysis of the sweeps
    used; ``flags``: the failed checks (:class:`~.checks.Flag`)."""
    values = kept_values(lsq, flags)
    fig = Figure(figsize=(13, 8.5), layout="constrained")
    grid = fig.add_gridspec(3, 4, height_ratios=[3, 1, 3])
    amps = dict(zip((s.number for s in recording.sweeps), recording.amplitudes, strict=True))
    by_number = {s.number: s for s in recording.sweeps}
    used = [s.sweep_number for s in lsq.sweeps.sweeps]
    spikes = dict(zip(used, lsq.features["spikes_set"], strict=True))
    picks = _picks(used, amps, lsq, flags, values)
    for col in range(4):
        top = fig.add_subplot(grid[0, col])
        bottom = fig.add_subplot(grid[1, col], sharex=top)
        if col >= len(picks):
            top.axis("off")
            bottom.axis("off")
            continue
        title, number, note = picks[col]
        sweep = by_number[number]
        top.plot(sweep.t, sweep.v, lw=0.6, color="#333333")
        top.axvspan(recording.start, recording.end, color="#4C72B0", alpha=0.08)
        found = spikes.get(number)
        if found is not None and len(found):
            top.plot(found["threshold_t"], found["threshold_v"], "o", ms=3, color="#4C72B0")
        for flag in flags:
            marks = [t for n, t in flag.times if n == number]
            if marks:
                top.plot(marks, np.interp(marks, sweep.t, sweep.v), "x", ms=7, color=_FLAG_COLOUR)
        # the values measured on this sweep go under its title, never over the trace
        values_text = textwrap.fill("; ".join(note.splitlines()), 55) if note else ""
        top.set_title(
            f"{title}: {amps[number]:+.0f} pA (sweep {number})"
            + (f"\n{values_text}" if values_text else ""),
            fontsize=8,
        )
        top.set_ylabel("membrane potential (mV)", fontsize=8)
        bottom.plot(sweep.t, sweep.i, lw=0.8, color="#55A868")
        bottom.set_ylabel("command (pA)", fontsize=8)
        bottom.set_xlabel("time (s)", fontsize=8)
    _fi_panel(fig.add_subplot(grid[2, 0]), lsq, flags, values)
    _baseline_panel(fig.add_subplot(grid[2, 1]), recording, flags)
    text = fig.add_subplot(grid[2, 2:])
    text.axis("off")
    lines = [f"{f.check}: {f.message}" for f in flags] or ["every cell-level check passed"]
    wrapped = "\n".join(textwrap.fill(line, 95) for line in lines)
    text.text(0, 1, wrapped, va="top", fontsize=8, color=_FLAG_COLOUR if flags else "#333333")
    fig.suptitle(f"{recording.path.name} ({recording.protocol or 'protocol unnamed'})", fontsize=10)
    return fig


def kept_values(lsq, flags) -> dict[str, float | str]:
    """ipfx's values of the quantities the checks concern (Ri in MOhm, tau in ms, rheobase in
    pA, f-I slope in Hz/pA, resting potential in mV), as the cell keeps them: recomputed
    below a block, or the name of the check that emptied them."""
    f = lsq.features
    raw = {
        "vrest": f.get("v_baseline"),
        "ri": f.get("input_resistance"),
        "tau": None if f.get("tau") is None else float(f["tau"]) * 1000.0,
        "sag": f.get("sag"),
        "fi_slope": f.get("fi_fit_slope"),
        "rheobase": f.get("rheobase_i"),
    }
    out: dict[str, float | str] = {k: np.nan if v is None else float(v) for k, v in raw.items()}
    for quantity, (value, check) in flag_effects(flags).items():
        out[quantity] = f"emptied ({check.replace('_', ' ')})" if value is None else value
    return out


def _shown(label: str, value: float | str, unit: str) -> str:
    if isinstance(value, str):
        return f"{label}: {value}"
    return f"{label} -" if value != value else f"{label} {value:.3g} {unit}".strip()


def _picks(
    used: list[int], amps: dict[int, float], lsq, flags, values: dict[str, float | str]
) -> list[tuple[str, int, str]]:
    """(title, sweep number, values printed) of the trace panels."""
    if not used:
        return []
    f = lsq.features
    picks = []
    low = min(used, key=lambda n: amps[n])
    passive = [
        _shown("Ri", values["ri"], "MOhm"),
        _shown("tau", values["tau"], "ms"),
        _shown("sag", values["sag"], ""),
        _shown("Vrest", values["vrest"], "mV"),
    ]
    picks.append(("most hyperpolarising", low, "\n".join(passive)))
    rheo = f.get("rheobase_sweep")
    if rheo is not None:
        number = used[rheo.name]
        picks.append(("first spiking step", number, _shown("rheobase", values["rheobase"], "pA")))
    picks.append(("strongest", max(used, key=lambda n: amps[n]), ""))
    shown = {n for _, n, _ in picks}
    for flag in flags:
        extra = [n for n in flag.sweeps if n not in shown and n in amps]
        if extra and len(picks) < 4:
            picks.append((flag.check.replace("_", " "), extra[0], ""))
            shown.add(extra[0])
    return picks[:4]


def _fi_panel(ax, lsq, flags, values: dict[str, float]) -> None:
    sweeps = lsq.features["sweeps"]
    x = sweeps["stim_amp"].to_numpy(float)
    y = sweeps["avg_rate"].to_numpy(float)
    order = np.argsort(x)
    ax.plot(x[order], y[order], marker="o", color="#4C72B0")
    for flag in flags:
        if flag.check == "depolarisation_block":
            blocked = [
                a
                for a, n in zip(x, (s.sweep_number for s in lsq.sweeps.sweeps), strict=True)
                if n in flag.sweeps
            ]
            if blocked:
                ax.axvspan(min(blocked), max(x), color=_FLAG_COLOUR, alpha=0.12, label="block")
                ax.legend(fontsize=8, loc="upper left")
    ax.set_title("f-I curve (" + _shown("slope", values["fi_slope"], "Hz/pA") + ")", fontsize=9)
    ax.set_xlabel("step amplitude (pA)", fontsize=8)
    ax.set_ylabel("firing rate in the step (Hz)", fontsize=8)


def _baseline_panel(ax, recording: Recording, flags) -> None:
    baselines = pre_step_baselines(recording)
    numbers, base = list(baselines.index), list(baselines.to_numpy())
    drift = any(f.check == "vrest_drift" for f in flags)
    ax.plot(numbers, base, marker="o", color=_FLAG_COLOUR if drift else "#333333")
    spontaneous = [f for f in flags if f.check == "spontaneous_firing"]
    if spontaneous:
        firing = [n for n in numbers if n in spontaneous[0].sweeps]
        marks = [b for n, b in zip(numbers, base, strict=True) if n in firing]
        ax.plot(firing, marks, "x", ms=8, color=_FLAG_COLOUR, label="fires before the step")
        ax.legend(fontsize=8)
    ax.set_title("resting potential before each step", fontsize=9)
    ax.set_xlabel("sweep", fontsize=8)
    ax.set_ylabel("mV (last 100 ms before the step)", fontsize=8)


def save_cell_figure(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path
