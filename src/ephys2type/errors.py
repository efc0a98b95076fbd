"""Exceptions that carry a one-line, user-facing explanation.

Every problem caused by the user's input (a missing file, a checksum mismatch, a bad
column, an unknown label, ...) is raised as an :class:`Ephys2TypeError`. The command line
prints its message as one line and exits with status 2; Python callers can catch it.
Anything else that escapes is a bug in ephys2type. Problems that do not stop a run are
:class:`Ephys2TypeWarning` warnings (the command line prints them as one ``warning:`` line).
"""

from __future__ import annotations

import re


class Ephys2TypeError(ValueError):
    """A problem with the user's input, explained in one line."""


class DataFileError(Ephys2TypeError):
    """A reference data file is missing, unreadable or fails its SHA-256 check."""


class TableError(Ephys2TypeError):
    """A feature or label table is malformed (column, row and value are named)."""


class SchemaError(Ephys2TypeError):
    """A feature schema, label scheme or QC rule file is invalid or does not fit the data."""


class ModelFileError(Ephys2TypeError):
    """A saved model folder is missing, corrupted, or not something ephys2type wrote."""


class OutputExistsError(Ephys2TypeError):
    """Writing would overwrite something the user already has."""


class Ephys2TypeWarning(UserWarning):
    """Something the user should know about their input, which did not stop the run."""


#: The Python argument a message names beside a command-line option, `` (mapping=...)``:
#: for the API's users; on the command line and in the app the option alone is the fix.
_PYTHON_ARGUMENT = re.compile(r" \(\w+=\.\.\.\)")


def one_line(message: object) -> str:
    """A message as the command line (and the app) shows it: on one line, its options
    without the Python argument names beside them."""
    return _PYTHON_ARGUMENT.sub("", " ".join(str(message).split()))
