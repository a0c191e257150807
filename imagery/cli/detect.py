"""``portwatch vessels`` and ``portwatch detect``: vessels in one scene, what is new in a pair."""

from __future__ import annotations

import json
from pathlib import Path

import click

SENSOR = click.Choice(["s1", "s2"])


def _aoi(aoi_id: str | None):
    if aoi_id is None:
        return None
    from imagery.aoi import get_aoi

    return get_aoi(aoi_id)


@click.command("vessels")
@click.argument("scene", type=click.Path(dir_okay=False))
@click.option("--sensor", type=SENSOR, required=True, help="Sentinel-1 or Sentinel-2.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder."
)
@click.option(
    "--aoi", "aoi_id", help="AOI id or GeoJSON file (supplies a water polygon if it has one)."
)
@click.option("--pfa", type=float, default=None, help="CFAR false alarm probability per pixel.")
@click.option("--json", "as_json", is_flag=True, help="Print the vessels as JSON.")
def vessels(
    scene: str, sensor: str, out_dir: str, aoi_id: str | None, pfa: float | None, as_json: bool
) -> None:
    """Detect every vessel in one SCENE; writes OUT/vessels.gpkg (layer vessels)."""
    import dataclasses

    from imagery.io import read_raster
    from imagery.outputs import write_vessels
    from imagery.sensors import prepare
    from imagery.vessels import VesselParams, detect_vessels

    params = VesselParams()
    if pfa is not None:
        params = dataclasses.replace(params, pfa=pfa, s2_pfa=pfa)
    raster = prepare(read_raster(scene), sensor, source=scene)
    found = detect_vessels(raster, aoi=_aoi(aoi_id), params=params)
    path = write_vessels(found, out_dir)
    if as_json:
        cols = ["id", "score", "length_m", "width_m", "heading_deg", "lon", "lat", "time"]
        click.echo(found[cols].to_json(orient="records", indent=2))
        return
    click.echo(f"{len(found)} vessels in {scene}")
    click.echo(f"wrote {path} (layer vessels)")


@click.command("detect")
@click.argument("scenes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--sensor", type=SENSOR, required=True, help="Sentinel-1 or Sentinel-2.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Run folder."
)
@click.option("--aoi", "aoi_id", help="AOI id or GeoJSON file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def detect(
    scenes: tuple[str, ...], sensor: str, out_dir: str, aoi_id: str | None, as_json: bool
) -> None:
    """Flag new vessels and cargo between BEFORE and AFTER scenes.

    Writes OUT/detections.gpkg (layers detections, departed) and OUT/change.tif.
    """
    from imagery.detect import detect_pair
    from imagery.io import read_raster
    from imagery.outputs import write_pair_outputs

    if len(scenes) != 2:
        raise click.UsageError("give two scenes: BEFORE AFTER")
    before_path, after_path = scenes
    before = read_raster(before_path)
    after = read_raster(after_path)
    result = detect_pair(
        before, after, sensor=sensor, aoi=_aoi(aoi_id), names=(before_path, after_path)
    )
    paths = write_pair_outputs(result, out_dir)
    counts = result.detections["kind"].value_counts().to_dict()
    summary = {
        "before": before_path,
        "after": after_path,
        "new_vessels": int(counts.get("vessel", 0)),
        "new_cargo": int(counts.get("cargo", 0)),
        "departed": len(result.departed),
        "files": {k: str(v) for k, v in paths.items()},
        "registration": result.parameters.get("registration"),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(
        f"{summary['new_vessels']} new vessels, {summary['new_cargo']} new cargo stacks, "
        f"{summary['departed']} departed"
    )
    for name, path in paths.items():
        click.echo(f"  {name:<10} {Path(path)}")
