"""``portwatch aoi list|show``: the port catalogue."""

from __future__ import annotations

import json

import click

from imagery.aoi import get_aoi, load_catalogue


@click.group("aoi")
def aoi() -> None:
    """The port catalogue (areas of interest)."""


@aoi.command("list")
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False), help="Another catalogue folder."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(directory: str | None, as_json: bool) -> None:
    """List the ports in the catalogue."""
    catalogue = load_catalogue(directory)
    rows = [
        {
            "id": a.id,
            "name": a.name,
            "country": a.country,
            "locode": a.locode,
            "area_km2": round(a.area_km2, 2),
        }
        for a in catalogue.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'id':<12} {'name':<32} {'country':<12} {'locode':<7} {'km2':>7}")
    for r in rows:
        click.echo(
            f"{r['id']:<12} {r['name']:<32} {r['country']:<12} {r['locode'] or '-':<7} "
            f"{r['area_km2']:>7.2f}"
        )


@aoi.command("show")
@click.argument("aoi_id")
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False), help="Another catalogue folder."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(aoi_id: str, directory: str | None, as_json: bool) -> None:
    """Show one port: AOI_ID from the catalogue, or a path to your own GeoJSON file."""
    a = get_aoi(aoi_id, directory=directory)
    info = {
        "id": a.id,
        "name": a.name,
        "country": a.country,
        "locode": a.locode,
        "reason": a.reason,
        "bounds": [round(v, 6) for v in a.bounds],
        "area_km2": round(a.area_km2, 3),
        "utm_epsg": a.utm_epsg,
        "has_water_polygon": a.water is not None,
        "file": str(a.path) if a.path else None,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    w, s, e, n = info["bounds"]
    click.echo(f"{a.name} [{a.id}]  {a.country}  {a.locode or 'no UN/LOCODE'}")
    click.echo(f"  why watched : {a.reason}")
    click.echo(f"  bounds      : west {w} south {s} east {e} north {n} (WGS84 lon/lat)")
    click.echo(f"  area        : {info['area_km2']} km2")
    click.echo(f"  UTM EPSG    : {a.utm_epsg}")
    click.echo(f"  water mask  : {'polygon' if a.water is not None else 'from imagery'}")
    click.echo(f"  file        : {info['file']}")
