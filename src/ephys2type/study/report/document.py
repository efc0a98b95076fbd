"""What a report says, independent of its format: a title and a list of blocks (headings,
paragraphs, bullet lists, tables, figures and the page's navigation).

The sections decide the blocks (:mod:`ephys2type.study.report.builder` collects them);
:mod:`ephys2type.study.report.render` turns one document into HTML and into Markdown, so the
two formats cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The style of a paragraph: plain, a note (protocol, caveats), or the quick-run warning.
PARAGRAPH_STYLES = ("", "note", "quick")


@dataclass(frozen=True)
class Heading:
    """A heading; the level-2 headings are the page's sections."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    style: str = ""

    def __post_init__(self) -> None:
        if self.style not in PARAGRAPH_STYLES:
            raise ValueError(f"paragraph style {self.style!r} not one of {PARAGRAPH_STYLES}")


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table of text cells with an optional caption."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Figures:
    """PNG figures side by side (``wide``: one across the page), as paths relative to the
    run folder; only figures that exist are listed."""

    paths: tuple[str, ...]
    caption: str = ""
    wide: bool = False


@dataclass(frozen=True)
class NavLink:
    """A link of the navigation: a section's label and the heading it leads to."""

    label: str
    heading: Heading


@dataclass(frozen=True)
class Navigation:
    """The page's navigation: one link per section written (HTML only)."""

    links: tuple[NavLink, ...]


Block = Heading | Paragraph | Bullets | Table | Figures | Navigation


@dataclass(frozen=True)
class Document:
    """A whole report: its title, its blocks in page order, and the run folder the figure
    paths are relative to."""

    title: str
    blocks: tuple[Block, ...]
    root: Path
