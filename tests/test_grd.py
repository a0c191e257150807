"""Sentinel-1 GRD products in radar geometry (imagery.grd), written as ESA lays them out.

The product is built from a known geometry: an ascending pass heading 348 deg (the
radar looks to 78 deg), lines 10 m apart along the track and pixels 10 m apart across
it, over Vostochny. Its tie points, calibration table and digital numbers follow the
product specification (annotation, ``calibration-*.xml``, uint16 measurement GeoTIFF
without a map grid); what is read back is checked against that geometry.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from pyproj import Geod, Transformer
from rasterio.errors import NotGeoreferencedWarning

from imagery.cli.main import cli
from imagery.errors import InputError, NoOverlapError
from imagery.grd import is_grd, read_grd

NAME = "S1A_IW_GRDH_1SDV_20230821T093012_20230821T093037_049959_0602A1_1F2B"
STEM = "s1a-iw-grd-{pol}-20230821t093012-20230821t093037-049959-0602a1-001"
UTM = "EPSG:32653"
ORIGIN = (700_000.0, 4_730_000.0)  # line 0, pixel 0 on the ground (Vostochny, UTM 53N)
HEADING_DEG = -12.0
LINES, PIXELS = 700, 700
ALONG = np.array([np.sin(np.radians(HEADING_DEG)), np.cos(np.radians(HEADING_DEG))])
ACROSS = np.array([np.sin(np.radians(HEADING_DEG + 90)), np.cos(np.radians(HEADING_DEG + 90))])
TO_LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
TO_UTM = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
GEOD = Geod(ellps="WGS84")


def ground(line, pixel):
    """UTM position of a (line, pixel) of the product: 10 m steps, a slight range bend."""
    line, pixel = np.asarray(line, float), np.asarray(pixel, float)
    along = 10.0 * line
    across = 10.0 * pixel + 2e-5 * pixel**2
    return (
        ORIGIN[0] + along * ALONG[0] + across * ACROSS[0],
        ORIGIN[1] + along * ALONG[1] + across * ACROSS[1],
    )


MANIFEST = (
    '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel-1.0"'
    ' xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1"><metadataSection><metadataObject>'
    '<safe:orbitReference><safe:orbitNumber type="start">49959</safe:orbitNumber>'
    '<safe:relativeOrbitNumber type="start">127</safe:relativeOrbitNumber>'
    "<safe:extension><s1:orbitProperties><s1:pass>ASCENDING</s1:pass></s1:orbitProperties>"
    "</safe:extension></safe:orbitReference></metadataObject></metadataSection></xfdu:XFDU>"
)


def calibration_table(line, pixel):
    return 600.0 + 0.2 * pixel + 0.05 * line


def _annotation(pol: str, start: str, tie_height_m: float) -> str:
    """Tie points at ``tie_height_m``: a point that high, imaged at a tie point's line and
    pixel, stands farther from the radar than the sea-level point, by height /
    tan(incidence) (at equal slant range; ``test_the_height_shift_is_the_slant_range_s``)."""
    lines = np.round(np.linspace(0, LINES - 1, 5))
    pixels = np.round(np.linspace(0, PIXELS - 1, 6))
    points = []
    for line in lines:
        for pixel in pixels:
            lon, lat = TO_LONLAT.transform(*ground(line, pixel))
            farther = tie_height_m / np.tan(np.radians(30.0 + 0.01 * pixel))
            # The look's true azimuth (heading + 90): grid north is 1.3 deg off here.
            lon, lat, _ = GEOD.fwd(lon, lat, HEADING_DEG + 90.0, farther)
            points.append(
                "<geolocationGridPoint><azimuthTime>2023-08-21T09:30:12.5</azimuthTime>"
                f"<line>{line:.0f}</line><pixel>{pixel:.0f}</pixel><latitude>{lat:.10f}</latitude>"
                f"<longitude>{lon:.10f}</longitude><height>{tie_height_m}</height>"
                f"<incidenceAngle>{30.0 + 0.01 * pixel:.4f}</incidenceAngle></geolocationGridPoint>"
            )
    return (
        f"<product><adsHeader><missionId>S1A</missionId><productType>GRD</productType>"
        f"<polarisation>{pol}</polarisation><mode>IW</mode>"
        f"<startTime>{start}</startTime></adsHeader>"
        "<generalAnnotation><productInformation><pass>Ascending</pass>"
        f"<platformHeading>{HEADING_DEG}</platformHeading></productInformation></generalAnnotation>"
        f'<geolocationGrid><geolocationGridPointList count="{len(points)}">{"".join(points)}'
        "</geolocationGridPointList></geolocationGrid></product>"
    )


def _calibration() -> str:
    vectors = []
    pixels = np.append(np.arange(0, PIXELS, 40), PIXELS - 1)
    for line in (*range(0, LINES, 150), LINES + 20):  # the last vector lies past the end
        values = calibration_table(line, pixels)
        vectors.append(
            "<calibrationVector><azimuthTime>2023-08-21T09:30:12</azimuthTime>"
            f'<line>{line}</line><pixel count="{len(pixels)}">{" ".join(map(str, pixels))}</pixel>'
            f'<sigmaNought count="{len(pixels)}">{" ".join(f"{v:.6e}" for v in values)}</sigmaNought>'
            f'<betaNought count="{len(pixels)}">{" ".join("5.9e2" for _ in pixels)}</betaNought>'
            "</calibrationVector>"
        )
    return (
        "<calibration><calibrationInformation><absoluteCalibrationConstant>1"
        "</absoluteCalibrationConstant></calibrationInformation>"
        f'<calibrationVectorList count="{len(vectors)}">{"".join(vectors)}</calibrationVectorList>'
        "</calibration>"
    )


def write_grd(
    folder: Path, sigma0: dict[str, np.ndarray], *, name: str = NAME, tie_height_m: float = 1.2
) -> Path:
    """A GRD ``.SAFE`` whose digital numbers give ``sigma0`` (per polarisation, lines x pixels)."""
    safe = folder / f"{name}.SAFE"
    stamp = name.split("_")[4]  # the start, 20230821T093012
    start = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}.024"
    for sub in ("measurement", "annotation/calibration"):
        (safe / sub).mkdir(parents=True, exist_ok=True)
    (safe / "manifest.safe").write_text(MANIFEST)
    lines, pixels = np.mgrid[0:LINES, 0:PIXELS]
    table = calibration_table(lines, pixels)
    for pol, values in sigma0.items():
        stem = STEM.format(pol=pol.lower())
        digital = np.clip(np.round(np.sqrt(values) * table), 0, 65535).astype(np.uint16)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(
                safe / "measurement" / f"{stem}.tiff", "w", driver="GTiff", width=PIXELS,
                height=LINES, count=1, dtype="uint16",
            ) as ds:  # fmt: skip
                ds.write(digital, 1)
        (safe / "annotation" / f"{stem}.xml").write_text(_annotation(pol, start, tie_height_m))
        (safe / "annotation" / "calibration" / f"calibration-{stem}.xml").write_text(_calibration())
    return safe


def lonlat_box(x: float, y: float, half_m: float) -> tuple[float, float, float, float]:
    west, south = TO_LONLAT.transform(x - half_m, y - half_m)
    east, north = TO_LONLAT.transform(x + half_m, y + half_m)
    return (west, south, east, north)


def test_a_grd_is_calibrated_and_geocoded_around_an_area(tmp_path):
    sea = np.full((LINES, PIXELS), 0.02)
    sea[300:305, 250:255] = 5.0  # a corner reflector, 50 m across
    sea[:, :3] = 0.0  # the swath's border: DN 0, no data
    safe = write_grd(tmp_path, {"VV": sea, "VH": sea / 10})
    assert is_grd(safe) and not is_grd(tmp_path / "nothing")
    target = ground(302.0, 252.0)
    raster = read_grd(safe, lonlat_box(*target, 400.0), margin_m=300.0)
    assert raster.band_names == ("VV", "VH") and raster.sensor == "s1"
    assert raster.crs.to_epsg() == 32653 and raster.transform.a == 10.0
    assert raster.transform.c % 10 == 0 and raster.transform.f % 10 == 0
    assert 140 <= raster.shape[0] <= 150 and 140 <= raster.shape[1] <= 150  # 1.4 km + a pixel
    assert raster.time.isoformat().startswith("2023-08-21T09:30:12")
    assert raster.look_azimuth_deg == pytest.approx(78.0)
    assert raster.incidence_deg == pytest.approx(30.0 + 0.01 * 280)  # the nearest tie point
    # Calibrated: DN^2 / A^2 gives back the sea's sigma0 (uint16 rounding: about 1 %).
    vv = raster.band("VV")
    assert np.nanmedian(vv) == pytest.approx(0.02, rel=0.01)
    assert np.nanmedian(raster.band("VH")) == pytest.approx(0.002, rel=0.03)
    # Geocoded: the reflector's echo is centred where the geometry puts it.
    x, y = _echo_centre(raster)
    assert np.hypot(x - target[0], y - target[1]) < 3.0  # metres
    assert 20 <= (vv > 1.0).sum() <= 45  # 25 product pixels, resampled


def test_tie_points_above_the_sea_are_brought_down_to_it(tmp_path):
    """A coastal swath whose projection height is 300 m: taken as they are, the tie points
    would put the sea 300 m / tan(32.5 deg) = 470 m too far from the radar."""
    sea = np.full((LINES, PIXELS), 0.02)
    sea[300:305, 250:255] = 5.0
    safe = write_grd(tmp_path, {"VV": sea}, tie_height_m=300.0)
    target = ground(302.0, 252.0)
    raster = read_grd(safe, lonlat_box(*target, 400.0), margin_m=300.0)
    x, y = _echo_centre(raster)
    assert np.hypot(x - target[0], y - target[1]) < 3.0
    # Told the sea stands 40 m above the ellipsoid (as the geoid may), every pixel is put
    # 40 / tan(32.5 deg) = 63 m farther from the radar.
    raised = read_grd(safe, lonlat_box(*target, 400.0), margin_m=300.0, sea_height_m=40.0)
    x, y = _echo_centre(raised)
    along_look = (x - target[0]) * ACROSS[0] + (y - target[1]) * ACROSS[1]
    assert 60.0 < along_look < 66.0


def test_the_height_shift_is_the_slant_range_s():
    """The sign and size of the shift from the geometry itself, not from the test product:
    a radar 693 km up, a tie point 300 m high at 35 deg; the sea-level point at the same
    slant range lies nearer the radar in ground range (flat earth)."""
    from imagery.grd import _at_sea_level

    altitude, height, incidence = 693_000.0, 300.0, np.radians(35.0)
    ground_range = altitude * np.tan(incidence)
    slant = np.hypot(ground_range, altitude - height)
    nearer_m = ground_range - np.sqrt(slant**2 - altitude**2)
    # Looking east (90 deg): the radar is to the west.
    tie = np.array([[0.0, 0.0, 10.0, 130.0, 35.0, height]])
    moved = _at_sea_level(tie, 90.0, 0.0)
    _, _, metres = GEOD.inv(130.0, 10.0, moved[0, 3], moved[0, 2])
    assert moved[0, 3] < 130.0  # westward: towards the radar
    assert metres == pytest.approx(nearer_m, rel=0.01)


def _echo_centre(raster) -> tuple[float, float]:
    """Map position of the reflector's echo: the centroid of its bright pixels."""
    vv = raster.band("VV")
    bright = vv > 1.0
    rows, cols = np.nonzero(bright)
    weights = vv[bright]
    col, row = np.average(cols, weights=weights), np.average(rows, weights=weights)
    return raster.transform * (col + 0.5, row + 0.5)


def test_the_zip_reads_alike_and_the_swath_border_is_no_data(tmp_path):
    sea = np.full((LINES, PIXELS), 0.02)
    sea[:, :40] = 0.0
    safe = write_grd(tmp_path / "unzipped", {"VV": sea})
    archive = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(safe.rglob("*")):
            out.write(path, path.relative_to(safe.parent).as_posix())
    edge = ground(350.0, 40.0)
    box = lonlat_box(*edge, 500.0)
    raster = read_grd(archive, box, margin_m=0.0)
    np.testing.assert_array_equal(raster.data, read_grd(safe, box, margin_m=0.0).data)
    assert raster.band_names == ("VV",)
    # West of pixel 40 (the border) is NaN, east of it the sea; about half of the box.
    nan_share = np.isnan(raster.band("VV")).mean()
    assert 0.4 < nan_share < 0.6
    with pytest.raises(NoOverlapError, match="outside the product's swath"):
        read_grd(safe, lonlat_box(*ground(350.0, 2000.0), 300.0), margin_m=0.0)


def test_a_ship_in_a_grd_through_the_cli(tmp_path):
    rng = np.random.default_rng(5)
    looks = 4.4
    vv = 0.02 * rng.gamma(looks, 1 / looks, (LINES, PIXELS))
    vh = 0.002 * rng.gamma(looks, 1 / looks, (LINES, PIXELS))
    # A 120 m x 20 m hull along the track at line 350, pixel 300.
    vv[344:356, 299:301] = 3.0
    vh[344:356, 299:301] = 0.3
    safe = write_grd(tmp_path, {"VV": vv, "VH": vh})
    ship = ground(350.0, 300.0)
    west, south, east, north = lonlat_box(*ship, 1000.0)
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    aoi = tmp_path / "berth.geojson"
    aoi.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {
                            "role": "aoi",
                            "id": "berth",
                            "name": "Berth",
                            "country": "Russia",
                            "locode": None,
                            "reason": "A test area.",
                        },
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    out = tmp_path / "out"
    args = ["vessels", str(safe), "--sensor", "s1", "--aoi", str(aoi), "--out", str(out), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    found = json.loads(result.output[result.output.index("[") :])
    assert len(found) == 1
    x, y = TO_UTM.transform(found[0]["lon"], found[0]["lat"])
    assert np.hypot(x - ship[0], y - ship[1]) < 30.0
    assert 90 <= found[0]["length_m"] <= 160
    # Without an area a GRD is not read: it covers some 250 km.
    result = CliRunner().invoke(cli, ["vessels", str(safe), "--sensor", "s1", "--out", str(out)])
    assert result.exit_code == 2 and "give --aoi" in result.output


def test_a_grd_without_its_calibration_is_named(tmp_path):
    safe = write_grd(tmp_path, {"VV": np.full((LINES, PIXELS), 0.02)})
    next((safe / "annotation" / "calibration").glob("calibration-*.xml")).unlink()
    with pytest.raises(InputError, match=r"has no annotation.*calibration-s1a-iw-grd-vv"):
        read_grd(safe, lonlat_box(*ground(350.0, 300.0), 300.0))
