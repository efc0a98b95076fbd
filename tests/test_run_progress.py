"""A run a person can follow (issues 35 item 3, 37 item 2): ``reproduce`` says at its start
how long it usually takes on 2 cores (one figure per preset, kept beside the presets), prints
a line per fit into a log, and after each stage its time and an estimate of what is left."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from ephys2type.study.config import ReproduceConfig
from ephys2type.study.reproduce import RunClock, usual_minutes

ROOT = Path(__file__).resolve().parents[1]


def test_the_usual_durations_are_kept_once_and_the_readme_quotes_them():
    full, quick = usual_minutes("full"), usual_minutes("quick")
    assert full > quick > 0  # measured on 2 cores (issue 37)
    assert usual_minutes("nope") is None
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"about {full:g} min on 2 cores" in readme
    assert f"in about {quick:g} minutes" in readme


def test_the_clock_starts_from_the_usual_pace_and_learns_the_run_s():
    clock = RunClock(total_fits=100, usual_seconds=200.0, n_stages=3)
    assert clock.remaining() == pytest.approx(200.0)  # nothing done: the usual time
    clock.started -= 30.0  # 30 s for the first 10 fits: three times the usual pace
    clock.stage_done(10)
    left = clock.remaining()
    assert 90 * 2.0 < left < 90 * 3.0  # between the usual pace and the run's own
    clock.stage_done(90)
    assert clock.remaining() == 0.0 and clock.stages_done == 2
    assert RunClock(total_fits=10).remaining() is None  # no usual figure, nothing done


def test_reproduce_into_a_log_prints_a_line_per_step(run_cli, tmp_path, monkeypatch):
    """Not a terminal (a log): the start line with the usual time, one line per fit, and
    after each stage its time and the time left."""
    base = ReproduceConfig.quick_run(1)
    qc_only = replace(
        base,
        spca_species=(),
        model_stages=(),
        transfer_protocols=(),
        holdout_models=(),
        partial_protocols_species=(),
        feature_subsets_species=(),
        ttype_species=(),
        datasets_species=(),
    )
    monkeypatch.setattr(ReproduceConfig, "preset", classmethod(lambda cls, name, jobs=2: qc_only))
    result = run_cli("reproduce", "--quick", "--out", tmp_path / "run")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert re.match(
        rf"reproduce, quick run: 1 stage, 0 models to fit; usually about "
        rf"{usual_minutes('quick'):g} min",
        lines[0],
    )
    assert lines[1].startswith("qc: 1/2 mouse (") and lines[2].startswith("qc: 2/2 human (")
    assert re.match(r"qc: done in \d+ s \(1 of 1 stage\)$", lines[3])
    again = run_cli("reproduce", "--quick", "--out", tmp_path / "run")
    assert "qc: reused (1 of 1 stage" in again.out
