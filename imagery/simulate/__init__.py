"""Deterministic, physically grounded sample scenes of a port: Sentinel-1 and Sentinel-2.

A procedural port (coastline, quays, piers, basin, yards, anchorage) is generated from
a seed on the AOI's UTM grid; vessels and cargo stacks come and go between dates; each
date is rendered as a Sentinel-1 GRD (sigma0 VV/VH, K-distributed sea, speckle of ENL
4.4, dihedral quay edges, layover) or Sentinel-2 L2A (B02 B03 B04 B08 x 10000 and SCL,
clouds and their shadows) scene, misregistered and calibrated differently from the
first, with the truth of what is new.

>>> from imagery.aoi import get_aoi
>>> sim = simulate_pair(get_aoi("rajin"), sensor="s1", seed=7, size_px=256)
>>> paths = write_simulation(sim, tmp_dir)  # doctest: +SKIP

Modules: ``layout`` (port geometry), ``objects`` (vessels, cargo), ``traffic`` (what
changes between dates), ``acquisition`` (dates, orbit, sun, shifts, calibration),
``scene`` (what one date draws), ``s1``/``s2`` (rendering), ``truth`` (tables),
``core`` (running it), ``write`` (files), ``grid``/``fields``/``materials`` (helpers).
"""

from imagery.simulate.core import (
    Simulation,
    seed_list,
    seeds_argument,
    simulate_pair,
    simulate_series,
)
from imagery.simulate.write import write_simulation

__all__ = [
    "Simulation",
    "seed_list",
    "seeds_argument",
    "simulate_pair",
    "simulate_series",
    "write_simulation",
]
