"""``portwatch store ls|verify``: the local imagery store."""

from __future__ import annotations

import json

import click

from imagery.store import list_scenes, verify_store

_STORE = click.argument("store_dir", metavar="STORE", type=click.Path(file_okay=False))


@click.group("store")
def store() -> None:
    """The local imagery store written by `portwatch fetch`."""


@store.command("ls")
@_STORE
@click.option("--aoi", "aoi_id", help="Only this AOI.")
@click.option("--sensor", type=click.Choice(["s1", "s2"]), help="Only this sensor.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls(store_dir: str, aoi_id: str | None, sensor: str | None, as_json: bool) -> None:
    """List the scenes in STORE (from their sidecars)."""
    scenes = list_scenes(store_dir, aoi_id=aoi_id, sensor=sensor)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in scenes], indent=2))
        return
    click.echo(
        f"{'aoi':<12} {'sensor':<6} {'date':<10} {'time':<8} {'platform':<8} {'orbit':<7} {'MB':>7}  file"
    )
    for s in scenes:
        click.echo(
            f"{s.aoi_id:<12} {s.sensor:<6} {s.date.isoformat():<10} {s.time:%H:%M:%S} {s.platform:<8} "
            f"{s.orbit:<7} {s.size_bytes / 1e6:>7.2f}  {s.path.name}"
        )
    click.echo(f"{len(scenes)} scene(s)")


@store.command("verify")
@_STORE
@click.pass_context
def verify(ctx: click.Context, store_dir: str) -> None:
    """Check every scene in STORE: sidecar, size, SHA-256, readable blocks. Exits 1 on any problem."""
    checked, problems = verify_store(store_dir)
    for problem in problems:
        click.echo(f"BAD {problem}")
    click.echo(f"{checked} file(s) checked, {len(problems)} problem(s)")
    if problems:
        ctx.exit(1)
