"""Vessels in one scene: bright (S1) or contrasting (S2) compact objects on water.

Sentinel-1
    A CFAR detector (``imagery.cfar``; K-distributed sea clutter by default, SNAP's
    windows and PFA) runs on VV and, when present, VH; a pixel is a target when either
    polarisation says so. The search area is the water mask plus a band of land along
    the shore, so that a ship berthed against a quay is not lost in the land mask; in
    that band a pixel must also stand out against the surrounding land (a second CFAR
    with land as clutter), which keeps bright quay edges and cranes out. Berthed ships
    that merge with the quay in the water mask are recovered as shoreline protrusions
    (below) that are significantly bright against the water. A candidate that is one
    pixel wide once the 20 m blur is taken off is a line (a quay face, a stack's edge),
    not a hull, unless it is far above the sea on average (``thin_min_significance``).

Sentinel-2
    Decisions are per object, not per pixel, and objects are of two kinds.

    *Afloat.* Water is nearly black in the near infrared, so a hull stands out in B08
    against the water around it: a two-parameter CFAR on B08, with water that looks
    like water (off the shoreline, no filled holes) as clutter, finds cores off the
    shoreline, which grow by hysteresis into the hull. An object is kept when its B08
    step is physically meaningful (``s2_min_contrast``) and it is solid: foam,
    whitecaps and sediment plumes brighten the visible more than the near infrared
    (their B08 step is below ``s2_foam_ratio`` times their B03 step), paint and steel
    do not. When the scene has B11, the object must also brighten it: water absorbs
    SWIR within millimetres, so a shoal or a sand bar under the surface lifts B08 but
    not B11 (``s2_min_swir_ratio``).

    *Berthed.* A ship alongside a quay is not water in any index and merges with the
    quay in a water mask. What gives it away is geometry: a quay is straight and a
    berthed ship is a short, shallow bump on it. Along a direction theta the run of
    land through a pixel of the bump is the ship's length, bounded by water at both
    ends, while the run through the quay behind it is much longer (Soille 2003: the
    pixels whose run is shorter than L are those a closing by a line of length L
    fills). For each of ``berth_angles`` directions and three line lengths up to
    ``berth_line_m``, land whose run is shorter than the line is a protrusion, and a
    protrusion is a berthed-ship candidate when it is elongated along theta (a pier
    filled across its width is elongated across theta), at most
    ``berth_max_width_m`` deep, faces the water along its outer side (a strip across
    a pier does not), does not fill the line (the inside of a bend or a corner grows
    smoothly up to the line; a hull stops at its own length), is backed by a quay
    running ``berth_min_backing`` times longer, is not vegetation
    (:func:`imagery.spectral.leaf_ndvi`) and is solid (the foam test). Its score (:func:`_berth_score`) grows with its elongation, its
    backing and its spectral contrast with the quay behind it (the mixed rim of a
    quay has the quay's spectrum once the water-mixed pixels are left out; a hull is
    another material); candidates below ``berth_min_score`` are dropped.

    Candidates of every direction, length and kind compete for their pixels: the best
    scored keeps them and absorbs touching fragments (non-maximum suppression), so one
    ship is one object. Objects in a surf zone (patches of foam and ``s2_surf_buffer_m``
    around them) are dropped: no ship lies in breaking waves. So are objects cut by
    the cloud mask (:func:`s2_clouds`: SCL when present, and spectrally flat
    brightening in patches larger than a deck). The protrusion search works in
    overlapping tiles, so its memory is bounded by the tile, not the scene.

Every object is measured in ground metres (a Web Mercator grid is handled by
``imagery.grid.ground_pixel_size``) and filtered by size. The score of an S1 object and
of an S2 object afloat is the probability that it is not a clutter false alarm,
``1 / (1 + N p)``, with ``p`` the object's peak false alarm probability and ``N`` the
number of pixels searched (a Bonferroni-style correction for testing every pixel); a
berthed S2 object has no clutter model and its evidence score is at most 0.9.

Modules, one job each:

``detect``
    The entry points: :func:`detect_vessels`, :func:`detect_vessels_each` (the scenes
    of a pair or a series on one water mask) and :func:`vessel_candidates`.
``params``
    :class:`VesselParams` and the fixed constants of the method.
``s1``
    Sentinel-1 CFAR targets, berthed ships as bright protrusions, the S1 frame.
``s2``
    Sentinel-2 surf zone, per-pixel B08 test, hulls afloat, the S2 frame.
``s2_berths``
    Sentinel-2 berthed ships as protrusions of the shoreline, tile by tile.
``s2_candidates``
    Sentinel-2 candidates competing for pixels, and their suppression.
``shore``
    Directional runs of land and shoreline protrusions.
``common``
    Helpers shared by both sensors: morphology, per-object measures, scores, sizes.

References
----------
Crisp, D. J. (2004). The state-of-the-art in ship detection in synthetic aperture radar
imagery. DSTO-RR-0272.

Ulaby, F. T. & Dobson, M. C. (1989). Handbook of Radar Scattering Statistics for Terrain.
Artech House.

Heiselberg, H. (2016). A direct and fast methodology for ship recognition in Sentinel-2
multispectral imagery. Remote Sensing, 8(12), 1033. https://doi.org/10.3390/rs8121033

Soille, P. (2003). Morphological Image Analysis, 2nd ed. Springer, ch. 9 (closings by
line segments). https://doi.org/10.1007/978-3-662-05088-0

Koepke, P. (1984). Effective reflectance of oceanic whitecaps. Applied Optics, 23(11),
1816-1824. https://doi.org/10.1364/AO.23.001816
"""

from imagery.vessels.common import line_opening as line_opening
from imagery.vessels.common import objects_from_mask as objects_from_mask
from imagery.vessels.detect import detect_vessels, detect_vessels_each, vessel_candidates
from imagery.vessels.params import S1_PSF_SIGMA_M as S1_PSF_SIGMA_M
from imagery.vessels.params import VesselParams
from imagery.vessels.s2 import s2_surf
from imagery.vessels.shore import directional_runs, shore_protrusions

__all__ = [
    "VesselParams",
    "detect_vessels",
    "detect_vessels_each",
    "directional_runs",
    "s2_surf",
    "shore_protrusions",
    "vessel_candidates",
]
