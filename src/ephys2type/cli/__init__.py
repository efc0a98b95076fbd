"""The ``ephys2type`` command line.

Every command has ``--help``. Problems with the user's input end in one ``error:`` line on
stderr and exit status 2, never a traceback, and nothing the user had is overwritten.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from typing import Annotated

import typer
from typer.exceptions import TyperException

from ephys2type._version import __version__
from ephys2type.errors import Ephys2TypeError, Ephys2TypeWarning, one_line

from . import added as added_cmds
from . import app as app_cmds
from . import data as data_cmds
from . import evaluate as evaluate_cmds
from . import models as model_cmds
from . import recordings as recording_cmds
from . import reproduce as reproduce_cmds
from . import score as score_cmds
from . import transfer as transfer_cmds
from .flags import use_bare_flags

app = typer.Typer(
    name="ephys2type",
    help=(
        "Which transcriptomic type is this interneuron? Predict cortical GABAergic subclasses "
        "from Patch-seq electrophysiology (IPFX features), in mouse and human."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ephys2type {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    """Which transcriptomic type is this interneuron? Predict cortical GABAergic subclasses
    from Patch-seq electrophysiology (IPFX features), in mouse and human."""


app.add_typer(data_cmds.data_app, name="data")
app.command("qc")(data_cmds.qc)
app.command("evaluate")(evaluate_cmds.evaluate)
app.command("spca")(evaluate_cmds.spca)
app.command("transfer")(transfer_cmds.transfer)
app.command("features")(recording_cmds.features)
app.command("fetch-recordings")(recording_cmds.fetch_recordings)
app.command("train")(model_cmds.train)
app.command("evaluate-added")(added_cmds.evaluate_added)
app.command("predict")(model_cmds.predict)
app.command("score")(score_cmds.score)
app.command("reproduce")(reproduce_cmds.reproduce)
app.command("report")(reproduce_cmds.report)
app.command("app")(app_cmds.app)


def _reflow_help(*apps: typer.Typer) -> None:
    """Join the wrapped lines of each command's docstring into paragraphs.

    Typer's rich help keeps a docstring's line breaks and then wraps again at the terminal
    width, which leaves ragged half-empty lines; one paragraph per line wraps cleanly.
    """
    for sub in apps:
        for command in sub.registered_commands:
            doc = inspect.getdoc(command.callback) or ""
            command.help = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))


_reflow_help(app, data_cmds.data_app)
use_bare_flags(app, data_cmds.data_app)


def _error_line(message: str) -> None:
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, Ephys2TypeWarning):
        sys.stderr.write(f"warning: {one_line(message)}\n")
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning input errors into one line and exit 2."""
    try:
        with warnings.catch_warnings():  # restores the filters and showwarning on return
            warnings.showwarning = _show_warning
            if not os.environ.get("EPHYS2TYPE_DEBUG"):
                # a library's warning (deprecations, empty slices, ...) is not the user's
                # business: ours are the messages that matter
                warnings.simplefilter("ignore")
            # our warnings are messages to the user: always shown, never turned into errors
            warnings.simplefilter("always", Ephys2TypeWarning)
            code = app(args=argv, prog_name="ephys2type", standalone_mode=False)
    except TyperException as exc:  # typer's public base of its usage and parameter errors
        ctx, message = getattr(exc, "ctx", None), exc.format_message()
        if not message.strip():  # a group called without a command: typer showed its help
            raise SystemExit(0) from None
        if message.lstrip().startswith("Usage:"):  # the same, with plain (non-rich) help text
            sys.stdout.write(message + "\n")
            raise SystemExit(0) from None
        # bad option or value: one line, with where to get help
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _error_line(exc.format_message() + hint)
        raise SystemExit(exc.exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        _error_line("interrupted")
        raise SystemExit(130) from None
    except Ephys2TypeError as exc:
        _error_line(str(exc))
        raise SystemExit(2) from None
    except MemoryError:
        _error_line("out of memory")
        raise SystemExit(1) from None
    except Exception as exc:
        if os.environ.get("EPHYS2TYPE_DEBUG"):
            raise
        _error_line(
            f"internal error ({type(exc).__name__}: {exc}); this is a bug in ephys2type, "
            f"set EPHYS2TYPE_DEBUG=1 to see the traceback"
        )
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
