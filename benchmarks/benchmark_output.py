"""What every benchmark script shares: how it writes its result (one JSON file, atomically,
with its run time when it took one, and one line saying where) and how it measures a model
folder's size."""

from __future__ import annotations

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
