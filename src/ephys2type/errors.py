"""Exceptions that carry a one-line, user-facing explanation.

Every problem caused by the user's input (a missing file, a checksum mismatch, a bad
column, an unknown label, ...) is raised as an :class:`Ephys2TypeError`. The command line
prints its message as one line and exits with status 2; Python callers can catch it.
Anything else that escapes is a bug in ephys2type. Problems that do not stop a run are
:class:`Ephys2TypeWarning` warnings (the command line prints them as one ``warning:`` line).
"""

from __future__ import annotations


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
