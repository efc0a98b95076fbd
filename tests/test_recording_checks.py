"""The cell-level checks a physiologist makes (data/recordings/checks.py): each on the pyABF
example files against an independent reading of their traces, and each on a simulated cell
made to show it; a clean simulated cell passes them all."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ephys2type.data.recordings.abf import read_abf
from ephys2type.data.recordings.analysis import analyze_stimulus
from ephys2type.data.recordings.checks import check_cell
from ephys2type.data.recordings.extract import extract_cell
from ephys2type.data.recordings.sweeps import Recording, StepSweep
from ephys2type.testing.neuron import step_protocol_recording

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "pyabf_samples"
FILES = sorted(SAMPLES.glob("*.abf"))
needs_samples = pytest.mark.skipif(
    not FILES, reason="the sample recordings are not beside the project"
)


def _flags(rec: Recording) -> dict[str, object]:
    return {f.check: f for f in check_cell(rec, analyze_stimulus(rec.stimulus("long_square")))}


@pytest.fixture(scope="module")
def samples() -> dict[str, tuple[Recording, dict]]:
    out = {}
    for path in FILES:
        rec = read_abf(path)
        out[path.stem] = (rec, _flags(rec))
    return out


def _crossings(v: np.ndarray, level: float) -> np.ndarray:
    return np.flatnonzero((v[:-1] < level) & (v[1:] >= level))


# -- independent readings of the traces: plain numpy on the raw voltage, no ipfx ------------


def _fires_at_rest(rec: Recording) -> bool:
    """0 mV crossings in the 100 ms before the step of at least two sweeps."""
    firing = 0
    for s in rec.sweeps:
        before = s.v[(s.t >= rec.start - 0.1) & (s.t < rec.start)]
        firing += len(_crossings(before, 0.0)) > 0
    return firing >= 2


def _block_onset(rec: Recording) -> float | None:
    """The weakest step after whose last +10 mV crossing the membrane sits above -15 mV
    (median of the step's last 100 ms) for more than a fifth of the step."""
    for s, amp in sorted(zip(rec.sweeps, rec.amplitudes, strict=True), key=lambda x: x[1]):
        inside = (s.t >= rec.start) & (s.t <= rec.end)
        t, v = s.t[inside], s.v[inside]
        up = _crossings(v, 10.0)
        if amp <= 0 or not len(up):
            continue
        silent = t[-1] - t[up[-1]]
        if silent > 0.2 * (rec.end - rec.start) and np.median(v[t > t[-1] - 0.1]) > -15:
            return amp
    return None


def _baseline_span(rec: Recording) -> float:
    base = [np.median(s.v[(s.t >= rec.start - 0.05) & (s.t < rec.start)]) for s in rec.sweeps]
    return float(np.ptp(base))


def _first_spike_shape(rec: Recording) -> tuple[float, float]:
    """Upstroke/downstroke ratio (max over min dV/dt) and width at half height (ms) of the
    first 0 mV spike in the weakest spiking step."""
    for s, amp in sorted(zip(rec.sweeps, rec.amplitudes, strict=True), key=lambda x: x[1]):
        inside = np.flatnonzero((s.t >= rec.start) & (s.t <= rec.end))
        up = _crossings(s.v[inside], 0.0)
        if amp <= 0 or not len(up):
            continue
        k = inside[up[0]]
        hz = rec.rate
        seg = slice(k - int(0.002 * hz), k + int(0.004 * hz))
        v, dvdt = s.v[seg], np.gradient(s.v[seg]) * hz / 1000.0  # V/s
        threshold = v[np.argmax(dvdt > 20.0)]
        half = (threshold + v.max()) / 2
        above = np.flatnonzero(v >= half)
        return float(dvdt.max() / -dvdt.min()), (above[-1] - above[0] + 1) / hz * 1000.0
    raise AssertionError("no spike")


@pytest.mark.slow  # end to end (make test-slow): make test's time
@needs_samples
def test_checks_on_the_example_files_agree_with_an_independent_reading(samples):
    for name, (rec, flags) in samples.items():
        assert ("spontaneous_firing" in flags) == _fires_at_rest(rec), name
        onset = _block_onset(rec)
        assert ("depolarisation_block" in flags) == (onset is not None), name
        if onset is not None:
            assert f"from {onset:+.0f} pA" in flags["depolarisation_block"].message
        no_hyper = min(rec.amplitudes) >= 0
        assert ("no_hyperpolarising_step" in flags) == no_hyper, name
        assert ("vrest_drift" in flags) == (_baseline_span(rec) > 10.0), name
        assert "fi_slope" not in flags, name  # below the block, every slope is positive
    # what a reader of the traces sees: 17o05028 fires at rest and drifts, 171116sh_0019
    # blocks at its strongest steps, 18711001 has no hyperpolarising step
    assert {n for n, (_, f) in samples.items() if "spontaneous_firing" in f} == {
        "17o05028_ic_steps"
    }
    assert {n for n, (_, f) in samples.items() if "depolarisation_block" in f} == {"171116sh_0019"}
    assert {n for n, (_, f) in samples.items() if "no_hyperpolarising_step" in f} == {"18711001"}
    assert {n for n, (_, f) in samples.items() if "vrest_drift" in f} == {"17o05028_ic_steps"}
    assert "-100 pA pulse of 300 ms" in samples["18711001"][1]["no_hyperpolarising_step"].message
    # 171116sh_0019 steps from -100 pA straight to 0: none inside ipfx's range for Ri and tau
    assert {n for n, (_, f) in samples.items() if "no_step_for_ri" in f} == {"171116sh_0019"}
    assert (
        "(the hyperpolarising steps: -100 pA)"
        in samples["171116sh_0019"][1]["no_step_for_ri"].message
    )
    # its deepest subthreshold sweep is the 0 pA one: no sag step at all, which
    # no_hyperpolarising_step says; not also a "shallow" one (new-user trial)
    assert "shallow_sag_sweep" not in samples["18711001"][1]
    assert (
        "no step above -100 pA and below 0 pA"
        in samples["171116sh_0019"][1]["no_step_for_ri"].message
    )


@pytest.mark.slow  # end to end (make test-slow): make test's time
@needs_samples
def test_spike_shape_flags_follow_an_independent_measure(samples):
    """The shape the check reads (ipfx's first spike at rheobase) agrees with dV/dt read off
    the trace, and a spike clearly outside the interneuron range is flagged."""
    for name, (rec, flags) in samples.items():
        lsq = analyze_stimulus(rec.stimulus("long_square"))
        rheo = lsq.features["rheobase_sweep"]
        spike = lsq.features["spikes_set"][rheo.name].iloc[0]
        ratio, width = _first_spike_shape(rec)
        assert spike["upstroke_downstroke_ratio"] == pytest.approx(ratio, rel=0.05), name
        assert abs(spike["width"] * 1000 - width) < 0.6, name  # ms; half-height conventions
        if ratio > 6.0 or width > 1.8:  # clearly outside the interneuron range
            assert "spike_shape" in flags, name
    assert "may not be an interneuron" in samples["18711001"][1]["spike_shape"].message
    # the narrow spikes of the simulated fast-spiking cell pass (test_a_clean_simulated_...)


@pytest.mark.slow  # end to end (make test-slow): make test's time
@needs_samples
def test_flagged_values_are_left_empty_with_their_reason(samples):
    cell = extract_cell(samples["17o05028_ic_steps"][0], sweep_qc_profile="none")
    assert np.isnan(cell.row[["vrest", "threshold_i_long_square", "f_i_curve_slope"]]).all()
    assert cell.row[["ri", "peak_v_long_square"]].notna().all()
    checks = cell.qc[cell.qc["level"] == "check"].set_index("check")
    assert "threshold_i_long_square" in checks.loc["spontaneous_firing", "cleared"]
    assert "spontaneous_firing" in cell.qc.iloc[-1]["flags"]
    # 18711001: no Ri, tau or sag, and the QC table says why
    cell = extract_cell(samples["18711001"][0], sweep_qc_profile="none", schema="human")
    assert cell.row[["input_resistance", "tau", "sag", "vm_for_sag"]].isna().all()
    checks = cell.qc[cell.qc["level"] == "check"].set_index("check")
    assert "input_resistance" in checks.loc["no_hyperpolarising_step", "cleared"]
    # the families it gives, of the protocols it holds; the others said never recorded
    summary = cell.qc.iloc[-1]
    assert summary["families"].startswith("subthreshold 3/13, rheo ")
    assert summary["not_recorded"] == "ramp, short_square, chirp"
    # 171116sh_0019: f-I slope and rheobase from the sweeps before the block, not emptied
    cell = extract_cell(samples["171116sh_0019"][0], sweep_qc_profile="none")
    assert cell.row["f_i_curve_slope"] > 0 and cell.row["threshold_i_long_square"] == 100
    checks = cell.qc[cell.qc["level"] == "check"].set_index("check")
    assert "f_i_curve_slope" in checks.loc["depolarisation_block", "replaced"]


# -- simulated cells, each made to show one problem -----------------------------------------


def test_a_clean_simulated_cell_passes_every_check():
    assert _flags(step_protocol_recording()) == {}


def test_a_cell_with_one_spiking_sweep_keeps_its_features_without_an_f_i_slope():
    """ipfx's f-I fit needs two spiking sweeps and, with one, refused every long-square
    feature (new-user trial: a clean cell whose higher sweeps failed sweep QC had none)."""
    two = extract_cell(step_protocol_recording((-100, -60, -20, 0, 100, 140)))
    one = extract_cell(step_protocol_recording((-100, -60, -20, 0, 100)))
    assert np.isnan(one.row["f_i_curve_slope"]) and two.row["f_i_curve_slope"] > 0
    kept = [
        "vrest",
        "ri",
        "tau",
        "sag",
        "threshold_i_long_square",
        "upstroke_downstroke_ratio_long_square",
    ]
    np.testing.assert_allclose(one.row[kept], two.row[kept], rtol=1e-5)  # vrest: a mean of sweeps
    reason = one.qc.loc[one.qc["level"] == "cell", "reason"].item()
    assert reason == (
        "f-I slope not measured: 1 spiking long-square sweep passed sweep QC (a line needs 2), "
        "and the hero-sweep features are of that sweep, as ipfx takes the nearest when none "
        "lies in the hero range"
    )
    # the hero-sweep features differ: they come from the rheobase sweep (review)
    assert one.row["latency"] != two.row["latency"]


def test_simulated_cell_held_above_rheobase_fires_at_rest():
    rec = step_protocol_recording(tuple(range(-100, 101, 20)), holding_pa=60.0)
    flags = _flags(rec)
    assert set(flags) == {"spontaneous_firing"}
    assert len(flags["spontaneous_firing"].sweeps) == len(rec.sweeps)


def test_simulated_cell_driven_into_depolarisation_block():
    rec = step_protocol_recording(tuple(range(-100, 12401, 2500)))
    flags = _flags(rec)
    assert "depolarisation_block" in flags and "fi_slope" not in flags
    block = flags["depolarisation_block"]
    assert "from +7400 pA" in block.message and len(block.sweeps) == 3
    # the rheobase and slope kept are those of the sweeps below the block (2400, 4900 pA)
    assert block.replaces["rheobase"] == 2400 and block.replaces["fi_slope"] > 0


def test_simulated_cell_without_hyperpolarising_steps():
    flags = _flags(step_protocol_recording(tuple(range(0, 191, 20))))
    assert "no_hyperpolarising_step" in flags and "shallow_sag_sweep" not in flags
    assert set(flags["no_hyperpolarising_step"].clears) == {"ri", "tau", "sag"}


def test_simulated_cell_with_a_shallow_sag_step():
    flags = _flags(step_protocol_recording((-10.0, *range(10, 191, 20))))
    assert set(flags) == {"shallow_sag_sweep"}
    assert "(-10 pA)" in flags["shallow_sag_sweep"].message


def test_simulated_cell_whose_rate_falls_with_current_has_its_slope_refused():
    rec = step_protocol_recording(tuple(range(-110, 191, 20)))
    # the spiking sweeps' voltages in reverse order: the strongest step fires least
    spiking = [k for k, a in enumerate(rec.amplitudes) if a > 20]
    volts = {k: rec.sweeps[j].v for k, j in zip(spiking, spiking[::-1], strict=True)}
    sweeps = tuple(
        StepSweep(s.number, s.t, volts.get(k, s.v), s.i) for k, s in enumerate(rec.sweeps)
    )
    flags = _flags(replace(rec, sweeps=sweeps))
    assert set(flags) == {"fi_slope"} and "negative" in flags["fi_slope"].message


def test_simulated_cell_whose_resting_potential_drifts():
    rec = step_protocol_recording()
    sweeps = tuple(StepSweep(s.number, s.t, s.v - 1.5 * k, s.i) for k, s in enumerate(rec.sweeps))
    flags = _flags(replace(rec, sweeps=sweeps))
    assert "first sweep -62" in flags["vrest_drift"].message
    # ipfx picks the sag sweep closest to -100 mV in absolute terms, so the drift moves its
    # pick to a -10 pA step: the sag check says that sweep is too shallow
    assert set(flags) == {"vrest_drift", "shallow_sag_sweep"}
    assert "(-10 pA)" in flags["shallow_sag_sweep"].message


def test_simulated_cell_with_broad_spikes_may_not_be_an_interneuron():
    rec = step_protocol_recording()
    # the same cell, every time stretched five-fold: spikes five times wider (about 1.7 ms)
    sweeps = tuple(StepSweep(s.number, s.t * 5, s.v, s.i) for s in rec.sweeps)
    slow = replace(rec, sweeps=sweeps, start=rec.start * 5, end=rec.end * 5)
    flags = _flags(slow)
    assert "spike_shape" in flags and "spike width" in flags["spike_shape"].message
    assert not flags["spike_shape"].clears


@pytest.mark.slow  # end to end (make test-slow): make test's time
@needs_samples
def test_the_check_page_shows_each_flag_and_the_values_kept(samples):
    from ephys2type.data.recordings.figures import cell_figure, kept_values

    rec, flags = samples["171116sh_0019"]
    lsq = analyze_stimulus(rec.stimulus("long_square"))
    found = check_cell(rec, lsq)
    values = kept_values(lsq, found)
    assert values["ri"] == "emptied (no step for ri)"
    assert values["fi_slope"] == pytest.approx(flags["depolarisation_block"].replaces["fi_slope"])
    fig = cell_figure(rec, lsq, found)
    texts = " ".join(t.get_text() for ax in fig.axes for t in [*ax.texts, ax.title])
    texts = texts.replace("\N{NO-BREAK SPACE}", " ")  # amplitudes are never split
    for flag in found:
        assert flag.message[:40] in texts.replace("\n", " ")
    assert "depolarisation block: +1500 pA" in texts  # the sweep where the block is drawn
    assert "rheobase 100 pA" in texts and "Ri, tau: emptied (no step for ri)" in texts
    legends = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert "block" in legends
    # four trace panels, each with its command current under it, and three summary panels
    assert sum(ax.get_ylabel() == "command (pA)" for ax in fig.axes) == 4


def _titles(fig) -> list[str]:
    return [ax.get_title().replace("\n", " ").replace("\N{NO-BREAK SPACE}", " ") for ax in fig.axes]


@needs_samples
@pytest.mark.parametrize(
    ("stem", "said"),
    [
        # -50 to -10 pA recorded, every one failed sweep QC (slow noise, baseline change)
        ("17o05028_ic_steps", "no hyperpolarising step passed sweep QC (5 recorded, -50 to -10"),
        # steps from 0 pA up: the -100 pA pulse before each is the same in every sweep
        ("18711001", "no hyperpolarising step recorded"),
    ],
)
@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_the_check_page_says_no_hyperpolarising_step_passed(samples, monkeypatch, stem, said):
    """The first trace panel, drawn as `features --figures` draws it (sweep QC on), says
    that no hyperpolarising step is there to show, and which step it shows instead."""
    from ephys2type.data.recordings import figures

    drawn = []
    monkeypatch.setattr(figures, "save_cell_figure", lambda fig, path: drawn.append(fig))
    extract_cell(samples[stem][0], figure="page.png")
    first = _titles(drawn[0])[0]
    assert first.startswith(said)
    assert "; shown: the lowest step used, +" in first
    assert not any(t.startswith("most hyperpolarising") for t in _titles(drawn[0]))


def test_the_check_page_names_the_most_hyperpolarising_step_when_one_passed():
    """A simulated cell: its -100 pA step heads the first panel; with its hyperpolarising
    sweeps left out of the analysis (as sweep QC leaves them), the panel says they failed."""
    from ephys2type.data.recordings.figures import cell_figure

    rec = step_protocol_recording(tuple(range(-100, 101, 20)))
    lsq = analyze_stimulus(rec.stimulus("long_square"))
    assert _titles(cell_figure(rec, lsq, check_cell(rec, lsq)))[0].startswith(
        "most hyperpolarising: -100 pA (sweep 0)"
    )
    # the same cell with its hyperpolarising sweeps dropped by sweep QC (not analysed)
    steps = rec.stimulus("long_square")
    kept = [k for k, a in enumerate(steps.amplitudes) if a > 0]
    positive = replace(
        steps,
        sweeps=tuple(steps.sweeps[k] for k in kept),
        amplitudes=tuple(steps.amplitudes[k] for k in kept),
    )
    lsq = analyze_stimulus(positive)
    first = _titles(cell_figure(rec, lsq, check_cell(rec, lsq)))[0]
    assert first.startswith("no hyperpolarising step passed sweep QC (5 recorded, -100 to -20 pA)")
    assert "the lowest step used, +20 pA (sweep 6)" in first


def test_overview_axes_separate_the_classes_and_skip_near_copies():
    import pandas as pd

    from ephys2type.evaluation.overview import informative_axes, plot_batch_overview

    rng = np.random.default_rng(0)
    y = np.repeat(["A", "B", "C"], 100)
    shift = pd.Series(y).map({"A": 0.0, "B": 3.0, "C": 6.0}).to_numpy()
    X = pd.DataFrame(
        {
            "noise": rng.normal(size=300),
            "best": shift + rng.normal(size=300),
            "copy": 2 * shift + rng.normal(scale=0.5, size=300),
            "second": (y == "B") * 2.0 + rng.normal(size=300),
        }
    )
    cells = X.sample(5, random_state=0).copy()
    assert informative_axes(X, y, cells) in {("copy", "second"), ("best", "second")}
    # a feature the new cells lack is never an axis
    assert "second" not in informative_axes(X, y, cells.assign(second=np.nan))
    with pytest.raises(ValueError, match="fewer than two features"):
        informative_axes(X, y, cells[["best"]])
    ax = plot_batch_overview(X, y, cells, ["A", "unassigned", "B", "C", "A"])
    assert ax.get_xlabel() in {"copy", "best"} and len(ax.texts) == 5
    # each axis with its unit (a trial: a width in seconds, no unit shown); none for "1"
    units = {"copy": "s", "best": "s", "second": "1"}
    ax = plot_batch_overview(X, y, cells, ["A"] * 5, units=units)
    assert ax.get_xlabel() in {"copy (s)", "best (s)"} and ax.get_ylabel() == "second"
    # a lab's batch of 30: ids piled on each other unreadably (new-user trial), so none
    many = X.sample(30, random_state=1)
    ax = plot_batch_overview(X, y, many, ["A"] * 30)
    assert len(ax.texts) == 0 and "not labelled (more than 12)" in ax.get_title()
    assert len(ax.collections) == 3 + 30  # every cell still drawn
