"""Sentinel-1 IW GRD rendering: sigma0 VV and VH in linear power on a 10 m grid.

The mean backscatter (reflectivity) of the scene is built first: the K-distributed sea
(a gamma texture, correlated over 50-200 m and stretched along the wind, on a mean
level that varies with wind and is lower in sheltered water), textured land, the
port's flat surfaces, quay edges and building walls as dihedral lines (bright when
they face the radar), point scatterers displaced towards the radar by layover, and
radar shadows behind tall things. It is blurred by the system impulse response
(Hamming-weighted sinc, about 20 m x 22 m), thermal noise is added, then speckle
(unit-mean gamma of ENL 4.4, slightly correlated) multiplies everything, and the
scene's calibration gain is applied.

References
----------
Hersbach, H., Stoffelen, A. and de Haan, S. (2007). An improved C-band scatterometer
ocean geophysical model function: CMOD5. Journal of Geophysical Research: Oceans, 112,
C03006. https://doi.org/10.1029/2006JC003743

Vachon, P. W. and Wolfe, J. (2011). C-band cross-polarization wind speed retrieval.
IEEE Geoscience and Remote Sensing Letters, 8(3), 456-459.
https://doi.org/10.1109/LGRS.2010.2085417

Ward, K. D. (1981). Compound representation of high resolution sea clutter.
Electronics Letters 17(16), 561-563. https://doi.org/10.1049/el:19810394

Oliver, C., & Quegan, S. (2004). Understanding Synthetic Aperture Radar Images.
SciTech Publishing. ISBN 978-1891121319.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from scipy.ndimage import convolve1d, distance_transform_edt, gaussian_filter

from imagery.simulate.acquisition import Acquisition
from imagery.simulate.fields import GaussianField, correlated_normal, gamma_from_gaussian
from imagery.simulate.grid import (
    block_lut_mean,
    burn_ids,
    coverage,
    render_transform,
    splat,
    to_pixel,
)
from imagery.simulate.layout import Layout
from imagery.simulate.scene import SceneContent, shadow_polygons, urban_weight

__all__ = ["BANDS", "ENL", "S1Renderer", "draw_conditions", "psf_kernel"]

BANDS = ("VV", "VH")
#: Equivalent number of looks of Sentinel-1 IW GRD high resolution (ESA product spec).
ENL = 4.4
FLOOR = 1e-6


def _db(x):
    return np.power(np.float32(10.0), np.asarray(x, dtype=np.float32) / np.float32(10.0))


def psf_kernel(fwhm_px: float, *, alpha: float = 0.75, radius_px: int = 6) -> np.ndarray:
    """Intensity impulse response of a Hamming-weighted SAR channel, sampled per pixel.

    The amplitude response of a spectrum weighted by ``alpha + (1 - alpha) cos`` is a
    sum of three shifted sincs; its square is scaled to the given intensity FWHM and
    sampled at whole-pixel offsets, normalised to sum 1 (energy preserving).
    """

    def intensity(t):
        h = alpha * np.sinc(t) + (1 - alpha) / 2 * (np.sinc(t - 1) + np.sinc(t + 1))
        return h * h

    t = np.linspace(0.0, 3.0, 30001)
    half = t[np.argmax(intensity(t) < 0.5 * intensity(0.0))]
    scale = (2 * half) / fwhm_px
    x = np.arange(-radius_px, radius_px + 1, dtype=float)
    k = intensity(x * scale)
    return (k / k.sum()).astype(np.float32)


#: A windy sea's VV (dB) and its VV/VH ratio (dB): 7-15 m/s over IW's incidences (CMOD5,
#: Hersbach et al. 2007) and VH = 0.58 U - 35.7 dB, -31.6 to -27 dB (Vachon & Wolfe 2011),
#: under the noise floor.
WINDY_WATER_VV_DB = (-12.0, -8.0)
WINDY_CROSS_POL_DB = (17.0, 20.0)


def draw_conditions(rng: np.random.Generator, *, windy: bool = False) -> dict:
    """Sea and land state of one acquisition (wind, clutter texture, noise floor).

    ``windy`` raises the sea to ``WINDY_WATER_VV_DB``, as bright as land in VV, with
    VH ``WINDY_CROSS_POL_DB`` below it; the other draws are those of a calm pass.
    """
    cond = {
        "water_vv_db": round(float(rng.uniform(-22.0, -14.0)), 3),
        "cross_pol_db": round(float(rng.uniform(8.0, 10.0)), 3),
        "texture_shape": round(float(rng.uniform(2.0, 10.0)), 3),
        "texture_corr_m": round(float(rng.uniform(50.0, 200.0)), 1),
        "wind_to_deg": round(float(rng.uniform(0.0, 360.0)), 1),
        "shelter_db": round(float(rng.uniform(2.0, 6.0)), 3),
        "nesz_vv_db": round(float(rng.uniform(-26.0, -23.0)), 3),
        "nesz_vh_db": round(float(rng.uniform(-28.0, -24.0)), 3),
        "enl": ENL,
    }
    if windy:
        cond["water_vv_db"] = round(float(rng.uniform(*WINDY_WATER_VV_DB)), 3)
        cond["cross_pol_db"] = round(float(rng.uniform(*WINDY_CROSS_POL_DB)), 3)
    return cond


class S1Renderer:
    """Renders the scenes of one Sentinel-1 simulation on a fixed nominal grid.

    Ground-fixed land textures are drawn once here and move with each scene's
    misregistration; sea texture and speckle are drawn per scene.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        transform: Affine,
        size_px: int,
        rng: np.random.Generator,
        supersample: int = 4,
    ) -> None:
        self.layout = layout
        self.transform = transform
        self.size_px = size_px
        self.res = abs(transform.a)
        self.ss = supersample
        px = self.res
        self.relief = GaussianField(rng, size_px, corr_px=400.0 / px)
        self.parcels = GaussianField(rng, size_px, corr_px=60.0 / px)
        self.fine = GaussianField(rng, size_px, corr_px=1.2)
        self.volume = GaussianField(rng, size_px, corr_px=30.0 / px)
        self.land_vv_db = float(rng.uniform(-12.0, -9.0))
        self.land_pol_db = float(rng.uniform(7.0, 8.5))
        self.k_range = psf_kernel(20.0 / px)
        self.k_azimuth = psf_kernel(22.0 / px)

    def render(
        self,
        content: SceneContent,
        acq: Acquisition,
        cond: dict,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One scene, shape (2, n, n) float32: sigma0 VV and VH, linear power."""
        n, _res = self.size_px, self.res
        rt = render_transform(self.transform, acq.shift_px)
        parts = content.parts
        # rows: water, natural land, fixed man-made VV, VH, movable objects VV, VH
        lut = np.zeros((6, len(parts) + 1), dtype=np.float32)
        lut[0, 0] = 1.0
        for i, p in enumerate(parts, start=1):
            if p.material == "natural":
                lut[1, i] = 1.0
            elif p.material == "water":
                lut[0, i] = 1.0
            elif p.look is not None:
                row = 2 if i <= content.n_fixed else 4
                lut[row, i] = _db(p.look.vv_db)
                lut[row + 1, i] = _db(p.look.vh_db)
        ids = burn_ids(
            ((p.geometry, i) for i, p in enumerate(parts, start=1)),
            transform=rt,
            size_px=n,
            supersample=self.ss,
        )
        f_water, f_land, man_vv, man_vh, obj_vv, obj_vh = block_lut_mean(
            ids, lut, supersample=self.ss
        )
        del ids

        sea_vv = self._sea(cond, rt, rng)
        land_vv, land_vh = self._land(acq, rt, rng)
        sea_vh = sea_vv * _db(-cond["cross_pol_db"])
        vv = f_water * sea_vv + f_land * land_vv + man_vv
        vh = f_water * sea_vh + f_land * land_vh + man_vh

        look = math.radians(acq.look_azimuth_deg)
        look_xy = np.array([math.sin(look), math.cos(look)])
        inc = math.radians(acq.incidence_deg)
        shadows = shadow_polygons(
            content.casters, azimuth_deg=acq.look_azimuth_deg, metres_per_metre=math.tan(inc)
        )
        if shadows:
            # Shadows darken the ground and sea; a ship's deck or a stack stands above
            # most of its neighbour's shadow, so objects are left lit.
            dark = 1.0 - 0.95 * coverage(shadows, transform=rt, size_px=n, supersample=self.ss)
            vv *= dark
            vh *= dark
        vv += obj_vv
        vh += obj_vh

        line_vv, line_vh = self._lines(content.edges, look_xy, rt, rng)
        point_vv, point_vh = self._points(content.points, look_xy, inc, rt, rng)
        vv += line_vv + point_vv
        vh += line_vh + point_vh

        out = np.empty((2, n, n), dtype=np.float32)
        for b, (band, nesz) in enumerate(((vv, cond["nesz_vv_db"]), (vh, cond["nesz_vh_db"]))):
            blurred = convolve1d(band, self.k_range, axis=1, mode="nearest")
            blurred = convolve1d(blurred, self.k_azimuth, axis=0, mode="nearest")
            speckle = gamma_from_gaussian(correlated_normal(rng, (n, n), sigma_px=0.5), ENL)
            signal = (blurred + _db(nesz)) * speckle * np.float32(acq.gains[b])
            out[b] = np.maximum(signal, FLOOR)
        return out

    def _sea(self, cond: dict, rt: Affine, rng: np.random.Generator) -> np.ndarray:
        """Mean-1 K-distribution texture times a wind- and shelter-dependent sea level."""
        n, res = self.size_px, self.res
        wind = GaussianField(rng, n, corr_px=1500.0 / res).sample()
        level_db = cond["water_vv_db"] + 1.0 * wind
        sheltered = coverage([self.layout.sheltered], transform=rt, size_px=n, supersample=1)
        level_db -= cond["shelter_db"] * gaussian_filter(sheltered, 80.0 / res)
        land = coverage([self.layout.land], transform=rt, size_px=n, supersample=1)
        dist_m = distance_transform_edt(land < 0.5) * res
        level_db -= 1.5 * np.exp(-dist_m / 300.0)
        angle = 90.0 - cond["wind_to_deg"]  # compass -> counter-clockwise from columns
        texture = GaussianField(
            rng,
            n,
            corr_px=cond["texture_corr_m"] / res,
            anisotropy=2.0,
            angle_deg=angle,
        ).sample()
        return _db(level_db) * gamma_from_gaussian(texture, cond["texture_shape"])

    def _land(
        self, acq: Acquisition, rt: Affine, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        shift = acq.shift_px
        urban = urban_weight(self.layout, rt, self.size_px)
        moisture = GaussianField(rng, self.size_px, corr_px=800.0 / self.res).sample()
        vv_db = (
            self.land_vv_db
            + 2.5 * self.relief.sample(shift)
            + 1.8 * self.parcels.sample(shift)
            + 0.8 * self.fine.sample(shift)
            + 3.0 * urban
            + 0.5 * moisture
        )
        vh_db = vv_db - self.land_pol_db + 1.0 * self.volume.sample(shift) - 2.0 * urban
        return _db(vv_db), _db(vh_db)

    def _lines(
        self, edges: np.ndarray, look_xy: np.ndarray, rt: Affine, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        n = self.size_px
        if len(edges) == 0:
            z = np.zeros((n, n), dtype=np.float32)
            return z, z
        # A wall facing the radar forms a dihedral with the ground or sea; its return is
        # sharply peaked around broadside, hence the high power of the facing cosine.
        facing = np.maximum(0.0, -(edges[:, 2] * look_xy[0] + edges[:, 3] * look_xy[1]))
        weight = (0.08 + 0.92 * facing**4) * edges[:, 4] / self.res
        col, row = to_pixel(rt, edges[:, 0], edges[:, 1])
        vv = splat((n, n), col, row, weight * 10.0 ** (edges[:, 5] / 10.0))
        return vv, vv * _db(-rng.uniform(9.0, 12.0))

    def _points(
        self,
        points: np.ndarray,
        look_xy: np.ndarray,
        inc: float,
        rt: Affine,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        n = self.size_px
        if len(points) == 0:
            z = np.zeros((n, n), dtype=np.float32)
            return z, z
        # Layover: a scatterer at height h is imaged h / tan(incidence) towards the radar.
        lay = points[:, 3] / math.tan(inc)
        x = points[:, 0] - look_xy[0] * lay
        y = points[:, 1] - look_xy[1] * lay
        col, row = to_pixel(rt, x, y)
        power = 10.0 ** (points[:, 2] / 10.0)
        vv = splat((n, n), col, row, power)
        vh = splat((n, n), col, row, power * 10.0 ** (-rng.uniform(5.0, 10.0, len(power)) / 10.0))
        return vv, vh
