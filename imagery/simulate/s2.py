"""Sentinel-2 L2A rendering: B02 B03 B04 B08 surface reflectance x 10000 and SCL.

Surface reflectance is built from dark water (with turbidity near the coast and sun
glint), vegetated and bare or built-up land from ground-fixed fields, the port's flat
surfaces, roofs, ships and cargo in their own colours, whitecaps, and sun shadows of
everything tall. A mild Gaussian MTF blurs it. On cloudy dates fractal cumulus (thin,
semi-transparent edges, bright cores) and their shadows, offset along the sun's
azimuth by the cloud height over the tangent of the sun elevation, are composited, and
sometimes a thin cirrus veil. The date's per-band gain and offset and sensor noise
follow; the scene classification (SCL) is derived at 20 m as L2A does and
nearest-upsampled.

References
----------
Main-Knorn, M., et al. (2017). Sen2Cor for Sentinel-2. Proc. SPIE 10427.
https://doi.org/10.1117/12.2278218
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from scipy.ndimage import distance_transform_edt, gaussian_filter

from imagery.simulate.acquisition import Acquisition
from imagery.simulate.fields import GaussianField
from imagery.simulate.grid import block_lut_mean, burn_ids, coverage, render_transform, splat
from imagery.simulate.layout import Layout
from imagery.simulate.scene import SceneContent, shadow_polygons, urban_weight

__all__ = ["BANDS", "S2Renderer", "draw_conditions"]

BANDS = ("B02", "B03", "B04", "B08", "SCL")
SCL_NODATA, SCL_SHADOW, SCL_VEG, SCL_BARE, SCL_WATER = 0, 3, 4, 5, 6
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS = 8, 9, 10

_VEG = np.array([0.03, 0.06, 0.035, 0.30], dtype=np.float32)
_SOIL = np.array([0.07, 0.09, 0.11, 0.17], dtype=np.float32)
_BUILT = np.array([0.10, 0.11, 0.12, 0.15], dtype=np.float32)
#: Fraction of light lost in a sun shadow: diffuse skylight is bluer, so blue keeps more.
_SHADOW_LOSS = np.array([0.5, 0.55, 0.6, 0.7], dtype=np.float32)[:, None, None]
_NOISE_SCALE = np.array([1.0, 0.9, 0.9, 1.1], dtype=np.float32)


def draw_conditions(rng: np.random.Generator) -> dict:
    """Water colour, glint, wind, clouds and noise of one acquisition."""
    cloudy = bool(rng.random() < 0.5)
    return {
        "water": [
            round(float(rng.uniform(0.04, 0.07)), 4),
            round(float(rng.uniform(0.03, 0.06)), 4),
            round(float(rng.uniform(0.01, 0.035)), 4),
            round(float(rng.uniform(0.005, 0.018)), 4),
        ],
        "turbidity": round(float(rng.uniform(0.0, 1.0)), 3),
        "glint": round(float(rng.uniform(0.0, 0.02) if rng.random() < 0.5 else 0.0), 4),
        "whitecaps_per_km2": round(float(rng.uniform(0.0, 40.0) if rng.random() < 0.5 else 0.0), 1),
        "cloudy": cloudy,
        "cloud_cover": round(float(rng.uniform(0.03, 0.35)), 3) if cloudy else 0.0,
        "cloud_height_m": round(float(rng.uniform(800.0, 2500.0)), 1),
        "cirrus": round(float(rng.uniform(0.05, 0.2)), 3) if rng.random() < 0.2 else 0.0,
        "noise": round(float(rng.uniform(0.002, 0.006)), 4),
        "greenness": round(float(rng.uniform(0.9, 1.1)), 3),
    }


class S2Renderer:
    """Renders the scenes of one Sentinel-2 simulation on a fixed nominal grid."""

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
        self.parcels = GaussianField(rng, size_px, corr_px=80.0 / px)
        self.soil = GaussianField(rng, size_px, corr_px=150.0 / px)
        self.fine = GaussianField(rng, size_px, corr_px=1.5)
        self.veg_bias = float(rng.uniform(-0.5, 1.5))

    def render(
        self, content: SceneContent, acq: Acquisition, cond: dict, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """One scene and its cloud opacity.

        Returns
        -------
        data : ndarray, shape (5, n, n), uint16
            B02 B03 B04 B08 (reflectance x 10000, never 0) and SCL.
        cloud : ndarray, shape (n, n), float32
            Opacity 0-1 of cloud over each pixel.
        """
        n = self.size_px
        rt = render_transform(self.transform, acq.shift_px)
        parts = content.parts
        # rows: water, natural land, fixed man-made B02..B08, movable objects B02..B08
        lut = np.zeros((10, len(parts) + 1), dtype=np.float32)
        lut[0, 0] = 1.0
        for i, p in enumerate(parts, start=1):
            if p.material == "natural":
                lut[1, i] = 1.0
            elif p.material == "water":
                lut[0, i] = 1.0
            elif p.look is not None:
                rows = slice(2, 6) if i <= content.n_fixed else slice(6, 10)
                lut[rows, i] = p.look.reflectance
        ids = burn_ids(
            ((p.geometry, i) for i, p in enumerate(parts, start=1)),
            transform=rt,
            size_px=n,
            supersample=self.ss,
        )
        layers = block_lut_mean(ids, lut, supersample=self.ss)
        del ids
        f_water, f_land, made, objects = layers[0], layers[1], layers[2:6], layers[6:]
        land_cover = coverage([self.layout.land], transform=rt, size_px=n, supersample=1)
        dist_m = distance_transform_edt(land_cover < 0.5) * self.res

        refl = f_water * self._water(cond, dist_m, rng) + f_land * self._land(acq, cond, rt) + made
        elev = max(acq.sun_elevation_deg, 5.0)
        shadows = shadow_polygons(
            content.casters,
            azimuth_deg=(acq.sun_azimuth_deg + 180.0) % 360.0,
            metres_per_metre=1.0 / math.tan(math.radians(elev)),
        )
        if shadows:
            # Shadows fall on the ground and water; decks and stacks stay lit.
            refl *= 1.0 - _SHADOW_LOSS * coverage(
                shadows, transform=rt, size_px=n, supersample=self.ss
            )
        refl += objects
        refl += self._whitecaps(cond, f_water, dist_m, rng)
        for b, sigma in enumerate((0.45, 0.45, 0.45, 0.5)):
            refl[b] = gaussian_filter(refl[b], sigma)

        cloud, cloud_shadow, cirrus = self._clouds(acq, cond, rng)
        if cloud_shadow is not None:
            refl *= 1.0 - _SHADOW_LOSS * (cloud_shadow * (1.0 - cloud))
        if cirrus is not None:
            refl = refl * (1.0 - 0.4 * cirrus) + cirrus * np.float32(0.2)
        if cloud is not None:
            core = np.clip(cloud * 1.5, 0.0, 1.0)
            base = float(rng.uniform(0.35, 0.8))
            tint = np.array([1.05, 1.03, 1.0, 0.97], dtype=np.float32)[:, None, None]
            bright = tint * base * (0.7 + 0.3 * core)
            refl = refl * (1.0 - cloud) + cloud * bright

        gains = np.array(acq.gains, dtype=np.float32)[:, None, None]
        offsets = np.array(acq.offsets, dtype=np.float32)[:, None, None]
        noise = rng.standard_normal(refl.shape, dtype=np.float32)
        noise *= np.float32(cond["noise"]) * _NOISE_SCALE[:, None, None]
        observed = refl * gains + offsets + noise
        dn = np.clip(np.rint(observed * 10000.0), 1, 65535).astype(np.uint16)
        scl = self._scl(observed, f_water, cloud, cloud_shadow, cirrus)
        opacity = cloud if cloud is not None else np.zeros((n, n), dtype=np.float32)
        return np.concatenate([dn, scl[np.newaxis]]), opacity

    def _water(self, cond: dict, dist_m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = self.size_px
        base = np.array(cond["water"], dtype=np.float32)[:, None, None]
        plume = 0.5 + 0.5 * GaussianField(rng, n, corr_px=1000.0 / self.res).sample()
        near = np.exp(-dist_m / 500.0).astype(np.float32)
        turbid = np.clip(cond["turbidity"] * (0.4 * plume + 0.6 * near), 0.0, 1.5)
        colour = np.array([0.008, 0.02, 0.018, 0.004], dtype=np.float32)[:, None, None]
        water = base + colour * turbid
        if cond["glint"] > 0:
            ramp = np.linspace(0.5, 1.5, n, dtype=np.float32)
            tilt = ramp[np.newaxis, :] if rng.random() < 0.5 else ramp[:, np.newaxis]
            waves = GaussianField(rng, n, corr_px=1.5).sample()
            glint = cond["glint"] * tilt * np.maximum(0.0, 1.0 + 0.6 * waves)
            water = water + np.array([1.0, 1.0, 1.0, 0.9], dtype=np.float32)[:, None, None] * glint
        return water

    def _land(self, acq: Acquisition, cond: dict, rt: Affine) -> np.ndarray:
        shift = acq.shift_px
        urban = urban_weight(self.layout, rt, self.size_px)
        logit = (
            self.veg_bias
            + 1.5 * self.relief.sample(shift)
            + 1.0 * self.parcels.sample(shift)
            - 3.0 * urban
        )
        veg = 1.0 / (1.0 + np.exp(-logit))
        fine = 1.0 + 0.12 * self.fine.sample(shift)
        soil = 1.0 + 0.15 * self.soil.sample(shift)
        green = _VEG.copy()
        green[3] *= cond["greenness"]
        bare = _SOIL[:, None, None] * (1.0 - urban) + _BUILT[:, None, None] * urban
        return (veg * green[:, None, None] * fine + (1.0 - veg) * bare * soil).astype(np.float32)

    def _whitecaps(
        self, cond: dict, f_water: np.ndarray, dist_m: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        n = self.size_px
        out = np.zeros((4, n, n), dtype=np.float32)
        area_km2 = float((f_water > 0.99).sum()) * self.res**2 / 1e6
        count = rng.poisson(cond["whitecaps_per_km2"] * area_km2)
        if count == 0:
            return out
        col = rng.uniform(0, n, count)
        row = rng.uniform(0, n, count)
        ci, ri = col.astype(int), row.astype(int)
        ok = (f_water[ri, ci] > 0.99) & (dist_m[ri, ci] > 200.0)
        amount = rng.uniform(0.05, 0.4, count)[ok] * 0.5
        foam = splat((n, n), col[ok], row[ok], amount)
        for b, k in enumerate((1.0, 1.0, 0.95, 0.8)):
            out[b] = foam * k
        return out

    def _clouds(self, acq: Acquisition, cond: dict, rng: np.random.Generator):
        n = self.size_px
        cirrus = None
        if cond["cirrus"] > 0:
            # Thin cirrus: a smooth veil over part of the scene, a few hundredths thick.
            veil = GaussianField(rng, n, corr_px=1500.0 / self.res).sample()
            cover = np.clip((veil - rng.uniform(-0.5, 0.8)) / 1.5, 0.0, 1.0)
            cirrus = (cond["cirrus"] * cover).astype(np.float32)
        if not cond["cloudy"]:
            return None, None, cirrus
        elev = max(acq.sun_elevation_deg, 5.0)
        offset_m = cond["cloud_height_m"] / math.tan(math.radians(elev))
        az = math.radians((acq.sun_azimuth_deg + 180.0) % 360.0)
        ox = round(offset_m * math.sin(az) / self.res)
        oy = round(-offset_m * math.cos(az) / self.res)
        pad = max(abs(ox), abs(oy)) + 2
        big = n + 2 * pad
        field = GaussianField(rng, big, corr_px=big / 2.0, beta=3.2, pad_px=1).sample()
        thr = float(np.quantile(field, 1.0 - cond["cloud_cover"]))
        soft = float(rng.uniform(0.3, 0.8))
        opacity = np.clip((field - thr) / soft, 0.0, 1.0) ** 0.8
        cloud = opacity[pad : pad + n, pad : pad + n]
        shadow = opacity[pad - oy : pad - oy + n, pad - ox : pad - ox + n]
        return cloud.astype(np.float32), shadow.astype(np.float32), cirrus

    def _scl(self, observed, f_water, cloud, shadow, cirrus) -> np.ndarray:
        n = self.size_px
        m = (n + 1) // 2

        def coarse(a: np.ndarray) -> np.ndarray:
            padded = np.pad(a, ((0, 2 * m - n), (0, 2 * m - n)), mode="edge")
            return padded.reshape(m, 2, m, 2).mean(axis=(1, 3))

        blue, red, nir = coarse(observed[0]), coarse(observed[2]), coarse(observed[3])
        ndvi = (nir - red) / np.maximum(nir + red, 1e-4)
        scl = np.full((m, m), SCL_BARE, dtype=np.uint16)
        scl[ndvi >= 0.4] = SCL_VEG
        water = coarse(f_water) >= 0.5
        scl[water] = SCL_WATER
        # Like Sen2Cor, take bright, spectrally flat ground (white roofs) for cloud.
        scl[~water & (blue >= 0.25) & (blue >= 0.9 * red)] = SCL_CLOUD_MEDIUM
        if shadow is not None and cloud is not None:
            scl[coarse(shadow * (1.0 - cloud)) >= 0.35] = SCL_SHADOW
        if cirrus is not None:
            scl[coarse(cirrus) >= 0.08] = SCL_CIRRUS
        if cloud is not None:
            c = coarse(cloud)
            scl[c >= 0.3] = SCL_CLOUD_MEDIUM
            scl[c >= 0.7] = SCL_CLOUD_HIGH
        return np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1)[:n, :n]
