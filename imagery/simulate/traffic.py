"""What is in the port on each date: ships arriving and leaving, cargo stacked and moved.

:class:`Traffic` places vessels at berths (parallel to the quay or pier edge, touching
its fenders) and at anchor (weather-vaning together, swinging about their anchors
between dates), and cargo blocks in yard slots. :meth:`Traffic.step` advances the port
by one revisit: some ships leave (more over 12 days than over 5), 2-6 arrive, possibly
into a berth a ship just left; 1-4 cargo blocks appear (half of them growing an
existing stack along its row) and up to 2 are taken away. Small craft are scattered
afresh on every date as clutter.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import box

from imagery.simulate.layout import Berth, Layout
from imagery.simulate.objects import PortObject, make_boat, make_cargo, make_vessel, rotate_object

__all__ = ["PortState", "Traffic"]

MIN_VESSELS = 4
MAX_VESSELS = 12


@dataclasses.dataclass(frozen=True)
class PortState:
    """Everything that can change, on one date."""

    vessels: tuple[PortObject, ...]
    cargo: tuple[PortObject, ...]
    boats: tuple[PortObject, ...]
    anchor_heading_deg: float

    @property
    def objects(self) -> tuple[PortObject, ...]:
        """Vessels then cargo: what truth and detection benchmarks count."""
        return self.vessels + self.cargo


def _rect_at(
    centre: tuple[float, float], heading_deg: float, length: float, width: float
) -> shapely.Polygon:
    h = math.radians(heading_deg)
    s, c = math.sin(h), math.cos(h)
    return affinity.affine_transform(
        box(-length / 2, -width / 2, length / 2, width / 2), [s, -c, c, s, centre[0], centre[1]]
    )


class Traffic:
    """Places and moves vessels and cargo in a :class:`Layout`.

    Parameters
    ----------
    layout : Layout
    margin_m : float
        Objects stay this far inside the grid, so a misregistered scene still shows them.
    """

    def __init__(self, layout: Layout, *, margin_m: float) -> None:
        self.layout = layout
        left, bottom, right, top = layout.bounds
        self.inner = box(left + margin_m, bottom + margin_m, right - margin_m, top - margin_m)
        self._next_id = 1
        shapely.prepare(layout.land)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    # -- vessels ------------------------------------------------------------------
    def _fits(self, outline, others: list[PortObject], clearance_m: float) -> bool:
        if not self.inner.contains(outline) or self.layout.land.intersects(outline):
            return False
        grown = outline.buffer(clearance_m)
        return not any(grown.intersects(o.footprint) for o in others)

    def _at_berth(
        self,
        rng: np.random.Generator,
        berth: Berth,
        others: list[PortObject],
        *,
        s_hint: float | None = None,
    ) -> PortObject | None:
        room = berth.length_m - 10.0
        if room < 40.0:
            return None
        length = math.exp(rng.uniform(math.log(40.0), math.log(min(300.0, room))))
        width = max(8.0, length / rng.uniform(6.0, 8.0))
        gap = rng.uniform(0.5, 2.0)
        heading = berth.heading_deg + (180.0 if rng.random() < 0.5 else 0.0)
        for attempt in range(12):
            if s_hint is not None and attempt < 3:
                s = float(np.clip(s_hint + rng.uniform(-40, 40), 5.0, berth.length_m - length))
            else:
                s = rng.uniform(5.0, max(5.0, berth.length_m - length))
            centre = berth.at(s + length / 2, width / 2 + gap)
            if self._fits(_rect_at(centre, heading, length, width), others, 8.0):
                return make_vessel(
                    rng,
                    id=self._new_id(),
                    centre=centre,
                    heading_deg=heading,
                    length_m=length,
                    width_m=width,
                    setting="berth",
                    place=berth.name,
                )
        return None

    def _at_anchor(
        self, rng: np.random.Generator, others: list[PortObject], heading0: float
    ) -> PortObject | None:
        area = self.layout.anchorage
        if area is None:
            return None
        length = math.exp(rng.uniform(math.log(60.0), math.log(300.0)))
        width = max(8.0, length / rng.uniform(6.0, 8.0))
        heading = heading0 + rng.uniform(-25.0, 25.0)
        left, bottom, right, top = area.bounds
        for _ in range(30):
            x, y = rng.uniform(left, right), rng.uniform(bottom, top)
            if not shapely.contains_xy(area, x, y):
                continue
            outline = _rect_at((x, y), heading, length, width)
            anchored = [o for o in others if o.setting == "anchor"]
            if any(
                math.dist((x, y), o.footprint.centroid.coords[0]) < (length + o.length_m) / 2 + 60.0
                for o in anchored
            ):
                continue
            if self._fits(outline, others, 40.0):
                h = math.radians(heading)
                reach = length / 2 + rng.uniform(15.0, 40.0)
                pivot = (x + math.sin(h) * reach, y + math.cos(h) * reach)
                return make_vessel(
                    rng,
                    id=self._new_id(),
                    centre=(x, y),
                    heading_deg=heading,
                    length_m=length,
                    width_m=width,
                    setting="anchor",
                    place="anchorage",
                    pivot=pivot,
                )
        return None

    def _arrive(
        self,
        rng: np.random.Generator,
        others: list[PortObject],
        heading0: float,
        vacated: list[tuple[str, float]],
    ) -> PortObject | None:
        berths = {b.name: b for b in self.layout.berths}
        at_anchor = rng.random() < 0.3 and self.layout.anchorage is not None
        if not at_anchor and berths:
            if vacated and rng.random() < 0.25:
                name, s = vacated.pop(int(rng.integers(len(vacated))))
                found = self._at_berth(rng, berths[name], others, s_hint=s)
                if found is not None:
                    return found
            weights = np.array([b.length_m for b in berths.values()])
            for _ in range(6):
                b = list(berths.values())[rng.choice(len(weights), p=weights / weights.sum())]
                found = self._at_berth(rng, b, others)
                if found is not None:
                    return found
        return self._at_anchor(rng, others, heading0)

    # -- cargo ----------------------------------------------------------------------
    def _stack(
        self, rng: np.random.Generator, cargo: list[PortObject], banned: set[int]
    ) -> PortObject | None:
        slots = self.layout.slots
        used = {c.slot for c in cargo} | banned
        free = [s for s in slots if s.index not in used]
        if not free:
            return None
        if cargo and rng.random() < 0.5:
            by_place = {(s.yard, s.row, s.position): s for s in free}
            for c in rng.permutation(len(cargo)):
                here = slots[cargo[c].slot]
                for step in (1, -1) if rng.random() < 0.5 else (-1, 1):
                    nxt = by_place.get((here.yard, here.row, here.position + step))
                    if nxt is not None:
                        return make_cargo(rng, id=self._new_id(), slot=nxt)
        return make_cargo(rng, id=self._new_id(), slot=free[int(rng.integers(len(free)))])

    # -- dates ----------------------------------------------------------------------
    def _boats(self, rng: np.random.Generator, vessels: list[PortObject]) -> tuple:
        boats: list[PortObject] = []
        water = self.layout.water
        left, bottom, right, top = self.inner.bounds
        for _ in range(int(rng.integers(0, 5))):
            for _ in range(20):
                x, y = rng.uniform(left, right), rng.uniform(bottom, top)
                if not shapely.contains_xy(water, x, y):
                    continue
                boat = make_boat(
                    rng, id=-1 - len(boats), centre=(x, y), heading_deg=rng.uniform(0, 360)
                )
                if self._fits(boat.footprint, vessels + boats, 10.0):
                    boats.append(boat)
                    break
        return tuple(boats)

    def initial(self, rng: np.random.Generator) -> PortState:
        """The port on the first date: 4-12 vessels, 35-65 % of the yard slots full."""
        heading0 = rng.uniform(0.0, 360.0)
        vessels: list[PortObject] = []
        for _ in range(int(rng.integers(MIN_VESSELS, MAX_VESSELS + 1))):
            v = self._arrive(rng, vessels, heading0, [])
            if v is not None:
                vessels.append(v)
        cargo: list[PortObject] = []
        share = rng.uniform(0.35, 0.65)
        for slot_index in rng.permutation(len(self.layout.slots)):
            if rng.random() < share:
                slot = self.layout.slots[int(slot_index)]
                cargo.append(make_cargo(rng, id=self._new_id(), slot=slot))
        return PortState(tuple(vessels), tuple(cargo), self._boats(rng, vessels), heading0)

    def step(self, rng: np.random.Generator, state: PortState, *, days: float) -> PortState:
        """The port ``days`` later."""
        n = len(state.vessels)
        leave = np.array(
            [
                rng.random() < 1.0 - math.exp(-days / (14.0 if v.setting == "berth" else 10.0))
                for v in state.vessels
            ],
            dtype=bool,
        )
        if n and not leave.any():
            leave[rng.integers(n)] = True
        arrivals = int(rng.integers(2, 7))
        while (~leave).sum() + arrivals > MAX_VESSELS:
            leave[rng.choice(np.flatnonzero(~leave))] = True
        while (~leave).sum() + arrivals < MIN_VESSELS and arrivals < 6:
            arrivals += 1
        heading0 = (state.anchor_heading_deg + rng.uniform(-60.0, 60.0)) % 360.0
        staying: list[PortObject] = []
        vacated: list[tuple[str, float]] = []
        for v, gone in zip(state.vessels, leave, strict=True):
            if gone:
                if v.setting == "berth":
                    vacated.append((v.place, self._berth_s(v)))
                continue
            staying.append(v)
        staying = self._swing(rng, staying, heading0)
        vessels = list(staying)
        for _ in range(arrivals):
            v = self._arrive(rng, vessels, heading0, vacated)
            if v is not None:
                vessels.append(v)

        cargo = list(state.cargo)
        removed: set[int] = set()
        for _ in range(min(int(rng.integers(0, 3)), max(0, len(cargo) - 1))):
            gone = cargo.pop(int(rng.integers(len(cargo))))
            removed.add(gone.slot)
        for _ in range(int(rng.integers(1, 5))):
            c = self._stack(rng, cargo, removed)
            if c is not None:
                cargo.append(c)
        return PortState(tuple(vessels), tuple(cargo), self._boats(rng, vessels), heading0)

    def _berth_s(self, v: PortObject) -> float:
        berth = next(b for b in self.layout.berths if b.name == v.place)
        cx, cy = v.footprint.centroid.coords[0]
        along = (cx - berth.origin[0]) * berth.direction[0] + (
            cy - berth.origin[1]
        ) * berth.direction[1]
        return along - v.length_m / 2

    def _swing(
        self, rng: np.random.Generator, vessels: list[PortObject], heading0: float
    ) -> list[PortObject]:
        out = list(vessels)
        for i, v in enumerate(out):
            if v.setting != "anchor" or v.pivot is None:
                continue
            # Anchored ships weather-vane: turn part of the way to the new common heading.
            delta = ((heading0 - v.heading_deg + 180.0) % 360.0) - 180.0
            turn = float(np.clip(delta * rng.uniform(0.2, 0.6), -20.0, 20.0))
            turned = rotate_object(v, turn, v.pivot)
            others = out[:i] + out[i + 1 :]
            if self._fits(turned.footprint, others, 20.0):
                out[i] = turned
        return out
