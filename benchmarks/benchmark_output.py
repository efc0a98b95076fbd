"""How every benchmark script writes its result: one JSON file, atomically, with its run
time when it took one, and one line saying where."""

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
