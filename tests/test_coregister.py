"""Co-registration: known shifts and rotations recovered, refusals, grids, files.

Texture comes from a real Sentinel-2 port scene (sen2ships, Durban; MIT licence, see
../shared/data/README.md); the tests skip when that folder is missing.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject
from scipy import ndimage as ndi

from imagery.coregister import (
    Registration,
    apply_registration,
    coregister,
    coregister_files,
    corrected_transform,
    estimate_registration,
    estimate_registration_files,
)
from imagery.errors import BandError, CoregistrationError, InputError, RasterIOError
from imagery.io import read_raster, write_raster
from imagery.raster import Raster
from imagery.registration.model import ground_metres
from imagery.sensors import prepare_s1

SCENE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sen2ships" / "durban"
BANDS = ("B02", "B03", "B04", "B08")
UTM = "EPSG:32736"
ORIGIN = (400_000.0, 6_700_000.0)
PAD = 12


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """(4, rows, cols) reflectance of a real port scene."""
    if not SCENE.exists():
        pytest.skip(f"sample data missing: {SCENE}")
    bands = []
    for band in BANDS:
        with rasterio.open(SCENE / f"{band}.tif") as ds:
            bands.append(ds.read(1).astype(np.float64) / 10_000.0)
    return np.stack(bands)


def _warp(source: np.ndarray, matrix: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """out(q) = source at matrix^-1 (q); matrix maps reference px -> moving px (corner-based)."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    lin = inverse[:, :2][::-1, ::-1]
    offset = lin @ np.array([0.5, 0.5]) + inverse[::-1, 2] - 0.5 + np.array([top, left])
    return np.stack(
        [
            ndi.affine_transform(b, lin, offset=offset, output_shape=(size, size), order=3)
            for b in source
        ]
    )


def _matrix(shift=(0.0, 0.0), angle_deg=0.0, size=256) -> np.ndarray:
    theta = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    centre = np.array([size / 2, size / 2])
    return np.column_stack([rot, centre + np.asarray(shift) - rot @ centre])


def _s2(data: np.ndarray, *, transform=None, crs=UTM, scl=None) -> Raster:
    names = BANDS
    if scl is not None:
        data = np.concatenate([data, scl[None]])
        names = (*BANDS, "SCL")
    return Raster(
        data.astype(np.float32),
        transform or from_origin(*ORIGIN, 10.0, 10.0),
        crs,
        nodata=float("nan"),
        time=datetime(2024, 5, 1, tzinfo=UTC),
        sensor="s2",
        band_names=names,
    )


def s2_pair(texture, *, shift=(0.0, 0.0), angle_deg=0.0, size=256, at=(300, 400), seed=0):
    """(reference, moving, true matrix): a crop and the same ground, displaced, with noise."""
    rng = np.random.default_rng(seed)
    top, left = at
    matrix = _matrix(shift, angle_deg, size)
    ref = texture[:, top : top + size, left : left + size]
    around = texture[:, top - PAD : top + size + PAD, left - PAD : left + size + PAD]
    mov = _warp(around, matrix, PAD, PAD, size) * 1.1 + 0.01
    ref = ref + rng.normal(0, 0.003, ref.shape)
    mov = mov + rng.normal(0, 0.003, mov.shape)
    return _s2(ref), _s2(mov), matrix


def s1_pair(texture, *, shift, size=256, at=(300, 400), seed=0):
    """A Sentinel-1-like pair: linear power from the texture with independent ENL 4.4 speckle."""
    rng = np.random.default_rng(seed)
    top, left = at
    power = texture[3:4] ** 2 * 5  # NIR brightness as backscatter-like texture
    matrix = _matrix(shift, 0.0, size)
    ref = power[:, top : top + size, left : left + size] * rng.gamma(4.4, 1 / 4.4, (1, size, size))
    around = power[:, top - PAD : top + size + PAD, left - PAD : left + size + PAD]
    mov = _warp(around, matrix, PAD, PAD, size).clip(1e-5) * rng.gamma(
        4.4, 1 / 4.4, (1, size, size)
    )

    def make(data):
        return Raster(
            data.astype(np.float32),
            from_origin(*ORIGIN, 10.0, 10.0),
            UTM,
            nodata=float("nan"),
            sensor="s1",
            band_names=("VV",),
        )

    return make(ref), make(mov), matrix


def _centre_shift(matrix: np.ndarray, size: int) -> np.ndarray:
    centre = np.array([size / 2, size / 2, 1.0])
    return matrix @ centre - centre[:2]


# -- accuracy -----------------------------------------------------------------------------
@settings(max_examples=8, deadline=None)
@given(dx=st.floats(-3.0, 3.0, allow_nan=False), dy=st.floats(-3.0, 3.0, allow_nan=False))
def test_known_shift_recovered(texture, dx, dy):
    ref, mov, _ = s2_pair(texture, shift=(dx, dy))
    reg = estimate_registration(ref, mov)
    assert abs(reg.shift_x_px - dx) < 0.1
    assert abs(reg.shift_y_px - dy) < 0.1
    assert reg.rmse_px < 0.2
    assert reg.confidence > 0.5


@pytest.mark.parametrize(("dx", "dy", "seed"), [(1.3, -2.2, 1), (-2.7, 0.4, 2)])
def test_known_shift_recovered_through_speckle(texture, dx, dy, seed):
    ref, mov, _ = s1_pair(texture, shift=(dx, dy), seed=seed)
    reg = estimate_registration(ref, mov)
    assert reg.sensor == "s1"
    assert abs(reg.shift_x_px - dx) < 0.25
    assert abs(reg.shift_y_px - dy) < 0.25


def test_rotation_is_recovered_by_the_affine_model(texture):
    size = 384
    ref, mov, truth = s2_pair(texture, shift=(1.2, -0.8), angle_deg=0.4, size=size, at=(250, 300))
    reg = estimate_registration(ref, mov)
    assert reg.model == "affine"
    assert reg.rotation_deg == pytest.approx(0.4, abs=0.03)
    grid = np.stack(np.meshgrid(np.linspace(0, size, 5), np.linspace(0, size, 5)), -1).reshape(
        -1, 2
    )
    points = np.column_stack([grid, np.ones(len(grid))])
    error = np.linalg.norm(points @ reg.matrix.T - points @ truth.T, axis=1)
    assert error.max() < 0.15
    np.testing.assert_allclose(
        [reg.shift_x_px, reg.shift_y_px], _centre_shift(truth, size), atol=0.05
    )


def test_translation_chosen_when_there_is_no_rotation(texture):
    reg = estimate_registration(*s2_pair(texture, shift=(0.6, 1.9))[:2])
    assert reg.model == "translation"
    assert reg.rotation_deg == 0.0


def test_changed_pixels_do_not_pull_the_shift(texture):
    ref, mov, _ = s2_pair(texture, shift=(-1.4, 2.3))
    rng = np.random.default_rng(5)
    field = ndi.gaussian_filter(rng.standard_normal(mov.shape), 3)
    blobs = field > np.quantile(field, 0.85)  # 15 % of pixels, in blobs
    data = mov.data.copy()
    data[:, blobs] = 0.6  # new bright content
    reg = estimate_registration(ref, mov.replace(data=data))
    assert blobs.mean() > 0.1
    assert reg.shift_x_px == pytest.approx(-1.4, abs=0.1)
    assert reg.shift_y_px == pytest.approx(2.3, abs=0.1)


# -- applying -------------------------------------------------------------------------------
def test_apply_puts_moving_on_the_reference_grid(texture):
    ref, mov, _ = s2_pair(texture, shift=(2.4, -1.6))
    aligned, _ = coregister(ref, mov)
    assert aligned.transform == ref.transform and aligned.crs == ref.crs
    assert aligned.shape == ref.shape and aligned.band_names == BANDS
    assert aligned.time == mov.time
    # The moving scene had no data beyond its right edge, shifted into view: NaN there.
    assert np.isnan(aligned.data[:, :, -2:]).all()
    assert np.isfinite(aligned.data[:, 10:-10, 10:-10]).all()
    again = estimate_registration(ref, aligned)
    assert abs(again.shift_x_px) < 0.05 and abs(again.shift_y_px) < 0.05


def test_apply_refuses_another_reference_grid(texture):
    ref, mov, _ = s2_pair(texture, shift=(1.0, 1.0))
    reg = estimate_registration(ref, mov)
    other = ref.replace(transform=from_origin(0.0, 0.0, 10.0, 10.0))
    with pytest.raises(InputError, match="another reference grid"):
        apply_registration(mov, reg, other)


def test_corrected_transform_same_crs_is_exact(texture):
    ref, mov, _ = s2_pair(texture, shift=(1.5, -0.5))
    reg = estimate_registration(ref, mov)
    corrected = corrected_transform(reg, mov.transform, mov.crs)
    # Reference pixel p must read moving pixel matrix @ p.
    for p in [(0.0, 0.0), (100.5, 30.25), (256.0, 256.0)]:
        got = ~corrected * (ref.transform * p)
        want = reg.matrix @ [*p, 1.0]
        np.testing.assert_allclose(got, want, atol=1e-6)


# -- other grids ----------------------------------------------------------------------------
def _to_crs(raster: Raster, crs: str, resolution: float) -> Raster:
    transform, width, height = calculate_default_transform(
        raster.crs, crs, raster.width, raster.height, *raster.bounds, resolution=resolution
    )
    out = np.full((raster.count, height, width), np.nan, dtype=np.float32)
    for i in range(raster.count):
        reproject(
            raster.data[i],
            out[i],
            src_transform=raster.transform,
            src_crs=raster.crs,
            src_nodata=np.nan,
            dst_transform=transform,
            dst_crs=crs,
            dst_nodata=np.nan,
            resampling=Resampling.cubic,
        )
    return raster.replace(data=out, transform=transform, crs=crs)


def test_moving_in_another_crs_is_aligned(texture):
    size = 320
    ref, mov, truth = s2_pair(texture, shift=(1.8, -1.1), size=size, at=(250, 300))
    # The same ground, delivered in Web Mercator at 12 m: ground positions are preserved.
    moved = _to_crs(mov, "EPSG:3857", 12.0)
    assert moved.crs != ref.crs
    aligned, reg = coregister(ref, moved, resampling="cubic")
    np.testing.assert_allclose(
        [reg.shift_x_px, reg.shift_y_px], _centre_shift(truth, size), atol=0.15
    )
    assert aligned.crs == ref.crs and aligned.transform == ref.transform
    check = estimate_registration(ref, aligned)
    assert abs(check.shift_x_px) < 0.1 and abs(check.shift_y_px) < 0.1


def test_ground_metres_corrects_web_mercator_scale():
    transform = from_origin(14_000_000.0, 4_200_000.0, 10.0, 10.0)  # ~35.3 N
    east, north = ground_metres(
        1.0, -1.0, transform=transform, crs=rasterio.CRS.from_epsg(3857), at=(0, 0)
    )
    lat = np.degrees(2 * np.arctan(np.exp(4_200_000.0 / 6378137.0)) - np.pi / 2)
    assert east == pytest.approx(10.0 * np.cos(np.radians(lat)), rel=1e-3)
    assert north == pytest.approx(10.0 * np.cos(np.radians(lat)), rel=1e-3)


# -- refusals -------------------------------------------------------------------------------
def test_no_overlap_is_refused(texture):
    ref, mov, _ = s2_pair(texture, shift=(1.0, 1.0))
    far = mov.replace(transform=from_origin(ORIGIN[0] + 50_000, ORIGIN[1], 10.0, 10.0))
    with pytest.raises(CoregistrationError, match="do not overlap") as err:
        estimate_registration(ref, far)
    assert err.value.reason == "overlap"


def test_sliver_of_overlap_is_refused(texture):
    ref, mov, _ = s2_pair(texture, shift=(1.0, 1.0))
    sliver = mov.replace(transform=from_origin(ORIGIN[0] + 2000, ORIGIN[1], 10.0, 10.0))
    with pytest.raises(CoregistrationError, match="overlap by 256 x 56 px") as err:
        estimate_registration(ref, sliver)
    assert err.value.reason == "overlap"


def test_cloud_covered_moving_scene_is_refused(texture):
    ref, mov, _ = s2_pair(texture, shift=(1.0, 1.0))
    scl = np.full(mov.shape, 9.0)  # SCL 9: cloud, high probability
    scl[:40, :40] = 4.0
    data = mov.data.copy()
    data[:, scl == 9] = 0.7
    with pytest.raises(CoregistrationError, match=r"valid windows of \d+ \(need 6\)") as err:
        estimate_registration(ref, _s2(data, scl=scl))
    assert err.value.reason == "windows"
    assert "cloud" in str(err.value)


def test_partly_cloudy_moving_scene_uses_the_clear_part(texture):
    size = 320
    ref, mov, truth = s2_pair(texture, shift=(-2.1, 1.4), size=size, at=(250, 300))
    scl = np.full(mov.shape, 4.0)
    scl[:, :150] = 8.0  # cloud, medium probability: 47 % of the scene
    data = mov.data.copy()
    data[:, :, :150] = 0.6 + 0.05 * np.random.default_rng(1).random((4, size, 150))
    reg = estimate_registration(ref, _s2(data, scl=scl))
    np.testing.assert_allclose(
        [reg.shift_x_px, reg.shift_y_px], _centre_shift(truth, size), atol=0.1
    )
    assert reg.n_valid < reg.n_windows
    # Only windows at least 40 % clear (min_valid_fraction) were used.
    assert (reg.tie_points[:, 0] + 64 - 0.4 * 128 >= 150).all()


def test_excluded_pixels_are_not_used(texture):
    ref, mov, _ = s2_pair(texture, shift=(1.5, 0.5))
    exclude = np.zeros(mov.shape, dtype=bool)
    exclude[:, 128:] = True
    reg = estimate_registration(ref, mov, exclude_moving=exclude)
    assert reg.n_valid < reg.n_windows
    assert reg.shift_x_px == pytest.approx(1.5, abs=0.1)
    with pytest.raises(InputError, match="exclude_reference"):
        estimate_registration(ref, mov, exclude_reference=np.zeros((3, 3), dtype=bool))


def test_shift_beyond_max_shift_is_refused(texture):
    ref, mov, _ = s2_pair(texture, shift=(2.5, -2.0))
    with pytest.raises(
        CoregistrationError, match=r"shift of 3\.\d\d px exceeds max_shift_px=2"
    ) as err:
        estimate_registration(ref, mov, max_shift_px=2.0)
    assert err.value.reason == "max_shift"


def test_pure_noise_is_refused_as_weak_correlation():
    rng = np.random.default_rng(3)
    noise = [rng.gamma(4.4, 0.02, (4, 256, 256)) for _ in range(2)]
    with pytest.raises(CoregistrationError, match="weak correlation") as err:
        estimate_registration(_s2(noise[0]), _s2(noise[1]))
    assert err.value.reason == "correlation"


def test_unrelated_scenes_are_refused(texture):
    ref = s2_pair(texture, at=(100, 100))[0]
    other = s2_pair(texture, at=(600, 900))[0]
    with pytest.raises(CoregistrationError) as err:
        estimate_registration(ref, other)
    assert err.value.reason == "correlation"


def test_affine_on_too_few_windows_is_refused(texture):
    ref, mov, _ = s2_pair(texture, shift=(1.0, 0.0))
    with pytest.raises(CoregistrationError, match="affine model needs") as err:
        estimate_registration(ref, mov, model="affine", spacing_px=100, min_windows=3)
    assert err.value.reason == "windows"


def test_scenes_of_two_sensors_are_input_errors(texture):
    ref, mov, _ = s2_pair(texture)
    with pytest.raises(InputError, match="reference is s2 but the moving scene is s1"):
        estimate_registration(ref, mov.replace(sensor="s1", data=mov.data[:1], band_names=("VV",)))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"model": "projective"}, "model must be one of"),
        ({"max_shift_px": 40.0}, "max_shift_px"),
        ({"window_px": 8}, "window_px"),
    ],
)
def test_bad_options_are_input_errors(texture, options, match):
    ref, mov, _ = s2_pair(texture)
    with pytest.raises(InputError, match=match):
        estimate_registration(ref, mov, **options)


# -- the result -----------------------------------------------------------------------------
def test_registration_reports_and_serialises(texture):
    ref, mov, _ = s2_pair(texture, shift=(1.0, -2.0))
    reg = estimate_registration(ref, mov)
    assert isinstance(reg, Registration)
    assert reg.shift_x_m == pytest.approx(10.0 * reg.shift_x_px, rel=1e-3)
    assert reg.shift_y_m == pytest.approx(-10.0 * reg.shift_y_px, rel=1e-3)  # y down, north up
    assert reg.n_used <= reg.n_correlated <= reg.n_valid <= reg.n_windows
    assert len(reg.tie_points) == len(reg.tie_shifts) == reg.n_correlated
    assert reg.tie_inliers.sum() == reg.n_used
    assert 0 <= reg.confidence <= 1
    data = json.loads(json.dumps(reg.to_dict(tie_points=True)))
    assert data["model"] == reg.model
    assert len(data["tie_points"]) == reg.n_correlated
    assert data["reference_crs"] == "EPSG:32736"


# -- files ------------------------------------------------------------------------------------
def test_file_entry_points_match_memory_and_write_a_cog(texture, tmp_path):
    ref, mov, _ = s2_pair(texture, shift=(-1.7, 2.2))
    ref_path = write_raster(ref, tmp_path / "ref.tif", cog=False)
    mov_path = write_raster(mov, tmp_path / "mov.tif", cog=False)
    in_memory = estimate_registration(ref, mov)
    from_files = estimate_registration_files(ref_path, mov_path)
    assert from_files.sensor == "s2"
    assert from_files.shift_x_px == pytest.approx(in_memory.shift_x_px, abs=1e-4)
    assert from_files.shift_y_px == pytest.approx(in_memory.shift_y_px, abs=1e-4)
    out = tmp_path / "aligned.tif"
    reg = coregister_files(ref_path, mov_path, out)
    with rasterio.open(out) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.transform == ref.transform and ds.crs == ref.crs
    aligned = read_raster(out)
    assert aligned.band_names == BANDS and aligned.time == mov.time
    expected = apply_registration(mov, reg, ref)
    np.testing.assert_allclose(aligned.data, expected.data, atol=1e-5, equal_nan=True)


def test_s1_files_in_db_on_another_grid(texture, tmp_path):
    ref, mov, _ = s1_pair(texture, shift=(2.0, 1.0), size=320, seed=4)
    db = lambda r: r.replace(data=10 * np.log10(r.data))  # noqa: E731
    ref_path = write_raster(db(ref), tmp_path / "ref_db.tif", cog=False)
    # Moving delivered with a grid offset by half a pixel: read through a WarpedVRT.
    shifted = db(mov).replace(transform=from_origin(ORIGIN[0] + 5.0, ORIGIN[1], 10.0, 10.0))
    mov_path = write_raster(shifted, tmp_path / "mov_db.tif", cog=False)
    reg = estimate_registration_files(ref_path, mov_path, sensor="s1")
    # Moving content sits 2 px right of the reference, and its grid another 0.5 px right.
    assert reg.shift_x_px == pytest.approx(2.5, abs=0.25)
    assert reg.shift_y_px == pytest.approx(1.0, abs=0.25)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(RasterIOError, match=r"nope\.tif"):
        estimate_registration_files(tmp_path / "nope.tif", tmp_path / "other.tif")


def test_file_refusals_name_both_files(texture, tmp_path):
    ref, mov, _ = s2_pair(texture, shift=(1.0, 1.0))
    ref_path = write_raster(ref, tmp_path / "ref.tif", cog=False)
    far = write_raster(
        mov.replace(transform=from_origin(ORIGIN[0] + 50_000, ORIGIN[1], 10.0, 10.0)),
        tmp_path / "far.tif",
        cog=False,
    )
    with pytest.raises(CoregistrationError, match="do not overlap") as err:
        estimate_registration_files(ref_path, far)
    assert str(err.value).startswith(f"{far} onto {ref_path}: ")
    assert err.value.reason == "overlap"


def test_a_sliver_suggests_smaller_windows_only_to_a_caller_that_offers_them(texture, tmp_path):
    ref, mov, _ = s2_pair(texture, shift=(1.0, 1.0))
    sliver = mov.replace(transform=from_origin(ORIGIN[0] + 2000, ORIGIN[1], 10.0, 10.0))
    with pytest.raises(CoregistrationError, match="overlap by 256 x 56 px") as err:
        estimate_registration(ref, sliver)  # as detect_pair calls it, picking the windows
    assert "smaller" not in str(err.value) and "window_px may" not in str(err.value)
    ref_path = write_raster(ref, tmp_path / "ref.tif", cog=False)
    sliver_path = write_raster(sliver, tmp_path / "sliver.tif", cog=False)
    with pytest.raises(CoregistrationError, match=r"a smaller --window-px may do\)$"):
        estimate_registration_files(ref_path, sliver_path, window_option="--window-px")


def test_files_without_the_sensors_bands_are_refused_up_front(texture, tmp_path):
    """An S2 file given as S1 is a band error naming it, not a weak correlation."""
    ref, mov, _ = s2_pair(texture, shift=(1.0, 1.0))
    ref_path = write_raster(ref, tmp_path / "ref.tif", cog=False)
    mov_path = write_raster(mov, tmp_path / "mov.tif", cog=False)
    out = tmp_path / "out.tif"
    for call in (
        lambda: estimate_registration_files(ref_path, mov_path, sensor="s1"),
        lambda: coregister_files(ref_path, mov_path, out, sensor="s1"),
    ):
        with pytest.raises(BandError, match=rf"^{ref_path}: Sentinel-1 input needs"):
            call()
    three = write_raster(mov.replace(data=mov.data[:3], band_names=()), tmp_path / "three.tif")
    with pytest.raises(BandError, match=rf"^{three}: Sentinel-2 input needs"):
        coregister_files(ref_path, three, out)
    assert not out.exists()


def test_infinite_pixels_are_nodata_and_warn_of_nothing(texture, tmp_path):
    ref, mov, _ = s1_pair(texture, shift=(2.0, 1.0), size=320, seed=4)
    data = mov.data.copy()
    data[0, 100:110, 100:120] = np.inf
    data[0, 200:205, 50:90] = -np.inf
    ref_path = write_raster(ref, tmp_path / "ref.tif", cog=False)
    mov_path = write_raster(mov.replace(data=data), tmp_path / "inf.tif", cog=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # inf - inf in the gradients
        reg = estimate_registration_files(ref_path, mov_path, sensor="s1")
        in_memory = estimate_registration(
            prepare_s1(read_raster(ref_path)), prepare_s1(read_raster(mov_path))
        )
    assert reg.shift_x_px == pytest.approx(2.0, abs=0.25)
    assert in_memory.shift_x_px == pytest.approx(2.0, abs=0.25)
