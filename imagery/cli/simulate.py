"""``portwatch simulate``: write sample scenes of a port with their truth."""

from __future__ import annotations

import click

from imagery.aoi import get_aoi
from imagery.cli.guards import check_output, writing
from imagery.simulate import simulate_pair, simulate_series, write_simulation


@click.command("simulate")
@click.option(
    "--aoi", "aoi_id", required=True, help="AOI id from the catalogue, or a GeoJSON file."
)
@click.option(
    "--sensor", type=click.Choice(["s1", "s2"]), required=True, help="Sentinel-1 or Sentinel-2."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (>= 0).")
@click.option("--size", "size_px", type=int, default=512, show_default=True, help="Grid side, px.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(),
    help="Folder to write the scenes and truth into.",
)
@click.option(
    "--dates", type=int, default=None, help="Simulate a series of N >= 3 dates instead of a pair."
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date of the first scene, YYYY-MM-DD [default: 2024-06-01].",
)
@click.option(
    "--windy",
    is_flag=True,
    help="S1: a sea under a 7-15 m/s wind, as bright as the land in VV.",
)
def simulate(
    aoi_id: str,
    sensor: str,
    seed: int,
    size_px: int,
    out_dir: str,
    dates: int | None,
    start,
    windy: bool,
) -> None:
    """Simulate a before/after pair (or a series) of a port at 10 m, with truth.

    Writes GeoTIFFs on the AOI's UTM grid, truth.geojson of what is new in each later
    scene, departed.geojson, the objects of each scene, water.tif and simulation.json.
    """
    if windy and sensor != "s1":
        raise click.UsageError("--windy simulates a Sentinel-1 sea; use it with --sensor s1")
    check_output(out_dir)
    aoi = get_aoi(aoi_id)
    first = start.date() if start is not None else None
    if dates is None:
        sim = simulate_pair(
            aoi, sensor=sensor, seed=seed, size_px=size_px, start=first, windy=windy
        )
    else:
        sim = simulate_series(
            aoi, sensor=sensor, seed=seed, dates=dates, size_px=size_px, start=first, windy=windy
        )
    with writing(out_dir):
        paths = write_simulation(sim, out_dir)
    keys = [f"t{i:02d}" for i in range(len(sim.scenes))] if sim.is_series else ["before", "after"]
    scenes = [paths[k] for k in keys]
    click.echo(
        f"{sim.sensor.upper()} {aoi.id} seed {sim.seed}: {len(sim.scenes)} scenes "
        f"{sim.size_px} x {sim.size_px} px at {sim.resolution_m:g} m ({sim.crs.to_string()}) "
        f"in {paths['simulation'].parent}"
    )
    for i, scene in enumerate(sim.scenes):
        dx, dy = sim.shifts_px[i]
        click.echo(
            f"  {scenes[i].name:<20} {scene.time:%Y-%m-%d %H:%M}Z  shift "
            f"({dx:+.2f}, {dy:+.2f}) px  calibration {sim.calibration_db[i]:+.2f} dB"
        )
    for i, (new, gone) in enumerate(zip(sim.truth, sim.departed, strict=True), start=1):
        vessels = int((new["kind"] == "vessel").sum())
        cargo = int((new["kind"] == "cargo").sum())
        hidden = len(sim.occluded[i - 1])
        note = f" ({hidden} more changes hidden by cloud)" if hidden else ""
        click.echo(
            f"  new in scene {i}: {vessels} vessels, {cargo} cargo; departed: {len(gone)} vessels{note}"
        )
    click.echo(f"  truth: {paths['truth'].name}, record: {paths['simulation'].name}")
