"""Allen-protocol recordings end to end: a simulated interneuron written as an Allen-layout NWB
file (long squares, short squares, a ramp), read back by stimulus code, its ramp and
short-square features and its IPFX feature vectors checked against the traces, both schemas'
column names, and the vectors trained on by the BiLSTM as families."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ephys2type.data.recordings.analysis import analyze_stimulus
from ephys2type.data.recordings.extract import extract_cell, extract_features
from ephys2type.data.recordings.nwb import read_nwb, write_nwb
from ephys2type.data.recordings.vectors import VECTOR_FAMILIES, vector_table
from ephys2type.errors import Ephys2TypeWarning
from ephys2type.testing.neuron import allen_protocol_recording

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "pyabf_samples"
#: Six simulated cells: two sizes (membrane areas), three noise seeds each.
CELLS = {f"small_{k}": (2.0e-4 + k * 1e-5, k) for k in range(3)} | {
    f"large_{k}": (3.0e-4 + k * 1e-5, k) for k in range(3)
}


class _SimulatedFiles(Mapping):
    """The cells of :data:`CELLS` as NWB files, each simulated when a test first asks for it
    (about 1.8 s a cell; the fast tests need three of the six)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self.files:
            area, seed = CELLS[name]
            recording = allen_protocol_recording(name, area_cm2=area, random_state=seed)
            self.files[name] = write_nwb(recording, self.folder / f"{name}.nwb")
        return self.files[name]

    def __iter__(self):
        return iter(CELLS)

    def __len__(self) -> int:
        return len(CELLS)


@pytest.fixture(scope="module")
def nwb_files(tmp_path_factory) -> Mapping[str, Path]:
    return _SimulatedFiles(tmp_path_factory.mktemp("allen"))


def _crossings(v: np.ndarray, mask: np.ndarray | slice = slice(None)) -> int:
    """Spikes counted independently of ipfx: upward crossings of 0 mV."""
    v = v[mask]
    return int(np.sum((v[1:] > 0) & (v[:-1] <= 0)))


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_an_allen_layout_file_is_read_by_stimulus_code(nwb_files, tmp_path):
    rec = read_nwb(nwb_files["small_0"])
    kinds = {s.kind: s for s in rec.stimulus_sets()}
    assert list(kinds) == ["long_square", "short_square", "ramp"]
    assert kinds["long_square"].amplitudes == tuple(float(a) for a in range(-110, 191, 20))
    assert kinds["long_square"].end - kinds["long_square"].start == pytest.approx(1.0, abs=1e-4)
    ssq = kinds["short_square"]
    assert len(ssq.sweeps) == 22 and ssq.amplitudes[::2] == tuple(
        float(a) for a in range(200, 701, 50)
    )
    assert ssq.start == pytest.approx(0.2) and ssq.end - ssq.start == pytest.approx(0.003, abs=1e-4)
    assert len(kinds["ramp"].sweeps) == 1 and kinds["ramp"].start == pytest.approx(0.2, abs=1e-3)
    # a chirp (by its code) is recognised and said not to be analysed; it is not a ramp
    sim = allen_protocol_recording("chirp", random_state=0)
    chirp = read_nwb(write_nwb(sim, tmp_path / "c.nwb", codes={"ramp": "C2CHIRP180503"}))
    assert chirp.stimulus("ramp") is None and "chirp sweeps not analysed" in chirp.notes[0]


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_ramp_and_short_square_features_agree_with_the_traces(nwb_files):
    rec = read_nwb(nwb_files["large_1"])
    row, qc = extract_features(rec)  # ipfx's sweep QC: the simulated traces pass it
    assert qc[qc["level"] == "sweep"]["passed"].all() and set(qc["stimulus"].dropna()) == {
        "long_square",
        "short_square",
        "ramp",
    }
    # all 39 mouse features of five families but the sag: the larger cell's -110 pA step
    # reaches only ~4 mV below rest, less than any training cell's sag sweep, so the check
    # empties sag (and the voltage it was measured at) and says why
    assert row.drop(["sag", "vm_for_sag"]).notna().all(), row[row.isna()]
    assert row[["sag", "vm_for_sag"]].isna().all()
    assert qc.iloc[-1]["flags"] == "shallow_sag_sweep"
    # rheobase: the lowest long square with a spike in the step
    lsq = rec.stimulus("long_square")
    t = lsq.sweeps[0].t
    step = (t >= lsq.start) & (t <= lsq.end)
    spiking = [a for s, a in zip(lsq.sweeps, lsq.amplitudes, strict=True) if _crossings(s.v, step)]
    assert row["threshold_i_long_square"] == min(spiking)
    # short square: the lowest pulse amplitude that spikes; its spike's peak
    ssq = rec.stimulus("short_square")
    lowest = min(a for s, a in zip(ssq.sweeps, ssq.amplitudes, strict=True) if _crossings(s.v))
    assert row["threshold_i_short_square"] == lowest
    peaks = [s.v.max() for s, a in zip(ssq.sweeps, ssq.amplitudes, strict=True) if a == lowest]
    assert row["peak_v_short_square"] == pytest.approx(np.mean(peaks), abs=1.0)
    # spike times are on the mouse table's clock: the stimulus onset at 0.5 s (its short
    # squares' first spikes at 0.502-0.515 s)
    assert 0.5 < row["peak_t_short_square"] < 0.52
    # ramp: the command at the first spike's threshold is the ramp's slope x elapsed time
    ramps = rec.stimulus("ramp")
    ramp = ramps.sweeps[0]
    at = np.searchsorted(ramp.t, row["threshold_t_ramp"] - 0.5 + ramps.start)
    assert row["threshold_i_ramp"] == pytest.approx(ramp.i[at], abs=1.0)
    assert row["threshold_i_ramp"] == pytest.approx(
        100.0 * (row["threshold_t_ramp"] - 0.5), abs=1.0
    )
    assert row["threshold_v_ramp"] < row["peak_v_ramp"] and row["peak_v_ramp"] == pytest.approx(
        ramp.v.max(), abs=1.0
    )
    # input resistance: -dV/dI of the hyperpolarising steps' last 100 ms
    late = (t > lsq.end - 0.1) & (t <= lsq.end)
    before = t < lsq.start
    hyper = [(a, s) for s, a in zip(lsq.sweeps, lsq.amplitudes, strict=True) if -60 <= a < 0]
    dv = [s.v[late].mean() - s.v[before].mean() for _, s in hyper]
    slope = np.polyfit([a for a, _ in hyper], dv, 1)[0] * 1e3  # mV/pA -> MOhm
    assert row["ri"] == pytest.approx(slope, rel=0.1)


@pytest.mark.slow
def test_the_human_schema_names_the_same_measurements(nwb_files, run_cli, tmp_path):
    rec = read_nwb(nwb_files["small_2"])
    mouse, _ = extract_features(rec, schema="mouse")
    human, _ = extract_features(rec, schema="human")
    assert human["rheobase_i"] == mouse["threshold_i_long_square"]
    assert human["input_resistance"] == mouse["ri"] and human["v_baseline"] == mouse["vrest"]
    assert human["tau"] * 1000 == pytest.approx(mouse["tau"])  # s in the human table, ms in mouse
    assert human["mean_isi_hero"] * 1000 == pytest.approx(mouse["avg_isi"])
    assert human["latency_hero"] == mouse["latency"] and human["adapt_hero"] == mouse["adaptation"]
    # voltages as differences from threshold (the table's *_deltav_*)
    assert human["threshold_v_rheo"] == mouse["threshold_v_long_square"]
    assert human["peak_deltav_rheo"] == pytest.approx(
        mouse["peak_v_long_square"] - mouse["threshold_v_long_square"]
    )
    assert human["threshold_i_ramp"] == pytest.approx(mouse["threshold_i_ramp"])
    # the hero sweep's inverse first ISI, read from the trace's 0 mV crossings
    lsq = rec.stimulus("long_square")
    hero = next(
        s
        for s, a in zip(lsq.sweeps, lsq.amplitudes, strict=True)
        if a - human["rheobase_i"] in (40.0, 60.0)
    )
    up = np.flatnonzero((hero.v[1:] > 0) & (hero.v[:-1] <= 0)) / hero.rate
    assert human["first_isi_inv_hero"] == pytest.approx(1 / (up[1] - up[0]), rel=0.02)
    # what stock ipfx cannot measure stays empty, never approximated
    empty = set(human[human.isna()].index)
    assert {"sag_area", "sag_tau", "postap_slope_rheo", "width_suprathresh_hero"} <= empty
    assert {c for c in human.index if c.endswith("_chirp")} <= empty
    assert human.notna().sum() == 62
    # the CLI with --schema human shows the human table's rheobase and Ri columns
    out = tmp_path / "human.csv"
    r = run_cli("features", str(nwb_files["small_2"]), "--out", str(out), "--schema", "human")
    assert r.code == 0, r
    table = pd.read_csv(out, index_col="cell_id")
    assert list(table.columns) == [*human.index, "checks_failed", "checks_blocking"]
    assert table.loc["small_2", "rheobase_i"] == human["rheobase_i"]
    assert "62/93" in r.out
    # a folder is searched with its sub-folders (the DANDI layout fetch-recordings keeps)
    nested = tmp_path / "dandi" / "sub-1"
    nested.mkdir(parents=True)
    (nested / "small_2.nwb").symlink_to(nwb_files["small_2"])
    out = tmp_path / "nested.csv"
    assert run_cli("features", str(tmp_path / "dandi"), "--out", str(out)).code == 0
    # the cell id is the path below the folder given, so files of one name stay apart
    assert list(pd.read_csv(out)["cell_id"]) == ["sub-1/small_2"]
    (tmp_path / "dandi" / "sub-2").mkdir()
    (tmp_path / "dandi" / "sub-2" / "small_2.nwb").symlink_to(nwb_files["small_2"])
    out = tmp_path / "two.csv"
    assert run_cli("features", str(tmp_path / "dandi"), "--out", str(out)).code == 0
    assert list(pd.read_csv(out)["cell_id"]) == ["sub-1/small_2", "sub-2/small_2"]
    qc = pd.read_csv(out.with_name("two.csv.qc.csv"))
    assert set(qc["cell_id"]) == {"sub-1/small_2", "sub-2/small_2"}
    # the same two files given one by one would be one cell twice: a clear error
    clash = run_cli(
        "features",
        str(tmp_path / "dandi" / "sub-1" / "small_2.nwb"),
        str(tmp_path / "dandi" / "sub-2" / "small_2.nwb"),
        "--out",
        str(tmp_path / "clash.csv"),
    )
    assert clash.code != 0 and "would both be cell 'small_2'" in clash.err
    assert not (tmp_path / "clash.csv").exists()


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_the_twelve_feature_vector_families(nwb_files):
    cell = extract_cell(read_nwb(nwb_files["small_0"]), vectors=True)
    assert list(cell.vectors) == list(VECTOR_FAMILIES)
    lengths = {k: len(v) for k, v in cell.vectors.items()}
    # 1 s steps: 5 subthreshold steps x 140 points (10 ms), 6 amplitudes x 20 (psth, 50 ms)
    # or 50 bins (20 ms), three 3 ms first APs at 50 kHz
    assert lengths == {
        "step_subthresh": 700,
        "subthresh_norm": 140,
        "isi_shape": 100,
        "psth": 120,
        "inst_freq": 300,
        **{f"spiking_{n}": 300 for n in ("upstroke_downstroke_ratio", "peak_v")},
        **{f"spiking_{n}": 300 for n in ("fast_trough_v", "threshold_v", "width")},
        "first_ap_v": 450,
        "first_ap_dv": 447,
    }
    assert cell.qc.iloc[-1]["vectors_missing"] == ""
    # the psth's first block (rheobase) holds the rheobase sweep's spikes (rate x 50 ms bins)
    row = cell.row
    rec = read_nwb(nwb_files["small_0"])
    lsq = rec.stimulus("long_square")
    t = lsq.sweeps[0].t
    step = (t >= lsq.start) & (t <= lsq.end)
    rheo = lsq.sweeps[lsq.amplitudes.index(row["threshold_i_long_square"])]
    assert cell.vectors["psth"][:20].sum() * 0.05 == pytest.approx(_crossings(rheo.v, step))
    # the middle first-AP block is the rheobase spike from its threshold on
    ap = cell.vectors["first_ap_v"][150:300]
    assert ap[0] == pytest.approx(row["threshold_v_long_square"], abs=2.0)
    assert ap.max() == pytest.approx(row["peak_v_long_square"], abs=1.0)
    np.testing.assert_allclose(cell.vectors["first_ap_dv"][149:298], np.diff(ap))


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_vectors_of_another_step_duration_are_left_out_with_a_warning(nwb_files):
    if not (SAMPLES / "171116sh_0018.abf").is_file():
        pytest.skip("the sample recordings are not beside the project")
    from ephys2type.data.recordings.abf import read_abf

    sim = extract_cell(read_nwb(nwb_files["small_0"]), vectors=True)
    abf = extract_cell(
        read_abf(SAMPLES / "171116sh_0018.abf"), sweep_qc_profile="none", vectors=True
    )
    # a step protocol without short squares and ramps: no first-AP vectors, said why
    assert "first_ap_v: no short square and ramp sweeps" in abf.qc.iloc[-1]["vectors_missing"]
    assert len(abf.vectors["psth"]) == 60  # a 0.5 s step: half the bins
    table, schema, notes = vector_table({"sim": sim.vectors, "abf": abf.vectors, "b": sim.vectors})
    assert len(schema.family_names) == 12 and table.shape == (3, len(schema.columns))
    assert "abf: psth has 60 values, not 120" in notes
    assert table.loc["abf", schema.family("psth").columns].isna().all()
    from ephys2type.data.recordings.vectors import write_vectors

    with pytest.warns(Ephys2TypeWarning, match="left out"):
        write_vectors(
            {"sim": sim.vectors, "abf": abf.vectors},
            Path(nwb_files["small_0"]).with_suffix(".h5ad"),
        )


@pytest.mark.slow
def test_vectors_file_trains_the_bilstm_as_families(
    nwb_files, run_cli, tmp_path, monkeypatch, smoke_run
):
    out = tmp_path / "features.csv"
    vectors = tmp_path / "vectors.h5ad"
    r = run_cli(
        "features", *map(str, nwb_files.values()), "--out", str(out), "--vectors", str(vectors)
    )
    assert r.code == 0, r
    schema_path = tmp_path / "vectors.schema.toml"
    assert "feature vectors of 6 cell(s)" in r.out and schema_path.is_file()
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"cell_id": list(CELLS), "subclass": [n.split("_")[0] for n in CELLS]}).to_csv(
        labels, index=False
    )

    from ephys2type.data.datasets import load_table
    from ephys2type.models.registry import get_model

    data = load_table(vectors, labels, schema_path)
    assert data.schema.family_names == list(VECTOR_FAMILIES) and len(data) == 6
    assert data.X.notna().all().all()
    pipe = get_model("bilstm").with_params(max_epochs=3).build(data.schema, 0)
    pipe.fit(data.X, data.y)
    net = pipe[-1]
    assert net.family_names_ == list(VECTOR_FAMILIES)
    attention = net.family_attention(pipe[:-1].transform(data.X))
    assert attention.shape == (6, 12) and np.allclose(attention.sum(axis=1), 1.0)
    # and from the command line: train on the vector file (few epochs), predict its cells
    smoke_run()
    model = tmp_path / "model"
    r = run_cli(
        "train",
        "--table",
        str(vectors),
        "--schema",
        str(schema_path),
        "--table-labels",
        str(labels),
        "--model",
        "bilstm",
        "--no-family-subsets",
        "--out",
        str(model),
    )
    assert r.code == 0, r
    r = run_cli("predict", "--model", str(model), "--features", str(vectors))
    assert r.code == 0, r
    assert "6 cells called" in r.out


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_short_square_analysis_failure_is_reported_not_fatal(nwb_files):
    from dataclasses import replace

    rec = read_nwb(nwb_files["small_1"])
    ssq = rec.stimulus("short_square")
    quiet = replace(ssq, sweeps=ssq.sweeps[:2], amplitudes=ssq.amplitudes[:2])  # 200 pA: no spike
    with pytest.raises(Exception, match="short square"):
        analyze_stimulus(quiet)
    rec = replace(rec, others=(quiet, rec.stimulus("ramp")))
    row, qc = extract_features(rec)
    assert "2 short square sweeps: ipfx could not analyse" in qc.iloc[-1]["reason"]
    assert qc.iloc[-1]["used"]  # the cell still has its features from the other kinds
    assert row[[c for c in row.index if c.endswith("_short_square")]].isna().all()
    assert row[[c for c in row.index if c.endswith("_ramp")]].notna().all()
