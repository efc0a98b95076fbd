"""Every fenced command and Python snippet of the README and of the documentation site runs
exactly as written, and the README's front-page tables say what the code does.

The documents are the README (the site's front page: ``docs/hooks.py`` puts it there) and
then every page of the site in the order of its navigation (``mkdocs.yml``). Their blocks run
once, in that order, in one working folder (a later block may use what an earlier one wrote,
as a reader would), under :data:`ephys2type.limits.SMOKE` (seeds, folds, epochs and trees
shrunk, never the arguments): the module fixture ``doc_runs`` runs them and records what
went wrong in each, and the tests read that record, so each test passes or fails on its own,
in any order. The folder holds the input files the documents name (``cells.csv``: rows of
the bundled human table, the same rows as ``cells.h5ad`` and, renamed and in other units, as
``their_cells.csv`` with the documented ``map.toml``; ``my_cells.csv`` and
``my_labels.csv``: 8 layer-1 cells per class that Lee, Dalley does not hold;
``features.csv`` and ``labels.csv``: a small export in the mouse schema, 12 cells per
subclass). The DANDI Archive cannot be reached from CI: ``fetch-recordings`` runs against a
stand-in Dandiset of three small files (its real download is a network test in test_dandi).
``make`` lines are checked with ``make -n`` (a dry run): running ``make test`` inside the
test suite would recurse, and ``make reproduce`` takes half an hour (CI runs ``make test``).
``text`` blocks (a mapping file, the code map) are not commands. The site's build is
tests/test_site.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import shlex
import subprocess
import time
import traceback
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RUNNABLE = ("bash", "python")
#: The README may not grow back into the manual: the rest belongs on the site.
FRONT_PAGE_LINES = 200


@dataclasses.dataclass(frozen=True)
class Block:
    document: str  # README.md or docs/<page>.md
    lang: str
    code: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def fenced_blocks(text: str, document: str) -> list[Block]:
    """Every fenced block of a Markdown document, with the line its fence opens on."""
    blocks, lang, start, lines = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence and lang is None:
            lang, start, lines = fence.group(1) or "", number, []
        elif line.startswith("```") and lang is not None:
            blocks.append(Block(document, lang, "\n".join(lines), start))
            lang = None
        elif lang is not None:
            lines.append(line)
    assert lang is None, f"{document}: block opened at line {start} is never closed"
    return blocks


def _nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def site_pages() -> list[str]:
    """The site's pages (paths below docs/), in the order of its navigation."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    return _nav_pages(config["nav"])


#: The README, then every page of the site but its index (the README itself).
DOCUMENTS = {"README.md": README} | {
    f"docs/{page}": DOCS / page for page in site_pages() if page != "index.md"
}
BLOCKS = [b for name, path in DOCUMENTS.items() for b in fenced_blocks(path.read_text(), name)]
RUN_BLOCKS = [b for b in BLOCKS if b.lang in RUNNABLE]


def test_every_block_has_a_known_language():
    assert RUN_BLOCKS, "no fenced blocks found"
    unknown = [b.id for b in BLOCKS if b.lang not in (*RUNNABLE, "text")]
    assert not unknown, f"blocks without bash/python/text: {unknown}"


def _mapping_from_docs() -> str:
    """The documented map.toml (a text block), so the documented file is the one tested."""
    for block in BLOCKS:
        if block.lang == "text" and block.code.startswith("# map.toml"):
            return block.code
    raise AssertionError("no map.toml block in the README or the site")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from ephys2type import load_human, load_mouse
    from ephys2type.data.datasets import HUMAN_FEATURES
    from ephys2type.data.fetch import fetch
    from ephys2type.data.h5ad import write_h5ad

    folder = tmp_path_factory.mktemp("docs")
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
    (folder / "map.toml").write_text(_mapping_from_docs())
    # the documented recordings folder: the sample ABF files beside the project
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
    l1 = load_human(datasets="chartrand2023_l1")
    lee_ids = set(load_human(labels=None, qc=None, datasets="lee2023").X.index)
    own = l1.y[~l1.y.index.isin(lee_ids)].groupby(l1.y).head(8).index
    l1.X.loc[own].rename_axis("cell_id").to_csv(folder / "my_cells.csv")
    pd.DataFrame({"cell_id": own, "subclass": l1.y.loc[own]}).to_csv(
        folder / "my_labels.csv", index=False
    )
    return folder


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


def _run_cli(args: list[str]) -> tuple[int, str]:
    """``ephys2type ARGS`` in this process: its exit code and what it wrote to stderr."""
    from ephys2type.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, err.getvalue()


def _run_block(block: Block) -> str | None:
    """Run one block; what went wrong, or None."""
    if block.lang == "python":
        try:
            exec(compile(block.code, block.id, "exec"), {"__name__": "docs"})
        except Exception:
            return traceback.format_exc()
        return None
    for command in _command_lines(block.code):
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
            if dry.returncode != 0:
                return f"{command}: {dry.stderr}"
            continue
        if args[0] != "ephys2type":
            return f"unknown command {command!r}"
        code, err = _run_cli(args[1:])
        if code != 0:
            return f"{command}: exit {code}\n{err}"
    return None


@dataclasses.dataclass
class DocRuns:
    folder: Path
    failures: dict[str, str | None]  # block id -> what went wrong (None: it ran)
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def doc_runs(workdir):
    """Run every block of every document once, in order, under the SMOKE limits."""
    from ephys2type.data.recordings import dandi
    from ephys2type.limits import SMOKE, limited

    if os.environ.get("PYTEST_XDIST_WORKER"):  # as conftest's _torch_threads does per test
        import torch

        torch.set_num_threads(1)
    runs = DocRuns(workdir, {}, {})
    with pytest.MonkeyPatch.context() as mp, limited(SMOKE), warnings.catch_warnings():
        # the documented rows are the bundled table's, which the models were trained on: the
        # README says they work "with a warning" that says so
        warnings.filterwarnings("ignore", ".*cells this model was trained on")
        mp.chdir(workdir)
        mp.setattr(dandi, "dandi_assets", _stand_in_dandiset)
        for block in RUN_BLOCKS:
            start = time.perf_counter()
            runs.failures[block.id] = _run_block(block)
            runs.seconds[block.id] = time.perf_counter() - start
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.id for b in RUN_BLOCKS])
def test_doc_block_runs(block, doc_runs):
    failure = doc_runs.failures[block.id]
    assert failure is None, f"{block.id}:\n{failure}"


@pytest.mark.slow
def test_doc_outputs_exist_after_their_commands(doc_runs):
    """What the documented commands say they write is there."""
    folder = doc_runs.folder
    assert (folder / "my-model" / "model.json").is_file()
    preds = pd.read_csv(folder / "predictions.csv", index_col=0)
    cells = pd.read_csv(folder / "cells.csv")
    assert list(preds.index) == cells["specimen_id"].tolist()
    assert (folder / "predictions.csv.summary.json").is_file()
    # the recordings quickstart: one row per sample file, a check page each, the overview
    rec = pd.read_csv(folder / "rec_features.csv", index_col=0)
    assert len(rec) == 5
    assert len(list((folder / "rec_figures").glob("*.png"))) == 5
    assert (folder / "rec_features.csv.qc.csv").is_file()  # the checks predict reads
    assert (folder / "rec_overview.png").is_file()
    # the Allen-protocol example: human naming, the feature vectors and their schema
    sim = pd.read_csv(folder / "sim_features.csv", index_col="cell_id")
    assert sim.notna().sum(axis=1).loc["sim_cell"] == 62
    assert (folder / "sim_vectors.h5ad").is_file()
    assert (folder / "sim_vectors.schema.toml").is_file()
    assert len(list((folder / "dandi-mouse").glob("sub-*/*.nwb"))) == 2


def test_every_benchmark_script_is_listed_on_the_benchmarks_page():
    """A benchmark nobody can find is not run: each script (a file with a main guard) is
    named in the table of the site's Benchmarks page."""
    text = (DOCS / "benchmarks.md").read_text()
    listed = set(re.findall(r"^\| `benchmarks/([\w.]+\.py)", text, flags=re.M))
    scripts = [
        p.name
        for p in sorted((ROOT / "benchmarks").glob("*.py"))
        if 'if __name__ == "__main__":' in p.read_text()
    ]
    assert len(scripts) >= 15
    missing = [name for name in scripts if name not in listed]
    assert not missing, missing
    gone = sorted(listed - set(scripts))
    assert not gone, f"listed but not a benchmark script: {gone}"


# -- the README as a front page -------------------------------------------------------------


def _section(text: str, heading: str) -> str:
    """The README's text under ``## heading``, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md: no section '## {heading}'"
    return match.group(1)


def _table_rows(section: str) -> list[list[str]]:
    """The cells of the first Markdown table of ``section`` (header and rule left out)."""
    rows = [ln for ln in section.splitlines() if ln.startswith("|")]
    assert len(rows) > 2, "no table"
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in rows[2:]]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_readme_is_a_front_page_that_leads_to_every_page():
    text = README.read_text()
    lines = len(text.splitlines())
    assert lines <= FRONT_PAGE_LINES, f"README.md has {lines} lines; move the rest to docs/"
    for heading in (
        "Two commands",
        "Quickstart: a feature table",
        "Quickstart: recordings (ABF, NWB)",
        "In the browser",
        "What `predict` writes",
        "Which columns your table needs",
        "Documentation",
    ):
        _section(text, heading)
    unlinked = [p for p in site_pages() if p != "index.md" and f"](docs/{p}" not in text]
    assert not unlinked, f"README.md does not link these pages: {unlinked}"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README.md links to a missing file: {target}"


def test_readme_lists_every_output_column():
    """The table of output columns is ``call_table.COLUMNS``: the same columns, in its order,
    with its words (paste the expected table from the message when a column changes)."""
    from ephys2type.models.call_table import COLUMNS

    expected = ["| column | what it holds |", "|---|---|"] + [
        "| " + ", ".join(f"`{n.strip()}`" for n in name.split(",")) + f" | {what} |"
        for name, what in COLUMNS.items()
    ]
    section = _section(README.read_text(), "What `predict` writes")
    table = [ln for ln in section.splitlines() if ln.startswith("|")]
    assert table == expected, "expected:\n" + "\n".join(expected)


def test_readme_lists_the_reasons_of_unassigned_cells_in_order():
    from ephys2type.models.abstention import rule_names

    section = _section(README.read_text(), "What `predict` writes")
    paragraph = next(p for p in section.split("\n\n") if "`reason` names the first rule" in p)
    assert _names(paragraph.split("in this order:", 1)[1]) == rule_names()


def test_readme_names_every_field_of_the_batch_summary():
    from ephys2type.models.batch_check import BatchSummary

    section = _section(README.read_text(), "What `predict` writes")
    paragraph = next(p for p in section.split("\n\n") if ".summary.json`" in p)
    named = {n for n in _names(paragraph) if re.fullmatch(r"[a-z_]+", n)}
    assert named == {f.name for f in dataclasses.fields(BatchSummary)} | set(BatchSummary.DECIDED)


def test_readme_names_the_columns_of_every_essential_family():
    """The table of essential families is the schemas': every essential family of the mouse
    and human schemas, with exactly its columns, and no other family."""
    from ephys2type.data.schema import get_schema

    expected = {
        (species, fam.name): fam.columns
        for species in ("mouse", "human")
        for fam in get_schema(species).families
        if fam.essential
    }
    rows = _table_rows(_section(README.read_text(), "Which columns your table needs"))
    found = {(row[0].split()[0], _names(row[1])[0]): _names(row[2]) for row in rows}
    assert found == expected
