"""``portwatch review export`` and ``sync``: list the reviewed flags of an output tree, and
carry the marks saved in its run folders into each AOI's history."""

from __future__ import annotations

import click

from imagery.atomic import atomic_write_text
from imagery.cli.guards import check_output, writing
from imagery.errors import PortwatchError
from imagery.schema import STATUSES


@click.group("review")
def review() -> None:
    """Review packages: list the flags analysts marked in QGIS."""


@review.command("export")
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only flags with this review status (repeatable); all by default.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "geojson"]),
    default="csv",
    show_default=True,
    help="CSV (lon/lat columns) or GeoJSON (polygons, WGS84).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
def export(out: str, statuses: tuple[str, ...], fmt: str, output: str | None) -> None:
    """List the flags under OUT (an output tree or one run folder) with their marks."""
    from imagery.review.export import export_flags

    if output:
        check_output(output, is_file=True)
    text, count = export_flags(out, statuses=statuses or None, fmt=fmt)
    if output:
        with writing(output):
            atomic_write_text(output, text)
        click.echo(f"{count} flags written to {output}", err=True)
    else:
        click.echo(text, nl=False)


@review.command("sync")
@click.argument("out", type=click.Path(exists=True, file_okay=False))
def sync(out: str) -> None:
    """Carry the marks saved in OUT's run folders into each AOI's history.gpkg.

    OUT is an output tree (OUT/<aoi>/history.gpkg) or one AOI's folder. Nothing is run
    again; only the history's last_status, last_note and reviewed_in change.
    """
    from pathlib import Path

    from imagery.review.history import sync_marks

    root = Path(out)
    histories = sorted({*root.glob("history.gpkg"), *root.glob("*/history.gpkg")})
    if not histories:
        raise click.UsageError(f"{root}: no history.gpkg here or in its AOI folders")
    failed = False
    for path in histories:
        try:
            with writing(path.parent):
                result = sync_marks(path)
        except PortwatchError as exc:  # this AOI's history; the others are synced
            click.echo(f"Error: {exc}", err=True)
            failed = True
            continue
        click.echo(f"{path}: {result.rows} row(s) took a mark")
        for problem in result.unreadable:
            click.echo(f"Error: {problem}", err=True)
            failed = True
    if failed:
        raise click.exceptions.Exit(1)
