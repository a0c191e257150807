"""Parameters of vessel detection: :class:`VesselParams` and the fixed constants of the method."""

from __future__ import annotations

import dataclasses

from imagery.cfar import SNAP_BACKGROUND_M, SNAP_GUARD_M, SNAP_PFA


@dataclasses.dataclass(frozen=True)
class VesselParams:
    """Parameters of single-scene vessel detection; defaults suit S1 IW GRD and S2 L2A at 10 m.

    Attributes
    ----------
    pfa : float
        Per-pixel false alarm probability of the S1 CFAR test (SNAP: 10^-6.5).
    guard_m, background_m : float
        S1 CFAR guard and background window sides, metres (SNAP: 500 and 800).
    model : str
        S1 clutter model: "k" (default), "gamma" or "gaussian" (SNAP's two-parameter).
    looks : float
        Equivalent number of looks of S1 IW GRD (about 4.4).
    s2_pfa : float
        Per-pixel false alarm probability of the S2 B08 contrast test.
    s2_guard_m, s2_background_m : float
        Guard and background window sides of the S2 test, metres.
    s2_min_contrast : float
        Smallest mean B08 reflectance step of an S2 object afloat above the water
        around it (sensor noise and haze texture are well below 0.01; a sediment plume
        lifts dark water's B08 by 0.01-0.02; a hull by 0.03 or more).
    s2_min_length_m : float
        Shortest S2 vessel as measured, metres (blur adds 10-20 m to a hull at 10 m,
        so this is about a 30 m hull; smaller boats are not reported).
    s2_foam_ratio : float
        An S2 object whose B08 step above the water is below this multiple of its B03
        step is foam, a whitecap or a plume, not a hull (Koepke 1984). The water in and
        under whitewater absorbs the near infrared: foam's B08 is 0.5-0.8 of its visible
        reflectance (Frouin et al. 1996, Dierssen 2019). Over water, darker in B08 than in
        B03, the ratio of the steps is a little higher than that of the reflectances
        (foam at 0.8 of a visible 0.35 steps about 0.88), so 0.8 catches foam up to about
        0.72. Hulls step more in B08 than in B03 over water: of the 102 annotated ships
        of the real ports (``benchmarks/sen2ships.py``) 5 % are below 1.14 and three
        below 0.8 (one of them found, lost at 0.8). Was 0.6, which let half of the surf
        through (session 19). Also the foam test of :func:`imagery.vessels.s2_surf`.
    s2_min_swir_ratio : float
        When the S2 scene has B11 (SWIR 1.6 um): an object afloat whose B11 step above
        the water is below this multiple of its B08 step lies under the surface (a
        shoal, a sand bar, sediment), since water absorbs SWIR within millimetres
        (Hale & Querry 1973; the SWIR black-water assumption of Wang & Shi 2007), and
        whitewater, white in the visible, keeps about 60 % of that reflectance at
        0.85 um and 15 % at 1.65 um, the water in its bubbles absorbing (Frouin,
        Schwindling & Deschamps 1996): its B11/B08 step is about a quarter. A hull's
        own B11/B08 ratio is 0.5-1; B11's 20 m pixels lower it on a narrow hull. Over
        the 102 annotated ships of the real ports (``benchmarks/sen2ships.py``) the
        step ratio's 1st percentile is 0.2, its 5th 0.55; three lie below 0.4. Was
        0.15, which let whitewater through (session 31: an independent simulator's S2
        pairs, false new vessels 13 -> 11 and departures 4 -> 3, none lost; at 0.35 a
        ship is lost; real ports a false alarm fewer). Foam mixed with a breakwater's
        concrete in its pixels steps 0.4-0.6 in B11 and still passes. 0 turns the test
        off.
    s2_max_ndvi : float
        S2 candidates whose median NDVI exceeds this are vegetation; a berthed candidate
        whose land within ``berth_bank_m`` mostly exceeds it lies on a vegetated bank.
        Pixels clearly brighter in B02 than in B03 (blue paint, whose pigment may reflect
        the near infrared as leaves do) count as not vegetation
        (:func:`imagery.spectral.leaf_ndvi`).
    s2_max_ndwi : float
        S2 cores must have NDWI below the water's median NDWI plus this (a hull is less
        water-like than the water around it; a bright patch of turbid water is not).
    s2_surf_buffer_m : float
        S2 objects within this distance of a patch of foam are surf, metres.
    s1_layover_height_m : float
        S1: height above the water of a ship's echoes taken together (hull side, deck
        edges, superstructure), metres. A ship is reported that far from the sensor
        times 1 / tan(incidence) beyond where its echoes lie, back over its hull
        (:func:`imagery.layover.correct_layover`), when the scene records its look
        direction. On our development pairs (seeds 100-131 and 300-339) the flags lay a
        median 12 m towards the sensor off the hulls (about 10 m up at 30-45 degrees),
        and a tenth of the misses were flags 20-60 m off; 10 m was chosen over 0-20.
        0 turns it off.
    shore_m : float
        Width of the band of land along the water searched by the S1 CFAR, metres.
    land_window_m : float
        Background window of the S1 land test in the shore band, metres.
    land_pfa : float
        False alarm probability against land clutter in the shore band (S1).
    min_length_m, max_length_m, min_width_m, max_width_m, min_area_m2 : float
        Size filters on the ground (S2 uses ``s2_min_length_m`` for the shortest); S1
        sizes are measured with the sensor blur removed, so boats under 30 m drop out.
    hysteresis : float
        Pixels joined to an object need this fraction of the detection significance.
    berths : bool
        Look for berthed ships as shoreline protrusions.
    berth_line_m : float
        Longest berthed ship: land runs up to this length, bounded by water at both
        ends, are protrusions, metres.
    berth_max_width_m : float
        Deepest protrusion that may be a ship (its beam), metres.
    berth_min_elongation : float
        Smallest length/width of a berthed ship.
    berth_min_end_contrast_db : float
        S1: a berthed candidate's median VV must exceed, by this many dB, the shore
        continuing along its axis beyond its ends (median of the 3 x 3 maxima 20-120 m
        past each end): a hull is a bright interruption of the quay line, a piece of a
        uniformly bright quay face, breakwater or pier is not. None turns it off.
    berth_min_vv_db : float
        S1: a berthed candidate's median VV backscatter (sigma0, dB) must reach this.
        A steel hull alongside a quay returns strongly from its side and its dihedrals
        with the water and the deck, well above natural shores (rock, sand, scrub,
        vegetated banks: about -15 to -7 dB in VV at C band and IW incidences, Ulaby &
        Dobson 1989), whose rims the protrusion search also finds. Single S1 scenes,
        false / missed: development seeds 300-339 127 / 128 -> 93 / 129, 100-131
        122 / 95 -> 101 / 97, an independent simulator's seeds 1-20 45 / 76 -> 28 / 81
        (``benchmarks/vessels.py``, ``benchmarks/second_opinion.py``). None turns it off.
    thin_min_significance : float or None
        S1: a candidate no wider than one pixel once the sensor's blur is taken off
        (``S1_PSF_SIGMA_M``) is kept only when the mean significance of its pixels (the
        CFAR test's -log10 tail probability against the sea, the larger of VV and VH) is
        at least this. Through IW's 20 m x 22 m resolution a hull of 8-15 m beam spreads
        over two pixels or more, and its steel (side, dihedrals with the water and the
        deck) returns far above the sea; a significant line one pixel wide is most often
        a quay face, the edge of a stack or a pier's rim, bright but less so. 50 is a
        tail probability of 10^-50: backscatter about 15 dB above the sea's mean for gamma
        clutter of 4.4 looks, more under K clutter's heavier tail. Single S1 scenes,
        true / false / missed (``benchmarks/vessels.py``,
        ``benchmarks/second_opinion.py``): development seeds 100-131 131 / 101 / 97 ->
        124 / 51 / 104 (F1 0.570 -> 0.615; of the one-pixel candidates 51 were ships and
        73 not); an independent simulator's seeds 1-20 147 / 28 / 81 -> 145 / 19 / 83
        (0.730 -> 0.740); 40 and 55 measured alike. None turns the test off; pair
        detection (:data:`imagery.flags.params.PAIR_VESSEL_PARAMS`) keeps such lines as
        possible flags and never counts them as the other date's ships.
    berth_min_backing : float
        The quay behind an S2 berthed candidate must run this many times longer than
        the candidate along the same direction.
    berth_bank_m : float
        Ships moor at built quays, piers and pontoons, not along vegetated banks: an S2
        berthed candidate is dropped when most of the clear land within this distance
        of it, metres (a Chebyshev ring of pixels), has NDVI above ``s2_max_ndvi``
        (mangrove, scrub, lawn; blue roofs and containers are not vegetation:
        :func:`imagery.spectral.leaf_ndvi`). A quay apron is paved for tens of metres; a
        park or a tree line further back does not count. 0 turns the test off.
    berth_min_unmixed : float
        An S2 berthed candidate alongside a quay must lie at least this far off every
        mixture of the quay behind it with the water (the largest relative distance
        over B02 B03 B04 B08, :func:`imagery.spectral.off_mixing_line`; end-on
        candidates: ``BERTH_END_ON_MIN_CONTRAST``). The quay's own rim, the pixels of
        the shoreline that are part quay and part water, lies on that line; a hull is
        another material. 0 turns the test off.
    berth_min_score : float
        S2 berthed objects scoring below this (:func:`_berth_score`, 0-0.9) are dropped.
    berth_angles : int
        Directions searched for S2 protrusions over 180 degrees.
    min_width_px : int
        Detection cores and protrusions narrower than this (pixels) are opened away.
    grow_px : int
        Hysteresis growth reaches this far from a core, pixels.
    """

    pfa: float = SNAP_PFA
    guard_m: float = SNAP_GUARD_M
    background_m: float = SNAP_BACKGROUND_M
    model: str = "k"
    looks: float = 4.4
    s2_pfa: float = 1e-7
    s2_guard_m: float = 150.0
    s2_background_m: float = 450.0
    s2_min_contrast: float = 0.02
    s2_min_length_m: float = 45.0
    s2_foam_ratio: float = 0.8
    s2_min_swir_ratio: float = 0.3
    s2_max_ndvi: float = 0.3
    s2_max_ndwi: float = 0.0
    s2_surf_buffer_m: float = 60.0
    s1_layover_height_m: float = 10.0
    shore_m: float = 40.0
    land_window_m: float = 150.0
    land_pfa: float = 1e-3
    min_length_m: float = 30.0
    min_width_m: float = 6.0
    max_length_m: float = 500.0
    max_width_m: float = 90.0
    min_area_m2: float = 250.0
    hysteresis: float = 0.5
    berths: bool = True
    berth_line_m: float = 400.0
    berth_max_width_m: float = 60.0
    berth_min_elongation: float = 2.5
    berth_min_end_contrast_db: float | None = 1.0
    berth_min_vv_db: float | None = -6.0
    thin_min_significance: float | None = 50.0
    berth_min_backing: float = 2.0
    berth_bank_m: float = 50.0
    berth_min_unmixed: float = 0.1
    berth_min_score: float = 0.55
    berth_angles: int = 16
    min_width_px: int = 2
    grow_px: int = 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- Sentinel-1 -------------------------------------------------------------------------------


#: The S1 water mask is smoothed, so its shoreline, and the bump a berthed hull makes
#: in it, may lie a pixel or two off the hull: a whole bump is a hull when the bright
#: pixels in it and within two pixels of it number at least this share of it.
S1_BERTH_BRIGHT_SHARE = 0.5

#: Standard deviation of the point spread function of S1 IW GRD (about 20 m x 22 m
#: resolution, FWHM / 2.355), metres; removed from measured sizes.
S1_PSF_SIGMA_M = 9.0


# -- Sentinel-2 -------------------------------------------------------------------------------


#: Foam: at least this much brighter than the water in B03 (reflectance), in patches at
#: least this large (a lone whitecap is not a surf zone; the size filter drops it).
#: Whitewater reflects 0.3-0.5 in the visible (Koepke 1984), so 0.03 is a pixel about a
#: tenth under foam: the thin edges of a surf zone, not only its core. Swept on the real
#: ports (``benchmarks/sen2ships.py``): 0.05 and 0.04 F1 0.534, 0.03 0.542 (Durban's
#: false alarms in the surf 27 -> 23, no ship lost), 0.025 0.544, 0.02 0.530 (four of
#: Durban's ships lost); an independent simulator's S2 departures 0.667 -> 0.682 (both
#: with ``s2_foam_ratio`` at 0.6, as it then was).
S2_FOAM_STEP = 0.03
S2_FOAM_MIN_AREA_M2 = 1_000.0

#: An S2 object with more than this share of its pixels in a surf zone is foam: a hull
#: may touch the zone's edge (it is grown by ``s2_surf_buffer_m``), not lie in it.
S2_SURF_MAX_SHARE = 0.3

#: An S2 object is cut by the cloud mask (a ship half hidden, or the cloud's own edge)
#: when a masked pixel beside it steps in B08 by at least this share of the object's
#: brightest step near the mask, within four pixels (and by ``s2_min_contrast``): a hull
#: runs on under the mask as bright as it is there, while the tail of its blur over the
#: water of a cloud's buffer is a fifth of its step or less.
S2_CLOUD_CUT_SHARE = 0.5

#: A line a pixel or two wide running at least this far out of an S2 object afloat is a
#: structure (a jetty's trestle, a conveyor), not part of a hull: cut away
#: (:func:`imagery.vessels.s2.without_thin_appendages`).
S2_APPENDAGE_MIN_LENGTH_M = 100.0
#: What such a cut leaves at the trestle's end is a jetty's head (a loading platform,
#: 30-100 m) unless it is longer than this, metres: then a ship moored at the head,
#: which reaches past it on both sides (tankers and bulk carriers, 150-330 m).
S2_JETTY_HEAD_MAX_LENGTH_M = 120.0
#: A hull is a convex body: its pixels fill the rectangle of its second moments (the
#: length and width of :func:`imagery.objects.axis_shape`) to 0.95-1.05, a filled
#: ellipse 1.05. An object afloat filling less than this share is a hook, an L or a
#: comb (a curved pier, a jetty with its arm), not a ship.
S2_HULL_MIN_FILL = 0.7

#: Line lengths searched, as fractions of ``berth_line_m``. A hull shows at every line
#: longer than itself; the inside of a bend deepens as the square of the line, so
#: short lines keep small ships clear of it.
BERTH_SCALES = (1.0, 0.63, 0.4)
#: A protrusion whose longest run fills this fraction of the line is the inside of a
#: bend or a corner, whose runs grow smoothly up to the line, not a hull, whose runs
#: stop at its own length and jump to the quay's behind it.
BERTH_FILL = 0.85
#: The protrusion search runs in tiles of this many pixels (plus a halo of two lines).
BERTH_TILE_PX = 2048
#: Ships moored end-on to a quay (stern-to or bow-to, fishing boats rafted bow-out, a
#: ro-ro at its ramp) are protrusions across the quay, as piers are: up to this long,
#: metres. Longer, a protrusion across the quay is a pier or a mole.
BERTH_END_ON_MAX_LENGTH_M = 120.0
#: A pier is the quay's own material, and one narrower than the point spread is quay
#: mixed with water: an end-on candidate must lie at least this far off every mixture
#: of the quay behind it with the water (:func:`imagery.spectral.off_mixing_line`, the
#: largest relative distance over four bands).
BERTH_END_ON_MIN_CONTRAST = 0.3
