"""Benchmark: seconds per recording, and the speed-up of 2 local processes and of a Dask
cluster with 2 workers (on the loopback interface), for ``ephys2type features``.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/recordings_speed.py [--repeat 4] [--out FILE.json]

The five sample ABF files of ``../shared/data/recordings/pyabf_samples`` are each linked
``--repeat`` times (distinct names, so each is a task), then extracted serially, with
``--jobs 2`` (joblib) and on a ``LocalCluster`` of 2 single-threaded worker processes; each run
must give the serial table exactly.
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
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/recordings_speed.json")
    )
    args = parser.parse_args()
    from dask.distributed import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for k in range(args.repeat):
            for f in sorted(SAMPLES.glob("*.abf")):
                link = Path(tmp) / f"{f.stem}_{k}.abf"
                link.symlink_to(f)
                files.append(link)
        times, tables = {}, {}
        for name, options in (("serial", {}), ("joblib, 2 processes", {"n_jobs": 2})):
            start = time.perf_counter()
            tables[name] = run_batch(files, sweep_qc_profile="none", **options)[0]
            times[name] = time.perf_counter() - start
        with LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster:
            start = time.perf_counter()
            tables["dask, 2 workers"] = run_batch(
                files, sweep_qc_profile="none", scheduler=cluster.scheduler_address
            )[0]
            times["dask, 2 workers"] = time.perf_counter() - start
    for table in tables.values():
        pd.testing.assert_frame_equal(table, tables["serial"])  # identical results
    result = {
        "benchmark": "ephys2type features: seconds per recording and speed-up",
        "n_files": len(files),
        "seconds": times,
        "seconds_per_file": {k: v / len(files) for k, v in times.items()},
        "speed_up": {k: times["serial"] / v for k, v in times.items()},
        "identical_to_serial": True,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, dumps_json(result), overwrite=True)
    print(dumps_json(result))


if __name__ == "__main__":
    main()
