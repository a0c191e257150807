"""``portwatch vessels`` and ``portwatch detect``: vessels in one scene, what is new in a pair."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import click

SENSOR = click.Choice(["s1", "s2"])


DIRECTION_HELP = (
    "S1 scenes that do not record their viewing geometry are from passes in this "
    "direction: ships are then placed over their hulls, not where layover draws "
    "their echoes."
)


def _viewed(raster, sensor: str, direction: str | None):
    """``raster`` with the look of an S1 pass in ``direction``, if it records none."""
    if direction is None or sensor != "s1":
        return raster
    from imagery.layover import with_pass_direction

    return with_pass_direction(raster, direction)


S2_SCALE_HELP = (
    "Sentinel-2 reflectance per digital number. Default: L2A's 1e-4, or 1/65535 (EO "
    "Browser's 16-bit exports) for a file whose numbers no surface could reflect at 1e-4."
)


#: Largest scene read whole (without --aoi), pixels; a series may hold as many pixels as
#: a pair of such scenes. Detection holds several float64 images of a scene's size: the
#: tile benchmark's peak, 1724 MB for two windows of a 1796 x 1796 px pair, is about 270
#: bytes a pixel of a pair, so a pair of 25 Mpx scenes needs some 7 GB. A 10980 x 10980
#: tile (121 Mpx) goes window by window (imagery.tiled).
MAX_WHOLE_SCENE_PX = 25_000_000


def _too_large(paths, sensor: str, aoi) -> str | None:
    """Why the scenes are too large to hold whole without an AOI (None: they are not),
    found before anything is read."""
    from imagery.grd import is_grd
    from imagery.io import raster_info

    if aoi is not None:
        return None
    sizes = []
    for path in paths:
        if sensor == "s1" and is_grd(path):
            continue  # refused by _read, which asks for --aoi
        info = raster_info(path, sensor=sensor)
        sizes.append((path, (info.width, info.height)))
    budget = MAX_WHOLE_SCENE_PX * min(2, len(paths))
    largest = max(sizes, key=lambda item: item[1][0] * item[1][1], default=None)
    total = sum(w * h for _, (w, h) in sizes)
    if largest is None or (largest[1][0] * largest[1][1] <= MAX_WHOLE_SCENE_PX and total <= budget):
        return None
    path, (width, height) = largest
    return (
        f"{path}: {width} x {height} px ({total / 1e6:.0f} Mpx in all) is more than these "
        f"commands hold in memory ({MAX_WHOLE_SCENE_PX / 1e6:.0f} Mpx a scene, "
        f"{2 * MAX_WHOLE_SCENE_PX / 1e6:.0f} Mpx in all)"
    )


def _refuse_grd_without_aoi(path: str, aoi) -> None:
    if aoi is None:
        raise click.UsageError(
            f"{path}: a Sentinel-1 GRD product (radar geometry, some 250 km): give --aoi, "
            "the area to calibrate and geocode"
        )


def _read(path: str, sensor: str, aoi):
    """The scene, or with an AOI only its part around the AOI (a product is a whole tile)."""
    from imagery.grd import is_grd, read_grd
    from imagery.io import read_raster, read_raster_around

    if sensor == "s1" and is_grd(path):
        _refuse_grd_without_aoi(path, aoi)
        return read_grd(path, aoi.bounds, crs=aoi.utm_crs)
    if aoi is None:
        return read_raster(path, sensor=sensor)
    return read_raster_around(path, aoi.bounds, sensor=sensor)


def _s2_scale(sensor: str, s2_scale: float | None) -> float | None:
    if s2_scale is not None and sensor != "s2":
        raise click.UsageError("--s2-scale is for Sentinel-2 scenes (--sensor s2)")
    return s2_scale


def _aoi(aoi_id: str | None):
    if aoi_id is None:
        return None
    from imagery.aoi import get_aoi

    return get_aoi(aoi_id)


def _when(time) -> str:
    return time.isoformat() if time is not None else "undated"


def _check_pair(scenes, times, *, history: bool) -> None:
    """Refuse, before anything is written, scenes that would make a wrong run: one file
    given twice, a pair out of time order, or (``history``) a scene without a time."""
    from imagery.errors import InputError

    for i, first in enumerate(scenes):
        for second in scenes[i + 1 :]:
            with contextlib.suppress(OSError):
                if os.path.samefile(first, second):
                    raise InputError(
                        f"{first} and {second}: the same scene given twice; "
                        "give scenes of different passes"
                    )
    if history:
        for path, time in zip(scenes, times, strict=True):
            if time is None:
                raise InputError(
                    f"{path}: no acquisition time (tag or date in the file name); --root "
                    "keeps the AOI's history by date, which needs the times of all scenes"
                )
    if len(scenes) == 2 and None not in times and times[0] > times[1]:
        raise InputError(
            f"{scenes[0]}: the before scene ({_when(times[0])}) is not earlier than the "
            f"after scene {scenes[1]} ({_when(times[1])}); give the earlier scene first"
        )
    if len(scenes) == 2 and None not in times and times[0] == times[1]:
        raise InputError(
            f"{scenes[0]} and {scenes[1]}: both acquired {_when(times[0])}; "
            "give scenes of two different passes"
        )


def _check_previous_run(run_dir: Path, sensor: str, times) -> None:
    """Refuse a run folder that holds the run of another pair: its review marks would be
    carried over, by place, to this pair's flags. The same pair again is a rerun."""
    from imagery.errors import OutputError
    from imagery.review.marks import read_flags
    from imagery.review.package import GPKG

    if len(times) > 2 and None in times:
        return  # refused by detect_series, which needs every date
    table = read_flags(run_dir / GPKG, "run")
    if table is None or not len(table):
        return
    row = table.iloc[0]
    held = tuple(str(row.get(key) or "") for key in ("sensor", "before_time", "after_time"))
    held_sensor, held_dates = held[0], (held[1][:10], held[2][:10])
    ends = times if len(times) == 2 else (min(times), max(times))
    dates = tuple(t.date().isoformat() if t is not None else "" for t in ends)
    if held_sensor not in ("", sensor) or held_dates != dates:
        held_text, text = (
            " -> ".join(d or "undated" for d in pair) for pair in (held_dates, dates)
        )
        raise OutputError(
            f"{run_dir} holds the run of {held_sensor or 'unknown sensor'} {held_text}; "
            f"write this pair ({sensor} {text}) to another --out"
        )


def _refuse_no_valid_pixel(raster, scene: str, sensor: str) -> None:
    """Refuse a prepared scene without one valid pixel (all GRD fill, say), as ``detect``
    does, rather than report that it holds no vessel."""
    from imagery.sensors import refuse_empty

    refuse_empty(raster, scene)


#: Pixels coarser than this (m) are warned of: the defaults are set for 10 m.
COARSE_PIXEL_M = 12.0


def _warn_coarse(raster, scene) -> None:
    """Say when a scene's pixels are coarser than the 10 m the defaults are set for:
    single S1 and S2 scenes averaged to 20 m lose about 40 % of the ships found at 10 m
    (benchmarks/README.md, session 39), coarser ones more."""
    from imagery.grid import pixel_size_m

    pixel_m = pixel_size_m(raster.transform, raster.crs, raster.shape)
    if pixel_m > COARSE_PIXEL_M:
        click.echo(
            f"portwatch: warning: {scene}: {pixel_m:.0f} m pixels; the defaults are set for "
            "Sentinel's 10 m, and at 20 m about 40 % of the ships found at 10 m are lost",
            err=True,
        )


def _previous_chips(run_dir: Path) -> list[Path]:
    """The chip PNGs the previous run in ``run_dir`` wrote: those its flags name
    (``chip_before``, ``chip_after`` of the detections and departed layers)."""
    from imagery.review.marks import read_flags
    from imagery.review.package import GPKG

    folder = (run_dir / "chips").resolve()
    found = []
    for layer in ("detections", "departed"):
        flags = read_flags(run_dir / GPKG, layer)
        if flags is None:
            continue
        for column in ("chip_before", "chip_after"):
            for name in flags.get(column, ()):
                if not isinstance(name, str) or not name.endswith(".png"):
                    continue
                path = (run_dir / name).resolve()
                if path.parent == folder and path not in found:
                    found.append(path)
    return found


def _remove_chips(chips: list[Path]) -> None:
    """Remove the chips a previous run wrote, which a run without chips leaves stale (its
    flags and report name none); their folder goes too when nothing else is left in it."""
    for path in chips:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    for folder in {path.parent for path in chips}:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


@click.command("vessels")
@click.argument("scene", type=click.Path())
@click.option("--sensor", type=SENSOR, required=True, help="Sentinel-1 or Sentinel-2.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder."
)
@click.option(
    "--aoi", "aoi_id", help="AOI id or GeoJSON file (supplies a water polygon if it has one)."
)
@click.option(
    "--pfa",
    type=click.FloatRange(0.0, 0.5, min_open=True, max_open=True),
    default=None,
    help="CFAR false alarm probability per pixel.",
)
@click.option("--direction", type=click.Choice(["asc", "dsc"]), help=DIRECTION_HELP)
@click.option("--s2-scale", type=float, default=None, help=S2_SCALE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the vessels as JSON.")
def vessels(
    scene: str,
    sensor: str,
    out_dir: str,
    aoi_id: str | None,
    pfa: float | None,
    direction: str | None,
    s2_scale: float | None,
    as_json: bool,
) -> None:
    """Detect every vessel in one SCENE; writes OUT/vessels.gpkg (layer vessels)."""
    import dataclasses

    from imagery.cli.guards import check_output, writing
    from imagery.outputs import write_vessels
    from imagery.sensors import prepare
    from imagery.vessels import VesselParams, detect_vessels

    check_output(out_dir)
    params = VesselParams()
    if pfa is not None:
        params = dataclasses.replace(params, pfa=pfa, s2_pfa=pfa)
    s2_scale = _s2_scale(sensor, s2_scale)
    aoi = _aoi(aoi_id)
    if _too_large([scene], sensor, aoi):
        from imagery.tiled import detect_vessels_file

        # A whole tile: window by window, in bounded memory.
        found = detect_vessels_file(
            scene, sensor=sensor, params=params, direction=direction, s2_scale=s2_scale
        )
    else:
        # Single-scene vessels measure every size on the ground: only degrees are warped.
        raster = prepare(
            _viewed(_read(scene, sensor, aoi), sensor, direction),
            sensor,
            source=scene,
            grid="square",
            s2_scale=s2_scale,
        )
        _refuse_no_valid_pixel(raster, scene, sensor)
        _warn_coarse(raster, scene)
        found = detect_vessels(raster, aoi=aoi, params=params)
    with writing(out_dir):
        path = write_vessels(found, out_dir)
    if as_json:
        cols = ["id", "score", "length_m", "width_m", "heading_deg", "lon", "lat", "time"]
        click.echo(found[cols].to_json(orient="records", indent=2))
        return
    click.echo(f"{len(found)} vessels in {scene}")
    click.echo(f"wrote {path} (layer vessels)")


def _scenes_from_store(
    store: str,
    aoi,
    sensor: str,
    after: str | None,
    before: str | None,
    orbit: str | None,
    direction: str | None,
) -> list[str]:
    from imagery import store as imagery_store

    if aoi is None or after is None:
        raise click.UsageError("--store needs --aoi and --after (and optionally --before)")
    if before is not None:
        pair = imagery_store.pair_on(
            store, aoi.id, sensor, before, after, orbit=orbit, direction=direction
        )
    else:
        pair = imagery_store.pair_for(
            store, aoi.id, sensor, after, orbit=orbit, direction=direction
        )
    return [str(pair[0].path), str(pair[1].path)]


def _detect_tiles(scenes, sensor: str, aoi, direction, s2_scale, scratch: Path):
    """A whole tile pair through :func:`imagery.tiled.detect_pair_files`, its change and
    display COGs written into ``scratch`` for the review package."""
    from imagery.tiled import detect_pair_files

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            click.echo(f"... {done}/{total} windows", err=True)

    return detect_pair_files(
        scenes[0],
        scenes[1],
        sensor=sensor,
        aoi=aoi,
        change_path=scratch / "change.tif",
        display_paths=(scratch / "before.tif", scratch / "after.tif"),
        direction=direction,
        s2_scale=s2_scale,
        progress=progress,
    )


@click.command("detect")
@click.argument("scenes", nargs=-1, type=click.Path())
@click.option("--sensor", type=SENSOR, required=True, help="Sentinel-1 or Sentinel-2.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Run folder to write.")
@click.option(
    "--root",
    "root_dir",
    type=click.Path(file_okay=False),
    help="Results tree instead of --out: writes ROOT/<aoi>/<after-date>/ and ROOT/<aoi>/history.gpkg.",
)
@click.option("--aoi", "aoi_id", help="AOI id or GeoJSON file.")
@click.option(
    "--no-chips",
    is_flag=True,
    help="Skip the before/after PNG chips (a rerun removes those the previous run wrote).",
)
@click.option(
    "--store", type=click.Path(file_okay=False), help="Take the scenes from this imagery store."
)
@click.option("--after", "after_date", help="With --store: date of the after scene (YYYY-MM-DD).")
@click.option(
    "--before",
    "before_date",
    help="With --store: date of the before scene (default: the previous pass).",
)
@click.option("--orbit", help="With --store: relative orbit (e.g. 127 or ASC127).")
@click.option(
    "--direction",
    type=click.Choice(["asc", "dsc"]),
    help="Orbit direction: with --store, the passes to pair. " + DIRECTION_HELP,
)
@click.option("--s2-scale", type=float, default=None, help=S2_SCALE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def detect(
    scenes: tuple[str, ...],
    sensor: str,
    out_dir: str | None,
    root_dir: str | None,
    aoi_id: str | None,
    no_chips: bool,
    store: str | None,
    after_date: str | None,
    before_date: str | None,
    orbit: str | None,
    direction: str | None,
    s2_scale: float | None,
    as_json: bool,
) -> None:
    """Flag new vessels and cargo between BEFORE and AFTER (or over a series S1 S2 S3 ...).

    Writes OUT/detections.gpkg (layers detections, departed, aoi, footprints),
    OUT/change.tif and the QGIS review package (project.qgs, report.html, chips/). With
    three or more scenes, the series is co-registered onto the first and each flag
    carries change_time, the first pass it is seen on. A pair of whole tiles (more than
    25 Mpx a scene) without --aoi runs window by window in bounded memory.
    """
    from imagery.cli.guards import check_output, refuse_overwriting, writing
    from imagery.detect import detect_pair
    from imagery.outputs import write_pair_outputs, write_run_folder

    if (out_dir is None) == (root_dir is None):
        raise click.UsageError("give exactly one of --out DIR or --root DIR")
    s2_scale = _s2_scale(sensor, s2_scale)

    aoi = None
    if store is not None:
        from imagery.store import store_aoi

        if scenes:
            raise click.UsageError("give scene files or --store, not both")
        aoi = store_aoi(store, aoi_id) if aoi_id else None
        scenes = tuple(
            _scenes_from_store(store, aoi, sensor, after_date, before_date, orbit, direction)
        )
    else:
        given_for_store = [
            option
            for option, value in (
                ("--after", after_date),
                ("--before", before_date),
                ("--orbit", orbit),
            )
            if value is not None
        ]
        if given_for_store:
            joined = " and ".join(given_for_store)
            raise click.UsageError(
                f"{joined}: only with --store, which picks the scenes by date; give --store "
                f"and --aoi instead of scene files, or leave {joined} out"
            )
        if aoi_id is not None:
            aoi = _aoi(aoi_id)
    if len(scenes) < 2:
        raise click.UsageError(
            "give two scenes (BEFORE AFTER), three or more for a series, or --store"
        )
    given = (
        {"before": str(scenes[0]), "after": str(scenes[1])}
        if len(scenes) == 2
        else {"scenes": [str(path) for path in scenes]}
    )

    check_output(out_dir if out_dir is not None else root_dir)
    stale_chips: list[Path] = []

    def guard(times) -> Path:
        """Refuse, before anything is written, what the run would get wrong or destroy;
        return the run folder."""
        from imagery.outputs import RUN_STAMP, run_folder
        from imagery.review.package import PACKAGE_FILES

        _check_pair(scenes, times, history=root_dir is not None)
        if out_dir is not None:
            run_dir, others = Path(out_dir), []
            _check_previous_run(run_dir, sensor, times)
        else:
            after = max((t for t in times if t is not None), default=None)
            run_dir = run_folder(root_dir, aoi.id if aoi is not None else "scene", after, sensor)
            others = [run_dir / RUN_STAMP, run_dir.parent / "history.gpkg"]
        refuse_overwriting(
            scenes,
            [*(run_dir / name for name in PACKAGE_FILES), *others],
            folders=[run_dir / "chips"],
        )
        if no_chips:
            stale_chips.extend(_previous_chips(run_dir))
        return run_dir

    def write(result) -> dict[str, Path]:
        with writing(out_dir if out_dir is not None else root_dir):
            if out_dir is not None:
                paths = write_pair_outputs(result, out_dir, aoi=aoi, chips=not no_chips)
            else:
                paths = write_run_folder(
                    result, root_dir, aoi=aoi, chips=not no_chips, inputs=given
                )
            _remove_chips(stale_chips)
        return paths

    if problem := _too_large(list(scenes), sensor, aoi):
        if len(scenes) != 2:
            raise click.UsageError(
                f"{problem}: a series of whole tiles is not run window by window; "
                "give --aoi to read the port's part"
            )
        # A whole tile pair: window by window, rasters written as the windows run.
        import tempfile

        from imagery.grd import is_grd

        for path in scenes:
            if sensor == "s1" and is_grd(path):
                _refuse_grd_without_aoi(path, aoi)

        from imagery.io import raster_info

        run_dir = guard([raster_info(path, sensor=sensor).time for path in scenes])
        # Beside the run folder and named as the package's staging is: on its file
        # system (the rasters are linked in, not copied), and removed as stale staging
        # by a later run if this one is killed.
        with writing(run_dir):
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            staging = tempfile.TemporaryDirectory(
                prefix=f".{run_dir.name}.", suffix=".tmp", dir=run_dir.parent
            )
        with staging as tmp:
            result = _detect_tiles(scenes, sensor, aoi, direction, s2_scale, Path(tmp))
            paths = write(result)
    else:
        rasters = [_viewed(_read(path, sensor, aoi), sensor, direction) for path in scenes]
        guard([raster.time for raster in rasters])
        _warn_coarse(rasters[0], scenes[0])
        if s2_scale is not None:
            from imagery.sensors import prepare

            # Reflectance now; the pipeline's own preparation keeps reflectance as it is.
            rasters = [
                prepare(r, sensor, source=str(p), grid="native", s2_scale=s2_scale)
                for r, p in zip(rasters, scenes, strict=True)
            ]
        if len(scenes) == 2:
            result = detect_pair(
                rasters[0], rasters[1], sensor=sensor, aoi=aoi, names=(scenes[0], scenes[1])
            )
        else:
            from imagery.series import detect_series

            result = detect_series(rasters, sensor=sensor, aoi=aoi, names=scenes)
        paths = write(result)
    counts = result.detections["kind"].value_counts().to_dict()
    summary = {
        "scenes": list(scenes),
        "new_vessels": int(counts.get("vessel", 0)),
        "new_cargo": int(counts.get("cargo", 0)),
        "departed": len(result.departed),
        "files": {k: str(v) for k, v in paths.items()},
        "parameters": result.parameters,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(
        f"{summary['new_vessels']} new vessels, {summary['new_cargo']} new cargo stacks, "
        f"{summary['departed']} departed"
    )
    if "change_time" in result.detections.columns and len(result.detections):
        for when, group in result.detections.groupby("change_time"):
            click.echo(f"  first seen {when}: {len(group)} flag(s)")
    for name, path in paths.items():
        click.echo(f"  {name:<10} {Path(path)}")
