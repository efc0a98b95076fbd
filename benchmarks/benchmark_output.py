"""What every benchmark script shares: how it writes its result (one JSON file, atomically,
with its run time when it took one, and one line saying where), the options most take
(``--seeds``, ``--out``) and how it measures a model folder's size."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ephys2type.files import atomic_write_text, dumps_json


def write_result(result: dict[str, Any], out: Path, start: float | None = None) -> Path:
    """Write ``result`` to ``out`` (its folder made if needed); with ``start`` (a
    ``time.perf_counter()`` reading), its ``seconds`` first."""
    if start is not None:
        result["seconds"] = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, dumps_json(result), overwrite=True)
    took = f" ({result['seconds']:.0f} s)" if "seconds" in result else ""
    print(f"written to {out}{took}")
    return out


def folder_mb(path: Path) -> float:
    """The size of every file below ``path``, in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def seeds_and_out(doc: str, name: str, *, seeds: int = 3) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc`` with ``--seeds`` (default ``seeds``)
    and ``--out`` (default ``benchmarks/results/<name>.json``); a script adds its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--out", type=Path, default=Path(f"benchmarks/results/{name}.json"))
    return parser
