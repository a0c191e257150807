"""Two searches that flag one ship keep the better-scored flag (imagery.flags.vessels.one_flag_per_ship)."""

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from imagery.calibration import calibrate
from imagery.detect import DetectParams
from imagery.flags.vessels import one_flag_per_ship

CRS = "EPSG:32652"


def flags(*rows):
    """Vessel flags at (x, y, evidence), 120 m x 25 m, z_mean 6."""
    frame = gpd.GeoDataFrame(
        {
            "x": [r[0] for r in rows],
            "y": [r[1] for r in rows],
            "score": [r[2] for r in rows],
            "length_m": 120.0,
            "width_m": 25.0,
            "area_m2": 3000.0,
            "z_mean": 6.0,
            "kind": "vessel",
        },
        geometry=[Point(r[0], r[1]).buffer(30) for r in rows],
        crs=CRS,
    )
    return frame


def calibrated(frame):
    return calibrate(frame.assign(evidence=frame["score"]), "s1")


@pytest.mark.parametrize("first_wins", [True, False])
def test_the_better_scored_flag_of_one_ship_is_kept(first_wins):
    weak, strong = 0.4, 0.999
    first = flags((1000.0, 2000.0, strong if first_wins else weak))
    second = flags((1035.0, 2010.0, weak if first_wins else strong))
    assert calibrated(first)[0] != calibrated(second)[0]
    kept_first, kept_second = one_flag_per_ship(first, second, "s1", DetectParams())
    winner_is_first = calibrated(first)[0] > calibrated(second)[0]
    assert len(kept_first) == int(winner_is_first)
    assert len(kept_second) == int(not winner_is_first)


def test_flags_of_different_ships_are_all_kept():
    first = flags((1000.0, 2000.0, 0.9), (5000.0, 2000.0, 0.2))
    second = flags((1000.0, 2300.0, 0.95), (9000.0, 2000.0, 0.1))
    kept_first, kept_second = one_flag_per_ship(first, second, "s1", DetectParams())
    assert len(kept_first) == 2 and len(kept_second) == 2


def test_a_tie_keeps_the_first_search_and_an_empty_side_changes_nothing():
    first = flags((1000.0, 2000.0, 0.8))
    second = flags((1020.0, 2000.0, 0.8))
    kept_first, kept_second = one_flag_per_ship(first, second, "s1", DetectParams())
    assert len(kept_first) == 1 and kept_second.empty
    kept_first, kept_second = one_flag_per_ship(first, second.iloc[0:0], "s1", DetectParams())
    assert len(kept_first) == 1 and kept_second.empty
    assert np.isclose(kept_first["score"].iloc[0], 0.8)


def test_a_flag_between_two_ships_end_to_end_takes_neither_with_it():
    # Two 80 m ships 10 m apart along a quay: a piece on each, and a weaker berth flag
    # between them that is one ship with either piece.
    pieces = flags((1000.0, 2045.0, 0.999), (1000.0, 1955.0, 0.6))
    berth = flags((1000.0, 1990.0, 0.8))
    pieces["length_m"] = berth["length_m"] = 80.0
    a, c = calibrated(pieces)
    (b,) = calibrated(berth)
    assert a > b > c
    kept_pieces, kept_berth = one_flag_per_ship(pieces, berth, "s1", DetectParams())
    assert len(kept_pieces) == 2 and kept_berth.empty
