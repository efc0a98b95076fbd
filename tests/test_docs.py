"""Every fenced command and Python snippet of the README runs exactly as written.

The blocks run in README order in one working folder (a later block may use what an earlier
one wrote, as a reader would), under :data:`ephys2type.limits.SMOKE` (seeds, folds, epochs
and trees shrunk, never the arguments). The folder holds the input files the README names
(``cells.csv``: rows of the bundled human table, the same rows as ``cells.h5ad`` and,
renamed and in other units, as ``their_cells.csv`` with the README's ``map.toml``;
``my_cells.csv`` and ``my_labels.csv``: 8 layer-1 cells per class that Lee, Dalley does not
hold; ``features.csv`` and ``labels.csv``: a small export in the mouse schema, 12 cells per
subclass). The DANDI Archive cannot be reached from CI: ``fetch-recordings`` runs against a
stand-in Dandiset of three small files (its real download is a network test in test_dandi).
``make`` lines are checked with ``make -n`` (a dry run): running ``make test`` inside the
test suite would recurse, and ``make reproduce`` takes half an hour (CI runs ``make test``).
``text`` blocks (the code map) are not commands.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUNNABLE = ("bash", "python")


def fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, code, line number) of every fenced block."""
    blocks, lang, start, lines = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence and lang is None:
            lang, start, lines = fence.group(1) or "", number, []
        elif line.startswith("```") and lang is not None:
            blocks.append((lang, "\n".join(lines), start))
            lang = None
        elif lang is not None:
            lines.append(line)
    assert lang is None, f"README.md: block opened at line {start} is never closed"
    return blocks


BLOCKS = fenced_blocks(README.read_text())


def test_every_block_has_a_known_language():
    assert BLOCKS, "no fenced blocks found"
    unknown = [(lang, line) for lang, _, line in BLOCKS if lang not in (*RUNNABLE, "text")]
    assert not unknown, f"blocks without bash/python/text: {unknown}"


def _mapping_from_readme() -> str:
    """The README's map.toml (its text block), so the documented file is the one tested."""
    for lang, code, _ in BLOCKS:
        if lang == "text" and code.startswith("# map.toml"):
            return code
    raise AssertionError("README.md: no map.toml block")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from ephys2type import load_mouse
    from ephys2type.data.datasets import HUMAN_FEATURES
    from ephys2type.data.fetch import fetch
    from ephys2type.data.h5ad import write_h5ad

    folder = tmp_path_factory.mktemp("readme")
    rows = pd.read_csv(fetch(HUMAN_FEATURES).path).head(30)
    rows.to_csv(folder / "cells.csv", index=False)
    cells = rows.set_index("specimen_id")
    write_h5ad(folder / "cells.h5ad", cells, pd.DataFrame(index=cells.index))
    # another lab's export of the same cells: other names, resistance in GOhm, tau in ms
    theirs = cells.rename(
        columns={"input_resistance": "Rin (GOhm)", "tau": "tau (ms)", "v_baseline": "Vrest"}
    )
    theirs["Rin (GOhm)"] /= 1000.0
    theirs["tau (ms)"] *= 1000.0
    theirs.rename_axis("cell_id").to_csv(folder / "their_cells.csv")
    (folder / "map.toml").write_text(_mapping_from_readme())
    # the README's recordings folder: the sample ABF files beside the project
    (folder / "recordings").symlink_to(
        ROOT.parent / "shared" / "data" / "recordings" / "pyabf_samples"
    )
    data = load_mouse()
    # a small lab export: 12 cells of each mouse subclass
    cells = data.y.groupby(data.y).head(12).index
    feats = data.X.loc[cells].copy()
    feats.insert(0, "cell_id", cells)
    feats.to_csv(folder / "features.csv", index=False)
    pd.DataFrame(
        {"cell_id": cells, "subclass": data.y.loc[cells], "donor": data.groups.loc[cells]}
    ).to_csv(folder / "labels.csv", index=False)
    # a lab's own labelled human cells: layer-1 cells Lee, Dalley does not hold, 8 per class
    from ephys2type import load_human

    l1 = load_human(datasets="chartrand2023_l1")
    lee_ids = set(load_human(labels=None, qc=None).X.index)
    own = l1.y[~l1.y.index.isin(lee_ids)].groupby(l1.y).head(8).index
    l1.X.loc[own].rename_axis("cell_id").to_csv(folder / "my_cells.csv")
    pd.DataFrame({"cell_id": own, "subclass": l1.y.loc[own]}).to_csv(
        folder / "my_labels.csv", index=False
    )
    return folder


@pytest.fixture
def in_workdir(workdir, monkeypatch, smoke_run):
    from ephys2type.data.recordings import dandi

    monkeypatch.chdir(workdir)
    smoke_run()
    monkeypatch.setattr(dandi, "dandi_assets", _stand_in_dandiset)
    return workdir


def _stand_in_dandiset(dandiset: str, version: str = "draft"):
    """Three small "NWB" files in the archive's layout (the network is not reachable here)."""
    from ephys2type.data.recordings.dandi import RemoteFile

    for k in (1, 2, 3):
        data = f"stand-in file {k} of Dandiset {dandiset} ({version})".encode()
        yield RemoteFile(
            f"sub-{k}/sub-{k}_icephys.nwb", len(data), lambda to, d=data: to.write_bytes(d)
        )


def _command_lines(code: str) -> list[str]:
    lines = []
    for raw in code.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


@pytest.mark.parametrize(
    ("lang", "code", "line"),
    [b for b in BLOCKS if b[0] in RUNNABLE],
    ids=[f"README.md:{b[2]}" for b in BLOCKS if b[0] in RUNNABLE],
)
def test_readme_block_runs(lang, code, line, in_workdir, run_cli):
    if lang == "python":
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "readme"})
        return
    for command in _command_lines(code):
        args = shlex.split(command)
        if args[0] == "make":
            dry = subprocess.run(
                ["make", "-n", *args[1:]],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**os.environ, "MAKEFLAGS": ""},
                timeout=60,
            )
            assert dry.returncode == 0, f"README.md:{line}: {command}: {dry.stderr}"
            continue
        assert args[0] == "ephys2type", f"README.md:{line}: unknown command {command!r}"
        result = run_cli(*args[1:])
        assert result.code == 0, f"README.md:{line}: {command}: {result}"


def test_readme_outputs_exist_after_its_commands(in_workdir):
    # the Allen-protocol example: human naming, the feature vectors and their schema
    sim = pd.read_csv(in_workdir / "sim_features.csv", index_col="cell_id")
    assert sim.notna().sum(axis=1).loc["sim_cell"] == 62
    assert (in_workdir / "sim_vectors.h5ad").is_file()
    assert (in_workdir / "sim_vectors.schema.toml").is_file()
    assert len(list((in_workdir / "dandi-mouse").glob("sub-*/*.nwb"))) == 2
    """What the README's commands say they write is there (runs after the blocks above)."""
    assert (in_workdir / "my-model" / "model.json").is_file()
    preds = pd.read_csv(in_workdir / "predictions.csv", index_col=0)
    cells = pd.read_csv(in_workdir / "cells.csv")
    assert list(preds.index) == cells["specimen_id"].tolist()


def test_every_benchmark_script_is_listed_in_the_readme():
    """A benchmark nobody can find is not run: each script (a file with a main guard) is
    named in the README's benchmark table."""
    text = README.read_text()
    scripts = [
        p
        for p in sorted((ROOT / "benchmarks").glob("*.py"))
        if 'if __name__ == "__main__":' in p.read_text()
    ]
    assert len(scripts) >= 15
    missing = [p.name for p in scripts if f"`benchmarks/{p.name}" not in text]
    assert not missing, missing
