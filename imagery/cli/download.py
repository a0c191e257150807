"""``portwatch scenes`` and ``portwatch fetch``: Sentinel Hub search and download."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from imagery.aoi import get_aoi

_DATE = click.DateTime(formats=["%Y-%m-%d"])


def _common(func):
    options = [
        click.option(
            "--aoi", "aoi_id", required=True, help="AOI id from the catalogue, or a GeoJSON file."
        ),
        click.option(
            "--sensor",
            type=click.Choice(["s1", "s2"]),
            required=True,
            help="s1 (radar) or s2 (optical).",
        ),
        click.option("--start", type=_DATE, required=True, help="First day, YYYY-MM-DD (UTC)."),
        click.option(
            "--end", type=_DATE, required=True, help="Last day, YYYY-MM-DD (UTC), inclusive."
        ),
        click.option(
            "--max-cloud",
            "max_cloud",
            type=click.FloatRange(0, 100),
            help="S2: max cloud cover, percent.",
        ),
        click.option("--orbit", type=click.IntRange(1, 175), help="Keep one relative orbit only."),
        click.option(
            "--direction",
            type=click.Choice(["ascending", "descending", "asc", "dsc"], case_sensitive=False),
            help="Keep one orbit direction only.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _check(sensor: str, max_cloud: float | None) -> None:
    if max_cloud is not None and sensor != "s2":
        raise click.UsageError("--max-cloud applies to --sensor s2 only")


@click.command("scenes")
@_common
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def scenes(
    aoi_id: str,
    sensor: str,
    start: datetime,
    end: datetime,
    max_cloud: float | None,
    orbit: int | None,
    direction: str | None,
    as_json: bool,
) -> None:
    """List Sentinel Hub acquisitions over an AOI (Catalog API), one row per pass."""
    from imagery.sources import search_scenes

    _check(sensor, max_cloud)
    found = search_scenes(
        get_aoi(aoi_id),
        sensor,
        start.date(),
        end.date(),
        max_cloud_pct=max_cloud,
        orbit=orbit,
        direction=direction,
    )
    if as_json:
        click.echo(json.dumps([a.to_dict() for a in found], indent=2))
        return
    if sensor == "s1":
        click.echo(
            f"{'datetime (UTC)':<20} {'platform':<8} {'direction':<10} {'rel.orbit':>9} {'slices':>6}  id"
        )
        for a in found:
            rel = a.relative_orbit if a.relative_orbit is not None else "?"
            click.echo(
                f"{a.start:%Y-%m-%d %H:%M:%S}  {a.platform:<8} {a.orbit_direction or '?':<10} {rel:>9} "
                f"{len(a.item_ids):>6}  {a.id}"
            )
    else:
        click.echo(
            f"{'datetime (UTC)':<20} {'platform':<8} {'rel.orbit':>9} {'tile':<6} {'cloud %':>7} {'tiles':>5}  id"
        )
        for a in found:
            rel = a.relative_orbit if a.relative_orbit is not None else "?"
            cloud = f"{a.cloud_cover:.1f}" if a.cloud_cover is not None else "?"
            click.echo(
                f"{a.start:%Y-%m-%d %H:%M:%S}  {a.platform:<8} {rel:>9} {a.tile or '?':<6} {cloud:>7} "
                f"{len(a.item_ids):>5}  {a.id}"
            )
    click.echo(f"{len(found)} acquisition(s)")


def _printer():
    """A progress hook: a rich bar on a terminal, one line per acquisition otherwise."""
    if sys.stderr.isatty():
        from rich.progress import Progress

        bar = Progress(transient=True)
        task = None

        def show(event) -> None:
            nonlocal task
            if task is None:
                bar.start()
                task = bar.add_task("fetching", total=event.total)
            if event.result.status == "fetching":
                bar.update(task, description=event.result.acquisition.label)
            else:
                bar.advance(task)
                bar.console.print(f"{event.result.status:<8} {event.result.acquisition.label}")
            if event.index == event.total and event.result.status != "fetching":
                bar.stop()

        return show

    def echo(event) -> None:
        if event.result.status != "fetching":
            click.echo(
                f"[{event.index}/{event.total}] {event.result.status:<8} {event.result.acquisition.label}",
                err=True,
            )

    return echo


@click.command("fetch")
@_common
@click.option(
    "--store",
    required=True,
    type=click.Path(file_okay=False, writable=True),
    help="Imagery store folder (created when missing).",
)
@click.pass_context
def fetch(
    ctx: click.Context,
    aoi_id: str,
    sensor: str,
    start: datetime,
    end: datetime,
    max_cloud: float | None,
    orbit: int | None,
    direction: str | None,
    store: str,
) -> None:
    """Download every acquisition over an AOI into STORE as COGs (Process API, UTM grid, 10 m).

    Scenes already in the store and valid are skipped; damaged ones are fetched again.
    Exits 1 if any acquisition failed.
    """
    from imagery.sources import fetch_scenes

    _check(sensor, max_cloud)
    summary = fetch_scenes(
        get_aoi(aoi_id),
        sensor,
        start.date(),
        end.date(),
        store,
        max_cloud_pct=max_cloud,
        orbit=orbit,
        direction=direction,
        progress=_printer(),
    )
    click.echo(summary.headline())
    for result in summary.fetched:
        click.echo(f"  fetched  {result.path}")
    for result in summary.empty:
        click.echo(f"  empty    {result.acquisition.label}: {result.reason}")
    for result in summary.failed:
        click.echo(f"  FAILED   {result.acquisition.label}: {result.reason}")
    if not summary.ok:
        ctx.exit(1)
