"""Fuzz the entry points with malformed tables and print what happened to each input.

For each entry point (`data check`, `evaluate`, `predict`) this generates N malformed
feature/label tables with the same generators as tests/test_robustness.py and counts how many
ended in a valid result, how many in one clean error line (exit 2), and how many crashed
(must be 0). Run on demand:

    .venv/bin/python benchmarks/fuzz_inputs.py [--examples 200] [--seed S] [--out FILE]

The default explores new inputs on every run (a fresh seed, printed and saved); --seed repeats
a run exactly.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from benchmark_output import write_result
from ephys2type import load_mouse
from ephys2type.persist.format import save_model
from ephys2type.persist.train import train_model
from fuzzing import check_outputs, mutations, run, write_tables
from test_robustness import COLUMNS, FEATURES, LABELS


def fuzz(name: str, command, n: int, random_state: int) -> dict:
    counts: Counter = Counter()
    crashes: list[str] = []

    @seed(random_state)
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(mutations(COLUMNS, len(FEATURES)))
    def one(mutation):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            precious = b"keep me\n"
            (folder / "precious.txt").write_bytes(precious)
            fpath, lpath = write_tables(FEATURES, LABELS, mutation, folder)
            out = folder / "out"
            outcome = run(*command(fpath, lpath, out))
            kind = outcome.kind
            problems = check_outputs(outcome, out, folder / "precious.txt", precious)
            if problems:
                kind = "crash"
            counts[kind] += 1
            if kind == "crash":
                crashes.append(
                    f"{mutation.describe()} -> {outcome.err.strip()[-300:]}"
                    f"{' ' + str(problems) if problems else ''}"
                )

    start = time.perf_counter()
    one()
    return {
        "entry_point": name,
        "inputs": sum(counts.values()),
        "ok": counts["ok"],
        "clean_error": counts["clean_error"],
        "crash": counts["crash"],
        "seconds": time.perf_counter() - start,
        "crashes": crashes[:20],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="hypothesis seed (default: a fresh one, printed and saved, so a run can be repeated)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fuzz.json"))
    args = parser.parse_args()
    random_state = args.seed if args.seed is not None else secrets.randbelow(2**32)
    print(f"seed {random_state}")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        data = load_mouse()
        save_model(train_model(data.subset(data.X.index[::10]), "logreg"), model)
        entry_points = {
            "data check": lambda f, lab, out: (
                "data",
                "check",
                f,
                "--labels",
                lab,
                "--write-aligned",
                out,
            ),
            "evaluate": lambda f, lab, out: (
                "evaluate",
                "--table",
                f,
                "--table-labels",
                lab,
                "--model",
                "logreg",
                "--seeds",
                "1",
                "--folds",
                "2",
                "--out",
                out,
            ),
            "predict": lambda f, lab, out: (
                "predict",
                "--model",
                model,
                "--features",
                f,
                "--out",
                out,
            ),
        }
        results = [
            fuzz(name, cmd, args.examples, random_state) for name, cmd in entry_points.items()
        ]
    print(f"{'entry point':12s} {'inputs':>7s} {'ok':>5s} {'clean error':>12s} {'crash':>6s}")
    for r in results:
        print(
            f"{r['entry_point']:12s} {r['inputs']:7d} {r['ok']:5d} {r['clean_error']:12d} "
            f"{r['crash']:6d}   ({r['seconds']:.0f} s)"
        )
        for c in r["crashes"]:
            print("   crash:", c)
    summary = {"seed": random_state, "examples_per_entry_point": args.examples, "results": results}
    write_result(summary, args.out)
    if any(r["crash"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
