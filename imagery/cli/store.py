"""``portwatch store ls|verify``: the local imagery store."""

from __future__ import annotations

import json

import click

from imagery.store import list_scenes, verify_store

_STORE = click.argument("store_dir", metavar="STORE", type=click.Path(file_okay=False))


@click.group("store")
def store() -> None:
    """The local imagery store written by `portwatch fetch` and `store import`."""


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


@store.command("import")
@_STORE
@click.argument("products", nargs=-1, required=True, type=click.Path())
@click.option("--aoi", "aoi_id", required=True, help="AOI id or GeoJSON file to cut the scenes to.")
@click.option("--sensor", type=click.Choice(["s1", "s2"]), required=True, help="Sentinel-1 or -2.")
@click.option(
    "--s2-scale",
    type=float,
    default=None,
    help="Sentinel-2 reflectance per digital number. Default: L2A's 1e-4, or 1/65535 (EO "
    "Browser's 16-bit exports) for a file whose numbers no surface could reflect at 1e-4.",
)
@click.option("--platform", help="Platform for files whose name does not say (S1A, S2B ...).")
@click.option("--relative-orbit", type=int, help="Relative orbit for files that do not say.")
@click.option(
    "--direction",
    type=click.Choice(["asc", "dsc"]),
    help="S1 pass direction for files that do not say.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def import_products(
    ctx: click.Context,
    store_dir: str,
    products: tuple[str, ...],
    aoi_id: str,
    sensor: str,
    s2_scale: float | None,
    platform: str | None,
    relative_orbit: int | None,
    direction: str | None,
    as_json: bool,
) -> None:
    """Put downloaded PRODUCTS (.SAFE folders or zips, band folders, rasters) into STORE.

    Each is cut to the AOI on its UTM grid at 10 m, as `portwatch fetch` stores scenes,
    so that `detect --store` and `batch` pair them with fetched ones. Rerunning skips
    what is already stored; another slice or tile of a stored pass fills its gaps
    (merged); a product imported again with another --s2-scale replaces its scene. A
    product that fails is reported and the others go on (exit 1).
    """
    import dataclasses

    from imagery.errors import PortwatchError
    from imagery.imports import identify_product, import_scene
    from imagery.store import store_aoi

    if s2_scale is not None and sensor != "s2":
        raise click.UsageError("--s2-scale is for Sentinel-2 scenes (--sensor s2)")
    aoi = store_aoi(store_dir, aoi_id)
    rows, failed = [], 0
    for product in products:
        try:
            identity = identify_product(product, sensor)
            # The options fill in what a product's name and metadata do not say.
            unsaid = {
                "platform": platform.upper()
                if platform and identity.platform in ("S1", "S2")
                else None,
                "relative_orbit": relative_orbit if identity.relative_orbit is None else None,
                "direction": {"asc": "ASCENDING", "dsc": "DESCENDING"}.get(direction or "")
                if identity.direction is None
                else None,
            }
            identity = dataclasses.replace(identity, **{k: v for k, v in unsaid.items() if v})
            result = import_scene(
                store_dir, product, aoi, sensor, s2_scale=s2_scale, identity=identity
            )
        except PortwatchError as exc:
            failed += 1
            rows.append({"product": product, "status": "failed", "reason": str(exc)})
            continue
        rows.append({"product": product, "status": result.status, "scene": str(result.scene.path)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            detail = row.get("scene") or row.get("reason")
            click.echo(f"{row['status']:<9} {row['product']} -> {detail}")
        click.echo(f"{len(rows) - failed} stored, {failed} failed")
    if failed:
        ctx.exit(1)
