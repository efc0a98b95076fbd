"""From real current-clamp recordings (the pyABF sample ABF files) to features, checked against
an independent reading of the traces; bad files give one clear error each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ephys2type.data.recordings.abf import read_abf
from ephys2type.data.recordings.batch import extract_files, run_batch
from ephys2type.data.recordings.extract import extract_features
from ephys2type.data.recordings.sweeps import RecordingError, step_window

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLES = SHARED / "recordings" / "pyabf_samples"
FILES = sorted(SAMPLES.glob("*.abf"))
# skipped only where the shared folder is not beside the project at all; where it is (CI's
# clean clone), recordings missing from it fail these tests instead (a test audit)
pytestmark = pytest.mark.skipif(
    not SHARED.exists(), reason="the shared data folder is not beside the project"
)


def test_the_step_is_found_in_the_command_waveform():
    rec = read_abf(SAMPLES / "17o05028_ic_steps.abf")  # "steps dual -50 to 150 step 10"
    assert rec.amplitudes == tuple(float(a) for a in range(-50, 101, 10))
    assert rec.start == pytest.approx(0.14685) and rec.end - rec.start == pytest.approx(
        0.5, abs=1e-3
    )
    # a fixed -100 pA test pulse comes first; the varying 0.5 s step is the one taken
    rec = read_abf(SAMPLES / "18711001.abf")
    assert rec.amplitudes[:3] == (0.0, 10.0, 20.0) and rec.end - rec.start == pytest.approx(
        0.5, abs=1e-3
    )
    two = read_abf(SAMPLES / "190619B_0003.abf")  # ABF 1, two recorded channels
    assert two.channel == 0 and "2 recorded channels" in two.notes[0]
    assert two.amplitudes[:3] == (-120.0, -60.0, 0.0) and two.rate == 10_000


def test_a_command_whose_only_step_is_fixed_is_refused():
    """A new-user trial: a ramp protocol's fixed -100 pA pulse was taken for the f-I step and
    ipfx said "Cannot find rheobase sweep in spiking sweeps with amplitudes:"."""
    rate, n = 10_000.0, 20_000
    commands = []
    for k in range(5):
        c = np.zeros(n)
        c[1_000:3_000] = -100.0  # a fixed 200 ms pulse
        c[5_000:15_000] = np.linspace(0, 50.0 * (k + 1), 10_000)  # a ramp, not a step
        commands.append(c)
    with pytest.raises(RecordingError, match=r"no current step varies across its 5 sweeps"):
        step_window(commands, rate, Path("ramp.abf"))
    for k, c in enumerate(commands):  # with a step that varies, that step is taken
        c[5_000:15_000] = 10.0 * (k + 1)
    assert step_window(commands, rate, Path("steps.abf")) == (5_000, 15_000)


def _independent(rec):
    """Input resistance from -dV/dI of the hyperpolarising steps (steady state: last 100 ms
    of the step vs 100 ms before it) and the spike count of each sweep (upward 0 mV crossings
    inside the step)."""
    hz = rec.rate
    a, b = round(rec.start * hz), round(rec.end * hz)
    dv, di, counts = [], [], []
    for sweep, amp in zip(rec.sweeps, rec.amplitudes, strict=True):
        inside = sweep.v[a:b]
        counts.append(int(np.sum((inside[:-1] < 0) & (inside[1:] >= 0))))
        if -100 < amp < 0:
            di.append(amp)
            dv.append(inside[-int(0.1 * hz) :].mean() - sweep.v[a - int(0.1 * hz) : a].mean())
    slope = np.polyfit(di, dv, 1)[0] * 1000.0  # mV/pA -> MOhm
    return slope, np.array(counts)


def _first_spike_time(rec, amplitude) -> float | None:
    """The time (on the recording's clock) of the first 0 mV crossing in the step of the
    sweep at ``amplitude`` pA (the rheobase sweep); None without one."""
    if amplitude != amplitude:  # no rheobase (a cell firing at rest)
        return None
    sweep = rec.sweeps[list(rec.amplitudes).index(amplitude)]
    inside = (sweep.t >= rec.start) & (sweep.t <= rec.end)
    up = np.flatnonzero((sweep.v[:-1] < 0) & (sweep.v[1:] >= 0) & inside[:-1])
    return float(sweep.t[up[0]]) if len(up) else None


@pytest.mark.parametrize("name", ["171116sh_0018.abf", "17o05028_ic_steps.abf"])
def test_features_agree_with_an_independent_reading(name):
    rec = read_abf(SAMPLES / name)
    row, qc = extract_features(rec, sweep_qc_profile="none")
    ri, counts = _independent(rec)
    assert row["ri"] == pytest.approx(ri, rel=0.15)
    amps = np.array(rec.amplitudes)
    if name == "17o05028_ic_steps.abf":
        # it fires at rest (and at 0 pA): resting potential, rheobase and f-I slope are left
        # empty with that reason (tests/test_recording_checks.py)
        assert row[["vrest", "threshold_i_long_square", "f_i_curve_slope"]].isna().all()
        assert "spontaneous_firing" in qc.iloc[-1]["flags"]
    else:
        # rheobase: the lowest depolarising step that spikes
        assert row["threshold_i_long_square"] == amps[(counts > 0) & (amps > 0)].min()
        assert -90 < row["vrest"] < -30 and qc.iloc[-1]["flags"] == "spike_shape"
    assert 0 <= row["sag"] < 1 and 1 < row["tau"] < 200  # ms
    assert row["threshold_v_long_square"] < row["peak_v_long_square"]
    assert (
        row["threshold_t_long_square"] <= row["peak_t_long_square"] <= row["trough_t_long_square"]
    )
    # spike times on the mouse table's clock: the stimulus onset at 0.5 s, whenever this
    # protocol starts its step (a new-user trial: written from the sweep's start, they lay
    # 10 training SDs away and changed calls); the first spike's time from the step's onset
    first = _first_spike_time(rec, row["threshold_i_long_square"])
    if first is not None:
        assert row["peak_t_long_square"] == pytest.approx(first - rec.start + 0.5, abs=0.002)
    assert 0.5 <= row["peak_t_long_square"] <= 0.5 + (rec.end - rec.start)
    # ramp and short-square families cannot come from a step protocol: empty, not invented
    assert row.filter(like="_ramp").isna().all() and row.filter(like="_short_square").isna().all()
    assert qc[qc["level"] == "sweep"]["used"].all() and qc.iloc[-1]["level"] == "cell"


def test_sweep_qc_keeps_its_reasons():
    rec = read_abf(SAMPLES / "18711001.abf")
    row, qc = extract_features(rec, sweep_qc_profile="allen")  # ipfx's criteria
    sweeps, cell = qc[qc["level"] == "sweep"], qc[qc["level"] == "cell"].iloc[0]
    assert len(sweeps) == 30 and not sweeps["passed"].any()
    assert sweeps["reason"].str.contains("slow_noise_rms_mv").all()
    assert "no long-square sweep passed QC" in cell["reason"] and row.isna().all()
    # one line says which criterion failed most and which preset keeps the sweeps
    assert "most often slow_noise_rms_mv (30 sweeps)" in cell["reason"]
    assert "--sweep-qc lab keeps 30" in cell["reason"]
    assert "seal" in sweeps["not_checked"].iloc[0]


def test_the_default_lab_preset_keeps_the_example_files():
    """Under ipfx's (Allen) criteria 4 of the 5 example files keep no sweep; the lab preset,
    the default, keeps every sweep of the four whose baselines are quiet and only the 4
    sweeps in which 17o05028 does not fire before the step."""
    from ephys2type.data.recordings.sweep_qc import DEFAULT_PRESET, sweep_qc

    assert DEFAULT_PRESET == "lab"
    kept = {}
    for path in FILES:
        rec = read_abf(path)
        allen, lab = sweep_qc(rec, "allen"), sweep_qc(rec, "lab")
        kept[path.stem] = (int(allen["passed"].sum()), int(lab["passed"].sum()), len(lab))
    assert sum(a == 0 for a, _, _ in kept.values()) == 3 and kept["171116sh_0018"][0] == 1
    assert all(b == n for name, (_, b, n) in kept.items() if name != "17o05028_ic_steps")
    assert kept["17o05028_ic_steps"][1] == 4


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_every_sample_file_gives_the_step_families(tmp_path):
    features, qc = extract_files(FILES, sweep_qc_profile="none")
    assert list(features.index) == [f.stem for f in FILES]
    step = ["vrest", "f_i_curve_slope", "threshold_i_long_square", "peak_v_long_square"]
    # every value is there except those a check emptied, and each of those has its row
    checks = qc[qc["level"] == "check"]
    pairs = zip(checks["file"], checks["cleared"].fillna(""), strict=True)
    cleared = {(f, c) for f, cs in pairs for c in cs.split("; ")}
    for cell, row in features[step].iterrows():
        for column, value in row.items():
            assert np.isnan(value) == ((f"{cell}.abf", column) in cleared), (cell, column)
    assert set(qc["file"]) == {f.name for f in FILES}


def test_bad_files_give_one_clear_error(tmp_path):
    good = (SAMPLES / "17o05028_ic_steps.abf").read_bytes()
    truncated = tmp_path / "truncated.abf"
    truncated.write_bytes(good[:3000])
    with pytest.raises(RecordingError, match=r"truncated\.abf: "):
        read_abf(truncated)
    text = tmp_path / "notes.abf"
    text.write_text("not a recording")
    with pytest.raises(RecordingError, match="not a readable ABF file"):
        read_abf(text)
    import pyabf.abfWriter

    data = np.full((2, 4000), -60.0, dtype=np.float32)
    pyabf.abfWriter.writeABF1(data, str(tmp_path / "vc.abf"), 20000, units="pA")
    with pytest.raises(RecordingError, match="no current-clamp data"):
        read_abf(tmp_path / "vc.abf")
    pyabf.abfWriter.writeABF1(data, str(tmp_path / "cmd.abf"), 20000, units="mV")
    with pytest.raises(RecordingError, match="current command in pA or nA"):
        read_abf(tmp_path / "cmd.abf")
    with pytest.raises(RecordingError, match="no current step"):
        step_window([np.zeros(4000), np.zeros(4000)], 20000.0, Path("flat.abf"))
    (tmp_path / "cell.txt").write_text("notes")
    with pytest.raises(RecordingError, match="unknown recording format"):
        extract_files([tmp_path / "cell.txt"])


@pytest.mark.slow
def test_features_command_then_predict(run_cli, tmp_path):
    out = tmp_path / "features.csv"
    r = run_cli("features", *map(str, FILES), "--out", str(out), "--sweep-qc", "none")
    assert r.code == 0, r
    table = pd.read_csv(out, index_col="cell_id")
    assert len(table) == 5 and (tmp_path / "features.csv.qc.csv").exists()
    assert table["checks_failed"].str.contains("spike_shape").all()  # each cell's checks
    assert "2 recorded channels" in r.out
    model = tmp_path / "model"
    assert (
        run_cli("train", "--species", "mouse", "--model", "logreg", "--out", str(model)).code == 0
    )
    overview = tmp_path / "overview.png"
    calls = tmp_path / "calls.csv"
    r = run_cli(
        "predict", "--model", str(model), "--features", str(out), "--overview", overview,
        "--out", str(calls),
    )  # fmt: skip
    assert r.code == 0, r
    assert overview.read_bytes()[:4] == b"\x89PNG" and f"overview figure: {overview}" in r.out
    # the recording checks (features.csv.qc.csv, read by itself) reach the calls: every
    # example cell's first spike is outside the interneuron range, so none is called
    predicted = pd.read_csv(calls, index_col=0, keep_default_na=False)
    assert (predicted["predicted"] == "unassigned").all()
    assert predicted["reason"].str.startswith("failed recording check: ").all()
    assert predicted["reason"].str.contains("may not be an interneuron").all()
    assert predicted.loc["17o05028_ic_steps", "reason"].count("fires at rest") == 1
    assert "vrest_drift" in predicted.loc["17o05028_ic_steps", "recording_checks"]
    said = " ".join(r.out.split())
    assert "5 cells unassigned: failed recording check (after looking at their traces:" in said
    assert "empty their checks_failed and checks_blocking cells" in said  # how to have them called
    assert "called although a recording check failed" not in r.out  # only with the flag
    # called anyway on request, the checks still in each row; step protocols only: models of
    # the long-square features predict every cell (the cells whose checks emptied some of
    # them by a model of fewer or with those imputed)
    r = run_cli(
        "predict", "--model", str(model), "--features", str(out), "--call-failed-checks",
        "--out", str(tmp_path / "anyway.csv"),
    )  # fmt: skip
    assert r.code == 0, r
    anyway = pd.read_csv(tmp_path / "anyway.csv", index_col=0, keep_default_na=False)
    assert not anyway["reason"].str.startswith("failed recording check").any()
    assert anyway["recording_checks"].str.contains("may not be an interneuron").all()
    assert "cells called by the model of 19 features" in r.out
    called = int((anyway["predicted"] != "unassigned").sum())
    assert called and f"{called} cells called although a recording check failed" in " ".join(
        r.out.split()
    )
    # renamed after `features` wrote it (new-user trial: the checks were lost without a
    # word): the table carries them in its own columns, so no call changes
    renamed = tmp_path / "my_recordings_2024.csv"
    renamed.write_bytes(out.read_bytes())
    again = tmp_path / "again.csv"
    r = run_cli("predict", "-m", str(model), "-f", str(renamed), "-o", str(again))
    assert r.code == 0 and "beside it" not in r.err, r
    assert (pd.read_csv(again, index_col=0)["predicted"] == "unassigned").all()
    # the checks in a QC table beside it instead: the hint names that file (review)
    plain = tmp_path / "plain.csv"
    table.drop(columns=["checks_failed", "checks_blocking"]).to_csv(plain)
    (tmp_path / "plain.csv.qc.csv").write_bytes((tmp_path / "features.csv.qc.csv").read_bytes())
    r = run_cli("predict", "-m", str(model), "-f", str(plain))
    assert f"remove their check rows from {plain}.qc.csv" in " ".join(r.out.split()), r
    # a table without them (written before they were, or cut down by hand) says where
    # its checks are
    table.drop(columns=["checks_failed", "checks_blocking"]).to_csv(renamed)
    r = run_cli("predict", "--model", str(model), "--features", str(renamed))
    assert r.code == 0, r
    said = " ".join(r.err.split())
    assert f"no my_recordings_2024.csv.qc.csv beside it, but {out}.qc.csv holds" in said
    assert f"--checks {out}.qc.csv" in said


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_the_nwb_path_gives_the_same_features_on_the_same_traces(tmp_path):
    from ephys2type.data.recordings.nwb import read_nwb, write_nwb

    rec = read_abf(SAMPLES / "171116sh_0018.abf")
    path = write_nwb(rec, tmp_path / "171116sh_0018.nwb")
    back = read_nwb(path)
    assert back.amplitudes == pytest.approx(rec.amplitudes)
    assert back.start == pytest.approx(rec.start) and back.end == pytest.approx(rec.end)
    from_abf, _ = extract_features(rec, sweep_qc_profile="none")
    from_nwb, _ = extract_features(back, sweep_qc_profile="none")
    pd.testing.assert_series_equal(from_abf, from_nwb, check_names=False, rtol=1e-6)
    # a lab's own stimulus code (a new-user trial: "IC_steps" was refused): its sweeps read
    # as steps, the step found in the command as for the ABF file, with a note
    lab = read_nwb(write_nwb(rec, tmp_path / "lab.nwb", codes={"long_square": "IC_steps"}))
    assert lab.start == pytest.approx(rec.start) and "'IC_steps' is not one" in lab.notes[0]
    from_lab, _ = extract_features(lab, sweep_qc_profile="none")
    pd.testing.assert_series_equal(from_abf, from_lab, check_names=False, rtol=1e-6)
    # sweeps of another stimulus (a ramp code) are not long squares: one clear error
    write_nwb(rec, tmp_path / "ramp.nwb", codes={"long_square": "C1RP25PR1S141203"})
    with pytest.raises(RecordingError, match=r"no long-square sweeps .*C1RP25PR1S141203"):
        read_nwb(tmp_path / "ramp.nwb")
    (tmp_path / "broken.nwb").write_bytes(b"\x89HDF\r\n")
    with pytest.raises(RecordingError, match="not a readable NWB file"):
        read_nwb(tmp_path / "broken.nwb")


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_a_check_figure_per_cell(tmp_path):
    features, _ = extract_files(
        [SAMPLES / "17o05028_ic_steps.abf"], sweep_qc_profile="none", figures=tmp_path / "fig"
    )
    # 19 long-square features less the three the cell's firing at rest empties; its failed
    # checks travel with it, as `ephys2type features` writes them
    assert (
        features.drop(columns=["checks_failed", "checks_blocking"]).notna().sum(axis=1).iloc[0]
        == 16
    )
    assert "spontaneous_firing" in features["checks_failed"].iloc[0]
    png = tmp_path / "fig" / "17o05028_ic_steps.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_checks_elsewhere_finds_the_qc_table_of_these_cells_only(tmp_path):
    from ephys2type.data.recordings.check_table import checks_elsewhere

    qc = pd.DataFrame({"cell_id": ["a", "a", "b", "c"], "level": "sweep"})
    qc.to_csv(tmp_path / "old_name.csv.qc.csv", index=False)
    (tmp_path / "broken.qc.csv").write_text("not,a\nqc table\n")
    features = tmp_path / "new_name.csv"
    assert checks_elsewhere(features, pd.Index(["a", "c"])) == tmp_path / "old_name.csv.qc.csv"
    assert checks_elsewhere(features, pd.Index(["a", "d"])) is None  # not all its cells
    assert checks_elsewhere(features, pd.Index([])) is None


def test_one_bad_file_in_a_batch_says_how_to_go_on(tmp_path, run_cli, clean_error):
    """A truncated file stops the batch; the error says to run again without it, and the
    files done are not read again (new-user trial: the error was pyabf's words alone)."""
    import shutil

    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy(SAMPLES / "171116sh_0018.abf", folder)
    bad = folder / "cell2_truncated.abf"
    bad.write_bytes((SAMPLES / "171116sh_0018.abf").read_bytes()[:3000])
    out = tmp_path / "features.csv"
    args = ("--out", out, "--sweep-qc", "none")
    result = run_cli("features", folder, *args)
    clean_error(
        result,
        "cell2_truncated.abf: not a readable ABF file (truncated or damaged?",
        "run the command again without that file (move it out of the folder given",
    )
    bad.rename(tmp_path / "cell2_truncated.abf")
    result = run_cli("features", folder, *args)
    assert result.code == 0, result
    assert "1 file(s) taken from the interrupted run" in " ".join(result.out.split())


@pytest.mark.slow
def test_parallel_and_resumed_runs_equal_the_serial_run(tmp_path):
    files = FILES[:3]
    serial, serial_qc, resumed, _ = run_batch(files, sweep_qc_profile="none")
    assert resumed == 0
    parallel, parallel_qc, _, _ = run_batch(files, sweep_qc_profile="none", n_jobs=2)
    pd.testing.assert_frame_equal(parallel, serial)
    pd.testing.assert_frame_equal(parallel_qc, serial_qc)
    # an interrupted run left two files finished: the rerun takes them and does the third
    parts = tmp_path / "parts"
    run_batch(files[:2], sweep_qc_profile="none", parts=parts)
    seen = []
    again, again_qc, resumed, _ = run_batch(
        files, sweep_qc_profile="none", parts=parts, progress=seen.append
    )
    # counted from the whole batch: the two kept first (the count restarted at 1), by cell
    kept = [f"{f.stem} (from the interrupted run)" for f in files[:2]]
    assert resumed == 2 and seen == [*kept, files[2].stem]
    pd.testing.assert_frame_equal(again, serial)
    pd.testing.assert_frame_equal(again_qc, serial_qc)
    # finished parts of other settings are not reused
    _, _, resumed, _ = run_batch(files, sweep_qc_profile="allen", parts=parts)
    assert resumed == 0


@pytest.mark.slow
def test_a_dask_cluster_on_loopback_gives_the_serial_result():
    from dask.distributed import LocalCluster

    files = FILES[:3]
    serial, serial_qc, _, _ = run_batch(files, sweep_qc_profile="none")
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        remote, remote_qc, _, _ = run_batch(
            files, sweep_qc_profile="none", scheduler=cluster.scheduler_address
        )
    pd.testing.assert_frame_equal(remote, serial)
    pd.testing.assert_frame_equal(remote_qc, serial_qc)


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_the_command_resumes_an_interrupted_run(run_cli, tmp_path):
    out = tmp_path / "f.csv"
    run_batch(FILES[:1], sweep_qc_profile="none", parts=tmp_path / "f.csv.parts")
    r = run_cli("features", *map(str, FILES[:2]), "--out", str(out), "--sweep-qc", "none")
    assert r.code == 0, r
    assert "1 file(s) taken from the interrupted run" in r.out
    assert len(pd.read_csv(out)) == 2 and not (tmp_path / "f.csv.parts").exists()


def test_the_check_columns_read_as_a_physiologist_edits_them():
    """The reasons are kept apart by ' | ' (a reason may hold '; '), so one can be deleted;
    check names are read in any case, between ';' or ','; a name that is no check is said."""
    from ephys2type.data.recordings.check_table import (
        cell_checks,
        checks_from_columns,
        with_check_columns,
    )
    from ephys2type.errors import Ephys2TypeWarning

    qc = pd.DataFrame(
        {
            "cell_id": ["a", "a", "b"],
            "level": ["check", "check", "sweep"],
            "check": ["spontaneous_firing", "spike_shape", None],
            "reason": ["fires at rest: 9 spikes; vrest not trusted", "broad spikes", None],
        }
    )
    table = with_check_columns(pd.DataFrame(index=["a", "b"]), qc)
    assert table.loc["a", "checks_blocking"] == (
        "fires at rest: 9 spikes; vrest not trusted | broad spikes"
    )
    assert table.loc["b"].tolist() == ["", ""]
    # the same reasons when read from the .qc.csv instead of the columns (a cell's reason
    # read "; " from one and " | " from the other)
    from_qc = cell_checks(qc)
    from_columns = checks_from_columns(table)
    assert from_qc["blocking"].tolist() == from_columns["blocking"].tolist()
    assert from_qc["other"].tolist() == from_columns["other"].tolist()
    edited = pd.DataFrame({"checks_failed": ["Spike_Shape, vrest_drift", "vrest-drift"]})
    with pytest.warns(Ephys2TypeWarning, match="does not make: 'vrest-drift'"):
        read = checks_from_columns(edited, "mine.csv")
    assert read["blocking"].tolist() == ["spike_shape (from the checks_failed column)", ""]
    assert read["other"].tolist() == ["vrest_drift", "vrest-drift"]


def test_a_qc_table_where_no_check_failed_reads_as_empty_checks():
    """No failed check: empty texts, and no pandas warning about filling a float column
    with text (it reached the terminal)."""
    from ephys2type.data.recordings.check_table import cell_checks, with_check_columns

    qc = pd.DataFrame({"cell_id": ["a", "b"], "level": "sweep", "check": None, "reason": None})
    table = with_check_columns(pd.DataFrame(index=["a", "b"]), qc)
    assert table.to_numpy().tolist() == [["", ""], ["", ""]]
    assert cell_checks(qc).to_numpy().tolist() == [["", ""], ["", ""]]


def test_paths_are_read_once_and_a_missing_one_is_named(tmp_path, run_cli, clean_error):
    """A folder given twice, or a file and its folder, is read once (new-user trial: the
    same folder twice was refused as two cells of one name, with advice about files already
    done before any was read); a path that does not exist is named as such (it was 'unknown
    recording format'); a --figures path that is a file is refused before any is read."""
    from ephys2type.data.recordings.batch import find_recordings

    files, roots = find_recordings([SAMPLES, SAMPLES])
    assert files == FILES and roots == [SAMPLES] * len(FILES)
    files, roots = find_recordings([FILES[0], SAMPLES])
    assert files == FILES and roots == [None] + [SAMPLES] * (len(FILES) - 1)
    with pytest.raises(RecordingError, match=r"recordings: no such file or folder"):
        find_recordings([tmp_path / "recordings"])
    (tmp_path / "pages.png").write_bytes(b"")
    clean_error(
        run_cli(
            "features", FILES[0], "--out", tmp_path / "f.csv", "--figures", tmp_path / "pages.png"
        ),
        "--figures",
        "a file of that name exists; give a folder",
    )
    assert not (tmp_path / "f.csv").exists()
    # a CSV under a workbook's name would not open in Excel; an existing overview names
    # its own option (it named --out)
    clean_error(
        run_cli("features", FILES[0], "--out", tmp_path / "f.xlsx"),
        "--out",
        "written as CSV text",
        "name it f.csv",
    )
    clean_error(
        run_cli("predict", "-m", "m", "-f", "f.csv", "--out", tmp_path / "p.xlsx"),
        "name it p.csv",
    )
    clean_error(
        run_cli("predict", "-m", "m", "-f", "f.csv", "--overview", tmp_path / "pages.png"),
        "choose another --overview",
    )


def test_a_folder_in_python_and_a_page_for_a_cell_without_features(tmp_path):
    """`extract_files` takes folders and names cells as `ephys2type features` does; a cell
    that gives no features (Allen's sweep QC keeps no sweep of this file) still gets its
    check page, saying why (it had none, and `--figures` printed a folder never made)."""
    (tmp_path / "day1").mkdir()
    (tmp_path / "day1" / "18711001.abf").write_bytes((SAMPLES / "18711001.abf").read_bytes())
    features, qc = extract_files([tmp_path], sweep_qc_profile="allen", figures=tmp_path / "fig")
    assert features.index.tolist() == ["day1/18711001"]
    assert features.drop(columns=["checks_failed", "checks_blocking"]).isna().all(axis=None)
    assert "no long-square sweep passed QC (allen)" in qc["reason"].iloc[-1]
    png = tmp_path / "fig" / "day1" / "18711001.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_a_folders_recordings_in_other_formats_are_said(tmp_path):
    """A new-user trial: a folder's .dat and .atf cells were left out without a word."""
    import warnings as _warnings

    from ephys2type.data.recordings.batch import find_recordings
    from ephys2type.errors import Ephys2TypeWarning

    (tmp_path / "a.abf").write_bytes((SAMPLES / "171116sh_0018.abf").read_bytes())
    (tmp_path / "cell3.dat").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.warns(Ephys2TypeWarning, match=r"1 file\(s\) that look like recordings.*cell3"):
        files, _ = find_recordings([tmp_path])
    assert [f.name for f in files] == ["a.abf"]
    (tmp_path / "cell3.dat").unlink()
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        find_recordings([tmp_path])  # a text file is no recording: nothing said


def test_traces_in_another_unit_than_declared_are_one_error():
    """A new-user trial: mV declared as V read as -62,000 mV and passed with --sweep-qc none;
    pA declared as A gave a rheobase of 5e13 pA."""
    from dataclasses import replace

    from ephys2type.data.recordings.extract import check_trace_units

    rec = read_abf(SAMPLES / "171116sh_0018.abf")
    assert check_trace_units(rec) is rec
    volts = replace(rec, sweeps=tuple(replace(s, v=s.v * 1000) for s in rec.sweeps))
    with pytest.raises(RecordingError, match=r"reads -\d\d,\d{3} mV.*fix the unit"):
        check_trace_units(volts)
    amps = replace(rec, sweeps=tuple(replace(s, i=s.i * 1e12) for s in rec.sweeps))
    with pytest.raises(RecordingError, match="probably in pA while the file says A"):
        check_trace_units(amps)
