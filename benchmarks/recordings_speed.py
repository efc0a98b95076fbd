"""Benchmark: seconds per recording, and the speed-up of 2 local processes and of a Dask
cluster with 2 workers (on the loopback interface), for ``ephys2type features``.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/recordings_speed.py [--repeat 4] [--allen 8] [--out FILE.json]

The five sample ABF files of ``../shared/data/recordings/pyabf_samples`` are each linked
``--repeat`` times (distinct names, so each is a task), then extracted serially, with
``--jobs 2`` (joblib) and on a ``LocalCluster`` of 2 single-threaded worker processes; each run
must give the serial table exactly. The same is then done for ``--allen`` simulated
Allen-protocol NWB files (long squares, short squares, a ramp; 50 kHz), with the feature
vectors.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from ephys2type.data.recordings.batch import run_batch
from ephys2type.files import atomic_write_text, dumps_json

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "pyabf_samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--allen", type=int, default=8)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/recordings_speed.json")
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for k in range(args.repeat):
            for f in sorted(SAMPLES.glob("*.abf")):
                link = Path(tmp) / f"{f.stem}_{k}.abf"
                link.symlink_to(f)
                files.append(link)
        result = {
            "benchmark": "ephys2type features: seconds per recording and speed-up",
            "abf_samples": _timed(files, vectors=False),
        }
        if args.allen:
            from ephys2type.data.recordings.nwb import write_nwb
            from ephys2type.testing.neuron import allen_protocol_recording

            allen = [
                write_nwb(
                    allen_protocol_recording(f"sim_{k}", random_state=k), Path(tmp) / f"sim_{k}.nwb"
                )
                for k in range(args.allen)
            ]
            result["simulated_allen_nwb_with_vectors"] = _timed(allen, vectors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, dumps_json(result), overwrite=True)
    print(dumps_json(result))


def _timed(files: list[Path], *, vectors: bool) -> dict:
    """Serial, 2 joblib processes and a 2-worker Dask cluster on 127.0.0.1: seconds per file,
    speed-up; each run must give the serial table exactly."""
    from dask.distributed import LocalCluster

    times, tables = {}, {}
    for name, options in (("serial", {}), ("joblib, 2 processes", {"n_jobs": 2})):
        start = time.perf_counter()
        tables[name] = run_batch(files, sweep_qc_profile="none", vectors=vectors, **options)
        times[name] = time.perf_counter() - start
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        start = time.perf_counter()
        tables["dask, 2 workers"] = run_batch(
            files, sweep_qc_profile="none", vectors=vectors, scheduler=cluster.scheduler_address
        )
        times["dask, 2 workers"] = time.perf_counter() - start
    serial = tables["serial"]
    for result in tables.values():
        pd.testing.assert_frame_equal(result.features, serial.features)  # identical results
        assert result.vectors.keys() == serial.vectors.keys()
        for cell, families in result.vectors.items():
            for family, values in families.items():
                assert (values == serial.vectors[cell][family]).all()
    return {
        "n_files": len(files),
        "seconds": times,
        "seconds_per_file": {k: v / len(files) for k, v in times.items()},
        "speed_up": {k: times["serial"] / v for k, v in times.items()},
        "identical_to_serial": True,
    }


if __name__ == "__main__":
    main()
