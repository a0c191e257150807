"""Parameters of the pair pipeline (:func:`imagery.detect.detect_aligned`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from imagery.vessels import VesselParams
from imagery.water import S1_STABLE_DB

#: The pair's single-scene vessels are evidence, not flags: their footprints keep cargo
#: off ships and tell each date's ships from the other's, and a structure there on both
#: dates is never flagged. So S1 berthed candidates are kept without the end-contrast
#: test (``VesselParams.berth_min_end_contrast_db``), which the standalone vessels
#: output applies for precision. Development seeds 100-131 with the test: S1 vessel 84
#: -> 83 true, one more false cargo flag; check seeds 200-239: vessel 100 -> 98 true,
#: cargo +1 true +2 false. The VV floor (``berth_min_vv_db``) applies here too: a
#: natural shore's rim is no ship on either date, and as the other date's ship it hid
#: true flags (development pairs 100-131: new vessels 92 -> 93 true, departures 128 ->
#: 129; 300-339: new vessels 123 -> 124, departures 145 / 16 -> 146 / 15; the
#: independent simulator identical). Only S1 candidates at least
#: ``DetectParams.evidence_min_width_m`` wide count as ships
#: (:func:`imagery.flags.vessels.evidence_hulls`); thinner ones are lines, and are kept
#: as possible flags only, so the standalone output's significance floor on one-pixel
#: lines (``VesselParams.thin_min_significance``) is off here: development pairs 100-131
#: with it, new vessels 93 -> 92 true; 300-339 124 / 28 -> 124 / 27; the independent
#: simulator identical.
PAIR_VESSEL_PARAMS = VesselParams(berth_min_end_contrast_db=None, thin_min_significance=None)


@dataclasses.dataclass(frozen=True)
class DetectParams:
    """Parameters of pair detection; defaults suit S1 IW GRD and S2 L2A at 10 m.

    Attributes
    ----------
    vessel : VesselParams
        Single-scene vessel detection: :data:`PAIR_VESSEL_PARAMS` by default.
    match_m : float
        A vessel with a vessel of the other date within this distance (or half its
        length, if larger) is the same vessel, metres.
    vessel_change_z : float
        A new (departed) vessel is made of the pixels of its footprint that brightened
        (darkened) with a normal score above this: of the change test (S1), of the
        per-pixel B08 step against the water's spread (S2,
        :func:`imagery.flags.evidence.pixel_step`).
    cargo_z, cargo_grow_z : float
        Pixel normal scores that seed and grow a cargo object (seed 4.5: p ~ 3e-6), and
        an arrival at (departure from) a quay
        (:func:`imagery.flags.berths.berth_changes`; S2 on the per-pixel B08 score).
    cargo_min_area_m2, cargo_max_area_m2, cargo_max_length_m : float
        Stack scale: a block of containers up to a yard section. The minimum, 1000 m2,
        is about two S1 IW resolution cells (20 m x 22 m): smaller change cannot be
        told from speckle and single moving scatterers. S2: a change beyond the maximum
        over ground mostly open is one surface changing, not cut into stacks
        (:func:`imagery.flags.cargo._stack_ground`).
    vessel_buffer_m : float
        Cargo is not flagged within this distance of a vessel of either date: a ship's
        superstructure and cranes lay over by h / tan(incidence), 50-85 m for 50 m of
        height at S1's 30-45 degree incidence.
    berth_reach_m : float
        New vessels and departures are sought on the water of either date grown by this
        distance: at 10 m pixels and 20 m resolution, the water of a berth beside a
        bright quay wall is blurred into the wall.
    cloud_buffer_m : float
        S2: SCL clouds and shadows of either date, grown by this distance (thin cloud
        edges and shadows that SCL misses), are excluded from every flag.
    cirrus_match_m : float
        S2 with SCL: ground under thin cirrus (SCL class 10) on either date, clear of
        cloud and shadow on both, is not masked from the cargo test: the veiled date is
        matched onto the other by a local linear fit in windows of this size
        (:func:`imagery.flags.masks.cirrus_veil`,
        :func:`imagery.change.match_through_veil`) and its change judged with its own
        noise level. 0 masks cirrus as any cloud.
    shadow_shore_m : float
        S2: a new vessel (a departure) is not flagged where the date without it lies in
        a cloud's shadow (SCL's; without SCL, :func:`imagery.clouds.cloud_shadows`)
        within this distance of the land (:class:`imagery.flags.masks.PairMasks`): the
        shadow makes quay edges and piers step like ships. A berth and a ship's beam
        out from it; beyond, open water. Development seeds 100-131: new vessels 62 -> 58
        true, 31 -> 16 false (all 15 within 30 m of the land).
    cargo_max_ndvi : float
        S2: cargo stands on paved yards; vegetation on either date (NDVI above this, and
        not clearly brighter in blue than in green:
        :func:`imagery.spectral.green_vegetation`) is not searched for cargo.
    cargo_shore_gap_m : float
        Cargo is not flagged this close to water: the quay apron (30-60 m of crane
        rails and lashing area) is where mixed water/land pixels, moving cranes and
        berthed ships' layover change between passes.
    cargo_moved_m : float
        S1: an increase with a comparable decrease within this distance is something
        that moved (a crane along its rails, a vehicle, a re-stacked block), not a new
        stack. The berth change search (S1 and S2) applies the same test to a ship
        shifted along its berth.
    cargo_min_width_m : float
        Narrower change is a line (a crane rail, an edge), not a stack.
    cargo_max_cell_share : float
        S1: an increase that has more than this share of its added backscatter within
        one 30 m x 30 m cell (about one IW resolution cell with its blur) is a single
        scatterer (a vehicle, a crane, a lone container, a glint), not a stack: a stack
        spreads over several cells. 1 or more turns the test off.
    cargo_max_inland_m : float
        Cargo is sought within this distance of the water: the yards a port's quays
        serve. Farther inland, change is fields, roads and towns.
    cargo_max_before_texture, cargo_min_chroma_gain : float
        S2: new cargo appears on empty ground, no more textured before than this many
        times the land's median texture, or gains this much chroma: per object, and per
        pixel (3 x 3) before objects are formed, so that a yard's churn beside a new
        stack does not merge with it.
    cargo_min_texture_gain, cargo_added_chroma_gain : float
        S2: and it must have gained texture (more than this many times the land's median
        3 x 3 texture) or chroma (more than this); a stack taken away loses both
        (:func:`imagery.flags.cargo._on_empty_ground`). A stack raised or lowered in
        place (its shadow lengthened or shortened over the pavement), a neighbour's
        shadow or a veil gains about as little as noise: over both simulators' change
        objects that pass the other tests, the true stacks' median chroma gain is
        0.04-0.07 and the others' 0.00-0.01. ``cargo_min_texture_gain=None`` turns the
        test off.
    cargo_veil_step, cargo_veil_flatness : float
        S2: a change whose mean visible step (B02, B03, B04) is grey, one sign in the
        three bands with the smallest at least ``cargo_veil_flatness`` of the largest,
        and at least ``cargo_veil_step`` in blue (reflectance), is a veil (cloud or
        haze come or gone), not cargo. Cloud is white; painted containers, which the
        issue's stacks are, change the three bands unequally. ``cargo_veil_step`` 0
        turns the test off. It matters most for scenes without SCL.
    cargo_haze_veil : bool
        S2: a brightening in every band (mean steps of B02, B03, B04 and B08 all
        positive) that lifts B08 no more than B02 is haze or a thin cloud's fringe come
        on the later date, however small, not cargo
        (:func:`imagery.flags.cargo._veiled`). White and light grey containers, which
        step about flat, are lost to it (and from 0.04 up to the grey test); both
        simulators paint stacks in mixed colours, so no figure here says what a yard of
        white reefers would cost.
    cargo_split_spacing_m : float
        S2: a change object that did not appear on empty ground
        (:func:`imagery.flags.cargo._on_empty_ground`)
        and could hold two stacks (at least twice ``cargo_min_area_m2``) is a yard's
        churn, and may hold a stack set down in a free slot among it: it is cut at the
        saddles of its change (:func:`imagery.objects.split_at_saddles`, peaks at least
        this far apart, about a stack's width), and each part of stack scale, with a
        mean score of at least ``cargo_z``, is judged on its own. A new stack keeps its
        parts; the churn's stay rejected. Only where both dates carry SCL: without it a
        rejected change may be a cloud's shadow come or gone, whose parts look like
        stacks set down on smooth ground (held-out pairs stripped of SCL: 11 false stacks
        more, none found). 0 turns the cut off. An independent simulator's S2 pairs
        (``benchmarks/second_opinion.py``): cargo 48 / 19 / 51 -> 51 / 20 / 48 (true /
        false / missed; cut on every seed, SCL or not: 59 / 20 / 40); this project's
        development pairs: seeds 100-131 identical, 300-339 one stack more.
    berth_change_reach_m, berth_min_increase_db, berth_min_elongation, berth_max_angle_deg
        Arrivals at (departures from) a quay found from the change
        (:func:`imagery.flags.berths.berth_changes`): within this distance of the water
        (S1; S2: of the shore, on the water), seeded by increases above this many dB
        (S1; S2: a B08 rise of ``vessel.s2_min_contrast``), at least this elongated (S1:
        with the blur of the resolution and of the change test's means taken off,
        :func:`imagery.flags.berths._elongation`), and lying within this angle of the
        shoreline. ``berth_change_reach_m`` 0 turns the search off.
    water_reference_m : float or None
        S2: the water's own near-infrared step between the dates (haze, turbidity, sun
        glint), the zero of a ship's, is its median over the clear water within a square
        of this side around each pixel (:func:`imagery.change.s2_pixel_step`); None: one
        median for the whole scene. Large against a ship (one of 400 m x 60 m covers a
        twentieth of it), small against the scale on which haze and turbidity vary.
        Development pairs: new vessels 58 -> 61 found, departures 47 -> 48, no false flag
        more; an independent simulator's false new vessels 16 -> 13.
    berth_registration_px : float
        S2: a new or departed vessel, or an arrival at (departure from) a quay, whose B08
        step is, on at least half its pixels, no more than a residual misregistration
        of up to this many pixels would make of the edges there (present on both dates;
        :func:`imagery.change.s2_pixel_step`) is a quay's edge, not a ship.
    change_window_px : int
        Local averaging window of the change test.
    max_shift_px : float
        Co-registration refuses shifts beyond this.
    coreg_window_px : tuple of int
        Co-registration window sides, pixels, tried in turn: on a scene that is mostly
        water too few of the larger windows hold enough land to measure, and smaller
        ones are tried before the pair is refused.
    open_water_share : float or None
        Sentinel-1: when no window side of ``coreg_window_px`` finds windows enough to
        measure a shift on, and water covers at least this share of both scenes' VV
        pixels, the after scene is compared as georeferenced instead of refused, with a
        warning: open sea (an anchorage, a port's approaches) holds nothing fixed to
        register on, and S1 IW GRD products are located within 10 m (Schubert et al.
        2017), inside the tolerance a vessel is matched with (``match_m``). The run's
        parameters record it (``registration.model`` = ``"none"``). Not for S2, whose
        per-pixel steps follow every edge of a pixel's misregistration; not after a
        refusal for a shift too large or for windows that disagree; not in tiled
        processing (``imagery.tiled``), which refuses. It trusts the water mask: a
        smooth sand coast that C band takes for calm water would be compared
        unregistered too. None refuses.
    min_score : float
        Flags whose calibrated score (the probability they are right,
        ``imagery.calibration``) is below this are not reported. 0 reports all.
    swing_length_tolerance : float
        A vessel afloat touching one of the other date's, with a length within this
        share of it, is the same ship swung at anchor
        (:func:`imagery.flags.vessels._swung`); 0 turns the test off.
    moved_length_tolerance : float
        An arrival at a quay beside a departure is one ship shifted along its berth (no
        flag) only when their change objects' lengths agree within this share of the
        longer; otherwise one ship left and another arrived. 1 or more: any length.
    water_stable_db : float
        S1: a pixel that is water on one date only is the pair's water when it is at
        least this much brighter on its land date, dB (see
        :func:`imagery.water.series_water`); ``inf`` takes the union of the masks,
        less its enclosed water (``MIN_ENCLOSED_WATER_M2``).
    evidence_min_width_m : float
        S1: a vessel of one date counts as a ship there (the other date's ship a flag
        must be away from, the footprint a berth arrival must be off, the cargo
        keep-out) only when at least this wide, its width measured with the blur taken
        off: anything thinner than the blur (a quay edge, a wall, a rail) measures one
        pixel, a hull of 10 m beam about 14 m
        (:func:`imagery.flags.vessels.evidence_hulls`). Thin candidates may still be
        flagged themselves. 0 counts every vessel.
    """

    vessel: VesselParams = dataclasses.field(default_factory=lambda: PAIR_VESSEL_PARAMS)
    match_m: float = 60.0
    vessel_change_z: float = 2.0
    cargo_z: float = 4.5
    cargo_grow_z: float = 2.5
    cargo_min_area_m2: float = 1000.0
    cargo_max_area_m2: float = 60_000.0
    cargo_max_length_m: float = 600.0
    vessel_buffer_m: float = 80.0
    berth_reach_m: float = 30.0
    cloud_buffer_m: float = 60.0
    cirrus_match_m: float = 250.0
    shadow_shore_m: float = 100.0
    cargo_max_ndvi: float = 0.4
    cargo_shore_gap_m: float = 50.0
    cargo_moved_m: float = 60.0
    cargo_min_width_m: float = 15.0
    cargo_max_cell_share: float = 0.7
    cargo_max_inland_m: float = 1000.0
    cargo_max_before_texture: float = 4.0
    cargo_min_chroma_gain: float = 0.03
    cargo_min_texture_gain: float | None = 1.5
    cargo_added_chroma_gain: float = 0.02
    cargo_veil_step: float = 0.04
    cargo_veil_flatness: float = 0.75
    cargo_haze_veil: bool = True
    cargo_split_spacing_m: float = 30.0
    berth_change_reach_m: float = 50.0
    berth_min_increase_db: float = 4.0
    berth_min_elongation: float = 2.0
    berth_max_angle_deg: float = 40.0
    berth_registration_px: float = 0.3
    water_reference_m: float | None = 720.0
    change_window_px: int = 3
    max_shift_px: float = 5.0
    coreg_window_px: tuple[int, ...] = (128, 64)
    open_water_share: float | None = 0.9
    min_score: float = 0.3
    water_stable_db: float = S1_STABLE_DB
    evidence_min_width_m: float = 12.0
    swing_length_tolerance: float = 0.3
    moved_length_tolerance: float = 0.3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
