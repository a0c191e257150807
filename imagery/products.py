"""Scenes as users download them: a product folder or archive read as one raster.

An analyst rarely holds a ready-made multiband GeoTIFF. What Copernicus Browser, the
Copernicus Data Space or EO Browser hand out is a folder of single-band files:

- a Sentinel-2 L2A product, ``S2?_MSIL2A_*.SAFE`` or its ``.zip``: JPEG 2000 bands in
  ``GRANULE/*/IMG_DATA/R10m|R20m|R60m``, with ``MTD_MSIL2A.xml`` giving the scale and,
  from processing baseline 04.00 (January 2022), an offset of -1000 on every digital
  number (ESA, *Sentinel-2 Products Specification Document*, S2-PDGS-TAS-DI-PSD, and
  the baseline 04.00 note, 2021);
- a folder of single-band GeoTIFFs whose names carry the band (``B02.tif``,
  ``..._B08_(Raw).tiff``, ``SCL.tif``);
- a folder of geocoded Sentinel-1 backscatter, one file per polarisation whose name
  carries it (ASF's ``..._VV.tif``/``..._VH.tif``, SNAP's ``Sigma0_VV.img``).

:func:`product_vrt` describes such a folder or archive as one GDAL virtual raster
(VRT XML, built in memory and never written) stacking the bands portwatch reads
(``B02 B03 B04 B08 [B11] [SCL]`` or ``VV [VH]``) onto the grid of the finest required one;
:func:`imagery.io.read_raster` opens it as it opens a file, so windows are read from
the band files themselves. Bands on a coarser grid (B11 and SCL at 20 m) are brought
to it by nearest neighbour, as Sentinel Hub does by default. A SAFE product's digital
numbers become reflectance ``(DN + offset) / quantification`` and its fill value 0
becomes NaN; a plain folder's numbers are kept for :func:`imagery.sensors.prepare`.

A Sentinel-1 GRD ``.SAFE`` is not read here: its rasters are in radar geometry (ground
range and azimuth, located by tie points) and cover some 250 km; :mod:`imagery.grd`
calibrates and geocodes it around an area. Refused, each saying what it is: other
Sentinel-1 products in radar geometry (SLC); a Sentinel-2 L1C product (top-of-atmosphere
reflectance has no scene classification, and the water and vessel thresholds are set
on surface reflectance); a multi-granule L2A product of before 2017. Reflectance below
zero (the offset lets dark water's noise go there) is floored by ``prepare_s2``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import rasterio
from rasterio.errors import RasterioIOError

from imagery.errors import BandError, InputError, RasterIOError

log = logging.getLogger(__name__)

__all__ = [
    "ProductBand",
    "ProductListing",
    "band_files",
    "is_product",
    "product_bands",
    "product_listing",
    "product_vrt",
]

#: The bands stacked for each sensor, required ones first.
S2_REQUIRED = ("B02", "B03", "B04", "B08")
S2_OPTIONAL = ("B11", "SCL")
S1_REQUIRED = ("VV",)
S1_OPTIONAL = ("VH",)
#: File types a band may come in (GeoTIFF, JPEG 2000, ENVI as SNAP writes it, VRT).
BAND_SUFFIXES = (".tif", ".tiff", ".jp2", ".img", ".vrt")
#: L2A's quantification value, and its fill value (ESA product specification).
L2A_QUANTIFICATION = 10000.0
L2A_NODATA = 0

_S2_TOKEN = re.compile(r"(?<![A-Za-z0-9])(B8A|B0?[1-9]|B1[0-2]|SCL)(?![A-Za-z0-9])", re.I)
_S1_TOKEN = re.compile(r"(?<![A-Za-z0-9])(VV|VH|HH|HV)(?![A-Za-z0-9])", re.I)
_DB_TOKEN = re.compile(r"(?<![A-Za-z])db(?![A-Za-z])", re.I)
#: ASF's RTC names carry the scale in their flags (``RTC30_G_gpuned``: gamma0 or sigma0,
#: then power, amplitude or dB; ASF, *Sentinel-1 RTC product guide*).
_ASF_FLAGS = re.compile(r"_RTC\d+_[A-Z]_([gs])([pad])[a-z]{4}_", re.I)
_GRD_MEASUREMENT = re.compile(r"s1[abcd]-[a-z0-9]+-grd-(?:vv|vh|hh|hv)-", re.I)
#: Band order of ``BOA_ADD_OFFSET band_id`` in ``MTD_MSIL2A.xml``.
_L2A_BAND_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
                 "B11", "B12")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ProductBand:
    """One band of a product: where it is, and how its numbers become physical ones.

    ``path`` is what GDAL opens (``/vsizip/...`` inside an archive). ``scale`` and
    ``offset`` give ``value = (DN + offset) * scale``; ``nodata`` is the DN that marks
    no data (None: every DN is data).
    """

    name: str
    path: str
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    description: str = ""


@dataclasses.dataclass(frozen=True)
class ProductListing:
    """The files of a folder or archive: GDAL paths by their path inside it."""

    root: Path
    members: dict[str, str]

    def named(self, name: str) -> str | None:
        """The first member whose file name is ``name``."""
        return next((m for m in self.members if PurePosixPath(m).name == name), None)

    def read_text(self, member: str) -> str:
        if self.root.is_file():
            with zipfile.ZipFile(self.root) as archive:
                return archive.read(member).decode("utf-8", errors="replace")
        return Path(self.members[member]).read_text(encoding="utf-8", errors="replace")


def is_product(path: str | Path) -> bool:
    """Whether ``path`` is a folder or a ``.zip`` archive (read by :func:`product_vrt`)."""
    path = Path(path)
    return path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip")


def product_bands(path: str | Path, sensor: str | None = None) -> tuple[str, list[ProductBand]]:
    """Find the bands portwatch reads in a product folder or archive.

    Parameters
    ----------
    path : path-like
        A ``.SAFE`` folder or its ``.zip``, a folder holding exactly one ``.SAFE``, or a
        folder of single-band files whose names carry the band.
    sensor : {"s1", "s2"}, optional
        Which bands to look for; by default, the ones the file names carry.

    Returns
    -------
    sensor : str
    bands : list of ProductBand
        Required bands first (``B02 B03 B04 B08`` then ``B11``/``SCL`` when present;
        ``VV`` then ``VH``), each from the file with the finest pixel.

    Raises
    ------
    InputError
        The folder is an unsupported product (S1 GRD, S2 L1C).
    BandError
        No file name carries a band (or both sensors' bands, without ``sensor``), a
        required band is missing, or two files hold one band at one resolution.
    """
    _, sensor, bands = _resolve(Path(path), sensor)
    return sensor, bands


def band_files(folder: str | Path) -> dict[str, list[str]]:
    """The files of a folder (or ``.SAFE``, or zip) by the band their names carry.

    Names are matched as whole tokens: ``x_B02_(Raw).tiff`` and ``T36JTL_..._B02_10m.jp2``
    hold B02, ``B021.tif`` and ``B08A.tif`` nothing; ``B8A``, ``SCL``, ``VV``, ``VH``,
    ``HH`` and ``HV`` are bands too. Inside a ``.SAFE``, only ``IMG_DATA`` counts.
    """
    listing = product_listing(Path(folder))
    return _band_files(listing, in_image_data=listing.named("MTD_MSIL2A.xml") is not None)


def _resolve(path: Path, sensor: str | None) -> tuple[ProductListing, str, list[ProductBand]]:
    listing = product_listing(path)
    _refuse_unsupported(listing)
    safe_metadata = listing.named("MTD_MSIL2A.xml")
    files = _band_files(listing, in_image_data=safe_metadata is not None)
    sensor = sensor or _guess_sensor(files, listing.root)
    required, optional = (
        (S2_REQUIRED, S2_OPTIONAL) if sensor == "s2" else (S1_REQUIRED, S1_OPTIONAL)
    )
    missing = [b for b in required if not files.get(b)]
    if missing:
        raise BandError(
            f"{listing.root}: no file for band(s) {' '.join(missing)} "
            f"(found: {' '.join(sorted(files)) or 'none'}); a {sensor.upper()} product needs "
            f"{' '.join(required)}, named in its file names"
        )
    chosen = {b: _finest(b, files[b], listing.root) for b in (*required, *optional) if files.get(b)}
    if safe_metadata is not None:
        where = f"{listing.root}: {safe_metadata}"
        bands = _l2a_bands(chosen, listing.read_text(safe_metadata), where)
    else:
        bands = [_plain_band(b, p, sensor) for b, p in chosen.items()]
        if sensor == "s2":
            _warn_offset_lost(listing.root, chosen)
    return listing, sensor, bands


#: ESA's L2A tile band files (``T36JTL_20230821T074619_B08_10m.jp2``), with the date.
_L2A_TILE_FILE = re.compile(r"T\d{2}[A-Z]{3}_(\d{8})T\d{6}_B\w{2}(?:_\d{2}m)?\.jp2$")
#: Processing baseline 04.00, and its BOA_ADD_OFFSET of -1000, from this date on.
BASELINE_04_FROM = "20220125"


def _warn_offset_lost(root: Path, chosen: dict[str, str]) -> None:
    """Warn when the band files are ESA L2A tiles of baseline 04.00 or later taken out of
    their ``.SAFE``: their -1000 offset lives only in ``MTD_MSIL2A.xml``, so read as
    they are every reflectance is 0.1 too high."""
    for path in chosen.values():
        match = _L2A_TILE_FILE.search(PurePosixPath(path).name)
        if match and match.group(1) >= BASELINE_04_FROM:
            log.warning(
                "%s: an L2A tile of %s, processing baseline 04.00 or later, read without its "
                "MTD_MSIL2A.xml: its BOA_ADD_OFFSET (-1000 on every band) is not known, so "
                "reflectances read 0.1 too high; read the .SAFE (folder or zip) instead",
                path,
                match.group(1),
            )
            return


def product_vrt(path: str | Path, sensor: str | None = None) -> str:
    """A product folder or archive as one VRT (XML text) that rasterio opens as a raster.

    The grid is that of the finest required band; every band's footprint is placed on
    it by its own geotransform, in the same CRS. The VRT's metadata carries the
    acquisition time (``ACQUISITION_TIME``, from the product's metadata or its name)
    and the sensor (``SENSOR``), as portwatch's own GeoTIFFs do.

    Raises
    ------
    InputError, BandError
        As :func:`product_bands`; also bands in different CRSs, rotated grids, or a band
        lying wholly off the reference band's grid.
    """
    from imagery.io import SENSOR_TAG, TIME_TAG, parse_time

    listing, sensor, bands = _resolve(Path(path), sensor)
    root = listing.root
    headers = [_header(band.path, root) for band in bands]
    required = S2_REQUIRED if sensor == "s2" else S1_REQUIRED
    # The finest required band's grid (B02 may come at 20 m beside a 10 m B08).
    finest = min(
        (i for i, band in enumerate(bands) if band.name in required),
        key=lambda i: abs(headers[i]["transform"].a),
    )
    reference = headers[finest]
    when = _acquisition_time(listing, bands) or parse_time(Path(path).name)
    metadata = {SENSOR_TAG: sensor}
    if when is not None:
        metadata[TIME_TAG] = when.isoformat().replace("+00:00", "Z")
    body = [
        _vrt_band(i, band, header, reference, bands[finest].name, root)
        for i, (band, header) in enumerate(zip(bands, headers, strict=True), start=1)
    ]
    items = "".join(f'<MDI key="{escape(k)}">{escape(v)}</MDI>' for k, v in metadata.items())
    transform = reference["transform"]
    return (
        f'<VRTDataset rasterXSize="{reference["width"]}" rasterYSize="{reference["height"]}">'
        f"<SRS>{escape(reference['crs'].to_wkt())}</SRS>"
        f"<GeoTransform>{', '.join(repr(float(v)) for v in transform.to_gdal())}</GeoTransform>"
        f"<Metadata>{items}</Metadata>{''.join(body)}</VRTDataset>"
    )


def product_listing(root: Path) -> ProductListing:
    """The files of a folder, a ``.SAFE`` (every file below it), or a zip archive."""
    if not root.exists():
        raise RasterIOError(f"{root}: no such file or folder")
    if root.is_file():
        try:
            with zipfile.ZipFile(root) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
        except zipfile.BadZipFile as exc:
            raise RasterIOError(f"{root}: not a zip archive ({exc})") from exc
        return ProductListing(root, {n: f"/vsizip/{root.resolve()}/{n}" for n in names})
    safes = [p for p in root.iterdir() if p.is_dir() and p.suffix.upper() == ".SAFE"]
    if root.suffix.upper() != ".SAFE" and len(safes) == 1 and not _has_band_files(root):
        root = safes[0]
    if root.suffix.upper() == ".SAFE":
        paths = [p for p in root.rglob("*") if p.is_file()]
    else:
        paths = [p for p in root.iterdir() if p.is_file()]
    return ProductListing(
        root, {p.relative_to(root).as_posix(): str(p.resolve()) for p in sorted(paths)}
    )


def _has_band_files(folder: Path) -> bool:
    return any(p.suffix.lower() in BAND_SUFFIXES for p in folder.iterdir() if p.is_file())


def _refuse_unsupported(listing: ProductListing) -> None:
    names = {PurePosixPath(m).name for m in listing.members}
    measurements = [m for m in listing.members if "measurement/" in m]
    if "manifest.safe" in names and measurements:
        if any(_GRD_MEASUREMENT.search(m) for m in measurements):
            raise InputError(
                f"{listing.root}: a Sentinel-1 GRD product, in radar geometry (ground range "
                "and azimuth, located by tie points) over some 250 km: it is read as "
                "Sentinel-1 around an area only (--sensor s1 --aoi on `portwatch vessels` "
                "and `detect`, `portwatch store import`; imagery.grd.read_grd)"
            )
        raise InputError(
            f"{listing.root}: a Sentinel-1 product in radar geometry that is not a GRD (an "
            "SLC?); portwatch reads GRD products, or backscatter already on a map grid"
        )
    granules = {
        PurePosixPath(m).parts[PurePosixPath(m).parts.index("GRANULE") + 1]
        for m in listing.members
        if "GRANULE" in PurePosixPath(m).parts[:-1] and "IMG_DATA" in PurePosixPath(m).parts
    }
    if len(granules) > 1:
        raise InputError(
            f"{listing.root}: {len(granules)} granules in one product (a multi-tile product "
            "of before 2017); portwatch reads single-tile products: take the tile's own"
        )
    if "MTD_MSIL1C.xml" in names:
        raise InputError(
            f"{listing.root}: a Sentinel-2 L1C product (top-of-atmosphere reflectance, no "
            "scene classification); portwatch's water and vessel thresholds are set on L2A "
            "surface reflectance: use the L2A product of the same pass"
        )


def _band_files(listing: ProductListing, *, in_image_data: bool) -> dict[str, list[str]]:
    """GDAL paths of the files of each band the file names carry."""
    found: dict[str, list[str]] = {}
    for member, gdal_path in listing.members.items():
        name = PurePosixPath(member)
        if name.suffix.lower() not in BAND_SUFFIXES:
            continue
        if in_image_data and "IMG_DATA" not in name.parts:
            continue  # QI_DATA masks carry band names too
        for band in _tokens(name.stem):
            found.setdefault(band, []).append(gdal_path)
    return found


def _tokens(stem: str) -> set[str]:
    bands = {m.upper() for m in _S1_TOKEN.findall(stem)}
    for token in (m.upper() for m in _S2_TOKEN.findall(stem)):
        bands.add(token if token in ("B8A", "SCL") else f"B{int(token[1:]):02d}")
    return bands


def _guess_sensor(files: dict[str, list[str]], root: Path) -> str:
    has_s2 = any(b in files for b in S2_REQUIRED)
    has_s1 = "VV" in files
    if has_s2 == has_s1:
        what = "both Sentinel-1 and Sentinel-2" if has_s2 else "no Sentinel-1 or Sentinel-2"
        raise BandError(
            f"{root}: file names carry {what} band names (found: {' '.join(sorted(files)) or 'none'}); "
            "give --sensor, or keep one scene per folder with the band in each file name "
            "(B02.tif ... B08.tif, or ..._VV.tif and ..._VH.tif)"
        )
    return "s2" if has_s2 else "s1"


def _finest(band: str, paths: list[str], root: Path) -> str:
    if len(paths) == 1:
        return paths[0]
    sizes = {p: abs(_header(p, root)["transform"].a) for p in paths}
    finest = min(sizes.values())
    best = [p for p, size in sizes.items() if size == finest]
    if len(best) > 1:
        raise BandError(
            f"{root}: {len(best)} files hold band {band} at {finest:g} units per pixel "
            f"({', '.join(PurePosixPath(p).name for p in best)}); keep one scene per folder"
        )
    return best[0]


def _header(gdal_path: str, root: Path) -> dict:
    try:
        with rasterio.open(gdal_path) as ds:
            header = {
                "width": ds.width,
                "height": ds.height,
                "crs": ds.crs,
                "transform": ds.transform,
                "dtype": ds.dtypes[0],
                "nodata": ds.nodata,
                "description": ds.descriptions[0] or "",
            }
    except RasterioIOError as exc:
        reason = str(exc).split("\n")[0]
        raise RasterIOError(
            f"{root}: {gdal_path} is not a raster GDAL can read ({reason})"
        ) from exc
    if header["crs"] is None:
        raise InputError(
            f"{root}: {PurePosixPath(gdal_path).name} has no CRS (a product in radar geometry "
            "must be terrain-corrected first)"
        )
    transform = header["transform"]
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        raise InputError(f"{root}: {PurePosixPath(gdal_path).name} is not on a north-up grid")
    return header


def _l2a_bands(chosen: dict[str, str], metadata: str, where: str) -> list[ProductBand]:
    quantification, offsets = _l2a_scaling(metadata, where)
    bands = []
    for name, path in chosen.items():
        if name == "SCL":
            bands.append(ProductBand(name, path, description=name))
            continue
        bands.append(
            ProductBand(
                name,
                path,
                scale=1.0 / quantification,
                offset=offsets.get(name, 0.0),
                nodata=L2A_NODATA,
                description=name,
            )
        )
    return bands


def _l2a_scaling(metadata: str, where: str) -> tuple[float, dict[str, float]]:
    """Quantification value and per-band BOA offsets from ``MTD_MSIL2A.xml``."""
    try:
        root = ElementTree.fromstring(metadata)
    except ElementTree.ParseError as exc:
        raise InputError(f"{where}: not readable XML ({exc})") from exc
    quantification = L2A_QUANTIFICATION
    offsets: dict[str, float] = {}
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        # L2A_BOA_QUANTIFICATION_VALUE in products of format 13 and before.
        if tag.endswith("BOA_QUANTIFICATION_VALUE") and element.text:
            quantification = float(element.text)
        elif tag == "BOA_ADD_OFFSET" and element.text:
            band_id = int(element.get("band_id", "-1"))
            if 0 <= band_id < len(_L2A_BAND_IDS):
                offsets[_L2A_BAND_IDS[band_id]] = float(element.text)
    if quantification <= 0:
        raise InputError(f"{where}: BOA_QUANTIFICATION_VALUE {quantification} is not positive")
    return quantification, offsets


def _plain_band(name: str, path: str, sensor: str) -> ProductBand:
    description = name
    stem = PurePosixPath(path).stem
    flags = _ASF_FLAGS.search(stem)
    if sensor == "s1" and flags and flags.group(2).lower() == "a":
        raise InputError(
            f"{path}: ASF amplitude backscatter (flags {flags.group(0).strip('_')}); portwatch "
            "reads power or dB: order the product in power or dB scale"
        )
    in_db = flags.group(2).lower() == "d" if flags else bool(_DB_TOKEN.search(stem))
    if sensor == "s1" and in_db:
        description = f"{name}_dB"  # imagery.sensors.prepare_s1 reads dB from the name
    nodata = None if name == "SCL" else _header_nodata(path)
    return ProductBand(name, path, nodata=nodata, description=description)


def _header_nodata(path: str) -> float | None:
    with rasterio.open(path) as ds:
        return ds.nodata


def _acquisition_time(listing: ProductListing, bands: Iterable[ProductBand]):
    from imagery.io import parse_time

    metadata = listing.named("MTD_MSIL2A.xml")
    if metadata is not None:
        match = re.search(r"<PRODUCT_START_TIME>([^<]+)<", listing.read_text(metadata))
        if match and (when := parse_time(match.group(1))) is not None:
            return when
    for band in bands:
        when = parse_time(PurePosixPath(band.path).stem)
        if when is not None:
            return when
    return None


def _vrt_band(
    index: int, band: ProductBand, header: dict, reference: dict, reference_name: str, root: Path
) -> str:
    ref = reference["transform"]
    own = header["transform"]
    if header["crs"] != reference["crs"]:
        raise InputError(
            f"{root}: {PurePosixPath(band.path).name} is in {header['crs']}, the other bands in "
            f"{reference['crs']}; reproject the bands onto one grid first"
        )
    x_off = (own.c - ref.c) / ref.a
    y_off = (own.f - ref.f) / ref.e
    x_size = header["width"] * own.a / ref.a
    y_size = header["height"] * own.e / ref.e
    if (
        x_off >= reference["width"]
        or y_off >= reference["height"]
        or x_off + x_size <= 0
        or y_off + y_size <= 0
    ):
        raise InputError(
            f"{root}: {PurePosixPath(band.path).name} lies wholly off the grid of the "
            f"{reference_name} band"
        )
    scaling = ""
    if band.scale != 1.0 or band.offset != 0.0:
        scaling = (
            f"<ScaleOffset>{band.offset * band.scale!r}</ScaleOffset>"
            f"<ScaleRatio>{band.scale!r}</ScaleRatio>"
        )
    nodata = "" if band.nodata is None else f"<NODATA>{band.nodata!r}</NODATA>"
    return (
        f'<VRTRasterBand dataType="Float32" band="{index}">'
        f"<Description>{escape(band.description or band.name)}</Description>"
        "<NoDataValue>nan</NoDataValue>"
        f'<ComplexSource><SourceFilename relativeToVRT="0">{escape(band.path)}</SourceFilename>'
        "<SourceBand>1</SourceBand>"
        f'<SrcRect xOff="0" yOff="0" xSize="{header["width"]}" ySize="{header["height"]}"/>'
        f'<DstRect xOff="{x_off!r}" yOff="{y_off!r}" xSize="{x_size!r}" ySize="{y_size!r}"/>'
        f"{nodata}{scaling}</ComplexSource></VRTRasterBand>"
    )
