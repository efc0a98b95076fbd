"""Every command has readable ``--help``."""

from __future__ import annotations

import re

import pytest

from ephys2type.cli import app
from ephys2type.cli.data import data_app

COMMANDS = [(c.name,) for c in app.registered_commands] + [
    ("data", c.name) for c in data_app.registered_commands
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(run_cli, command):
    result = run_cli(*command, "--help")
    assert result.code == 0, result
    assert f"Usage: ephys2type {' '.join(command)}" in result.out
    assert "--help" in result.out
    assert "<bool>" not in result.out  # flags take no value: shown bare, not as `--force <bool>`
    # one example of the command itself, and the defaults of its options
    assert f"Example: ephys2type {' '.join(command)}" in " ".join(result.out.split())
    if command not in (("report",), ("data", "fetch")):  # these have no defaulted options
        assert "[default:" in result.out


@pytest.mark.parametrize("typer_app", [app, data_app], ids=["ephys2type", "data"])
def test_help_paragraphs_are_reflowed(typer_app):
    for command in typer_app.registered_commands:
        paragraphs = command.help.split("\n\n")
        assert command.help.strip() and all("\n" not in p for p in paragraphs), command.name


def test_root_help_shows_flags_bare(run_cli):
    out = run_cli("--help").out
    assert "--version" in out and "<bool>" not in out


def test_bare_flags_still_switch(run_cli):
    """The empty metavar changes the help only: flags still parse, unknown ones still fail."""
    result = run_cli("data", "info", "--no-such-flag")
    assert result.code == 2 and "No such option" in result.err
    assert run_cli("evaluate", "--list-models").code == 0


def test_version(run_cli):
    from ephys2type import __version__

    result = run_cli("--version")
    assert result.code == 0 and result.out.strip() == f"ephys2type {__version__}"
    # python -m ephys2type is the same command line (a trial: it had no __main__)
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "ephys2type", "--version"], capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout.strip() == f"ephys2type {__version__}"


def test_help_says_what_each_force_replaces_and_the_model_default(run_cli):
    def flat(*args):  # help text without the table borders, one line
        out = run_cli(*args, "--help").out
        return " ".join(re.sub("[│╭╮╰╯─]", " ", out).split())

    assert "Replace the model folder if it exists" in flat("train")
    assert "Replace the --out predictions file if it exists" in flat("predict")
    assert "(see --list-models; default: rf)" in flat("evaluate")


def test_jobs_default_is_the_same_everywhere(run_cli):
    for command in ("evaluate", "transfer", "reproduce"):
        out = " ".join(re.sub("[│╭╮╰╯─]", " ", run_cli(command, "--help").out).split())
        assert "identical to a serial run). [default: 2]" in out, command


def test_library_warnings_stay_off_the_terminal_and_the_hook_is_restored(run_cli, monkeypatch):
    """A library's warning during a command is not shown; ours are; the process's
    warning hook is the same after the command as before."""
    import warnings

    from ephys2type.data import schema as schema_module
    from ephys2type.errors import Ephys2TypeWarning

    before = warnings.showwarning
    real = schema_module.get_schema

    def noisy(*args, **kwargs):
        warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=1)
        warnings.warn("a message for the user", Ephys2TypeWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(schema_module, "get_schema", noisy)
    result = run_cli("data", "families", "--species", "mouse")
    assert result.code == 0, result
    assert "Mean of empty slice" not in result.err
    assert "warning: a message for the user" in result.err
    assert warnings.showwarning is before
