"""Help pages that show an on/off flag without a value type.

Typer 0.29 prints ``<bool>`` beside every flag (``--force  <bool>``), which reads as if the flag
took a value. A flag with an empty metavar is shown bare, as click and argparse show it; the
command classes below give every flag (``--help`` included) that empty metavar.
"""

from __future__ import annotations

import typer
from typer.core import TyperCommand, TyperGroup


def _bare_flags(params) -> None:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class _BareFlags:
    """Mixin: every flag of the command, ``--help`` included, gets an empty metavar."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _bare_flags(self.params)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            _bare_flags([option])
        return option


class FlagCommand(_BareFlags, TyperCommand):
    """A command whose help lists flags bare (no ``<bool>``)."""


class FlagGroup(_BareFlags, TyperGroup):
    """A command group whose help lists flags bare (no ``<bool>``)."""


def use_bare_flags(*apps: typer.Typer) -> None:
    """Make every command and group of ``apps`` list its flags bare."""
    for sub in apps:
        sub.info.cls = FlagGroup
        for command in sub.registered_commands:
            command.cls = FlagCommand
