"""Griffe extension for the API reference: numpy-style entries written on one line.

Many docstrings of the package list parameters compactly, ``name : what it is``, with no type
and no indented description below; the numpy parser would read ``what it is`` as a type.
Such an entry (the next line not indented deeper) becomes ``name`` with ``what it is`` as its
description, so the reference shows it as prose. Proper entries (``name : type`` with an
indented description) are left as they are.
"""

from __future__ import annotations

import re

import griffe

_SECTIONS = {"Parameters", "Attributes", "Other Parameters", "Returns", "Raises"}
_ENTRY = re.compile(r"^(?P<indent>\s*)(?P<names>[\w*][\w*, ]*?) : (?P<text>.+)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def compact_to_numpy(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    section = None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt.strip() and set(nxt.strip()) == {"-"}:
            section = line.strip()
        match = _ENTRY.match(line)
        following = next((n for n in lines[i + 1 :] if n.strip()), "")
        if section in _SECTIONS and match and _indent(following) <= _indent(line):
            out.append(f"{match['indent']}{match['names']}")
            out.append(f"{match['indent']}    {match['text']}")
            continue
        out.append(line)
    return "\n".join(out)


class CompactEntries(griffe.Extension):
    def on_instance(self, *, node, obj, agent, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = compact_to_numpy(obj.docstring.value)
