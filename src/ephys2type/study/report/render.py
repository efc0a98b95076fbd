"""The report's two formats, from one :class:`~ephys2type.study.report.document.Document`:
a self-contained HTML page (figures embedded, the navigation, the shipped stylesheet) and a
Markdown twin (figures linked; no navigation).

The sections decide what the report says; these functions only decide how it looks.
"""

from __future__ import annotations

import base64
import html
from importlib import resources

from ephys2type.study.report.document import (
    Block,
    Bullets,
    Document,
    Figures,
    Heading,
    Navigation,
    Paragraph,
    Table,
)


def anchor(heading: Heading) -> str:
    """The HTML id of a heading (and the target of its navigation link)."""
    return "".join(ch if ch.isalnum() else "-" for ch in heading.text.lower()).strip("-")


def unique_anchors(blocks) -> list[str | None]:
    """Each block's HTML id (None for a block that is not a heading): the heading's
    :func:`anchor`, with ``-2``, ``-3``... after a heading of the same text (the classifier
    and attention sections both have 'mouse, labels mouse5'), so every id is the page's
    only one."""
    used: set[str] = set()
    ids: list[str | None] = []
    for block in blocks:
        if not isinstance(block, Heading):
            ids.append(None)
            continue
        base = candidate = anchor(block)
        n = 1
        while candidate in used:  # a heading 'X 2' may already hold 'x-2'
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate)
        ids.append(candidate)
    return ids


def render_html(document: Document) -> str:
    """One static HTML page: no scripts, figures embedded as base64 PNGs."""
    style = resources.files("ephys2type").joinpath("resources", "report.css").read_text()
    parts = [f"<h1>{html.escape(document.title)}</h1>"]
    ids = unique_anchors(document.blocks)
    # a navigation link goes to the first heading of its text
    first = {}
    for block, block_id in zip(document.blocks, ids, strict=True):
        if block_id is not None:
            first.setdefault(block, block_id)
    parts += [
        _html_block(block, document, block_id, first)
        for block, block_id in zip(document.blocks, ids, strict=True)
    ]
    body = "\n".join(parts)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(document.title)}</title><style>{style}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def render_markdown(document: Document) -> str:
    """The Markdown twin: the same text, tables and figure links (no navigation)."""
    parts = [f"# {document.title}\n"]
    for block in document.blocks:
        parts += _markdown_block(block)
    return "\n".join(parts) + "\n"


def _html_block(
    block: Block, document: Document, block_id: str | None, first: dict[Heading, str]
) -> str:
    esc = html.escape
    match block:
        case Heading(text, level):
            return f'<h{level} id="{block_id}">{esc(text)}</h{level}>'
        case Paragraph(text, style):
            attr = f' class="{style}"' if style else ""
            return f"<p{attr}>{esc(text)}</p>"
        case Bullets(items):
            return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>"
        case Table(header, rows, caption):
            cap = f"<caption>{esc(caption)}</caption>" if caption else ""
            head = "".join(f"<th>{esc(h)}</th>" for h in header)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows
            )
            return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        case Figures(paths, caption, wide):
            cls = "figure wide" if wide else "figure"
            cells = []
            for rel in paths:
                data = base64.b64encode((document.root / rel).read_bytes()).decode()
                cells.append(
                    f'<figure class="{cls}"><img alt="{esc(rel)}" '
                    f'src="data:image/png;base64,{data}"><figcaption>{esc(rel)}</figcaption>'
                    "</figure>"
                )
            cap = f"<p class='caption'>{esc(caption)}</p>" if caption else ""
            return f"<div class='figures'>{''.join(cells)}</div>{cap}"
        case Navigation(links):
            return (
                "<nav>"
                + "".join(
                    f"<a href='#{first.get(n.heading, anchor(n.heading))}'>{esc(n.label)}</a>"
                    for n in links
                )
                + "</nav>"
            )
    raise TypeError(f"not a report block: {block!r}")


def _markdown_block(block: Block) -> list[str]:
    match block:
        case Heading(text, level):
            return [f"\n{'#' * level} {text}\n"]
        case Paragraph(text):
            return [f"\n{text}\n"]
        case Bullets(items):
            return ["\n" + "\n".join(f"- {item}" for item in items) + "\n"]
        case Table(header, rows, caption):
            lines = [
                f"\n{caption}\n" if caption else "",
                "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header),
            ]
            lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in rows]
            return ["\n".join(lines) + "\n"]
        case Figures(paths):
            return [f"![{rel}]({rel})" for rel in paths]
        case Navigation():
            return []
    raise TypeError(f"not a report block: {block!r}")
