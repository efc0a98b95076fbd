"""The documentation site builds, strictly, and holds every page of docs/.

``mkdocs build --strict`` (what ``make docs`` runs) into a temporary folder: a broken link or
anchor, a page missing from the navigation, an API entry mkdocstrings cannot find, or a
docstring it cannot read fails the build. About 3 s on 2 cores. The commands of the pages
run in tests/test_docs.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


NAV = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])


def test_every_page_is_in_the_navigation_once():
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(NAV) == pages
    assert len(set(NAV)) == len(NAV)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    return out


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_site_builds_with_every_page(site):
    for page in NAV:
        assert (site / page).with_suffix(".html").is_file(), page
    assert (site / "app.png").is_file()
    assert 'src="app.png"' in (site / "app.html").read_text()


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_front_page_is_the_readme(site):
    """The site's index is README.md (docs/hooks.py), its links made relative to docs/."""
    index = (site / "index.html").read_text()
    assert "Quickstart: a feature table" in index
    assert 'href="predictions.html"' in index
    assert 'href="docs/' not in index


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_api_reference_is_built_from_the_docstrings(site):
    """Every public name of the package has its entry, with its docstring's text."""
    import ephys2type

    api = (site / "api.html").read_text()
    public = [n for n in ephys2type.__all__ if not n.startswith("_")]
    missing = [n for n in public if f'id="ephys2type.{n}"' not in api]
    assert not missing, missing
    assert "Load a model folder written by" in api  # load_model's docstring
    assert 'id="ephys2type.CellTypeClassifier.predict_table"' in api
