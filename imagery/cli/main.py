"""Entry point of the ``portwatch`` command line.

Every command is a thin shell over one library function. Errors portwatch raises on
purpose print as one line naming the file and the problem and exit with status 1
(2 for usage errors, as click does); ``-v`` shows the traceback too.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from imagery import __version__
from imagery.errors import PortwatchError

# name -> (module, attribute) of each subcommand. Imported only when used, so a
# command's heavy dependencies (sentinelhub, dask) do not slow every other command.
COMMANDS: dict[str, tuple[str, str]] = {
    "aoi": ("imagery.cli.aoi", "aoi"),
    "simulate": ("imagery.cli.simulate", "simulate"),
    "coregister": ("imagery.cli.coregister", "coregister"),
    "vessels": ("imagery.cli.detect", "vessels"),
    "detect": ("imagery.cli.detect", "detect"),
    "demo": ("imagery.cli.demo", "demo"),
    "scenes": ("imagery.cli.download", "scenes"),
    "fetch": ("imagery.cli.download", "fetch"),
    "store": ("imagery.cli.store", "store"),
    "review": ("imagery.cli.review", "review"),
    "batch": ("imagery.cli.batch", "batch"),
}


class PortwatchGroup(click.Group):
    """A click group that loads its commands lazily and prints errors as one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PortwatchError as exc:
            verbosity = (ctx.obj or {}).get("verbosity", 0)
            if verbosity > 0:
                logging.getLogger("imagery").exception("failed")
            click.echo(f"portwatch: error: {exc}", err=True)
            ctx.exit(1)


def configure_logging(verbosity: int) -> None:
    """Map -v/-q counts to log levels on the ``imagery`` logger."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(verbosity, 2)), logging.DEBUG
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("imagery")
    root.handlers[:] = [h for h in root.handlers if isinstance(h, logging.NullHandler)]
    root.addHandler(handler)
    root.setLevel(level)


@click.group(cls=PortwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More output; -v also shows tracebacks.")
@click.option("-q", "--quiet", count=True, help="Less output.")
@click.version_option(__version__, prog_name="portwatch")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """portwatch: flag what is new in a port between two satellite passes."""
    verbosity = verbose - quiet
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbosity
    configure_logging(verbosity)


if __name__ == "__main__":
    cli()
