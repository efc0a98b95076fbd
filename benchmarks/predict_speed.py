"""Benchmark: how fast a saved model loads and predicts, and how big its folder is.

Run on demand (not part of the test suite; about 10 minutes on 2 cores):

    .venv/bin/python benchmarks/predict_speed.py [--species mouse]
        [--models rf hgb ...] [--out benchmarks/results/predict_speed.json]

For each model (default: every savable model of the registry), ``train`` (as the command
does, family-subset models included) on the bundled cells, save, then in a fresh process each
time: the imports a user's command pays (numpy, pandas, scikit-learn, ephys2type);
``load_model``; ``predict_table`` of 20 cells; ``predict_table`` of 10,000 cells (bundled
cells drawn with replacement, ids made unique). Writes seconds and the folder's size in MB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark_output import folder_mb, write_result
from ephys2type import load_human, load_mouse
from ephys2type.files import dumps_json
from ephys2type.models.registry import model_names
from ephys2type.persist.format import save_model
from ephys2type.persist.train import train_model

CHILD = """
import sys, time, warnings
t0 = time.perf_counter()
import numpy as np, pandas as pd
from ephys2type.persist.format import load_model
t_import = time.perf_counter()
model = load_model(sys.argv[1])
t1 = time.perf_counter()
cells = pd.read_csv(sys.argv[2], index_col=0)
n = int(sys.argv[3])
if n > len(cells):
    cells = cells.sample(n, replace=True, random_state=0)
    cells.index = [f"c{i}" for i in range(n)]
else:
    cells = cells.head(n)
t2 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    table = model.predict_table(cells)
t3 = time.perf_counter()
print(
    f"{t_import - t0:.4f} {t1 - t_import:.4f} {t3 - t2:.4f} "
    f"{(table['predicted'] == 'unassigned').mean():.4f}"
)
"""


def measure(model_dir: Path, cells: Path, n: int) -> dict:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(model_dir), str(cells), str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    total = time.perf_counter() - start
    imports, load, predict, unassigned = (float(v) for v in out.stdout.split())
    return {
        "process_seconds": total,
        "import_seconds": imports,
        "load_model_seconds": load,
        "predict_seconds": predict,
        "unassigned_share": unassigned,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", default="mouse", choices=("mouse", "human"))
    parser.add_argument("--models", nargs="+", default=model_names(savable=True))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/predict_speed.json"))
    args = parser.parse_args()
    data = load_mouse() if args.species == "mouse" else load_human(datasets="lee2023")
    result: dict = {"species": args.species, "n_training_cells": len(data), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        cells = Path(tmp) / "cells.csv"
        data.X.to_csv(cells, index_label="cell_id")
        for name in args.models:
            t0 = time.perf_counter()
            trained = train_model(data, name, random_state=0)
            folder = save_model(trained, Path(tmp) / name)
            entry = {
                "train_seconds": time.perf_counter() - t0,
                "folder_mb": folder_mb(folder),
                "members": len(trained.members_),
                "cells_20": measure(folder, cells, 20),
                "cells_10000": measure(folder, cells, 10_000),
            }
            result["models"][name] = entry
            print(name, dumps_json(entry))
    write_result(result, args.out)


if __name__ == "__main__":
    main()
