"""Sensor conventions: which band is which, and what the numbers mean.

``prepare_s1`` and ``prepare_s2`` turn whatever a user's file holds into the form the
rest of the pipeline expects: named float32 bands, physical units, and NaN for every
invalid pixel (``nodata`` becomes NaN, so masks follow the data through resampling).

Sentinel-1
    Bands ``VV`` and (optionally) ``VH``, backscatter sigma0 in linear power. Files in
    dB are recognised (a description mentioning dB, or a negative median, which linear
    power cannot have) and converted. Band descriptions ``VV``/``VH`` decide the order
    when present (``Sigma0_VV``, ``VV_dB`` ... are recognised); otherwise band 1 is VV
    and band 2 is VH, unless the second is the brighter by over ``S1_SWAPPED_MIN_DB``
    (then VH, VV). A single VV band is accepted.

Sentinel-2 L2A
    Bands ``B02 B03 B04 B08`` as surface reflectance (digital number / 10000) and,
    optionally, ``B11`` (SWIR, when a band description names it) and ``SCL`` (scene
    classification, integer codes kept as floats). Band descriptions decide the order
    when present (``B2``, ``B02``, ``B8`` ...), otherwise the order B02 B03 B04 B08
    [SCL] is assumed (a fifth band whose numbers exceed SCL's classes is B11). Digital
    numbers are taken as harmonised to the pre-2022 scale (Sentinel Hub's default); pass
    ``offset`` for products carrying ``BOA_ADD_OFFSET``. A file whose numbers no surface
    could reflect at that scale is read as EO Browser's 16-bit export, reflectance x
    65535 (:func:`s2_digital_number_scale`), decided once per file.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

from imagery.atomic import file_version
from imagery.errors import BandError, EmptyRasterError, InputError
from imagery.raster import Raster
from imagery.reproject import to_metric

__all__ = [
    "S1_BANDS",
    "S2_BANDS",
    "S2_OPTIONAL_BANDS",
    "SCL_CLOUD_CLASSES",
    "SCL_OPAQUE_CLASSES",
    "SCL_WATER",
    "check_bands",
    "cloud_mask",
    "keep_shared",
    "prepare",
    "prepare_s1",
    "prepare_s2",
    "refuse_empty",
    "to_db",
]

S1_BANDS = ("VV", "VH")
#: Two undescribed S1 bands whose second lies this much above the first (median, dB)
#: are VH, VV: VV exceeds VH by 5-15 dB over every surface.
S1_SWAPPED_MIN_DB = 3.0
#: Sentinel-1 values below this are fill, whether the file holds dB or linear power:
#: no sigma0 lies 100 dB down (IW's noise floor is -22 to -26 dB), and linear power is
#: never negative. Exports mark missing pixels with -9999 or -32768 without always
#: declaring it; read as dB such a value would be a valid pixel of zero power, darker
#: than any water, and a swath's fill would split the scene's histogram on its own.
S1_FILL_BELOW = -100.0
#: Linear sigma0 above this (+60 dB) is no echo in a dB file: see :func:`prepare_s1`.
S1_MAX_LINEAR = 1e6
S2_BANDS = ("B02", "B03", "B04", "B08")
#: Kept when the input names them: B11 (SWIR 1.6 um, 20 m) tells what stands above the
#: water from what lies under it (``imagery.vessels``).
S2_OPTIONAL_BANDS = ("B11",)
#: SCL classes that hide the ground: 3 cloud shadow, 8/9 cloud medium/high probability,
#: 10 thin cirrus. (ESA Sentinel-2 L2A Product Definition, scene classification.)
SCL_CLOUD_CLASSES = (3, 8, 9, 10)
#: SCL class 3: cloud shadow.
SCL_CLOUD_SHADOW = 3
#: SCL class 10: thin cirrus, a smooth veil the ground is still seen through.
SCL_CIRRUS = 10
#: The SCL classes a hull cannot be seen through: cloud of medium and high probability.
#: A ship in a cloud's shadow or under thin cirrus keeps its contrast with the water
#: around it, dimmed or hazed; land change there does not (it is the shadow or haze).
SCL_OPAQUE_CLASSES = (8, 9)
#: SCL class 6 is water; 0 no data, 1 saturated or defective.
SCL_WATER = 6
SCL_INVALID = (0, 1)
#: SCL's classes run from 0 (no data) to 11 (snow).
SCL_MAX_CLASS = 11
#: A fifth undescribed band is B11 when more than this share of the valid pixels holds
#: numbers above SCL's classes: any SWIR band does almost everywhere, and an SCL band
#: resampled or filled beyond the swath hardly anywhere.
S2_SWIR_MIN_SHARE = 0.01
#: Surface reflectance above this over a quarter of a scene is hardly physical (fresh
#: snow and thick cloud tops reach about 0.9): the digital numbers may be on another
#: scale, which is warned of.
S2_MAX_UPPER_QUARTILE = 1.0
#: Reflectance above this over a hundredth of a scene is not physical (only specular
#: glint exceeds it, never over 1 % of a scene): the numbers are EO Browser's x 65535
#: (:func:`s2_digital_number_scale`). A harbour scene's water keeps the upper quartile
#: down while its land is read 6.5 times too bright.
S2_MAX_TOP_PERCENTILE = 1.5
#: Reflectance below this is fill (-9999 and the like in a float file, declared or not):
#: baseline 04.00's offset takes the darkest water to -0.1 at most (DN 0 less 1000).
S2_FILL_BELOW = -0.2
#: Reflectance of one digital number of L2A (harmonised to the pre-2022 scale).
L2A_SCALE = 1e-4
#: Reflectance of one digital number of EO Browser's 16-bit "raw" band exports
#: (reflectance x 65535; the sen2ships scenes: open sea B08 ~ 290, land ~ 11 400).
EO_BROWSER_SCALE = 1.0 / 65535.0
#: Pixels read (block averages) to decide a file's scale.
S2_SCALE_SAMPLE_PX = 4_000_000
#: SCL classes whose numbers say nothing of the scale: no data, saturated, cloud of
#: medium and high probability, cirrus, snow.
S2_SCALE_IGNORED_CLASSES = (0, 1, 8, 9, 10, 11)

log = logging.getLogger(__name__)
_WARNED: set[tuple[str, str]] = set()
#: Files whose whole-file read failed, by (path, version): each window then decides
#: by its own numbers, and the file is not read again until it changes.
_UNREADABLE: set[tuple[str, tuple[int, ...]]] = set()


def _warn_once(kind: str, source: str, message: str, *args) -> None:
    """Log ``message`` (``%`` arguments: ``source``, then ``args``) once per file and
    kind, not once per window of it read."""
    if (kind, source) in _WARNED:
        return
    _WARNED.add((kind, source))
    log.warning(message, source, *args)


_S1_NAME = re.compile(r"(?<![A-Z])(VV|VH|HH|HV)(?![A-Z])")
_S2_NAME = re.compile(r"(?<![A-Z0-9])B0?(\d{1,2})A?(?![0-9])")


def to_db(power: np.ndarray, *, floor: float = 1e-6) -> np.ndarray:
    """Linear power to decibels, ``10 log10(max(p, floor))``; NaN stays NaN."""
    with np.errstate(invalid="ignore"):
        return (10.0 * np.log10(np.maximum(power, floor))).astype(np.float32)


def _as_float_nan(raster: Raster, index: int) -> np.ndarray:
    """Band ``index`` as float32 with NaN for nodata, and for +-inf: no sensor measures
    an infinite backscatter or reflectance, and an infinity left in would spill NaN
    (inf - inf) through every difference taken near it."""
    band = raster.data[index].astype(np.float32, copy=True)
    nodata = raster.nodata
    if nodata is not None and not np.isnan(nodata):
        band[raster.data[index] == nodata] = np.nan
    band[np.isinf(band)] = np.nan
    return band


def _s1_order(raster: Raster, source: str) -> list[tuple[str, int]]:
    order = _s1_bands(raster.band_names, raster.count, source)
    if len(order) == 2 and not any(_S1_NAME.search(n.upper()) for n in raster.band_names):
        # Two undescribed bands are VV, VH by their place, unless the first is the
        # darker by more than any scene allows: co-polarised backscatter exceeds
        # cross-polarised over sea, land and town alike (by 5-15 dB), so the file lists
        # them VH, VV (alphabetically). Decided once per file, as S2's scale is.
        step = _whole_file_value(source, raster, _s1_band_step, "its bands' levels")
        if step is None:
            step = _band_step_db(_as_float_nan(raster, 0), _as_float_nan(raster, 1))
        if np.isinf(step):
            _warn_once("order", source, "%s: only its second band holds data; read as VH, VV")
            order = [("VV", 1), ("VH", 0)]
        elif step > S1_SWAPPED_MIN_DB:
            _warn_once(
                "order",
                source,
                "%s: its second band lies %.1f dB above its first; read as VH, VV "
                "(co-polarised backscatter is the brighter)",
                step,
            )
            order = [("VV", 1), ("VH", 0)]
    return order


def s1_bands_swapped(path: str | os.PathLike) -> bool:
    """Whether a two-band S1 file without band descriptions lists VH before VV
    (:func:`prepare_s1`'s rule, decided from the whole file)."""
    decided = _whole_file(os.fspath(path), _s1_band_step, "its bands' levels")
    return decided is not None and decided[0] > S1_SWAPPED_MIN_DB


def _band_step_db(first: np.ndarray, second: np.ndarray) -> float:
    """Median of the second band over the first, dB, where both hold positive values
    (linear power) or both finite values in dB (any negative median: dB already)."""
    first, second = (np.asarray(b, dtype=np.float64) for b in (first, second))
    if not _holds_sigma0(first).any() and _holds_sigma0(second).any():
        return np.inf  # the second alone holds data: VV, beside an unfilled VH
    # NaN compares False: missing and fill (S1_FILL_BELOW) are left out alike.
    both = _holds_sigma0(first) & _holds_sigma0(second)
    if not both.any():
        return 0.0
    a, b = first[both], second[both]
    if np.median(a) < 0 or np.median(b) < 0:  # dB already
        return float(np.median(b) - np.median(a))
    positive = (a > 0) & (b > 0)
    if not positive.any():
        return 0.0
    return float(10.0 * np.log10(np.median(b[positive]) / np.median(a[positive])))


@functools.lru_cache(maxsize=32)
def _s1_band_step(path: str, version: tuple[int, ...]) -> tuple[float, _FileGrid]:
    from imagery.io import raster_info, read_raster

    info = raster_info(path, sensor="s1")
    if info.count != 2 or any(_S1_NAME.search(n.upper()) for n in info.band_names):
        return 0.0, _FileGrid.of(info)
    decimation = _sample_decimation(info)
    read = read_raster(path, bands=[1, 2], decimation=decimation, require_valid=False)
    bands = [np.asarray(band, dtype=np.float64) for band in read.data]
    if read.nodata is not None and not np.isnan(read.nodata):
        bands = [np.where(band == read.nodata, np.nan, band) for band in bands]
    return _band_step_db(*bands), _FileGrid.of(info)


def _sample_decimation(info) -> int:
    """Block side reading about ``S2_SCALE_SAMPLE_PX`` pixels of a whole file."""
    return max(1, math.isqrt(info.width * info.height // S2_SCALE_SAMPLE_PX))


def _whole_file_value(source: str, raster: Raster, read, what: str):
    """The value ``read`` gives for the file ``source`` names (:func:`_whole_file`),
    when ``raster`` was read from that file; else None."""
    decided = _whole_file(source, read, what)
    if decided is None or not decided[1].holds(raster):
        return None
    return decided[0]


def _s1_bands(band_names: Sequence[str], count: int, source: str) -> list[tuple[str, int]]:
    names = [n.upper() for n in band_names]
    found: dict[str, int] = {}
    for i, name in enumerate(names):
        match = _S1_NAME.search(name)
        if match and match.group(1) in S1_BANDS and match.group(1) not in found:
            found[match.group(1)] = i
    if "VV" in found:
        return [(b, found[b]) for b in S1_BANDS if b in found]
    if "VH" in found:
        # VH is about 8 dB under VV: read as VV, every threshold set on VV would be off.
        raise BandError(
            f"{source}: holds VH but no VV (bands {list(band_names)}); Sentinel-1 detection "
            "needs VV, with VH beside it or alone"
        )
    if count in (1, 2):
        return list(zip(S1_BANDS[:count], range(count), strict=True))
    raise BandError(
        f"{source}: Sentinel-1 input needs 1 band (VV) or 2 bands (VV, VH), or band descriptions "
        f"naming VV/VH; got {count} bands {list(band_names) or '(no descriptions)'}"
    )


def _sample(values: np.ndarray) -> np.ndarray:
    """Up to about 200 000 of ``values``' finite values, evenly spread."""
    finite = values[np.isfinite(values)]
    return finite[:: max(1, finite.size // 200_000)]


def _looks_db(sample: np.ndarray, names: Sequence[str]) -> bool:
    if any("DB" in n.upper() for n in names):
        return True
    return bool(sample.size and np.median(sample) < 0)


#: Highest plausible scene median of VV sigma0, linear (+10 dB). Over a port, water,
#: fields and built-up ground put the median between about -25 and 0 dB; digital numbers
#: (amplitude, or power before calibration) lie tens of dB above any sigma0.
S1_MAX_MEDIAN_SIGMA0 = 10.0


def _check_sigma0(linear_sample: np.ndarray, source: str) -> None:
    """Refuse VV whose sampled linear values (:func:`_sample`, fill left out) have a
    median above :data:`S1_MAX_MEDIAN_SIGMA0`."""
    if linear_sample.size == 0:
        return
    median = float(np.median(linear_sample))
    if median > S1_MAX_MEDIAN_SIGMA0:
        raise InputError(
            f"{source}: VV reads as sigma0 with a median of {10 * np.log10(median):+.0f} dB, "
            "far above any scene's; it looks like digital numbers or amplitude: give "
            "calibrated sigma0 (linear power, or dB with 'dB' in the band names)"
        )


def prepare_s1(
    raster: Raster, *, source: str = "input", db: bool | None = None, window: bool = False
) -> Raster:
    """Sentinel-1 backscatter as named linear-power float32 bands with NaN for invalid pixels.

    Parameters
    ----------
    raster : Raster
        As read from a file: 1 or 2 bands, or more with VV/VH band descriptions.
    source : str
        Name used in error messages (the file path).
    db : bool, optional
        Force (True) or forbid (False) the dB-to-linear conversion; detected by default.
    window : bool, default False
        ``raster`` is one window of the file ``source`` names, read as part of the
        whole (tiled processing): its VH is dropped only when the whole file's VH holds
        nothing, so that every window of a file keeps the same bands. Otherwise the
        read decides (a scene cut to an AOI where VH is unfilled is VV alone).

    Returns
    -------
    Raster
        Bands ``("VV",)`` or ``("VV", "VH")``, float32 sigma0 (linear), ``nodata=nan``,
        ``sensor="s1"``. A VH band without a valid pixel where VV has some is dropped,
        with a warning.
    """
    order = _s1_order(raster, source)
    bands = np.stack([_as_float_nan(raster, i) for _, i in order])
    # Exactly 0 is fill in dB as in linear power: no measured sigma0 is 0.000 dB.
    bands[(bands < S1_FILL_BELOW) | (bands == 0)] = np.nan
    picked_names = [raster.band_names[i] if raster.band_names else "" for _, i in order]
    # One pass over VV serves both the dB guess and the plausibility check.
    sample = _sample(bands[0])
    if db if db is not None else _looks_db(sample, picked_names):
        with np.errstate(over="ignore"):
            bands = np.power(10.0, bands / 10.0, dtype=np.float32)
            linear_sample = np.power(10.0, sample / 10.0)
        # No echo reaches +60 dB (the brightest ships and corner reflectors +30 to +40):
        # above it, and at an overflow, is fill a resampler smeared (cubic beside -32768
        # rings far above any echo).
        bands[~(bands <= S1_MAX_LINEAR)] = np.nan
    else:
        # Linear power of exactly zero is the usual GRD border fill.
        bands[bands <= 0] = np.nan
        linear_sample = sample[sample > 0]
    _check_sigma0(linear_sample, source)
    names = tuple(b for b, _ in order)
    if len(names) == 2 and _vh_unfilled(raster, bands, source, window):
        # A single-polarisation pass stored as VV+VH with an unfilled VH: VV alone is
        # the scene (a VH of no pixel would leave the change test no looks to count).
        _warn_once("empty VH", source, "%s: its VH band holds no valid pixel; read as VV alone")
        bands, names = bands[:1], names[:1]
    return raster.replace(data=bands, nodata=float("nan"), sensor="s1", band_names=names)


def _holds_sigma0(band: np.ndarray) -> np.ndarray:
    """Where ``band`` (as read: dB or linear, NaN for nodata) holds a value: not fill
    below ``S1_FILL_BELOW``, not GRD's 0."""
    return (band >= S1_FILL_BELOW) & (band != 0)  # NaN compares False


def _vh_unfilled(raster: Raster, bands: np.ndarray, source: str, window: bool) -> bool:
    """Whether the scene has VV but no VH: in ``bands`` (VV, VH), or for a ``window``
    of the file ``source`` names, in the whole file (a window of a file whose VH ends
    short keeps its VH band, empty, as the whole scene does)."""
    if np.isfinite(bands[1]).any():
        return False
    if window:
        whole = _whole_file_value(source, raster, _s1_vh_unfilled_file, "its VH band")
        if whole is not None:
            return whole
    return bool(np.isfinite(bands[0]).any())


@functools.lru_cache(maxsize=32)
def _s1_vh_unfilled_file(path: str, version: tuple[int, ...]) -> tuple[bool, _FileGrid]:
    """Whether a two-band S1 file holds VV but no VH, from a block-averaged read."""
    from imagery.io import raster_info, read_raster

    info = raster_info(path, sensor="s1")
    read = read_raster(path, sensor="s1", decimation=_sample_decimation(info), require_valid=False)
    order = _s1_order(read, path)
    if len(order) != 2:
        return False, _FileGrid.of(info)
    vv, vh = (_holds_sigma0(_as_float_nan(read, i)).any() for _, i in order)
    return bool(vv and not vh), _FileGrid.of(info)


#: Why a scene that reads fine may hold no valid pixel once prepared.
_FILL = {
    "s1": "a sigma0 of exactly 0 is GRD nodata",
    "s2": "a digital number of 0 is L2A's fill",
}


def refuse_empty(scene: Raster, source: str = "input") -> None:
    """Raise :class:`~imagery.errors.EmptyRasterError` naming ``source`` when the prepared
    ``scene`` holds no pixel to detect on: none valid in every band, or for Sentinel-1
    none with VV (the band every S1 test reads)."""
    if scene.sensor == "s1" and scene.has_band("VV"):
        if not np.isfinite(scene.band("VV")).any():
            held = [b for b in scene.band_names if np.isfinite(scene.band(b)).any()]
            also = f" (only {', '.join(held)} holds data)" if held else f" ({_FILL['s1']})"
            raise EmptyRasterError(
                f"{source}: its VV band holds no valid pixel{also}; Sentinel-1 detection needs VV"
            )
        return
    if not scene.valid_mask().any():
        held = [b for b in scene.band_names if np.isfinite(scene.band(b)).any()]
        empty = [b for b in scene.band_names if b not in held]
        if held and empty:
            verb = "holds" if len(empty) == 1 else "hold"
            raise EmptyRasterError(
                f"{source}: {', '.join(empty)} {verb} no valid pixel where "
                f"{', '.join(held)} {'holds' if len(held) == 1 else 'hold'} data; nothing "
                "to detect"
            )
        why = _FILL.get(scene.sensor or "", "nodata in every pixel")
        raise EmptyRasterError(
            f"{source}: the scene holds no valid pixel ({why}); nothing to detect"
        )


def _s2_order(raster: Raster, source: str, *, whole_file: bool = True) -> list[tuple[str, int]]:
    """The band each index is taken for; ``whole_file`` False judges a fifth undescribed
    band on ``raster`` alone (it is the whole file, read already)."""
    order = _s2_bands(raster.band_names, raster.count, source)
    if [b for b, _ in order][4:] == ["SCL"] and not _names_scl(raster.band_names):
        # A fifth band taken for SCL by its place: SCL holds classes 0-11, a band of
        # reflectance numbers does not. Five undescribed bands are then B02 B03 B04
        # B08 B11, the order the 10 m bands and SWIR are listed in (sen2ships' stacks).
        # Decided once per file, as the scale is: a window of dark water alone might
        # hold no number above 11.
        share = None
        if whole_file:
            share = _whole_file_value(source, raster, _fifth_band_share, "its fifth band")
        if share is None:
            share = _share_above_classes(raster.data[order[0][1]], raster.data[order[4][1]])
        if share > S2_SWIR_MIN_SHARE:
            _warn_once(
                "swir",
                source,
                "%s: %.0f %% of its fifth band's numbers lie above SCL's classes (0-%d); "
                "read as B11",
                100 * share,
                SCL_MAX_CLASS,
            )
            order[4] = ("B11", order[4][1])
    return order


def _share_above_classes(first: np.ndarray, fifth: np.ndarray) -> float:
    """Share of the pixels with a first band (a spectral one: 0 and NaN are fill) whose
    fifth band lies above SCL's classes; a band beyond the swath or a fill value (255)
    on those pixels does not count."""
    valid = np.isfinite(first) & (first > 0) & np.isfinite(fifth)
    if not valid.any():
        return 0.0
    return float(np.count_nonzero(fifth[valid] > SCL_MAX_CLASS) / np.count_nonzero(valid))


def s2_fifth_band_is_swir(path: str | os.PathLike) -> bool:
    """Whether the fifth band of an S2 file without band descriptions is B11, not SCL
    (:func:`prepare_s2`'s rule, decided from the whole file)."""
    decided = _whole_file(os.fspath(path), _fifth_band_share, "its fifth band")
    return decided is not None and decided[0] > S2_SWIR_MIN_SHARE


@functools.lru_cache(maxsize=32)
def _fifth_band_share(path: str, version: tuple[int, ...]) -> tuple[float, _FileGrid]:
    from imagery.io import raster_info, read_raster

    info = raster_info(path, sensor="s2")
    if info.count < 5:
        return 0.0, _FileGrid.of(info)
    decimation = _sample_decimation(info)
    read = read_raster(path, bands=[1, 5], decimation=decimation, require_valid=False)
    first, fifth = (band.astype(np.float64) for band in read.data)
    if read.nodata is not None and not np.isnan(read.nodata):
        first = np.where(first == read.nodata, np.nan, first)
    return _share_above_classes(first, fifth), _FileGrid.of(info)


def _names_scl(band_names: Sequence[str]) -> bool:
    return any("SCL" in n.upper() for n in band_names)


def _s2_bands(band_names: Sequence[str], count: int, source: str) -> list[tuple[str, int]]:
    found: dict[str, int] = {}
    for i, name in enumerate(n.upper() for n in band_names):
        if "SCL" in name:
            found.setdefault("SCL", i)
            continue
        match = _S2_NAME.search(name)
        if match:
            found.setdefault(f"B{int(match.group(1)):02d}", i)
    if all(b in found for b in S2_BANDS):
        wanted = [b for b in (*S2_BANDS, *S2_OPTIONAL_BANDS, "SCL") if b in found]
        return [(b, found[b]) for b in wanted]
    if count in (4, 5):
        wanted = [*S2_BANDS, "SCL"][:count]
        return list(zip(wanted, range(count), strict=True))
    raise BandError(
        f"{source}: Sentinel-2 input needs bands B02 B03 B04 B08 [SCL] (4 or 5 bands in that order, "
        f"or band descriptions naming them, then B11 too); got {count} bands "
        f"{list(band_names) or '(no descriptions)'}"
    )


def check_bands(
    band_names: Sequence[str], count: int, sensor: str, *, source: str = "input"
) -> list[tuple[str, int]]:
    """Refuse, from a file's header alone, bands that :func:`prepare` would refuse.

    Parameters
    ----------
    band_names : sequence of str
        The file's band descriptions (empty when it has none), as
        :attr:`imagery.io.RasterInfo.band_names`.
    count : int
        Its number of bands.
    sensor : {"s1", "s2"}
    source : str
        Name used in error messages (the file path).

    Returns
    -------
    list of (str, int)
        The band each 0-based index is taken for, as :func:`prepare` orders them.

    Raises
    ------
    BandError
        The bands are not those of ``sensor`` (a Sentinel-2 file given as Sentinel-1).
    """
    if sensor == "s1":
        return _s1_bands(band_names, count, source)
    if sensor == "s2":
        return _s2_bands(band_names, count, source)
    raise InputError(f"sensor must be 's1' or 's2', got {sensor!r}")


def prepare_s2(
    raster: Raster,
    *,
    source: str = "input",
    scale: float | None = None,
    offset: float = 0.0,
    window: bool = False,
) -> Raster:
    """Sentinel-2 L2A as named float32 reflectance bands (+ SCL) with NaN for invalid pixels.

    Parameters
    ----------
    raster : Raster
        4 or 5 bands (B02 B03 B04 B08 [SCL]), or band descriptions naming them (then
        B11 too, when named; a file of six or more bands needs the descriptions).
    source : str
        Name used in error messages; when it names a file (or product folder), the file
        whose numbers decide the scale (see ``scale``).
    scale : float, optional
        Reflectance = (DN + offset) * scale. By default L2A's ``L2A_SCALE`` (1e-4),
        unless the numbers read at it are reflectance no surface has
        (:func:`s2_digital_number_scale`): then ``EO_BROWSER_SCALE`` (1 / 65535), with
        a warning. The choice is made once per file (from a block-averaged read of it
        when ``source`` names one), so every window of a tile is read alike. Values
        already in 0-1.5 (float reflectance) are kept as they are. Reflectance below
        zero reads as zero.
    offset : float
        Added to the digital numbers before scaling (``BOA_ADD_OFFSET``; 0 for
        harmonised numbers).
    window : bool, default False
        ``raster`` is one window of the file ``source`` names (tiled processing): an
        SCL of class 0 alone is dropped only when the whole file's is.

    Returns
    -------
    Raster
        Bands ``B02 B03 B04 B08 [B11] [SCL]``, float32, ``nodata=nan``, ``sensor="s2"``.
        Pixels with SCL 0 (no data) or 1 (saturated) are NaN in every band. B11 reads 0
        (not NaN) where its digital number is the nodata value under valid 10 m bands,
        and is dropped when it holds no data at all; so is an SCL band holding only
        class 0 (no data) where the other bands hold data, with a warning.
    """
    order = _s2_order(raster, source)
    spectral = np.stack([_as_float_nan(raster, i) for b, i in order if b != "SCL"])
    # Integers are digital numbers: reflectance 0-1 cannot be stored in them, and a
    # window almost all fill (0, -9999) would otherwise pass for reflectance.
    integers = np.issubdtype(raster.data.dtype, np.integer)
    if integers or not _already_reflectance(spectral):
        chosen = scale
        if chosen is None and offset == 0:  # an offset is L2A's own (BOA_ADD_OFFSET)
            scl = raster.data[dict(order)["SCL"]] if "SCL" in dict(order) else None
            from_file = _whole_file_value(source, raster, _decide_file_scale, "its scale")
            chosen = from_file or s2_digital_number_scale(spectral, scl)
        chosen = chosen or L2A_SCALE
        if scale is None and chosen != L2A_SCALE:
            _warn_once(
                "scale",
                source,
                "%s: its numbers read as L2A reflectance (x 10000) are brighter than any "
                "surface, so it is read as reflectance x 65535 (EO Browser's 16-bit "
                "exports); give --s2-scale 1e-4 if it is L2A",
            )
        spectral = (spectral + offset) * chosen
        # A DN of 0 is L2A's fill value in every band.
        spectral[:, (spectral <= offset * chosen).all(axis=0)] = np.nan
        upper, top = _upper_reflectance(spectral)
        implausible = upper > S2_MAX_UPPER_QUARTILE or top > S2_MAX_TOP_PERCENTILE
        if implausible:
            _warn_once(
                "scale",
                source,
                "%s: reflectance reads %.2f at the upper quartile and %.2f at the 99th "
                "percentile after scaling by %g; the file may hold reflectance x 65535 "
                "(a 16-bit EO Browser export) rather than L2A digital numbers x 10000: "
                "give --s2-scale 1.5259e-5",
                upper,
                top,
                chosen,
            )
    spectral[spectral < S2_FILL_BELOW] = np.nan
    # Below zero (baseline 04.00's offset lets dark water's noise go there) reads as zero,
    # as every product before that baseline held it: ratios and indices assume it.
    np.maximum(spectral, 0.0, out=spectral, where=np.isfinite(spectral))
    names = [b for b, _ in order if b != "SCL"]
    if "B11" in names:
        spectral, names = _settle_swir(spectral, names, source)
    layers = [spectral]
    if any(b == "SCL" for b, _ in order) and _scl_unfilled(
        raster, dict(order)["SCL"], source, window
    ):
        # A stack padded with an empty SCL (an L1C scene, an export without it): a
        # scene without SCL, not one of no data anywhere.
        _warn_once(
            "empty SCL", source, "%s: its SCL holds no class but 'no data'; read without SCL"
        )
        order = [(b, i) for b, i in order if b != "SCL"]
    if any(b == "SCL" for b, _ in order):
        scl_index = dict(order)["SCL"]
        scl = raster.data[scl_index].astype(np.float32)
        invalid = np.isin(scl, SCL_INVALID)
        spectral[:, invalid] = np.nan
        scl[invalid] = np.nan
        layers.append(scl[np.newaxis])
        names.append("SCL")
    return raster.replace(
        data=np.concatenate(layers).astype(np.float32),
        nodata=float("nan"),
        sensor="s2",
        band_names=tuple(names),
    )


def _scl_unfilled(raster: Raster, index: int, source: str, window: bool) -> bool:
    """Whether the scene's SCL (band ``index``) holds no class but 0 (no data) while its
    other bands hold data: in ``raster``, or for a ``window`` of the file ``source``
    names, in the whole file (a window where SCL ends short keeps it)."""
    if not _scl_without_classes(raster, index):
        return False
    if window:
        whole = _whole_file_value(source, raster, _s2_scl_unfilled_file, "its SCL band")
        if whole is not None:
            return whole
    return _others_hold_data(raster, index)


def _others_hold_data(raster: Raster, index: int) -> bool:
    """Whether a band other than ``index`` holds a value that is not 0, nodata or NaN."""
    others = np.delete(raster.data, index, axis=0)
    held = np.isfinite(others) if np.issubdtype(others.dtype, np.floating) else others == others
    held &= others != 0
    if raster.nodata is not None and not np.isnan(raster.nodata):
        held &= others != raster.nodata
    return bool(held.any())


@functools.lru_cache(maxsize=32)
def _s2_scl_unfilled_file(path: str, version: tuple[int, ...]) -> tuple[bool, _FileGrid]:
    """Whether an S2 file's SCL holds no class but 0 while its other bands hold data,
    from a block-averaged read (SCL read nearest)."""
    from imagery.io import raster_info, read_raster

    info = raster_info(path, sensor="s2")
    read = read_raster(path, sensor="s2", decimation=_sample_decimation(info), require_valid=False)
    order = dict(_s2_bands(read.band_names, read.count, path))
    if "SCL" not in order:
        return False, _FileGrid.of(info)
    index = order["SCL"]
    return _scl_without_classes(read, index) and _others_hold_data(read, index), _FileGrid.of(info)


def _scl_without_classes(raster: Raster, index: int) -> bool:
    """Whether band ``index`` (SCL) holds nothing but the no-data class (0), the file's
    nodata value or NaN."""
    scl = raster.data[index]
    held = np.isfinite(scl) if np.issubdtype(scl.dtype, np.floating) else np.ones(scl.shape, bool)
    held &= scl != 0
    if raster.nodata is not None and not np.isnan(raster.nodata):
        held &= scl != raster.nodata
    return not held.any()


def _settle_swir(spectral: np.ndarray, names: list[str], source: str):
    """B11 under valid 10 m bands is never missing: a digital number of 0 there (the
    file's nodata) is dark water clipped at zero, so it reads 0, not NaN, and does not
    invalidate the pixel. A B11 with no positive value is dropped."""
    k = names.index("B11")
    swir = spectral[k]
    core = np.isfinite(np.delete(spectral, k, axis=0)).all(axis=0)
    if not (core & (np.nan_to_num(swir) > 0)).any():
        log.warning("%s: B11 holds no data; the SWIR test is skipped", source)
        return np.delete(spectral, k, axis=0), [n for n in names if n != "B11"]
    swir[core & np.isnan(swir)] = 0.0
    return spectral, names


def keep_shared(rasters: Sequence[Raster], names: Iterable[str] | None = None) -> list[Raster]:
    """``rasters`` without the bands (among ``names``; default all) that not all of them have.

    Dates compared with each other are judged on the same evidence: a test that only
    one date can run (B11's SWIR test on a scene stored before B11 was downloaded, VH on
    a single-polarisation pass) would otherwise find on one date what it cannot find on
    the other.
    """
    candidates = set(rasters[0].band_names if names is None else names)
    drop = {b for b in candidates if not all(r.has_band(b) for r in rasters)}
    if not drop:
        return list(rasters)
    return [
        r.select([b for b in r.band_names if b not in drop]) if drop & set(r.band_names) else r
        for r in rasters
    ]


def _already_reflectance(spectral: np.ndarray) -> bool:
    # Fill (0, negative) is left out: it would pull the percentile down.
    finite = spectral[np.isfinite(spectral) & (spectral > 0)]
    return finite.size > 0 and np.nanpercentile(finite[::97], 99) <= 2.0


def _upper_reflectance(reflectance: np.ndarray) -> tuple[float, float]:
    """The upper quartile and 99th percentile of a scene's reflectance, every band."""
    sample = reflectance[:, ::7, ::7]
    sample = sample[np.isfinite(sample)]
    if not sample.size:
        return 0.0, 0.0
    upper, top = np.percentile(sample, [75, 99])
    return float(upper), float(top)


def s2_digital_number_scale(digital_numbers: np.ndarray, scl: np.ndarray | None = None) -> float:
    """The reflectance of one Sentinel-2 digital number: L2A's or EO Browser's.

    Read at L2A's ``L2A_SCALE``, a hundredth of a scene above reflectance
    ``S2_MAX_TOP_PERCENTILE`` (1.5) is no surface's: only specular glint exceeds it,
    never over 1 % of a scene, while fresh snow and thick cloud tops stay near 1.
    Such numbers are on EO Browser's 16-bit scale, reflectance x 65535
    (``EO_BROWSER_SCALE``), which L2A's reads 6.55 times too bright: every scene with
    land holds a hundredth brighter than 0.23 in some band. A quarter of a scene above
    ``S2_MAX_UPPER_QUARTILE`` (1.0) alone is not decisive (a scene under snow comes
    close) and is only warned of by :func:`prepare_s2`. Saturated numbers (65535) and,
    with SCL, pixels it calls no data, saturated, cloud, cirrus or snow do not count.

    Parameters
    ----------
    digital_numbers : ndarray, (band, row, col)
        The spectral bands' numbers, NaN where invalid (0, L2A's fill, is invalid).
    scl : ndarray, (row, col), optional
        The scene's classification, when it has one.

    Returns
    -------
    float
        ``L2A_SCALE`` or ``EO_BROWSER_SCALE``.
    """
    counted = (digital_numbers > 0) & (digital_numbers < 65535)
    if scl is not None:
        counted &= ~np.isin(scl, S2_SCALE_IGNORED_CLASSES)[np.newaxis]
    _, top = _upper_reflectance(np.where(counted, digital_numbers * L2A_SCALE, np.nan))
    return EO_BROWSER_SCALE if top > S2_MAX_TOP_PERCENTILE else L2A_SCALE


def s2_file_scale(path: str | os.PathLike) -> float | None:
    """The scale :func:`prepare_s2` reads the Sentinel-2 file (or product) ``path`` at
    by default: ``L2A_SCALE`` or ``EO_BROWSER_SCALE``; None when it holds float
    reflectance or cannot be read."""
    decided = _whole_file(os.fspath(path), _decide_file_scale, "its scale")
    return None if decided is None else decided[0]


@dataclasses.dataclass(frozen=True)
class _FileGrid:
    """The grid of a file: CRS, transform and (rows, cols)."""

    crs: object
    transform: object
    shape: tuple[int, int]

    @classmethod
    def of(cls, info) -> _FileGrid:
        return cls(info.crs, info.transform, (info.height, info.width))

    def holds(self, raster: Raster) -> bool:
        """``raster`` was read from this file: its CRS and pixel size, and inside it."""
        if raster.crs != self.crs or not np.allclose(
            (raster.transform.a, raster.transform.e), (self.transform.a, self.transform.e)
        ):
            return False
        col, row = ~self.transform * (raster.transform.c, raster.transform.f)
        rows, cols = raster.shape
        tol = 1e-6
        return (
            row > -tol
            and col > -tol
            and row + rows <= self.shape[0] + tol
            and col + cols <= self.shape[1] + tol
        )


def _whole_file(source: str, read, what: str):
    """``read(path, version)`` of the file ``source`` names (cached by ``read`` per
    version of the file, :func:`imagery.atomic.file_version`); None when ``source`` names no file, or
    when reading it failed: that is warned of once, and the file not read again until it
    changes."""
    try:
        stat = os.stat(source)
    except (OSError, ValueError, TypeError):
        return None
    key = (os.path.realpath(source), file_version(stat))
    if key in _UNREADABLE:
        return None
    try:
        return read(*key)
    except Exception as exc:  # the window's own read reports what is wrong with it
        _UNREADABLE.add(key)
        log.warning("%s: %s could not be read from the whole file (%s)", source, what, exc)
        return None


@functools.lru_cache(maxsize=32)
def _decide_file_scale(path: str, version: tuple[int, ...]) -> tuple[float | None, _FileGrid]:
    """:func:`s2_digital_number_scale` of a file from a block-averaged read of about
    ``S2_SCALE_SAMPLE_PX`` pixels (None for float reflectance), and its grid."""
    from imagery.io import raster_info, read_raster

    info = raster_info(path, sensor="s2")
    decimation = _sample_decimation(info)
    raster = read_raster(path, sensor="s2", decimation=decimation, require_valid=False)
    order = _s2_order(raster, path, whole_file=False)
    spectral = np.stack([_as_float_nan(raster, i) for b, i in order if b != "SCL"])
    scl = raster.data[dict(order)["SCL"]] if "SCL" in dict(order) else None
    numbers = np.issubdtype(np.dtype(info.dtype), np.integer) or not _already_reflectance(spectral)
    scale = s2_digital_number_scale(spectral, scl) if numbers else None
    return scale, _FileGrid.of(info)


def prepare(
    raster: Raster,
    sensor: str,
    *,
    source: str = "input",
    grid: str = "metric",
    s2_scale: float | None = None,
    window: bool = False,
) -> Raster:
    """:func:`prepare_s1` or :func:`prepare_s2` by ``sensor``, on a metric grid.

    ``grid`` says which grids are warped onto UTM (:func:`imagery.reproject.to_metric`):
    ``"metric"`` any whose map unit is not a ground metre (geographic, Web Mercator),
    ``"square"`` only geographic ones, ``"native"`` none. ``s2_scale`` is the
    reflectance of one Sentinel-2 digital number; by default the file ``source`` names
    tells it (:func:`prepare_s2`: L2A's 1e-4, or 1 / 65535 for EO Browser's 16-bit
    exports). ``window``: ``raster`` is a window of that file, whose unfilled bands
    the whole file decides (:func:`prepare_s1`).
    """
    if s2_scale is not None and s2_scale <= 0:
        raise InputError(f"{source}: s2_scale must be positive, not {s2_scale}")
    if sensor == "s1":
        prepared = prepare_s1(raster, source=source, window=window)
    elif sensor == "s2":
        scale = {} if s2_scale is None else {"scale": s2_scale}
        prepared = prepare_s2(raster, source=source, window=window, **scale)
    else:
        raise InputError(f"sensor must be 's1' or 's2', got {sensor!r}")
    return to_metric(prepared, mode=grid, source=source)


def cloud_mask(raster: Raster, classes: Sequence[int] = SCL_CLOUD_CLASSES) -> np.ndarray:
    """Boolean (row, col): True where SCL says cloud, cloud shadow or cirrus (or the
    given ``classes``, e.g. :data:`SCL_OPAQUE_CLASSES`).

    All False when the raster has no SCL band (a caller that needs clouds masked must
    then rely on its own test, e.g. a brightness threshold).
    """
    if not raster.has_band("SCL"):
        return np.zeros(raster.shape, dtype=bool)
    return np.isin(raster.band("SCL"), classes)
