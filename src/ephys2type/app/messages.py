"""What the page says to the user, worded as the command line words it, its fixes named as
the page's controls (:data:`PAGE_WORDS`: "the 'Cell id column' box", not "--id-column").

Our warnings (:class:`~ephys2type.errors.Ephys2TypeWarning`) become ``warning:`` lines and
our errors (:class:`~ephys2type.errors.Ephys2TypeError`) one ``error:`` line, as the
command line prints them; other libraries' warnings are not the user's business and are
dropped; anything else is an internal error, said in one line. File paths inside the app's
working folder are shown as the file names the user uploaded, so a message reads as the
command line would print it for the same files in the current folder.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ephys2type.errors import Ephys2TypeError, Ephys2TypeWarning
from ephys2type.errors import one_line as command_line_words

#: The command line's fixes in the page's words (pattern, replacement), in order: a
#: message that says "name it with --id-column" sends a browser user to a flag they cannot
#: type (new-user trial); the page has a control for each of these.
PAGE_WORDS: tuple[tuple[str, str], ...] = (
    (r"say so with --id-column ([^\s;,)]+)", r"type \1 in the 'Cell id column' box (More options)"),
    (r"--id-column", "the 'Cell id column' box (More options)"),
    (r"with --sheet \(predict, data check\)", "in the 'Sheet' box (More options)"),
    (r"--obsm KEY|--obsm", "the 'Features in this .obsm data frame' box (More options)"),
    (r"(?:predict )?--checks(?![\w-])", "the 'Recording checks' upload"),
    (r"--call-failed-checks", "the box 'Call cells that failed a recording check'"),
    (
        r'change its line there to: (".*?" = \{ feature = ".*?", unit = "(.*?)" \})',
        r"give it the unit \2 in the page's mapping table ('Its columns are': mapped here, "
        r"column by column; or this line in your mapping file: \1)",
    ),
    (
        r"declare its unit with a line under the \[columns\] table of [^:]*: "
        r'(".*?" = \{ feature = ".*?", unit = "(.*?)" \})',
        r"give it the unit \2 in the page's mapping table ('Its columns are': mapped here, "
        r"column by column; or this line in a mapping file: \1)",
    ),
    (
        r"--mapping map\.toml|a --mapping file|--mapping",
        "a mapping ('Its columns are': a mapping file, or mapped here, column by column)",
    ),
    (
        r"`?ephys2type data families --species [\w|]+`?",
        "the list above the page's mapping table ('Its columns are': mapped here)",
    ),
    (r"\(ephys2type train --species (\w+)\)", r"(the bundled model: Species \1)"),
    (r"\(ephys2type train --features aligned\)", "(a model folder trained on aligned features)"),
    (r"--sweep-qc (\w+)", r"the Sweep QC choice '\1'"),
    (
        r"compute its features first with 'ephys2type features .*? --out features\.csv' and "
        r"give that file",
        "give it as recordings (ABF, NWB) under 'Your cells as'",
    ),
    (r" \(ephys2type features --schema \w+(?:; in Python, [^)]*\))?\)", ""),
    (r"with --schema (\w+)", r"with the \1 schema"),
)


def page_words(text: str) -> str:
    """``text`` with the command line's fixes (:data:`PAGE_WORDS`) named as the page's
    controls."""
    for pattern, replacement in PAGE_WORDS:
        text = re.sub(pattern, replacement, text)
    return text


def one_line(message: object, workdir: str | Path | None = None) -> str:
    """``message`` on one line as the page shows it: as the command line words it, its fixes
    in the page's words, paths below ``workdir`` relative to it."""
    text = page_words(command_line_words(message))
    if workdir is not None:
        text = text.replace(str(workdir) + os.sep, "").replace(str(workdir), ".")
    return text


def error_line(exc: BaseException, workdir: str | Path | None = None) -> str:
    """The one line the command line prints for ``exc`` (without its ``error:``)."""
    if isinstance(exc, Ephys2TypeError):
        return one_line(exc, workdir)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return one_line(
        f"internal error ({type(exc).__name__}: {exc}); this is a bug in ephys2type", workdir
    )


@contextmanager
def user_warnings(into: list[str], workdir: str | Path | None = None) -> Iterator[list[str]]:
    """Collect our warnings raised in the block into ``into`` (one line each, in order);
    every other warning is dropped. Not thread-safe (Python's warning filters are global):
    the app does one piece of work at a time."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", Ephys2TypeWarning)
        try:
            yield into
        finally:
            into.extend(
                one_line(w.message, workdir)
                for w in caught
                if issubclass(w.category, Ephys2TypeWarning)
            )
