"""One page per cell, for a physiologist to check the extraction: the most hyperpolarising,
rheobase and strongest step sweeps (and the sweep of each flag) with ipfx's detected spikes
and thresholds marked, the command current under each trace, the step window shaded and the
values measured on each printed on its panel; the f-I curve (the block marked), the resting
potential across sweeps, and every failed check written out. A legend says what each marker
is (bottom right, above the failed checks); when no hyperpolarising step passed sweep QC (or
none was recorded) the first panel says so, and which step it shows instead. A cell that gave
no features (no long-square sweep passed sweep QC, or ipfx could not analyse them) gets a page
too (:func:`unanalysed_figure`): every step sweep, those that failed sweep QC marked, and why.

The page is a file (PNG at :data:`PAGE_DPI`), drawn in :mod:`ephys2type.figure_style`'s 10 pt
text: 12.5 px at 100% zoom, 1260 px across."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ephys2type.data.recordings.checks import flag_effects, pre_step_baselines
from ephys2type.data.recordings.sweeps import Recording
from ephys2type.figure_style import styled

_FLAG_COLOUR = "#C44E52"
_THRESHOLD_COLOUR = "#4C72B0"
_WINDOW_COLOUR = "#4C72B0"
#: Resolution of the page (pixels per inch): 14 in make 1260 px.
PAGE_DPI = 90
#: Characters per line of a trace panel's title (a quarter of the page) and of the list of
#: failed checks (half of it), at the style's text size.
_PANEL_CHARS = 40
_LIST_CHARS = 78
#: Lines of the page of a cell without features: its reason and the first failed sweeps.
_UNANALYSED_LINES = 9


@styled
def cell_figure(recording: Recording, lsq, flags) -> Figure:
    """The cell's page (see the module). ``recording``: every long-square sweep recorded;
    ``lsq``: ipfx's long-square analysis of the sweeps used (those that passed sweep QC);
    ``flags``: the failed checks (:class:`~.checks.Flag`)."""
    values = kept_values(lsq, flags)
    fig = Figure(figsize=(14, 10), layout="constrained")
    grid = fig.add_gridspec(3, 4, height_ratios=[3, 1, 3])
    amps = dict(zip((s.number for s in recording.sweeps), recording.amplitudes, strict=True))
    by_number = {s.number: s for s in recording.sweeps}
    used = [s.sweep_number for s in lsq.sweeps.sweeps]
    spikes = dict(zip(used, lsq.features["spikes_set"], strict=True))
    picks = _picks(used, amps, lsq, flags, values)
    marked = {"threshold": False, "flag": False}
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
        top.axvspan(recording.start, recording.end, color=_WINDOW_COLOUR, alpha=0.08)
        found = spikes.get(number)
        if found is not None and len(found):
            top.plot(found["threshold_t"], found["threshold_v"], "o", ms=3, color=_THRESHOLD_COLOUR)
            marked["threshold"] = True
        for flag in flags:
            marks = [t for n, t in flag.times if n == number]
            if marks:
                top.plot(marks, np.interp(marks, sweep.t, sweep.v), "x", ms=7, color=_FLAG_COLOUR)
                marked["flag"] = True
        # the values measured on this sweep go under its title, never over the trace
        heading = textwrap.fill(title, _PANEL_CHARS)
        values_text = textwrap.fill("; ".join(note.splitlines()), _PANEL_CHARS) if note else ""
        top.set_title(heading + (f"\n{values_text}" if values_text else ""))
        top.set_ylabel("membrane potential (mV)")
        bottom.plot(sweep.t, sweep.i, lw=0.8, color="#55A868")
        bottom.set_ylabel("command (pA)")
        bottom.set_xlabel("time (s)")
    _fi_panel(fig.add_subplot(grid[2, 0]), lsq, flags, values)
    _baseline_panel(fig.add_subplot(grid[2, 1]), recording, flags)
    # bottom right: what the markers are, then every failed check
    key_grid = grid[2, 2:].subgridspec(2, 1, height_ratios=[1, 3])
    key = fig.add_subplot(key_grid[0])
    key.axis("off")
    key.legend(handles=_marker_handles(**marked), loc="upper left", title="trace panels")
    text = fig.add_subplot(key_grid[1])
    text.axis("off")
    lines = [f"{f.check}: {f.message}" for f in flags] or ["every cell-level check passed"]
    wrapped = "\n".join(textwrap.fill(line, _LIST_CHARS) for line in lines)
    text.text(0, 1, wrapped, va="top", color=_FLAG_COLOUR if flags else "#333333")
    fig.suptitle(f"{recording.path.name} ({recording.protocol or 'protocol unnamed'})")
    return fig


def _marker_handles(threshold: bool, flag: bool) -> list:
    """Legend entries of what the trace panels draw: the step window, and the spike
    thresholds and failed-check marks where any are drawn."""
    handles = [Patch(color=_WINDOW_COLOUR, alpha=0.15, label="step window (features measured)")]
    if threshold:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ms=4,
                color=_THRESHOLD_COLOUR,
                linestyle="none",
                label="spike threshold (ipfx)",
            )
        )
    if flag:
        handles.append(
            Line2D(
                [],
                [],
                marker="x",
                ms=7,
                color=_FLAG_COLOUR,
                linestyle="none",
                label="where a failed check is seen (listed below)",
            )
        )
    return handles


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
    """(title, sweep number, values printed) of the trace panels. ``amps``: every recorded
    sweep's step; ``used``: the sweeps that passed sweep QC."""
    if not used:
        return []
    f = lsq.features
    picks = []
    low = min(used, key=lambda n: amps[n])
    passive = _grouped(
        [
            ("Ri", values["ri"], "MOhm"),
            ("tau", values["tau"], "ms"),
            ("sag", values["sag"], ""),
            ("Vrest", values["vrest"], "mV"),
        ]
    )
    picks.append((_lowest_title(low, used, amps), low, "\n".join(passive)))
    rheo = f.get("rheobase_sweep")
    if rheo is not None:
        number = used[rheo.name]
        picks.append(
            (
                _step_title("first spiking step", number, amps),
                number,
                _shown("rheobase", values["rheobase"], "pA"),
            )
        )
    strongest = max(used, key=lambda n: amps[n])
    picks.append((_step_title("strongest", strongest, amps), strongest, ""))
    shown = {n for _, n, _ in picks}
    for flag in flags:
        extra = [n for n in flag.sweeps if n not in shown and n in amps]
        if extra and len(picks) < 4:
            picks.append((_step_title(flag.check.replace("_", " "), extra[0], amps), extra[0], ""))
            shown.add(extra[0])
    return picks[:4]


def _grouped(quantities: list[tuple[str, float | str, str]]) -> list[str]:
    """Each quantity as :func:`_shown` says it, those emptied by the same check named once
    together ('Ri, tau, sag: emptied (no hyperpolarising step)')."""
    out: list[str] = []
    emptied: dict[str, list[str]] = {}
    for label, value, unit in quantities:
        if isinstance(value, str):
            if value not in emptied:
                emptied[value] = []
                out.append(value)  # a placeholder, in the order first seen
            emptied[value].append(label)
        else:
            out.append(_shown(label, value, unit))
    return [f"{', '.join(emptied[v])}: {v}" if v in emptied else v for v in out]


def _step_title(what: str, number: int, amps: dict[int, float]) -> str:
    """'strongest: +290 pA (sweep 29)', its amplitude and sweep never split across lines."""
    return f"{what}: {_step(number, amps)}"


def _step(number: int, amps: dict[int, float]) -> str:
    return f"{amps[number]:+.0f}\N{NO-BREAK SPACE}pA (sweep\N{NO-BREAK SPACE}{number})"


def _lowest_title(low: int, used: list[int], amps: dict[int, float]) -> str:
    """The first panel's title: the most hyperpolarising step used, or, when no step below
    0 pA passed sweep QC, that none did (or none was recorded) and which step is shown."""
    if amps[low] < 0:
        return _step_title("most hyperpolarising", low, amps)
    failed = sorted(a for n, a in amps.items() if a < 0 and n not in used)
    if failed:
        why = (
            f"no hyperpolarising step passed sweep QC ({len(failed)} recorded, "
            f"{failed[0]:+.0f} to {failed[-1]:+.0f} pA)"
        )
    else:
        why = "no hyperpolarising step recorded"
    return f"{why}; shown: the lowest step used, {_step(low, amps)}"


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
                ax.legend(loc="upper left")
    ax.set_title("f-I curve (" + _shown("slope", values["fi_slope"], "Hz/pA") + ")")
    ax.set_xlabel("step amplitude (pA)")
    ax.set_ylabel("firing rate in the step (Hz)")


def _baseline_panel(ax, recording: Recording, flags) -> None:
    baselines = pre_step_baselines(recording)
    numbers, base = list(baselines.index), list(baselines.to_numpy())
    drift = any(f.check == "vrest_drift" for f in flags)
    ax.plot(
        numbers,
        base,
        marker="o",
        color=_FLAG_COLOUR if drift else "#333333",
        label="drifts (vrest_drift failed)" if drift else None,
    )
    spontaneous = [f for f in flags if f.check == "spontaneous_firing"]
    if spontaneous:
        firing = [n for n in numbers if n in spontaneous[0].sweeps]
        marks = [b for n, b in zip(numbers, base, strict=True) if n in firing]
        ax.plot(firing, marks, "x", ms=8, color=_FLAG_COLOUR, label="fires before the step")
    if drift or spontaneous:
        ax.legend()
    ax.set_title("resting potential before each step")
    ax.set_xlabel("sweep")
    ax.set_ylabel("mV (last 100 ms before the step)")


@styled
def unanalysed_figure(recording: Recording, qc, reason: str) -> Figure:
    """The page of a cell without features: its long-square sweeps overlaid (those that
    failed sweep QC in red), the command under them, and why it has none with each failed
    sweep's reason (``qc``: its sweep QC rows; ``reason``: the cell's)."""
    steps = qc[(qc["level"] == "sweep") & (qc["stimulus"] == "long_square")]
    passed = dict(zip(steps["sweep"].astype(int), steps["passed"].astype(bool), strict=True))
    fig = Figure(figsize=(14, 7), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 1], width_ratios=[3, 2])
    top = fig.add_subplot(grid[0, 0])
    bottom = fig.add_subplot(grid[1, 0], sharex=top)
    for sweep in recording.sweeps:
        colour = "#333333" if passed.get(sweep.number, True) else _FLAG_COLOUR
        top.plot(sweep.t, sweep.v, lw=0.5, color=colour, alpha=0.7)
        bottom.plot(sweep.t, sweep.i, lw=0.6, color=colour, alpha=0.7)
    top.axvspan(recording.start, recording.end, color=_WINDOW_COLOUR, alpha=0.08)
    top.set_title(f"{len(recording.sweeps)} step sweeps: no features measured")
    top.set_ylabel("membrane potential (mV)")
    bottom.set_ylabel("command (pA)")
    bottom.set_xlabel("time (s)")
    side = grid[:, 1].subgridspec(2, 1, height_ratios=[1, 5])
    key = fig.add_subplot(side[0])
    key.axis("off")
    key.legend(
        handles=[
            Line2D([], [], color="#333333", label="passed sweep QC"),
            Line2D([], [], color=_FLAG_COLOUR, label="failed sweep QC"),
            Patch(color=_WINDOW_COLOUR, alpha=0.15, label="step window"),
        ],
        loc="upper left",
    )
    failed = steps[~steps["passed"].astype(bool)]
    lines = [reason] + [
        f"sweep {int(r.sweep)} ({r.stim_amp_pa:+.0f} pA): {r.reason}" for r in failed.itertuples()
    ]
    shown = lines[:_UNANALYSED_LINES]
    if len(lines) > len(shown):
        shown.append(f"... and {len(lines) - len(shown)} more failed sweeps (the .qc.csv)")
    text = fig.add_subplot(side[1])
    text.axis("off")
    wrapped = "\n".join(textwrap.fill(line, _LIST_CHARS - 20) for line in shown)
    text.text(0, 1, wrapped, va="top", color=_FLAG_COLOUR)
    fig.suptitle(f"{recording.path.name} ({recording.protocol or 'protocol unnamed'})")
    return fig


def save_cell_figure(fig: Figure, path: Path) -> Path:
    """Write the page as PNG at :data:`PAGE_DPI` (its folder made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=PAGE_DPI)
    return path
