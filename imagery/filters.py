"""Box statistics over masked images, in time independent of the window size.

Local means and variances over square windows, counting only the pixels a mask allows,
are the workhorse of CFAR detection and change tests. ``scipy.ndimage.uniform_filter``
is a running-sum filter (cost independent of the window), so a masked mean is the
ratio of two filtered images, and a ring (background window minus guard window) is the
difference of two box sums.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = [
    "RingSumsAt",
    "block_sums",
    "box_sum",
    "masked_block_sums",
    "masked_box_mean",
    "masked_ring_stats",
    "masked_ring_stats_coarse",
    "odd_window_px",
    "overlap_slices",
    "ring_stats_blocks",
    "ring_stats_from_block_sums",
    "summed_area",
    "tabulated",
    "upsample_blocks",
]


def tabulated(function, *, lo: float, hi: float, n: int = 4097):
    """A fast stand-in for a smooth monotone scalar ``function`` on [lo, hi].

    Special functions (incomplete gamma, F and normal quantiles) cost about 100 ns a
    pixel; a full Sentinel tile has 1.2e8 pixels. The function is evaluated once on
    ``n`` evenly spaced points and linearly interpolated (values outside [lo, hi] are
    clamped, NaN stays NaN; infinite table values become the nearest finite one). The
    grid is even, so a value's cell is found by scaling, not by the binary search of
    ``numpy.interp``: about three times faster.
    """
    values = np.asarray(function(np.linspace(lo, hi, n)), dtype=np.float64)
    # Tails beyond double precision (a normal score past 38) hold the last finite value.
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError(f"tabulated function has no finite value on [{lo}, {hi}]")
    values = np.where(values == np.inf, finite.max(), values)
    values = np.where(values == -np.inf, finite.min(), values)
    steps = np.append(np.diff(values), 0.0)
    scale = (n - 1) / (hi - lo)

    def lookup(x: np.ndarray) -> np.ndarray:
        position = np.clip((np.asarray(x, dtype=np.float64) - lo) * scale, 0.0, n - 1)
        finite = np.isfinite(position)
        cell = np.where(finite, position, 0.0).astype(np.intp)
        position -= cell
        out = values[cell] + steps[cell] * position
        return out if finite.all() else np.where(finite, out, np.nan)

    return lookup


def odd_window_px(size_m: float, pixel_m: float, *, minimum: int = 1) -> int:
    """A window of ``size_m`` metres as an odd number of pixels (at least ``minimum``)."""
    n = max(minimum, round(size_m / pixel_m))
    return n if n % 2 == 1 else n + 1


def overlap_slices(shape: tuple[int, int], dr: int, dc: int) -> tuple[tuple, tuple]:
    """Slices ``dst``, ``src`` with ``image[src]`` the pixels ``(dr, dc)`` away from those
    of ``image[dst]``, where both lie in the image (``|dr|``, ``|dc|`` less than its
    size): ``out[dst] = image[src]`` moves an image by ``(-dr, -dc)``."""
    rows, cols = shape
    dst = (slice(max(0, -dr), rows - max(0, dr)), slice(max(0, -dc), cols - max(0, dc)))
    src = (slice(max(0, dr), rows - max(0, -dr)), slice(max(0, dc), cols - max(0, -dc)))
    return dst, src


def box_sum(image: np.ndarray, size: int) -> np.ndarray:
    """Sum over a ``size`` x ``size`` window centred on each pixel (zero outside the image).

    Parameters
    ----------
    image : ndarray, shape (row, col)
    size : int
        Odd window side in pixels.

    Returns
    -------
    ndarray, float64, same shape.
    """
    if size <= 1:
        return image.astype(np.float64, copy=True)
    total = ndimage.uniform_filter(
        image.astype(np.float64, copy=False), size=size, mode="constant", cval=0.0
    )
    total *= float(size * size)
    return total


def masked_box_mean(
    image: np.ndarray, mask: np.ndarray, size: int, *, min_count: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``image`` over the pixels of ``mask`` in each ``size`` window.

    Returns
    -------
    mean : ndarray, float64
        NaN where fewer than ``min_count`` pixels of the window are in ``mask``.
    count : ndarray, float64
        Number of masked pixels in each window.
    """
    weights = mask.astype(np.float64)
    values = np.where(mask, image, 0.0)
    count = box_sum(weights, size)
    total = box_sum(values, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= min_count, total / np.maximum(count, 1e-12), np.nan)
    return mean, count


def _moments_from_sums(
    count: np.ndarray, total: np.ndarray, squares: np.ndarray, min_count: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation from window sums of 1, x and x^2 (NaN under ``min_count``)."""
    ok = count >= min_count
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, total / np.maximum(count, 1e-12), np.nan)
        var = np.where(ok, squares / np.maximum(count, 1e-12) - mean * mean, np.nan)
    return mean, np.sqrt(np.maximum(var, 0.0))


def masked_ring_stats(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    outer: int,
    inner: int,
    min_count: float = 10.0,
    at: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation and count of masked pixels in a square ring.

    The ring is the ``outer`` x ``outer`` window minus the ``inner`` x ``inner`` guard
    window, both centred on the pixel: the background of a CFAR detector (Crisp 2004).

    Parameters
    ----------
    image : ndarray, shape (row, col)
    mask : ndarray of bool, same shape
        Pixels allowed into the statistics (e.g. water, not already detected).
    outer, inner : int
        Odd window sides in pixels, ``inner < outer``.
    min_count : float
        Fewer ring pixels than this gives NaN statistics.
    at : ndarray of bool, same shape, optional
        Only these pixels are wanted (a shore band): the statistics are formed at these
        pixels alone (:class:`RingSumsAt`); elsewhere the mean and deviation are NaN
        and the count 0.

    Returns
    -------
    mean, std, count : ndarrays, float64
    """
    _check_ring(outer, inner)
    if at is not None:
        where = np.flatnonzero(at)
        sparse = RingSumsAt(image, mask, where).stats(outer, inner, min_count)
        out = []
        for values, fill in zip(sparse, (np.nan, np.nan, 0.0), strict=True):
            full = np.full(image.shape, fill)
            full.ravel()[where] = values
            out.append(full)
        return tuple(out)
    m = mask.astype(np.float64)
    x = np.where(mask, image, 0.0).astype(np.float64)

    def ring(values: np.ndarray) -> np.ndarray:
        return box_sum(values, outer) - box_sum(values, inner)

    count = ring(m)
    mean, std = _moments_from_sums(count, ring(x), ring(x * x), min_count)
    return mean, std, count


def _check_ring(outer: int, inner: int) -> None:
    if inner >= outer:
        raise ValueError(
            f"guard window ({inner} px) must be smaller than background window ({outer} px)"
        )


def summed_area(values: np.ndarray) -> np.ndarray:
    """Summed-area table of ``values`` (float64), with a leading row and column of zeros:
    ``table[r, c]`` is the sum of ``values[:r, :c]``."""
    rows, cols = values.shape
    table = np.zeros((rows + 1, cols + 1))
    inside = table[1:, 1:]
    np.cumsum(values, axis=1, out=inside)
    # Down the rows one row at a time: cumsum(axis=0) walks the columns element by
    # element, about twice as slow.
    for r in range(1, rows):
        np.add(inside[r - 1], inside[r], out=inside[r])
    return table


class RingSumsAt:
    """Masked ring statistics at chosen pixels only, from summed-area tables.

    A shore band is a few percent of a window: three summed-area tables (of the mask,
    the masked image and its square) cost about what one box filter does, and then any
    window's sum at a pixel is four lookups, whatever its size, so rings of several
    sizes share the tables. The sums are those of :func:`masked_ring_stats` up to
    rounding (counts are exact integers here).

    Parameters
    ----------
    image : ndarray, (row, col)
    mask : ndarray of bool, same shape
    where : ndarray of int
        Flat indices of the pixels wanted.
    """

    def __init__(self, image: np.ndarray, mask: np.ndarray, where: np.ndarray):
        self.shape = image.shape
        self.rows, self.cols = np.divmod(where, image.shape[1])
        x = np.where(mask, image, 0.0).astype(np.float64)
        self.tables = (summed_area(mask.astype(np.float64)), summed_area(x), summed_area(x * x))

    def _window(self, table: np.ndarray, size: int, pick: np.ndarray | None) -> np.ndarray:
        rows, cols = (self.rows, self.cols) if pick is None else (self.rows[pick], self.cols[pick])
        half = size // 2
        r0, r1 = np.maximum(rows - half, 0), np.minimum(rows + half + 1, self.shape[0])
        c0, c1 = np.maximum(cols - half, 0), np.minimum(cols + half + 1, self.shape[1])
        return table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]

    def stats(
        self, outer: int, inner: int, min_count: float, pick: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, standard deviation and count in the ring at each pixel (or at the
        pixels ``pick`` selects among them); NaN statistics under ``min_count``."""
        _check_ring(outer, inner)
        count, total, squares = (
            self._window(t, outer, pick) - self._window(t, inner, pick) for t in self.tables
        )
        mean, std = _moments_from_sums(count, total, squares, min_count)
        return mean, std, count


def block_sums(image: np.ndarray, factor: int) -> np.ndarray:
    """Sums over ``factor`` x ``factor`` blocks (the image is zero-padded to whole blocks)."""
    rows, cols = image.shape
    pad_r, pad_c = (-rows) % factor, (-cols) % factor
    padded = np.pad(image, ((0, pad_r), (0, pad_c))) if pad_r or pad_c else image
    return _sum_blocks(padded, factor)


def _sum_blocks(padded: np.ndarray, factor: int) -> np.ndarray:
    """Block sums of an image of whole blocks.

    Floating point: ``factor - 1`` strided additions along each axis, the additions
    ``reshape(...).sum(axis=(1, 3))`` makes, in its order (a sum of so few terms is
    sequential), so the same values, about 2.5 times faster (numpy reduces a short
    axis one output at a time). Bit for bit the same when the image is more than one
    block wide (one block wide, numpy sums the merged axes in another order).
    """
    r, c = padded.shape
    if factor <= 1 or not np.issubdtype(padded.dtype, np.floating):
        return padded.reshape(r // factor, factor, c // factor, factor).sum(axis=(1, 3))
    pieces = padded.reshape(r, c // factor, factor)
    across = pieces[..., 0] + pieces[..., 1]
    for j in range(2, factor):
        across += pieces[..., j]
    pieces = across.reshape(r // factor, factor, c // factor)
    out = pieces[:, 0] + pieces[:, 1]
    for i in range(2, factor):
        out += pieces[:, i]
    return out


def masked_block_sums(
    image: np.ndarray, mask: np.ndarray, factor: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block sums (:func:`block_sums`) of ``mask``, of ``image`` on the mask (0 off it)
    and of its square, in float64: the counts and moments ring statistics are made of.
    One padded image serves all three, squared in place for the last."""
    rows, cols = image.shape
    shape = (-(-rows // factor) * factor, -(-cols // factor) * factor)
    counts = np.zeros(shape)
    counts[:rows, :cols] = mask
    values = np.zeros(shape)
    np.copyto(values[:rows, :cols], image, where=mask)
    s0, s1 = _sum_blocks(counts, factor), _sum_blocks(values, factor)
    values *= values
    return s0, s1, _sum_blocks(values, factor)


def upsample_blocks(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of per-block values (block centres) back onto pixels.

    The inverse of :func:`block_sums`' grid: block ``k`` is centred on pixel
    ``(k + 0.5) * factor - 0.5``; beyond the outermost centres values are held.
    ``factor`` 1 returns ``coarse`` itself.
    """
    if factor <= 1:
        return coarse
    rows = (np.arange(shape[0]) + 0.5) / factor - 0.5
    cols = (np.arange(shape[1]) + 0.5) / factor - 0.5
    r0 = np.clip(np.floor(rows).astype(np.intp), 0, coarse.shape[0] - 1)
    c0 = np.clip(np.floor(cols).astype(np.intp), 0, coarse.shape[1] - 1)
    r1 = np.minimum(r0 + 1, coarse.shape[0] - 1)
    c1 = np.minimum(c0 + 1, coarse.shape[1] - 1)
    # float32 blocks give a float32 image (half the memory); anything else float64.
    precision = np.float32 if coarse.dtype == np.float32 else np.float64
    fr = np.clip(rows - r0, 0.0, 1.0).astype(precision)[:, None]
    fc = np.clip(cols - c0, 0.0, 1.0).astype(precision)[None, :]
    # Separable: along columns on the few coarse rows first, then along rows, as the
    # value of the row below plus a fraction of the step to the next (in place: a full
    # image is written three times, not five).
    across = coarse[:, c0] * (1 - fc) + coarse[:, c1] * fc
    step = np.take(across, r1, axis=0)
    out = np.take(across, r0, axis=0)
    step -= out
    step *= fr
    out += step
    return out


def ring_stats_blocks(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    outer: int,
    inner: int,
    factor: int,
    min_count: float = 10.0,
    at: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`masked_ring_stats` on a grid of ``factor`` x ``factor`` blocks.

    Mean, standard deviation and count of the masked pixels in the ring around each
    block, the windows rounded to whole blocks (odd, at least 3 and 1 blocks). The
    values are per block; :func:`upsample_blocks` brings them back onto pixels. With
    ``factor`` 1 this is :func:`masked_ring_stats` itself (``at`` is used then only:
    blocks are cheap).
    """
    if factor <= 1:
        return masked_ring_stats(image, mask, outer=outer, inner=inner, min_count=min_count, at=at)
    sums = masked_block_sums(image, mask, factor)
    return ring_stats_from_block_sums(
        sums, outer=outer, inner=inner, factor=factor, min_count=min_count
    )


def ring_stats_from_block_sums(
    sums: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    outer: int,
    inner: int,
    factor: int,
    min_count: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`ring_stats_blocks` from :func:`masked_block_sums` already formed: rings of
    several sizes share them."""
    outer_c = max(3, round(outer / factor)) | 1
    inner_c = max(1, round(inner / factor)) | 1
    if inner_c >= outer_c:
        inner_c = outer_c - 2
    count, t1, t2 = (box_sum(s, outer_c) - box_sum(s, inner_c) for s in sums)
    mean, std = _moments_from_sums(count, t1, t2, min_count)
    return mean, std, count


def masked_ring_stats_coarse(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    outer: int,
    inner: int,
    factor: int,
    min_count: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`masked_ring_stats` computed on a grid of ``factor`` x ``factor`` blocks.

    Background windows of hundreds of metres (CFAR: 800 m around a 500 m guard) are
    many pixels wide; their statistics are smooth, so they are accumulated per block,
    ring-filtered on the coarse grid and interpolated back. Cost falls by about
    ``factor**2``; the ring's edges move by at most half a block.
    """
    stats = ring_stats_blocks(
        image, mask, outer=outer, inner=inner, factor=factor, min_count=min_count
    )
    return tuple(upsample_blocks(s, factor, image.shape) for s in stats)


def local_median(
    values: np.ndarray,
    mask: np.ndarray,
    *,
    block_px: int,
    reach_blocks: int = 1,
    stride_px: int = 1,
    min_samples: int = 25,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray | None:
    """A smooth local median of ``values`` on ``mask``: per block of ``block_px``, the
    median of the masked samples in it and ``reach_blocks`` blocks around, interpolated
    bilinearly between block centres (:func:`upsample_blocks`).

    Blocks lie on the lattice of the image's file, whose first row and column this
    array is at ``origin``, and samples are every ``stride_px``-th pixel of it (which
    must divide ``block_px``): a window cut from a larger raster gets the values the
    whole raster would, wherever its neighbourhoods lie inside it. Values off ``mask``
    or not finite are not samples. A block whose neighbourhood holds fewer than
    ``min_samples`` samples takes the value of the nearest block that has enough, which
    may lie outside a window's reach (the one place a window can differ from its
    file); keep ``min_samples`` small. None when no block has enough.

    Values are read as float32; the result is float32, shaped as ``values``.
    """
    if block_px % stride_px:
        raise ValueError(f"stride_px {stride_px} must divide block_px {block_px}")
    rows, cols = values.shape
    top, left = origin[0] % block_px, origin[1] % block_px
    n_r, n_c = -(-(rows + top) // block_px), -(-(cols + left) // block_px)
    padded = np.full((n_r * block_px, n_c * block_px), np.nan, dtype=np.float32)
    padded[top : top + rows, left : left + cols] = np.where(
        mask & np.isfinite(values), values, np.nan
    )
    per = block_px // stride_px
    samples = (
        padded[::stride_px, ::stride_px]
        .reshape(n_r, per, n_c, per)
        .transpose(0, 2, 1, 3)
        .reshape(n_r, n_c, per * per)
    )
    k = reach_blocks
    around = np.pad(samples, ((k, k), (k, k), (0, 0)), constant_values=np.nan)
    side = 2 * k + 1
    hood = np.concatenate(
        [around[i : i + n_r, j : j + n_c] for i in range(side) for j in range(side)], axis=-1
    )
    enough = np.count_nonzero(np.isfinite(hood), axis=-1) >= min_samples
    if not enough.any():
        return None
    medians = np.full((n_r, n_c), np.nan, dtype=np.float32)
    medians[enough] = np.nanmedian(hood[enough], axis=-1)
    if not enough.all():
        nearest = ndimage.distance_transform_edt(
            ~enough, return_distances=False, return_indices=True
        )
        medians = medians[tuple(nearest)]
    full = upsample_blocks(medians, block_px, padded.shape)
    return full[top : top + rows, left : left + cols]
