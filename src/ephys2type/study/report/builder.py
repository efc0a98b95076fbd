"""Building blocks of the reproduction report: the paper's numbers, verdicts derived from
paired tests, and :class:`ReportBuilder`, which writes HTML and Markdown side by side.

Every number carries its protocol (species, labels, split plan, seeds, cells). Verdicts
("beats", "is worse than", "is not distinguishable from") are derived from the paired
corrected t-test's 95% interval, never written by hand.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from ephys2type.evaluation.stats import format_difference, format_p, format_summary

#: The study we reproduce, as our reference copy names it (it gives no arXiv identifier).
STUDY = (
    'Schwider T. & Ramezani R. (2026), "Cross-Species Transfer Learning for '
    'Electrophysiology-to-Transcriptomics Mapping in Cortical GABAergic Interneurons", '
    "cs.LG preprint"
)

#: Published numbers of the study we reproduce (Schwider & Ramezani 2026), in percent.
PAPER = {
    "mouse_cells": 3699,
    "human_cells": 506,
    "mouse_rf_accuracy": 90.72,
    "mouse_bilstm_smote_accuracy": 92.35,
    "human_rf_accuracy": 75.18,
    "human_bilstm_smote_macro_f1": 67.54,
    "transfer_human_only_macro_f1": 65.80,
    "transfer_macro_f1": 67.95,
}


def load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fmt_pct(summary: dict[str, Any] | None) -> str:
    return format_summary(summary)


def fmt_gain(c: dict[str, Any] | None) -> str:
    return format_difference(c, with_p=True)


def because(c: dict[str, Any] | None) -> str:
    """'(difference -0.31 points, 95% CI -1.69 to +1.08, p = 0.44)'."""
    if not c:
        return "(no paired comparison available)"
    if c.get("ci_low") is None or c.get("ci_high") is None:
        return f"(difference {100 * c['mean_diff']:+.2f} points; one fit, no CI)"
    return (
        f"(difference {100 * c['mean_diff']:+.2f} points, 95% CI {100 * c['ci_low']:+.2f} to "
        f"{100 * c['ci_high']:+.2f}, p = {format_p(c['p'])})"
    )


def paper_inside(paper: Any, summary: dict[str, Any] | None) -> str:
    """'yes'/'no': does the paper's value (in %) lie inside our 95% interval? '' if unknown."""
    if summary is None or not isinstance(paper, int | float):
        return ""
    low, high = summary.get("ci_low"), summary.get("ci_high")
    if low is None or high is None:
        return ""
    return "yes" if 100 * low <= paper <= 100 * high else "no"


def verdict(c: dict[str, Any] | None) -> str:
    """'beats', 'is worse than' or 'is not distinguishable from' (95% CI of the difference)."""
    if not c or c["ci_low"] is None:
        return "cannot be compared with"
    if c["ci_low"] > 0:
        return "beats"
    if c["ci_high"] < 0:
        return "is worse than"
    return "is not distinguishable from"


def find_comparison(metrics: dict[str, Any], a: str, b: str, metric: str) -> dict[str, Any] | None:
    for c in metrics.get("comparisons", []):
        if c["metric"] == metric and {c["a"], c["b"]} == {a, b}:
            if c["a"] == a:
                return c
            return {
                **c,
                "a": a,
                "b": b,
                "mean_diff": -c["mean_diff"],
                "ci_low": -c["ci_high"],
                "ci_high": -c["ci_low"],
                "t": -c["t"],
            }
    return None


def protocol_text(metrics: dict[str, Any]) -> str:
    d, p = metrics["dataset"], metrics["protocol"]
    text = (
        f"{d['species']}, labels {d['label_scheme']}, QC {d['qc_profile']}, "
        f"{d['features']} features, {d['n_cells']} cells; {p['description']}"
    )
    fewer = p.get("fewer_fits") or {}
    if fewer:
        names = ", ".join(fewer)
        text += (
            f"; {names} on the first seed only ({min(fewer.values())} fits, compared with the "
            "other models on those folds)"
        )
    return text


class ReportBuilder:
    """Collects sections as (HTML, Markdown) pairs and figures to embed."""

    def __init__(self, root: Path):
        self.root = root
        self.html: list[str] = []
        self.md: list[str] = []
        self._anchors: list[str] = []  # of the level-2 headings, in page order
        self._nav: list[tuple[str, str]] = []  # (anchor, label) of each written section
        self._nav_at: int | None = None

    def heading(self, text: str, level: int = 2) -> None:
        anchor = "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")
        if level == 2:
            self._anchors.append(anchor)
        self.html.append(f'<h{level} id="{anchor}">{html.escape(text)}</h{level}>')
        self.md.append(f"\n{'#' * level} {text}\n")

    def nav_here(self) -> None:
        """Put the page's navigation here: a link to each section written (HTML only)."""
        self._nav_at = len(self.html)

    def section(self, label: str, render: Callable[[], None]) -> None:
        """Write a section with ``render``; if it wrote a heading, the navigation links
        ``label`` to its first one (a section with nothing to show gets no link)."""
        before = len(self._anchors)
        render()
        if len(self._anchors) > before:
            self._nav.append((self._anchors[before], label))

    def para(self, text: str, cls: str = "") -> None:
        attr = f' class="{cls}"' if cls else ""
        self.html.append(f"<p{attr}>{html.escape(text)}</p>")
        self.md.append(f"\n{text}\n")

    def bullets(self, items: list[str]) -> None:
        if not items:
            return
        lis = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        self.html.append(f"<ul>{lis}</ul>")
        self.md.append("\n" + "\n".join(f"- {item}" for item in items) + "\n")

    def table(self, header: list[str], rows: list[list[Any]], caption: str = "") -> None:
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        self.html.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        md = [
            f"\n{caption}\n" if caption else "",
            "| " + " | ".join(map(str, header)) + " |",
            "|" + "---|" * len(header),
        ]
        md += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
        self.md.append("\n".join(md) + "\n")

    def figures(self, paths: list[Path], caption: str = "", *, wide: bool = False) -> None:
        """Embed PNG figures side by side (``wide``: one figure across the page)."""
        cells = []
        cls = "figure wide" if wide else "figure"
        for path in paths:
            if not path.exists():
                continue
            data = base64.b64encode(path.read_bytes()).decode()
            rel = path.relative_to(self.root).as_posix()
            cells.append(
                f'<figure class="{cls}"><img alt="{html.escape(rel)}" src="data:image/png;base64,'
                f'{data}"><figcaption>{html.escape(rel)}</figcaption></figure>'
            )
            self.md.append(f"![{rel}]({rel})")
        if cells:
            cap = f"<p class='caption'>{html.escape(caption)}</p>" if caption else ""
            self.html.append(f"<div class='figures'>{''.join(cells)}</div>{cap}")

    def render_html(self, title: str) -> str:
        style = resources.files("ephys2type").joinpath("resources", "report.css").read_text()
        parts = list(self.html)
        if self._nav_at is not None:
            links = "".join(f"<a href='#{a}'>{html.escape(label)}</a>" for a, label in self._nav)
            parts.insert(self._nav_at, f"<nav>{links}</nav>")
        body = "\n".join(parts)
        return (
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{style}</style></head>"
            f"<body>{body}</body></html>\n"
        )
