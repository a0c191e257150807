"""Errors raised by portwatch.

One root, :class:`PortwatchError`. Each subclass also inherits the builtin a caller
would naturally catch (``OSError`` for I/O, ``ValueError`` for bad input), the way
rasterio's ``RasterioIOError`` is also an ``OSError``. Messages name the file (or
the AOI, or the request) and the problem, and where possible what to do next; the
CLI prints them as one line.
"""

from __future__ import annotations

__all__ = [
    "AOIError",
    "BandError",
    "ConfigError",
    "CoregistrationError",
    "DetectionError",
    "DownloadError",
    "EmptyRasterError",
    "InputError",
    "NoOverlapError",
    "NothingToCompareError",
    "OutputError",
    "PortwatchError",
    "RasterIOError",
    "ReviewError",
    "StoreError",
]


class PortwatchError(Exception):
    """Root of every error portwatch raises on purpose."""


class InputError(PortwatchError, ValueError):
    """Input that cannot be used as given (wrong value, wrong shape, wrong kind)."""


class RasterIOError(PortwatchError, OSError):
    """A raster file is missing, unreadable, or cannot be written."""


class EmptyRasterError(InputError):
    """A raster, or the part of it asked for, holds no valid pixel."""


class BandError(InputError):
    """A raster does not have the bands a sensor needs."""


class NoOverlapError(InputError):
    """Two rasters (or a raster and an AOI) do not overlap enough to be compared."""


class AOIError(InputError):
    """An area-of-interest file is invalid, or an AOI id is unknown."""


class CoregistrationError(PortwatchError, RuntimeError):
    """Co-registration refused to guess: too little overlap or signal, or a shift out of bounds.

    Attributes
    ----------
    reason : str
        A short machine-readable cause (``"overlap"``, ``"windows"``, ``"max_shift"``,
        ``"correlation"``, ...).
    """

    def __init__(self, message: str, *, reason: str = "unspecified") -> None:
        super().__init__(message)
        self.reason = reason


class DetectionError(PortwatchError, RuntimeError):
    """Change or object detection could not run on the given scenes."""


class NothingToCompareError(DetectionError):
    """The scenes share too few clear, valid pixels for their change to be measured
    (cloud over one date, the edge of a swath)."""


class ConfigError(PortwatchError, ValueError):
    """Missing or invalid configuration (credentials, endpoints, config file)."""


class DownloadError(PortwatchError, OSError):
    """A request to Sentinel Hub failed after its retries; keeps the server's message."""


class StoreError(PortwatchError, OSError):
    """The local imagery store holds a missing, truncated or corrupt file."""


class ReviewError(PortwatchError, OSError):
    """A review package or review history cannot be read or written."""


class OutputError(PortwatchError, OSError):
    """An output file or folder cannot be written (no such place, no permission, a file
    in the way), or would replace one of the command's inputs."""
