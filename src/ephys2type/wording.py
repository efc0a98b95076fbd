"""How counts are said, the same in every layer that says them (the command line, the app,
the library's summary lines)."""

from __future__ import annotations

from collections.abc import Sequence


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 cell``, ``2 cells`` (``many``: the plural when it is not ``word + 's'``)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def listing(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(words) <= 2:
        return " and ".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def shown(names: Sequence, limit: int = 8) -> str:
    """The first ``limit`` names, comma-separated, with '...' when there are more."""
    return ", ".join(map(str, names[:limit])) + (", ..." if len(names) > limit else "")
