"""Co-registration benchmark: accuracy on simulated pairs built from real texture, and speed.

Run from the project root::

    .venv/bin/python benchmarks/coregistration.py            # full: 50+50 pairs + 10980^2 tile
    .venv/bin/python benchmarks/coregistration.py --quick    # 10+10 pairs, 2745^2 tile

Accuracy
    Pairs are built here, independently of the project's simulator, from real texture:
    the Sentinel-2 L2A port scenes in ``../shared/data/sen2ships`` (B02 B03 B04 B08 of
    Busan and Durban) and the Sentinel-1 VV scene in ``../shared/data/s1_pyrosar``
    (dB -> linear, 20 m resampled to the 10 m pixel spacing of IW GRD). The moving
    scene is the source warped by a known affine map (shift uniform in [-3, 3] px in x
    and y, rotation uniform in [-0.1, 0.1] deg about the centre) with a quintic spline
    from a larger crop, so that the borders hold real texture. Then, independently per
    date: Sentinel-2 gets a gain/offset change and sensor noise (sigma 0.002 + 1 % of the
    reflectance); Sentinel-1 gets multiplicative gamma speckle with ENL 4.4. In the
    moving scene 10 % of the pixels are replaced by true change: smooth-edged blobs of
    new bright (ships, containers) or dark (water, shadow) content. Reported: RMSE of the
    recovered shift at the scene centre against the truth, RMSE of the displacement
    field over the scene, refusals, and the same for the peer (a global
    ``skimage.registration.phase_cross_correlation``, upsample_factor=10).

Speed
    A 10980 x 10980 float32 pair is made by mirror-tiling the Durban B08 band (real port
    texture), shifting it by a known sub-pixel amount, adding noise and 10 % change, and
    writing two GeoTIFFs to a temporary folder (~1 GB, removed afterwards). Ours
    (``estimate_registration_files``: windowed reads from disk; then
    ``apply_registration_files`` to a COG, timed separately) and the peer
    (``phase_cross_correlation`` on the two whole arrays, upsample_factor=10, read time
    excluded) each run in a fresh subprocess, alternating, several times; the medians
    of wall time and peak resident memory (``ru_maxrss``) are reported with their ratio.

Writes ``benchmarks/results/coregistration.json`` (``--json`` elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagery.errors import CoregistrationError  # noqa: E402
from imagery.raster import Raster  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
#: (scene, pair size in px): Honolulu is small and 24 % nodata (DN 0), which exercises
#: the nodata handling on real edges.
S2_SCENES = (("busan", 512), ("durban", 512), ("honolulu", 256))
S2_BANDS = ("B02", "B03", "B04", "B08")
S1_FILE = DATA / "s1_pyrosar" / "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif"
RESULTS = ROOT / "benchmarks" / "results" / "coregistration.json"
MAX_SHIFT = 3.0
MAX_ROTATION_DEG = 0.1
CHANGE_FRACTION = 0.10
ENL = 4.4


# -- texture --------------------------------------------------------------------------------
def s2_texture(scene: str) -> np.ndarray:
    """(4, rows, cols) float32 reflectance of a sen2ships scene, NaN where DN is 0 (fill)."""
    bands = []
    for band in S2_BANDS:
        with rasterio.open(DATA / "sen2ships" / scene / f"{band}.tif") as ds:
            bands.append(ds.read(1).astype(np.float32) / 10_000.0)
    data = np.stack(bands)
    data[:, (data == 0).all(axis=0)] = np.nan
    return data


def s1_texture() -> np.ndarray:
    """(1, rows, cols) float32 linear sigma0 of the pyroSAR scene at 10 m pixel spacing.

    The source is multilooked at 20 m; its own residual speckle would be identical on
    both simulated dates (a texture real repeat passes do not share), so it is first
    smoothed 3 x 3, then resampled to 10 m pixels (IW GRD: 10 m spacing, ~20 m resolution).
    """
    with rasterio.open(S1_FILE) as ds:
        db = ds.read(1).astype(np.float64)
        db[db == ds.nodata] = np.nan
    linear = np.power(10.0, db / 10.0)
    linear = np.where(np.isfinite(linear), linear, np.nanmedian(linear))
    linear = ndi.uniform_filter(linear, 3)
    return ndi.zoom(linear, 2, order=3).clip(1e-4).astype(np.float32)[None]


# -- pair construction ------------------------------------------------------------------------
def true_matrix(rng, size: int) -> np.ndarray:
    """Random 2x3 map reference px -> moving px: rotation about the centre plus a shift."""
    theta = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    centre = np.array([size / 2.0, size / 2.0])
    return np.column_stack([rot, centre + shift - rot @ centre])


def warp(source: np.ndarray, matrix: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """Moving scene: out(q) = source at A^-1(q), with A = ``matrix`` in reference pixel coords.

    Reference pixel (x, y) (corner-based) is source pixel (x + left, y + top).
    """
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    # Index coordinates are pixel centres: corner = index + 0.5. Work in (row, col).
    lin = inverse[:, :2][::-1, ::-1]  # (row, col) ordering
    trans = inverse[::-1, 2]
    offset = lin @ np.array([0.5, 0.5]) + trans - 0.5 + np.array([top, left])
    nodata = np.isnan(source).any(axis=0)
    # A spline spreads NaN everywhere: warp filled values, then the nodata footprint.
    fill = np.nanmedian(source) if nodata.any() else 0.0
    filled = np.where(np.isnan(source), fill, source)
    out = np.stack(
        [
            ndi.affine_transform(band, lin, offset=offset, output_shape=(size, size), order=5)
            for band in filled
        ]
    )
    if nodata.any():
        hole = ndi.affine_transform(
            nodata.astype(np.float64), lin, offset=offset, output_shape=(size, size), order=1
        )
        out[:, hole > 0.01] = np.nan
    return out


def change(rng, shape: tuple[int, int], bright: tuple[float, float], dark: tuple[float, float]):
    """10 % of pixels in smooth-edged blobs, each blob new bright or dark content.

    Returns the blob mask and the new values (each blob its own level, half of the blobs
    bright, half dark).
    """
    sigma = rng.uniform(2.0, 5.0)
    field = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    mask = field > np.quantile(field, 1.0 - CHANGE_FRACTION)
    labels, count = ndi.label(mask)
    is_bright = rng.random(count + 1) < 0.5
    level = np.where(is_bright, rng.uniform(*bright, count + 1), rng.uniform(*dark, count + 1))
    return mask, level[labels]


def make_pair(sensor: str, texture: np.ndarray, rng, size: int):
    """(reference Raster, moving Raster, true matrix) for one simulated pair."""
    pad = 16
    rows, cols = texture.shape[1:]
    top = int(rng.integers(pad, rows - size - pad + 1))
    left = int(rng.integers(pad, cols - size - pad + 1))
    matrix = true_matrix(rng, size)
    ref = texture[:, top : top + size, left : left + size].astype(np.float64)
    mov = warp(texture.astype(np.float64), matrix, top, left, size)
    if sensor == "s2":
        mask, new = change(rng, (size, size), bright=(0.25, 0.6), dark=(0.01, 0.05))
        mask &= np.isfinite(mov).all(axis=0)
        mov = np.where(mask, new * (1 + 0.1 * rng.standard_normal((size, size))), mov)
        gain, offset = rng.uniform(0.85, 1.15), rng.uniform(-0.01, 0.01)
        mov = gain * mov + offset
        ref = ref + rng.normal(0, 1, ref.shape) * (0.002 + 0.01 * np.abs(ref))
        mov = mov + rng.normal(0, 1, mov.shape) * (0.002 + 0.01 * np.abs(mov))
        names = S2_BANDS
    else:
        mask, new = change(rng, (size, size), bright=(0.5, 5.0), dark=(0.001, 0.005))
        mov = np.where(mask, new, mov)
        ref = ref * rng.gamma(ENL, 1 / ENL, ref.shape)
        mov = mov * rng.gamma(ENL, 1 / ENL, mov.shape)
        names = ("VV",)
    transform = from_origin(500_000.0, 4_000_000.0, 10.0, 10.0)
    make = lambda data: Raster(  # noqa: E731
        data.astype(np.float32),
        transform,
        "EPSG:32652",
        nodata=float("nan"),
        sensor=sensor,
        band_names=names,
    )
    return make(ref), make(mov), matrix


# -- accuracy -----------------------------------------------------------------------------------
def peer_shift(ref: Raster, mov: Raster) -> np.ndarray:
    """The peer's displacement (dx, dy): one global phase correlation of the band means."""
    from skimage.registration import phase_cross_correlation

    def feature(r: Raster) -> np.ndarray:
        data = np.log(r.data[0]) if r.sensor == "s1" else r.data.mean(axis=0)
        return np.nan_to_num(data, nan=float(np.nanmean(data)))

    shift, _, _ = phase_cross_correlation(feature(ref), feature(mov), upsample_factor=10)
    return -shift[::-1]  # skimage returns (row, col) to *undo* the displacement


def field_error(matrix: np.ndarray, truth: np.ndarray, size: int) -> float:
    """RMS length of the displacement error over a 9 x 9 grid spanning the scene, px."""
    g = np.stack(np.meshgrid(np.linspace(0, size, 9), np.linspace(0, size, 9)), -1).reshape(-1, 2)
    gh = np.column_stack([g, np.ones(len(g))])
    return float(np.sqrt(((gh @ matrix.T - gh @ truth.T) ** 2).sum(axis=1).mean()))


def run_accuracy(sensor: str, count: int, seed: int) -> dict:
    from imagery.coregister import estimate_registration

    if sensor == "s2":
        textures = [(s2_texture(scene), size) for scene, size in S2_SCENES]
    else:
        textures = [(s1_texture(), 320)]
    rng = np.random.default_rng(seed)
    errors, fields, peer_errors, refusals, models, times = [], [], [], {}, [], []
    for i in range(count):
        texture, size = textures[i % len(textures)]
        ref, mov, truth = make_pair(sensor, texture, rng, size)
        centre = np.array([size / 2, size / 2])
        true_shift = truth @ [*centre, 1.0] - centre
        peer_errors.append(peer_shift(ref, mov) - true_shift)
        start = time.perf_counter()
        try:
            reg = estimate_registration(ref, mov)
        except CoregistrationError as exc:
            refusals[exc.reason] = refusals.get(exc.reason, 0) + 1
            continue
        finally:
            times.append(time.perf_counter() - start)
        errors.append([reg.shift_x_px, reg.shift_y_px] - true_shift)
        fields.append(field_error(reg.matrix, truth, size))
        models.append(reg.model)
    errors, peer_errors = np.array(errors).reshape(-1, 2), np.array(peer_errors)
    rmse = lambda e: float(np.sqrt((e**2).sum(axis=1).mean())) if len(e) else float("nan")  # noqa: E731
    return {
        "sensor": sensor,
        "pairs": count,
        "size_px": sorted({size for _, size in textures}),
        "rmse_px": rmse(errors),
        "rmse_x_px": float(np.sqrt((errors[:, 0] ** 2).mean())) if len(errors) else None,
        "rmse_y_px": float(np.sqrt((errors[:, 1] ** 2).mean())) if len(errors) else None,
        "max_error_px": float(np.linalg.norm(errors, axis=1).max()) if len(errors) else None,
        "field_rmse_px": float(np.sqrt(np.mean(np.square(fields)))) if fields else None,
        "refused": int(sum(refusals.values())),
        "refusals": refusals,
        "affine_chosen": models.count("affine"),
        "median_time_s": float(np.median(times)),
        "peer_rmse_px": rmse(peer_errors),
        "peer_max_error_px": float(np.linalg.norm(peer_errors, axis=1).max()),
    }


def run_interband() -> list[dict]:
    """Real data check: bands of one real L2A product are co-registered (shift ~0).

    There is no real two-date pair in the sample data; the 10 m bands of one product
    are the closest real test: true shift 0 within the MSI inter-band registration
    (specified < 0.3 px at 99.7 % confidence), different radiometry per band, real port
    texture, nodata and (Honolulu) sensor-visible seams. B04 -> B08 adds a contrast
    reversal (vegetation dark in red, bright in near infrared).
    """
    from imagery.coregister import estimate_registration
    from imagery.io import read_raster

    rows = []
    for scene, _ in S2_SCENES:
        for ref_band, mov_band in (("B02", "B03"), ("B03", "B04"), ("B04", "B08")):
            ref = read_raster(DATA / "sen2ships" / scene / f"{ref_band}.tif")
            mov = read_raster(DATA / "sen2ships" / scene / f"{mov_band}.tif")
            ref, mov = (r.replace(data=r.data.astype(np.float32), nodata=0.0) for r in (ref, mov))
            row = {"scene": scene, "reference": ref_band, "moving": mov_band}
            try:
                reg = estimate_registration(ref, mov)
            except CoregistrationError as exc:
                row.update(refused=exc.reason, message=str(exc))
            else:
                row.update(
                    shift_x_px=reg.shift_x_px,
                    shift_y_px=reg.shift_y_px,
                    model=reg.model,
                    rmse_px=reg.rmse_px,
                    confidence=reg.confidence,
                    n_used=reg.n_used,
                    n_windows=reg.n_windows,
                )
            rows.append(row)
    return rows


# -- speed ------------------------------------------------------------------------------------
def write_tile_pair(folder: Path, size: int, shift: tuple[float, float], seed: int) -> dict:
    """Two float32 GeoTIFFs of ``size`` x ``size``: mirror-tiled Durban B08, and it shifted."""
    rng = np.random.default_rng(seed)
    with rasterio.open(DATA / "sen2ships" / "durban" / "B08.tif") as ds:
        base = ds.read(1).astype(np.float32) / 10_000.0
    pad = 8
    reps = (size + 2 * pad) // min(base.shape) + 2
    big = np.pad(base, [(0, reps * base.shape[0]), (0, reps * base.shape[1])], mode="symmetric")
    big = big[: size + 2 * pad, : size + 2 * pad]
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32736",
        "transform": from_origin(400_000.0, 6_700_000.0, 10.0, 10.0),
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    paths = {"reference": folder / "reference.tif", "moving": folder / "moving.tif"}
    ref = big[pad:-pad, pad:-pad]
    ref = ref + rng.normal(0, 1, ref.shape).astype(np.float32) * (0.002 + 0.01 * ref)
    with rasterio.open(paths["reference"], "w", **profile) as dst:
        dst.write(ref.astype(np.float32), 1)
    del ref
    moved = ndi.shift(big, (shift[1], shift[0]), order=3, output=np.float32)[pad:-pad, pad:-pad]
    del big
    mask, new = change(rng, moved.shape, bright=(0.25, 0.6), dark=(0.01, 0.05))
    moved = np.where(mask, new.astype(np.float32), moved)
    del mask, new
    moved += rng.normal(0, 1, moved.shape).astype(np.float32) * (0.002 + 0.01 * moved)
    with rasterio.open(paths["moving"], "w", **profile) as dst:
        dst.write(moved, 1)
    return {k: str(v) for k, v in paths.items()}


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is the run's own.

    ``ru_maxrss`` cannot be used: Linux carries it over from the parent across fork+exec.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def worker(method: str, reference: str, moving: str, out: str | None) -> dict:
    """One timed run in this (fresh) process; returns figures for JSON.

    ``baseline_mb`` is the resident memory just before the timed call (modules loaded,
    and for the peer the two input arrays read), ``peak_mb`` the high-water mark during
    it; ``peak_mb - baseline_mb`` is what the method needs beyond its inputs.
    """
    result: dict = {"method": method}
    if method == "ours":
        from imagery.coregister import apply_registration_files, estimate_registration_files

        _reset_peak()
        result["baseline_mb"] = _status_mb("VmRSS")
        start = time.perf_counter()
        reg = estimate_registration_files(reference, moving, sensor="s2")
        result["estimate_s"] = time.perf_counter() - start
        result["peak_mb"] = _status_mb("VmHWM")
        result["shift"] = [reg.shift_x_px, reg.shift_y_px]
        result["windows"] = reg.n_windows
        result["tie_points"] = reg.n_used
        result["model"] = reg.model
        if out:
            _reset_peak()
            start = time.perf_counter()
            apply_registration_files(moving, reg, out)
            result["apply_s"] = time.perf_counter() - start
            result["apply_peak_mb"] = _status_mb("VmHWM")
    else:
        from skimage.registration import phase_cross_correlation

        start = time.perf_counter()
        with rasterio.open(reference) as a, rasterio.open(moving) as b:
            ref, mov = a.read(1), b.read(1)
        result["read_s"] = time.perf_counter() - start
        _reset_peak()
        result["baseline_mb"] = _status_mb("VmRSS")
        start = time.perf_counter()
        shift, _, _ = phase_cross_correlation(ref, mov, upsample_factor=10)
        result["estimate_s"] = time.perf_counter() - start
        result["peak_mb"] = _status_mb("VmHWM")
        result["shift"] = [-float(shift[1]), -float(shift[0])]
        result["inputs_mb"] = (ref.nbytes + mov.nbytes) / 2**20
    return result


def run_speed(size: int, runs: int, seed: int) -> dict:
    shift = (1.37, -2.61)
    scratch = Path(tempfile.mkdtemp(prefix="portwatch-coreg-bench-"))
    try:
        start = time.perf_counter()
        paths = write_tile_pair(scratch, size, shift, seed)
        made = time.perf_counter() - start
        rows: dict[str, list[dict]] = {"ours": [], "peer": []}
        for run in range(runs):
            for method in ("ours", "peer"):
                out = str(scratch / "aligned.tif") if method == "ours" and run == 0 else ""
                cmd = [
                    sys.executable,
                    __file__,
                    "--worker",
                    method,
                    paths["reference"],
                    paths["moving"],
                    out,
                ]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                rows[method].append(json.loads(done.stdout.strip().splitlines()[-1]))
        summary = {"size_px": size, "true_shift": list(shift), "runs": runs, "pair_seconds": made}
        for method, results in rows.items():
            est = [r["estimate_s"] for r in results]
            peak = [r["peak_mb"] for r in results]
            beyond = [r["peak_mb"] - r["baseline_mb"] for r in results]
            err = [float(np.hypot(*(np.array(r["shift"]) - shift))) for r in results]
            summary[method] = {
                "estimate_s_median": float(np.median(est)),
                "estimate_s_all": est,
                "peak_rss_mb_median": float(np.median(peak)),
                "beyond_inputs_mb_median": float(np.median(beyond)),
                "shift_error_px": float(np.median(err)),
                "shift": results[0]["shift"],
            }
            if method == "ours":
                summary[method]["tie_points"] = results[0]["tie_points"]
                summary[method]["windows"] = results[0]["windows"]
                summary[method]["apply_cog_s"] = results[0].get("apply_s")
                summary[method]["apply_peak_rss_mb"] = results[0].get("apply_peak_mb")
            else:
                summary[method]["read_s_median"] = float(np.median([r["read_s"] for r in results]))
                summary[method]["inputs_mb"] = results[0]["inputs_mb"]
        summary["speedup"] = (
            summary["peer"]["estimate_s_median"] / summary["ours"]["estimate_s_median"]
        )
        return summary
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- report -----------------------------------------------------------------------------------
def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import scipy
    import skimage

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-image": skimage.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
        "platform": platform.platform(),
    }


def report(results: dict) -> None:
    m = results["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}")
    print(
        f"         python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, "
        f"scikit-image {m['scikit-image']}, rasterio {m['rasterio']} (GDAL {m['gdal']})"
    )
    print()
    print("accuracy on simulated pairs (shift +-3 px, rotation +-0.1 deg, 10 % change)")
    print(
        f"{'sensor':<7}{'pairs':>6}{'size px':>8}{'RMSE px':>9}{'max px':>8}{'field px':>9}"
        f"{'refused':>8}{'affine':>7}{'peer RMSE':>10}{'peer max':>9}{'s/pair':>8}"
    )
    for row in results["accuracy"]:
        print(
            f"{row['sensor']:<7}{row['pairs']:>6}{'/'.join(map(str, row['size_px'])):>8}"
            f"{row['rmse_px']:>9.3f}"
            f"{row['max_error_px']:>8.3f}{row['field_rmse_px']:>9.3f}{row['refused']:>8}"
            f"{row['affine_chosen']:>7}{row['peer_rmse_px']:>10.3f}{row['peer_max_error_px']:>9.3f}"
            f"{row['median_time_s']:>8.2f}"
        )
    print()
    print("real data: bands of one L2A product against each other (true shift ~0)")
    for row in results["interband"]:
        label = f"  {row['scene']:<9}{row['reference']}->{row['moving']}"
        if "refused" in row:
            print(f"{label}  refused ({row['refused']}): {row['message']}")
        else:
            print(
                f"{label}  x {row['shift_x_px']:+.3f} px  y {row['shift_y_px']:+.3f} px  "
                f"{row['model']}, RMSE {row['rmse_px']:.3f} px, {row['n_used']}/{row['n_windows']} "
                f"windows, confidence {row['confidence']:.2f}"
            )
    speed = results.get("speed")
    if speed:
        print()
        print(
            f"speed: {speed['size_px']} x {speed['size_px']} float32 pair, true shift "
            f"{speed['true_shift']}, median of {speed['runs']} runs each, side by side"
        )
        print(
            f"{'method':<34}{'estimate s':>11}{'peak RSS MB':>12}{'beyond inputs MB':>17}{'error px':>9}"
        )
        ours, peer = speed["ours"], speed["peer"]
        print(
            f"{'ours (files, ' + str(ours['tie_points']) + ' tie points)':<34}"
            f"{ours['estimate_s_median']:>11.2f}{ours['peak_rss_mb_median']:>12.0f}"
            f"{ours['beyond_inputs_mb_median']:>17.0f}{ours['shift_error_px']:>9.3f}"
        )
        print(
            f"{'peer (phase_cross_correlation)':<34}{peer['estimate_s_median']:>11.2f}"
            f"{peer['peak_rss_mb_median']:>12.0f}{peer['beyond_inputs_mb_median']:>17.0f}"
            f"{peer['shift_error_px']:>9.3f}"
        )
        print(
            f"speed-up {speed['speedup']:.1f}x; peer read time {peer['read_s_median']:.1f} s not "
            f"counted; ours applied to a COG in {ours['apply_cog_s']:.1f} s "
            f"(AROSICS reference: 1,977 tie points in 9.75 s)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 pairs per sensor, 2745 px tile")
    parser.add_argument("--pairs", type=int, help="pairs per sensor (default 60, quick 10)")
    parser.add_argument("--runs", type=int, help="speed runs per method (default 3, quick 1)")
    parser.add_argument("--no-speed", action="store_true", help="skip the tile benchmark")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS,
        help="where to write the results (default %(default)s)",
    )
    parser.add_argument(
        "--worker", nargs=4, metavar=("METHOD", "REF", "MOV", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.worker:
        method, reference, moving, out = args.worker
        print(json.dumps(worker(method, reference, moving, out or None)))
        return 0
    if not S1_FILE.exists():
        print(f"sample data missing: {DATA}", file=sys.stderr)
        return 1
    pairs = args.pairs or (10 if args.quick else 60)
    runs = args.runs or (1 if args.quick else 3)
    results: dict = {"machine": machine(), "quick": args.quick, "accuracy": []}
    for sensor in ("s2", "s1"):
        results["accuracy"].append(run_accuracy(sensor, pairs, args.seed))
    results["interband"] = run_interband()
    if not args.no_speed:
        results["speed"] = run_speed(2745 if args.quick else 10980, runs, args.seed)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    report(results)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
