"""Co-registration of a moving scene onto a reference scene: measured, applied, or refused.

Sentinel scenes of one port are misregistered by 1-3 pixels between dates (Skakun et
al. 2017), enough to make every quay edge look like change. This module estimates the
misregistration as a translation or an affine model from sub-pixel shifts measured in a
grid of windows, applies it by resampling the original moving data once onto the
reference grid, and refuses (:class:`~imagery.errors.CoregistrationError`) rather than
guess when the scenes barely overlap, are clouded out, do not correlate, or disagree by
more than ``max_shift_px``.

>>> from imagery.coregister import coregister
>>> aligned, reg = coregister(reference, moving)  # doctest: +SKIP
>>> reg.shift_x_px, reg.shift_y_px, reg.rmse_px, reg.confidence  # doctest: +SKIP

The method (details in :mod:`imagery.registration`): gradient-orientation correlation
(Fitch et al. 2002) of windows in FFT batches, sub-pixel peaks by upsampled DFT
(Guizar-Sicairos et al. 2008), each window measured again after re-centring on its first
estimate, and a robust fit (consensus, then iterated least squares) of a translation or,
when enough well-spread windows make it significant, an affine model. The outline is
that of AROSICS (Scheffler et al. 2017).

References
----------
Skakun, S., Roger, J.-C., Vermote, E. F., Masek, J. G. & Justice, C. O. (2017).
    Automatic sub-pixel co-registration of Landsat-8 Operational Land Imager and
    Sentinel-2A Multi-Spectral Instrument images using phase correlation and machine
    learning based mapping. International Journal of Digital Earth 10(12), 1253-1269.
    doi:10.1080/17538947.2017.1304586
Scheffler, D., Hollstein, A., Diedrich, H., Segl, K. & Hostert, P. (2017). AROSICS: an
    automated and robust open-source image co-registration software for multi-sensor
    satellite data. Remote Sensing 9(7), 676. doi:10.3390/rs9070676
Guizar-Sicairos, M., Thurman, S. T. & Fienup, J. R. (2008). Efficient subpixel image
    registration algorithms. Optics Letters 33(2), 156-158. doi:10.1364/OL.33.000156
Fitch, A. J., Kadyrov, A., Christmas, W. J. & Kittler, J. (2002). Orientation
    correlation. Proc. British Machine Vision Conference, 133-142. doi:10.5244/C.16.11
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from imagery.errors import CoregistrationError, InputError
from imagery.io import raster_info
from imagery.raster import Raster
from imagery.registration.apply import (
    apply_registration,
    apply_registration_files,
    corrected_transform,
)
from imagery.registration.estimate import Options, decide
from imagery.registration.features import profile_for
from imagery.registration.measure import measure
from imagery.registration.model import Registration
from imagery.registration.regrid import (
    mask_onto,
    onto_reference,
    overlap_window,
    same_grid,
)
from imagery.registration.windows import ArraySource, FileSource, plan_grid
from imagery.sensors import check_bands
from imagery.water import water_mask_file

__all__ = [
    "CoregistrationError",
    "Registration",
    "apply_registration",
    "apply_registration_files",
    "coregister",
    "coregister_files",
    "corrected_transform",
    "estimate_registration",
    "estimate_registration_files",
]

log = logging.getLogger(__name__)


def _check_mask(mask: np.ndarray | None, shape: tuple[int, int], what: str) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise InputError(
            f"{what} must be a (row, col) mask of the scene's shape {tuple(shape)}, got {mask.shape}"
        )
    return mask.astype(bool, copy=False)


def _one_sensor(reference: str | None, moving: str | None, given: str | None, what: str):
    """The sensor to register with; scenes of two different sensors are not compared."""
    if reference and moving and reference != moving:
        raise InputError(
            f"{what}: the reference is {reference} but the moving scene is {moving}; "
            f"co-register scenes of one sensor"
        )
    sensor = given or reference or moving
    if sensor not in (None, "s1", "s2"):
        raise InputError(f"sensor must be 's1' or 's2', got {sensor!r}")
    return sensor


def _grid_or_refuse(overlap, shape, options: Options, window_option: str | None = None):
    grid = plan_grid(
        overlap,
        shape,
        window_px=options.window_px,
        spacing_px=options.spacing_px,
        margin_px=options.margin_px,
        max_windows=options.max_windows,
    )
    row0, row1, col0, col1 = overlap
    if row1 <= row0 or col1 <= col0:
        raise CoregistrationError(
            f"the scenes do not overlap: no pixel of the reference ({shape[0]} x {shape[1]} px) "
            f"is covered by the moving scene",
            reason="overlap",
        )
    if grid.size == 0:
        need = options.window_px + 2 * options.margin_px
        hint = f" (a smaller {window_option} may do)" if window_option else ""
        raise CoregistrationError(
            f"the scenes overlap by {row1 - row0} x {col1 - col0} px of the reference "
            f"({shape[0]} x {shape[1]} px); one {options.window_px}-px window with its search "
            f"margin needs {need} x {need} px{hint}",
            reason="overlap",
        )
    return grid


def estimate_registration(
    reference: Raster,
    moving: Raster,
    *,
    exclude_reference: np.ndarray | None = None,
    exclude_moving: np.ndarray | None = None,
    window_px: int = 128,
    spacing_px: int | None = None,
    max_shift_px: float = 5.0,
    model: str = "auto",
    min_windows: int = 6,
    min_confidence: float = 0.2,
    sensor: str | None = None,
    window_option: str | None = None,
    **options,
) -> Registration:
    """Estimate how ``moving`` is displaced relative to ``reference``.

    Parameters
    ----------
    reference, moving : Raster
        Prepared scenes (:func:`imagery.sensors.prepare_s1` / ``prepare_s2``): S1 linear
        ``VV`` [``VH``], S2 reflectance ``B02 B03 B04 B08`` [``B11``] [``SCL``], NaN for nodata.
        ``moving`` may be on another grid, CRS or resolution; it is resampled onto the
        reference grid (cubic) for the measurement only.
    exclude_reference, exclude_moving : ndarray of bool, shape (row, col), optional
        True where a pixel must not be used (water, known change), each on its own
        raster's grid. S2 SCL clouds, shadows, cirrus and water are excluded anyway.
    window_px : int, default 128
        Side of the square correlation windows, pixels.
    spacing_px : int, optional
        Grid spacing, pixels; by default a quarter window, widened on large scenes to
        keep about 2048 windows.
    max_shift_px : float, default 5.0
        Refuse when the model moves any used window, or the centre, by more.
    model : {"auto", "translation", "affine"}
        "auto" fits an affine model only when enough well-spread windows support it and
        it lowers the residual significantly.
    min_windows : int, default 6
        Fewer valid, correlated or agreeing windows than this is a refusal.
    min_confidence : float, default 0.2
        Refuse below this :attr:`Registration.confidence`.
    sensor : {"s1", "s2"}, optional
        Defaults to the rasters' own ``sensor``.
    window_option : str, optional
        How the caller's user sets ``window_px`` (``"--window-px"`` on the command
        line): a refusal of an overlap smaller than one window then suggests a smaller
        one. By default it suggests nothing, as when the caller picks the windows.
    **options
        Advanced: ``min_coherence`` (per-window peak, default 0.4 for S2, 0.5 for S1),
        ``min_psr`` (peak-to-sidelobe, 8), ``min_valid_fraction`` (usable pixels per
        window in both scenes, 0.4), ``max_windows`` (2048), ``refine`` (True).

    Returns
    -------
    Registration

    Raises
    ------
    CoregistrationError
        ``reason`` "overlap", "windows", "max_shift" or "correlation", with a message
        saying by how much.
    InputError
        Bad options or mask shapes.
    """
    opts = Options(
        window_px=window_px,
        spacing_px=spacing_px,
        max_shift_px=max_shift_px,
        model=model,
        min_windows=min_windows,
        min_confidence=min_confidence,
        **options,
    )
    sensor = _one_sensor(reference.sensor, moving.sensor, sensor, "estimate_registration")
    exclude_reference = _check_mask(exclude_reference, reference.shape, "exclude_reference")
    exclude_moving = _check_mask(exclude_moving, moving.shape, "exclude_moving")
    overlap = overlap_window(
        reference.shape, reference.transform, reference.crs, moving.bounds, moving.crs
    )
    grid = _grid_or_refuse(overlap, reference.shape, opts, window_option)
    if not same_grid(
        reference.transform,
        reference.crs,
        reference.shape,
        moving.transform,
        moving.crs,
        moving.shape,
    ):
        if exclude_moving is not None:
            exclude_moving = mask_onto(
                exclude_moving,
                moving.transform,
                moving.crs,
                (reference.transform, reference.crs, reference.shape),
            )
        moving = onto_reference(moving, reference)
    source = ArraySource(
        reference,
        moving,
        sensor=sensor,
        exclude_reference=exclude_reference,
        exclude_moving=exclude_moving,
    )
    profile = profile_for(sensor)
    meas = measure(source, grid, profile=profile, options=opts)
    return decide(
        meas,
        grid,
        options=opts,
        profile=profile,
        reference_shape=reference.shape,
        reference_transform=reference.transform,
        reference_crs=reference.crs,
        sensor=sensor,
    )


def estimate_registration_files(
    reference_path: str | os.PathLike,
    moving_path: str | os.PathLike,
    *,
    sensor: str | None = None,
    exclude_reference: np.ndarray | None = None,
    exclude_moving: np.ndarray | None = None,
    window_px: int = 128,
    spacing_px: int | None = None,
    max_shift_px: float = 5.0,
    model: str = "auto",
    min_windows: int = 6,
    min_confidence: float = 0.2,
    s2_scale: float | None = None,
    window_option: str | None = None,
    **options,
) -> Registration:
    """:func:`estimate_registration` on two raster files, reading only the strips it measures.

    Memory stays at a few strips of the reference width whatever the scene size; a
    moving file on another grid is warped strip by strip through a WarpedVRT. Files
    whose bands are not the sensor's are refused before any pixel is read, and every
    refusal names both files.

    Parameters
    ----------
    reference_path, moving_path : path-like
        GeoTIFFs (or anything GDAL reads) as exported: S1 VV [VH] in linear power or
        dB, S2 ``B02 B03 B04 B08 [B11] [SCL]`` digital numbers or reflectance; other layouts
        are reduced to the mean of their bands.
    sensor : {"s1", "s2"}, optional
        Defaults to the ``SENSOR`` tag of the reference file.
    s2_scale : float, optional
        Reflectance per S2 digital number; by default each file's numbers tell it
        (:func:`imagery.sensors.s2_file_scale`: L2A's 1e-4 or EO Browser's 1 / 65535).
    others
        As for :func:`estimate_registration`.

    Raises
    ------
    BandError
        A file does not have the sensor's bands (named in the message).
    CoregistrationError
        As :func:`estimate_registration`; the message starts with
        ``"<moving> onto <reference>: "``.
    """
    reference_path, moving_path = Path(reference_path), Path(moving_path)
    ref_info, mov_info = raster_info(reference_path), raster_info(moving_path)
    sensor = _one_sensor(ref_info.sensor, mov_info.sensor, sensor, f"{moving_path}")
    _check_bands((ref_info, mov_info), sensor)
    opts = Options(
        window_px=window_px,
        spacing_px=spacing_px,
        max_shift_px=max_shift_px,
        model=model,
        min_windows=min_windows,
        min_confidence=min_confidence,
        **options,
    )
    try:
        return _estimate_files(
            ref_info,
            mov_info,
            sensor=sensor,
            exclude_reference=exclude_reference,
            exclude_moving=exclude_moving,
            s2_scale=s2_scale,
            window_option=window_option,
            options=opts,
        )
    except CoregistrationError as exc:
        raise CoregistrationError(
            f"{moving_path} onto {reference_path}: {exc}", reason=exc.reason
        ) from exc


def _check_bands(infos, sensor: str | None) -> None:
    """Refuse, from their headers, files whose bands are not ``sensor``'s."""
    if sensor is None:
        return  # any raster: the mean of its bands is measured
    for info in infos:
        check_bands(info.band_names, info.count, sensor, source=str(info.path))


def _estimate_files(
    ref_info,
    mov_info,
    *,
    sensor: str | None,
    exclude_reference: np.ndarray | None,
    exclude_moving: np.ndarray | None,
    s2_scale: float | None,
    window_option: str | None,
    options: Options,
) -> Registration:
    """The body of :func:`estimate_registration_files`, on the files' headers."""
    reference_path, moving_path, opts = ref_info.path, mov_info.path, options
    ref_shape = (ref_info.height, ref_info.width)
    exclude_reference = _check_mask(exclude_reference, ref_shape, "exclude_reference")
    exclude_moving = _check_mask(
        exclude_moving, (mov_info.height, mov_info.width), "exclude_moving"
    )
    overlap = overlap_window(
        ref_shape, ref_info.transform, ref_info.crs, mov_info.bounds, mov_info.crs
    )
    grid = _grid_or_refuse(overlap, ref_shape, opts, window_option)
    same = same_grid(
        ref_info.transform,
        ref_info.crs,
        ref_shape,
        mov_info.transform,
        mov_info.crs,
        (mov_info.height, mov_info.width),
    )
    if exclude_moving is not None and not same:
        exclude_moving = mask_onto(
            exclude_moving,
            mov_info.transform,
            mov_info.crs,
            (ref_info.transform, ref_info.crs, ref_shape),
        )
    profile = profile_for(sensor)
    with FileSource(
        reference_path,
        moving_path,
        sensor=sensor,
        exclude_reference=exclude_reference,
        exclude_moving=exclude_moving,
        s2_scale=s2_scale,
    ) as source:
        meas = measure(source, grid, profile=profile, options=opts)
    return decide(
        meas,
        grid,
        options=opts,
        profile=profile,
        reference_shape=ref_shape,
        reference_transform=ref_info.transform,
        reference_crs=ref_info.crs,
        sensor=sensor,
    )


def coregister(
    reference: Raster, moving: Raster, *, resampling: str = "bilinear", **kwargs
) -> tuple[Raster, Registration]:
    """Estimate and apply in one call: ``(aligned, registration)``.

    ``kwargs`` go to :func:`estimate_registration`; ``aligned`` is ``moving`` on the
    reference grid (see :func:`apply_registration`).
    """
    reg = estimate_registration(reference, moving, **kwargs)
    return apply_registration(moving, reg, reference, resampling=resampling), reg


def coregister_files(
    reference_path: str | os.PathLike,
    moving_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    sensor: str | None = None,
    resampling: str = "bilinear",
    exclude_water: bool = True,
    aoi=None,
    **kwargs,
) -> Registration:
    """Estimate from files and write the aligned moving scene as a COG on the reference grid.

    ``kwargs`` go to :func:`estimate_registration_files`. With ``exclude_water``, each
    Sentinel-1 scene's water (the AOI's water polygon, else
    :func:`imagery.water.water_mask_file`) is kept out of the measurement, since sea
    speckle correlates with nothing; Sentinel-2 water is excluded through its SCL band.
    Nothing is written when the registration is refused, nor when a file's bands are
    not the sensor's (checked before any pixel is read).
    """
    ref_info = raster_info(reference_path)
    sensor = sensor or ref_info.sensor
    _check_bands((ref_info, raster_info(moving_path)), sensor)
    if exclude_water and sensor == "s1" and "exclude_reference" not in kwargs:
        kwargs["exclude_reference"] = water_mask_file(reference_path, sensor=sensor, aoi=aoi)
        kwargs["exclude_moving"] = water_mask_file(moving_path, sensor=sensor, aoi=aoi)
    reg = estimate_registration_files(reference_path, moving_path, sensor=sensor, **kwargs)
    apply_registration_files(moving_path, reg, out_path, resampling=resampling)
    return reg
