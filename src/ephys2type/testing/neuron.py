"""A simulated fast-spiking interneuron recorded with the Allen's current-clamp protocols.

The Allen Patch-seq recordings (DANDI 000020, 000636) are not reachable here, so the tests
build a cell with the same stimulus layout: 1 s long squares in 20 pA steps, 3 ms short
squares repeated at each amplitude, and a slow current ramp. The membrane is the Wang-Buzsaki
(1996) interneuron model (a single-compartment Hodgkin-Huxley model with real action
potentials, so ipfx's spike detector and feature vectors see upstrokes, troughs and widths as
in a recording), integrated at 50 kHz (exponential Euler for the gates), with a small
Gaussian recording noise drawn from ``random_state``. An h-like slow current gives a sag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

#: Membrane area (cm^2): 1 uA/cm^2 = 200 pA, input resistance about 50 MOhm.
AREA_CM2 = 2e-4
RATE_HZ = 50_000.0


@dataclass(frozen=True)
class SimulatedSweep:
    """One simulated sweep: times (s), voltage (mV), command (pA), its stimulus kind."""

    number: int
    kind: str
    t: np.ndarray
    v: np.ndarray
    i: np.ndarray


def _simulate(
    commands: np.ndarray, rate: float, rng: np.random.Generator, area_cm2: float
) -> np.ndarray:
    """Voltage (mV) of the model for each row of ``commands`` (pA), with recording noise."""
    drive = np.ascontiguousarray(commands, dtype=float) / (area_cm2 * 1e6)  # pA -> uA/cm^2
    volts = _integrate(drive, 1000.0 / rate)
    return volts + rng.normal(0.0, 0.02, volts.shape)


@njit(cache=False)
def _integrate(drive: np.ndarray, dt: float) -> np.ndarray:  # pragma: no cover - compiled
    g_na, g_k, g_l, g_h = 35.0, 9.0, 0.1, 0.03
    e_na, e_k, e_l, e_h, phi = 55.0, -90.0, -65.0, -30.0, 5.0
    n_sweeps, n = drive.shape
    out = np.empty((n_sweeps, n))
    for s in range(n_sweeps):
        v, h, k, q = -64.0, 0.78, 0.09, 0.07  # q: slow h-like gate opened by hyperpolarisation
        for step in range(n):
            a_m = 0.1 * (v + 35.0) / (1.0 - np.exp(-(v + 35.0) / 10.0))
            b_m = 4.0 * np.exp(-(v + 60.0) / 18.0)
            m = a_m / (a_m + b_m)
            a_h = phi * 0.07 * np.exp(-(v + 58.0) / 20.0)
            b_h = phi / (np.exp(-0.1 * (v + 28.0)) + 1.0)
            a_n = phi * 0.01 * (v + 34.0) / (1.0 - np.exp(-0.1 * (v + 34.0)))
            b_n = phi * 0.125 * np.exp(-(v + 44.0) / 80.0)
            q_inf = 1.0 / (1.0 + np.exp((v + 80.0) / 8.0))
            current = (
                g_na * m**3 * h * (v - e_na)
                + g_k * k**4 * (v - e_k)
                + g_l * (v - e_l)
                + g_h * q * (v - e_h)
            )
            v = v + dt * (drive[s, step] - current)
            tau_h = 1.0 / (a_h + b_h)
            tau_n = 1.0 / (a_n + b_n)
            h = h + (a_h * tau_h - h) * (1.0 - np.exp(-dt / tau_h))
            k = k + (a_n * tau_n - k) * (1.0 - np.exp(-dt / tau_n))
            q = q + (q_inf - q) * (1.0 - np.exp(-dt / 40.0))
            out[s, step] = v
    return out


def allen_protocol_cell(
    *,
    long_square_pa: tuple[float, ...] = tuple(range(-110, 191, 20)),
    short_square_pa: tuple[float, ...] = tuple(range(200, 701, 50)),
    short_square_repeats: int = 2,
    ramp_pa_per_s: float = 100.0,
    area_cm2: float = AREA_CM2,
    random_state: int = 0,
) -> list[SimulatedSweep]:
    """The sweeps of one simulated cell: long squares (1 s from 0.2 s in a 1.5 s sweep),
    short squares (3 ms at 0.2 s, each amplitude ``short_square_repeats`` times) and one ramp
    (from 0.2 s, ``ramp_pa_per_s``, stopped 0.3 s after the first spike as the Allen's rig
    does). Sweep numbers follow the Allen's order: short squares, long squares, ramp. A
    larger ``area_cm2`` gives a lower input resistance and a higher rheobase."""
    rng = np.random.default_rng(random_state)
    rate = RATE_HZ
    n = int(1.5 * rate)
    t = np.arange(n) / rate
    onset = int(0.2 * rate)
    kinds, commands = [], []
    for amp in short_square_pa:
        for _ in range(short_square_repeats):
            c = np.zeros(n)
            c[onset : onset + int(0.003 * rate)] = amp
            kinds.append("short_square")
            commands.append(c)
    for amp in long_square_pa:
        c = np.zeros(n)
        c[onset : onset + int(1.0 * rate)] = amp
        kinds.append("long_square")
        commands.append(c)
    commands_arr = np.asarray(commands)
    volts = _simulate(commands_arr, rate, rng, area_cm2)
    sweeps = [
        SimulatedSweep(number, kind, t, v, c)
        for number, (kind, v, c) in enumerate(zip(kinds, volts, commands_arr, strict=True))
    ]
    # the ramp: simulated long enough to spike, then cut 0.3 s after the first spike
    n_ramp = int(2.5 * rate)
    t_ramp = np.arange(n_ramp) / rate
    ramp = np.clip(t_ramp - 0.2, 0.0, None) * ramp_pa_per_s
    ramp[t_ramp < 0.2] = 0.0
    v_ramp = _simulate(ramp[None, :], rate, rng, area_cm2)[0]
    above = np.flatnonzero(v_ramp > 0.0)
    if len(above):
        stop = min(n_ramp, int(above[0] + 0.3 * rate))
        ramp[stop:] = 0.0
        v_ramp = _simulate(ramp[None, :], rate, rng, area_cm2)[0]
    sweeps.append(SimulatedSweep(len(sweeps), "ramp", t_ramp, v_ramp, ramp))
    return sweeps


def allen_protocol_recording(name: str = "simulated_cell", *, random_state: int = 0, **kwargs):
    """The simulated cell as a :class:`~ephys2type.data.recordings.sweeps.Recording` (its
    long squares, short squares and ramp), ready for ``write_nwb`` or the extractor."""
    from pathlib import Path

    from ephys2type.data.recordings.sweeps import (
        Recording,
        StepSweep,
        stimulus_set,
    )

    path = Path(f"{name}.nwb")
    kinds: dict[str, list[StepSweep]] = {}
    for s in allen_protocol_cell(random_state=random_state, **kwargs):
        kinds.setdefault(s.kind, []).append(StepSweep(s.number, s.t, s.v, s.i))
    return Recording.from_steps(
        path,
        kinds.pop("long_square"),
        protocol="simulated Allen protocol",
        others=tuple(stimulus_set(kind, sweeps, path) for kind, sweeps in kinds.items()),
    )


def step_protocol_recording(
    amplitudes_pa: tuple[float, ...] = tuple(range(-110, 191, 20)),
    *,
    name: str = "simulated_steps",
    holding_pa: float = 0.0,
    area_cm2: float = AREA_CM2,
    random_state: int = 0,
):
    """A lab-style step protocol on the simulated cell: one 1 s step per amplitude (from
    0.2 s in a 1.5 s sweep, on top of a constant ``holding_pa``), as a
    :class:`~ephys2type.data.recordings.sweeps.Recording` of long squares only. A holding
    current above the cell's rheobase makes it fire at rest."""
    from pathlib import Path

    from ephys2type.data.recordings.sweeps import Recording, StepSweep

    rng = np.random.default_rng(random_state)
    rate = RATE_HZ
    n = int(1.5 * rate)
    t = np.arange(n) / rate
    commands = np.full((len(amplitudes_pa), n), float(holding_pa))
    onset = int(0.2 * rate)
    for row, amp in zip(commands, amplitudes_pa, strict=True):
        row[onset : onset + int(1.0 * rate)] += amp
    volts = _simulate(commands, rate, rng, area_cm2)
    sweeps = [StepSweep(k, t, v, c) for k, (v, c) in enumerate(zip(volts, commands, strict=True))]
    return Recording.from_steps(Path(f"{name}.abf"), sweeps, protocol="simulated steps")
