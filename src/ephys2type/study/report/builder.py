"""Collects what the report's sections say as a format-neutral
:class:`~ephys2type.study.report.document.Document`: headings, paragraphs, bullets, tables
and figures, and the navigation (a link to the first heading of each section written).

The builder decides nothing about HTML or Markdown; :mod:`ephys2type.study.report.render`
does, from the document alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ephys2type.study.report.document import (
    Block,
    Bullets,
    Document,
    Figures,
    Heading,
    Navigation,
    NavLink,
    Paragraph,
    Table,
)


class ReportBuilder:
    """Collects the blocks of a report in page order (see module docstring)."""

    def __init__(self, root: Path, title: str):
        self.root = root
        self.title = title
        self._blocks: list[Block] = []
        self._sections: list[Heading] = []  # the level-2 headings, in page order
        self._nav: list[NavLink] = []
        self._nav_at: int | None = None

    def heading(self, text: str, level: int = 2) -> None:
        heading = Heading(text, level)
        if level == 2:
            self._sections.append(heading)
        self._blocks.append(heading)

    def para(self, text: str, style: str = "") -> None:
        self._blocks.append(Paragraph(text, style))

    def bullets(self, items: Iterable[str]) -> None:
        """A bullet list (nothing when there are no items)."""
        items = tuple(items)
        if items:
            self._blocks.append(Bullets(items))

    def table(
        self, header: Sequence[object], rows: Iterable[Sequence[object]], caption: str = ""
    ) -> None:
        """A table; cells are written as ``str`` of each value."""
        self._blocks.append(
            Table(
                tuple(str(h) for h in header),
                tuple(tuple(str(v) for v in row) for row in rows),
                caption,
            )
        )

    def figures(self, paths: Iterable[Path], caption: str = "", *, wide: bool = False) -> None:
        """PNG figures of the run folder side by side (``wide``: one across the page); a
        figure not written is left out, and nothing is written if none is."""
        found = tuple(p.relative_to(self.root).as_posix() for p in paths if p.exists())
        if found:
            self._blocks.append(Figures(found, caption, wide))

    def nav_here(self) -> None:
        """Put the page's navigation here: a link to each section written."""
        self._nav_at = len(self._blocks)

    def section(self, label: str, write: Callable[[], None]) -> None:
        """Write a section with ``write``; if it wrote a heading, the navigation links
        ``label`` to its first one (a section with nothing to show gets no link)."""
        before = len(self._sections)
        write()
        if len(self._sections) > before:
            self._nav.append(NavLink(label, self._sections[before]))

    def document(self) -> Document:
        """The report so far, with its navigation where :meth:`nav_here` put it."""
        blocks = list(self._blocks)
        if self._nav_at is not None:
            blocks.insert(self._nav_at, Navigation(tuple(self._nav)))
        return Document(self.title, tuple(blocks), self.root)
