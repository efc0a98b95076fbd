"""MkDocs hook: the site's front page is the project's README.md.

The README links to the pages as ``docs/<page>.md`` (so they work where the repository is
read); on the site, which is built from ``docs/``, those links lose the ``docs/`` prefix.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def front_page(text: str) -> str:
    """The README as the site's index page: ``](docs/x)`` becomes ``](x)``."""
    return re.sub(r"\]\(docs/", "](", text)


def on_page_markdown(markdown, page, config, files, **kwargs):
    if page.file.src_uri == "index.md":
        return front_page(README.read_text(encoding="utf-8"))
    return markdown
