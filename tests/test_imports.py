"""Downloaded products into the imagery store (imagery.imports, `portwatch store import`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage
from test_grd import LINES, PIXELS, ground, lonlat_box, write_grd
from test_products import NAME as S2_NAME
from test_products import write_l2a_safe

from imagery.aoi import load_aoi
from imagery.cli.main import cli
from imagery.errors import InputError
from imagery.imports import identify_product, import_scene
from imagery.io import read_raster
from imagery.store import list_scenes, verify_store

S1_BEFORE = "S1A_IW_GRDH_1SDV_20230821T093012_20230821T093037_049959_0602A1_1F2B"
S1_AFTER = "S1A_IW_GRDH_1SDV_20230902T093013_20230902T093038_050134_0608B2_7C1D"


def _aoi_file(tmp_path, box, aoi_id="berth"):
    west, south, east, north = box
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "role": "aoi",
                    "id": aoi_id,
                    "name": aoi_id.title(),
                    "country": "Test",
                    "locode": None,
                    "reason": "A test area.",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    path = tmp_path / f"{aoi_id}.geojson"
    path.write_text(json.dumps(doc))
    return path


def test_products_are_identified_by_name_and_manifest(tmp_path):
    safe = write_grd(tmp_path, {"VV": np.full((LINES, PIXELS), 0.02)})
    identity = identify_product(safe, "s1")
    assert (identity.platform, identity.relative_orbit, identity.direction) == (
        "S1A",
        127,  # the manifest's, not the formula's
        "ASCENDING",
    )
    # Without a manifest: the absolute orbit's formula ((49959 - 73) mod 175 + 1).
    bare = tmp_path / "S1B_IW_GRDH_1SDV_20210821T093012_20210821T093037_028202_035D7A_ABCD.tif"
    bare.write_bytes(b"")
    assert identify_product(bare, "s1").relative_orbit == (28202 - 27) % 175 + 1
    assert identify_product(tmp_path / f"{S2_NAME}.SAFE", "s2").relative_orbit == 135
    assert identify_product(tmp_path / f"{S2_NAME}.SAFE", "s2").tile == "36JTL"
    assert identify_product(tmp_path / "scene.tif", "s2").platform == "S2"


def _scene(rng, land: np.ndarray, ship: bool) -> dict[str, np.ndarray]:
    looks = 4.4
    vv = np.where(land, 0.0, 0.02) + land * 0.3 * _texture()
    vv = vv * rng.gamma(looks, 1 / looks, vv.shape)
    if ship:
        vv[344:356, 399:401] = 3.0  # a 120 m x 20 m hull at line 350, pixel 400
    return {"VV": vv, "VH": vv / 8}


def _texture() -> np.ndarray:
    """Land the same on both passes: fields and roads, 1-30 times the sea's sigma0."""
    noise = np.random.default_rng(99).normal(size=(LINES, PIXELS))
    return np.exp(1.2 * ndimage.gaussian_filter(noise, 3) / ndimage.gaussian_filter(noise, 3).std())


def test_two_grd_passes_imported_then_detected_from_the_store(tmp_path):
    rng = np.random.default_rng(11)
    land = np.zeros((LINES, PIXELS), bool)
    land[:, :300] = True  # the coast runs along the track
    products = tmp_path / "downloads"
    before = write_grd(products, _scene(rng, land, ship=False), name=S1_BEFORE)
    after = write_grd(products, _scene(rng, land, ship=True), name=S1_AFTER)
    ship = ground(350.0, 400.0)
    coast = ground(350.0, 300.0)
    aoi_path = _aoi_file(tmp_path, lonlat_box((ship[0] + coast[0]) / 2, ship[1], 1400.0))
    store = tmp_path / "store"
    args = ["store", "import", str(store), str(before), str(after), "--aoi", str(aoi_path)]
    result = CliRunner().invoke(cli, [*args, "--sensor", "s1", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["status"] for row in json.loads(result.output)] == ["imported", "imported"]
    scenes = list_scenes(store)
    assert [s.path.name for s in scenes] == [
        "2023-08-21_S1A_ASC127.tif",
        "2023-09-02_S1A_ASC127.tif",
    ]
    assert verify_store(store) == (2, [])
    aoi = load_aoi(aoi_path)
    stored = read_raster(scenes[1].path)
    left, _, _, top = aoi.utm_bounds(resolution_m=10.0)
    assert (stored.transform.c, stored.transform.f) == (left, top)  # the fetch grid
    assert stored.crs == aoi.utm_crs and stored.band_names == ("VV", "VH")
    assert stored.look_azimuth_deg == pytest.approx(78.0)
    # A rerun leaves the store as it is.
    again = CliRunner().invoke(cli, [*args, "--sensor", "s1", "--json"])
    assert [row["status"] for row in json.loads(again.output)] == ["skipped", "skipped"]
    # detect --store pairs them by orbit and finds the ship that came.
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        ["detect", "--store", str(store), "--aoi", "berth", "--sensor", "s1", "--after",
         "2023-09-02", "--out", str(out), "--no-chips", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["new_vessels"] == 1 and summary["departed"] == 0, summary


def test_an_l2a_safe_is_stored_pixel_for_pixel(tmp_path):
    rng = np.random.default_rng(4)
    dn = {
        b: rng.integers(1000, 4000, (60, 80)).astype(np.uint16)
        for b in ("B02", "B03", "B04", "B08")
    }
    dn["B11"] = rng.integers(1000, 3000, (30, 40)).astype(np.uint16)
    dn["SCL"] = np.full((30, 40), 6, np.uint8)
    safe = write_l2a_safe(tmp_path / "downloads", dn)
    product = read_raster(safe)
    # An AOI of 600 m x 1000 m reaching past the product's north edge.
    x, y = product.transform * (40, 10)
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(product.crs, "EPSG:4326", always_xy=True)
    west, south = to_lonlat.transform(x - 300, y - 500)
    east, north = to_lonlat.transform(x + 300, y + 500)
    aoi = load_aoi(_aoi_file(tmp_path, (west, south, east, north), "quay"))
    result = import_scene(tmp_path / "store", safe, aoi, "s2")
    assert result.status == "imported"
    assert result.scene.path.name == "2023-08-21_S2B_R135.tif"
    stored = read_raster(result.scene.path)
    assert stored.band_names == ("B02", "B03", "B04", "B08", "B11", "SCL")
    # Same UTM zone and 10 m grid: every stored pixel is the product's own.
    offset = ~product.transform * (stored.transform.c, stored.transform.f)
    col0, row0 = (round(v) for v in offset)
    assert np.allclose(offset, (col0, row0))
    rows = row0 + np.arange(stored.height)
    cols = col0 + np.arange(stored.width)
    in_rows = (rows >= 0) & (rows < product.height)
    in_cols = (cols >= 0) & (cols < product.width)
    assert in_rows.any() and not in_rows.all() and in_cols.all()
    np.testing.assert_array_equal(
        stored.data[:, in_rows], product.data[:, rows[in_rows]][:, :, cols]
    )
    assert np.isnan(stored.data[:4, ~in_rows]).all()  # north of the product: no data


def test_a_file_without_a_date_is_refused_and_the_others_go_on(tmp_path):
    rng = np.random.default_rng(1)
    safe = write_grd(
        tmp_path / "downloads", {"VV": 0.02 * rng.gamma(4.4, 1 / 4.4, (LINES, PIXELS))}
    )
    import rasterio
    from rasterio.transform import from_origin

    undated = tmp_path / "downloads" / "scene.tif"
    x, y = ground(350.0, 300.0)
    with rasterio.open(
        undated, "w", driver="GTiff", width=50, height=50, count=1, dtype="float32",
        crs="EPSG:32653", transform=from_origin(x - 250, y + 250, 10, 10),
    ) as ds:  # fmt: skip
        ds.write(np.full((1, 50, 50), 0.02, np.float32))
    aoi_path = _aoi_file(tmp_path, lonlat_box(x, y, 400.0))
    with pytest.raises(InputError, match="no acquisition time"):
        import_scene(tmp_path / "store", undated, load_aoi(aoi_path), "s1")
    args = ["store", "import", str(tmp_path / "store"), str(undated), str(safe)]
    result = CliRunner().invoke(cli, [*args, "--aoi", str(aoi_path), "--sensor", "s1"])
    assert result.exit_code == 1
    assert "failed    " in result.output and "no acquisition time" in result.output
    assert "1 stored, 1 failed" in result.output


SLICE_1 = "S1A_IW_GRDH_1SDV_20230821T093012_20230821T093037_049959_0602A1_1F2B"
SLICE_2 = "S1A_IW_GRDH_1SDV_20230821T093037_20230821T093102_049959_0602A1_2A3C"


def test_two_slices_of_one_pass_fill_one_scene(tmp_path):
    """Adjacent GRD slices of a pass share a store name: the second fills the first's gaps."""
    sea = np.full((LINES, PIXELS), 0.02)
    first, second = sea.copy(), sea.copy()
    first[350:] = 0.0  # DN 0: this slice ends at line 350
    second[:350] = 0.0
    products = tmp_path / "downloads"
    one = write_grd(products / "a", {"VV": first}, name=SLICE_1)
    two = write_grd(products / "b", {"VV": second}, name=SLICE_2)
    aoi_path = _aoi_file(tmp_path, lonlat_box(*ground(350.0, 350.0), 800.0))
    store = tmp_path / "store"
    args = ["store", "import", str(store), str(one), str(two), "--aoi", str(aoi_path)]
    # A relative orbit given on the command line does not override the manifest's.
    result = CliRunner().invoke(cli, [*args, "--sensor", "s1", "--relative-orbit", "99", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["status"] for row in json.loads(result.output)] == ["imported", "merged"]
    (scene,) = list_scenes(store)
    assert scene.path.name == "2023-08-21_S1A_ASC127.tif"
    assert scene.metadata["raster"]["valid_fraction"] > 0.95
    assert scene.metadata["acquisition"]["products"] == [f"{SLICE_1}.SAFE", f"{SLICE_2}.SAFE"]
    assert verify_store(store) == (1, [])
    again = CliRunner().invoke(cli, [*args, "--sensor", "s1", "--json"])
    assert [row["status"] for row in json.loads(again.output)] == ["skipped", "skipped"]


def test_imported_again_on_another_scale_replaces_its_scene(tmp_path):
    """An EO Browser folder imported as read by default (x 65535), then forced onto L2A's
    scale, then again by default: each scale replaces the scene, the same one skips."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    rng = np.random.default_rng(2)
    folder = tmp_path / "2023-08-21_eo_browser"
    folder.mkdir()
    reflectance = rng.uniform(0.02, 0.3, (4, 60, 80))
    for k, band in enumerate(("B02", "B03", "B04", "B08")):
        with rasterio.open(
            folder / f"2023-08-21_Sentinel-2_L2A_{band}_(Raw).tiff", "w", driver="GTiff",
            width=80, height=60, count=1, dtype="uint16", crs="EPSG:32652",
            transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        ) as ds:  # fmt: skip
            ds.write((reflectance[k] * 65535).astype(np.uint16), 1)
    to_lonlat = Transformer.from_crs("EPSG:32652", "EPSG:4326", always_xy=True)
    # 0.5 km², reaching past the product's south and east edges.
    west, south = to_lonlat.transform(630300.0, 4679000.0)
    east, north = to_lonlat.transform(631000.0, 4679800.0)
    aoi = load_aoi(_aoi_file(tmp_path, (west, south, east, north), "yard"))
    first = import_scene(tmp_path / "store", folder, aoi, "s2")
    assert first.status == "imported"  # read as the export it is, x 65535
    assert 0.1 < np.nanmedian(read_raster(first.scene.path).band("B08")) < 0.25
    forced = import_scene(tmp_path / "store", folder, aoi, "s2", s2_scale=1e-4)
    assert forced.status == "replaced" and forced.scene.path == first.scene.path
    assert np.nanmedian(read_raster(forced.scene.path).band("B08")) > 0.5  # 6.55 times too bright
    again = import_scene(tmp_path / "store", folder, aoi, "s2")
    assert again.status == "replaced"
    b08 = read_raster(again.scene.path).band("B08")
    assert 0.1 < np.nanmedian(b08) < 0.25
    assert (
        import_scene(tmp_path / "store", folder, aoi, "s2", s2_scale=1 / 65535).status == "skipped"
    )
    assert import_scene(tmp_path / "store", folder, aoi, "s2").status == "skipped"
    args = ["store", "import", str(tmp_path / "store"), str(folder), "--aoi", "yard"]
    result = CliRunner().invoke(cli, [*args, "--sensor", "s1", "--s2-scale", "1e-5"])
    assert result.exit_code == 2 and "--s2-scale is for Sentinel-2" in result.output


def _eo_browser_folder(folder, reflectance, west_m, scale=65535):
    """A folder of single-band exports of one date (reflectance x ``scale``), 10 m
    pixels in EPSG:32652 from (``west_m``, 4680000)."""
    import rasterio
    from rasterio.transform import from_origin

    folder.mkdir()
    rows, cols = reflectance.shape[1:]
    for k, band in enumerate(("B02", "B03", "B04", "B08")):
        with rasterio.open(
            folder / f"2023-08-21_Sentinel-2_L2A_{band}_(Raw).tiff", "w", driver="GTiff",
            width=cols, height=rows, count=1, dtype="uint16", crs="EPSG:32652",
            transform=from_origin(west_m, 4680000.0, 10.0, 10.0),
        ) as ds:  # fmt: skip
            ds.write(np.round(reflectance[k] * scale).astype(np.uint16), 1)
    return folder


def test_two_tiles_of_a_date_on_their_own_scales_are_merged_not_replaced(tmp_path):
    """A land tile decided x 65535 and a sea tile whose numbers pass for L2A's: each is
    read at its own scale and the second fills what the first left empty."""
    from pyproj import Transformer

    rng = np.random.default_rng(4)
    land = rng.uniform(0.15, 0.35, (4, 80, 50))
    sea = rng.uniform(0.01, 0.04, (4, 80, 50))
    west_tile = _eo_browser_folder(tmp_path / "west", land, 630000.0)
    east_tile = _eo_browser_folder(tmp_path / "east", sea, 630500.0, scale=10_000)
    to_lonlat = Transformer.from_crs("EPSG:32652", "EPSG:4326", always_xy=True)
    west, south = to_lonlat.transform(630050.0, 4679250.0)
    east, north = to_lonlat.transform(630950.0, 4679950.0)
    aoi = load_aoi(_aoi_file(tmp_path, (west, south, east, north), "quay"))
    store = tmp_path / "store"
    assert import_scene(store, west_tile, aoi, "s2").status == "imported"
    second = import_scene(store, east_tile, aoi, "s2")
    assert second.status == "merged"
    b08 = read_raster(second.scene.path).band("B08")
    valid = b08[np.isfinite(b08)]
    # Land at 0.15-0.35 and sea at 0.01-0.04, neither read 6.55 times off.
    assert ((valid > 0.14) & (valid < 0.36)).mean() > 0.3
    assert ((valid > 0.005) & (valid < 0.045)).mean() > 0.3
    assert valid.max() < 0.4
    # Each product again, at the scale it was read at (1.5259e-5 is the figure the help
    # gives for 1 / 65535): nothing to do.
    assert import_scene(store, west_tile, aoi, "s2", s2_scale=1.5259e-5).status == "skipped"
    assert import_scene(store, east_tile, aoi, "s2").status == "skipped"
    # The land tile forced onto L2A's scale: its own pixels are replaced, the sea's kept.
    forced = import_scene(store, west_tile, aoi, "s2", s2_scale=1e-4)
    assert forced.status == "replaced"
    b08 = read_raster(forced.scene.path).band("B08")
    valid = b08[np.isfinite(b08)]
    assert ((valid > 0.005) & (valid < 0.045)).mean() > 0.3 and valid.max() > 1.0


def test_a_tile_imported_again_keeps_the_overlap_the_first_tile_gave(tmp_path, caplog):
    """Two overlapping exports of one date; the second imported again on another scale
    changes only the pixels it gave, not the overlap the first had filled."""
    from pyproj import Transformer

    rng = np.random.default_rng(9)
    west_tile = _eo_browser_folder(
        tmp_path / "west", rng.uniform(0.15, 0.35, (4, 80, 60)), 630000.0
    )
    east_tile = _eo_browser_folder(
        tmp_path / "east", rng.uniform(0.15, 0.35, (4, 80, 60)), 630500.0
    )
    to_lonlat = Transformer.from_crs("EPSG:32652", "EPSG:4326", always_xy=True)
    west, south = to_lonlat.transform(630050.0, 4679250.0)
    east, north = to_lonlat.transform(631050.0, 4679950.0)
    aoi = load_aoi(_aoi_file(tmp_path, (west, south, east, north), "quay"))
    store = tmp_path / "store"
    with caplog.at_level("WARNING", logger="imagery.imports"):
        assert import_scene(store, west_tile, aoi, "s2").status == "imported"
    assert "imported as reflectance x 65535" in caplog.text
    merged = import_scene(store, east_tile, aoi, "s2")
    assert merged.status == "merged"
    before = read_raster(merged.scene.path).band("B08")
    forced = import_scene(store, east_tile, aoi, "s2", s2_scale=1e-4)
    assert forced.status == "replaced"
    after = read_raster(forced.scene.path).band("B08")
    changed = np.isfinite(before) & ~np.isclose(before, after, equal_nan=True)
    # Only the east tile's own pixels moved (6.55 times brighter), none of the overlap
    # (100 m, 10 columns) nor the west tile's.
    assert changed.any() and (after[changed] > 0.9).all()
    kept = np.isfinite(before) & (before < 0.4) & (after < 0.4)
    assert kept.sum() > 0.45 * np.isfinite(before).sum()
    grid = read_raster(forced.scene.path).transform
    west_edge, _ = grid * (np.flatnonzero(changed.any(axis=0)).min(), 0)
    assert west_edge >= 630600.0 - 1.0  # the east tile's own pixels begin at 630600 m


@pytest.mark.parametrize("order", ["single_first", "dual_first"])
def test_slices_of_one_pass_with_and_without_vh_merge_on_vv(tmp_path, order):
    """One slice of a pass holds VV and an unfilled VH (read as VV alone), the other both:
    the merged scene is VV alone, each pixel from its own slice (bands were copied by
    place: the merge crashed, or wrote VV into VH)."""
    from imagery.aoi import get_aoi
    from imagery.imports import import_scene
    from imagery.io import read_raster, write_raster
    from imagery.simulate import simulate_pair, write_simulation

    aoi = get_aoi("nakhodka")
    sim = simulate_pair(aoi, sensor="s1", seed=12, size_px=512)
    scene = read_raster(write_simulation(sim, tmp_path / "sim")["before"], sensor="s1")
    west, east = scene.data.copy(), scene.data.copy()
    west[:, :, 256:] = np.nan
    west[1] = np.nan
    east[:, :, :256] = np.nan
    single = write_raster(scene.replace(data=west), tmp_path / "west.tif")
    dual = write_raster(scene.replace(data=east), tmp_path / "east.tif")
    files = [single, dual] if order == "single_first" else [dual, single]
    for path in files:
        result = import_scene(tmp_path / "store", path, aoi, "s1")
    assert result.status == "merged"
    stored = read_raster(result.scene.path, sensor="s1")
    assert stored.band_names == ("VV",)
    vv = stored.band("VV")
    assert np.isfinite(vv).mean() > 0.5  # both halves, over the AOI
