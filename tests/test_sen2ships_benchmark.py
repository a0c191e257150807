"""The real-port benchmark reads the published sen2ships layout as well as ours.

The published dataset names its bands ``<dates>_Sentinel-2_L2A_B02_(Raw).tiff`` and
keeps some COCO files in ``annotations/``; ``../shared/data/sen2ships`` has them as
``B02.tif`` and ``<port>_coco.json``. Both must be found, every port folder of the tree
scored, and B11 read when it is there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import load_benchmark

ROOT = Path(__file__).resolve().parent.parent
SEN2SHIPS = ROOT.parent / "shared" / "data" / "sen2ships"
HONOLULU = SEN2SHIPS / "honolulu"

pytestmark = pytest.mark.skipif(
    not HONOLULU.is_dir(), reason=f"sen2ships sample missing: {HONOLULU}"
)


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("sen2ships")


def published_layout(target: Path) -> Path:
    """Honolulu as the published dataset lays a port out."""
    port = target / "honolulu"
    (port / "annotations").mkdir(parents=True)
    stem = "2023-08-21-00:00_2023-08-21-23:59_Sentinel-2_L2A"
    for band in ("B02", "B03", "B04", "B08", "B11"):
        shutil.copy(HONOLULU / f"{band}.tif", port / f"{stem}_{band}_(Raw).tiff")
    shutil.copy(next(HONOLULU.glob("*_coco.json")), port / "annotations" / "honolulu_coco.json")
    return target


def test_published_layout_is_found_and_read_with_b11(bench, tmp_path):
    data = published_layout(tmp_path / "sen2ships")
    # Not ports: a folder without annotations, and one without B08.
    (data / "notes").mkdir()
    partial = data / "partial"
    partial.mkdir()
    shutil.copy(HONOLULU / "B02.tif", partial / "x_B02_(Raw).tiff")
    (partial / "partial_coco.json").write_text("{}")
    assert bench.find_ports(data) == ["honolulu"]
    scene = bench.load_port(data / "honolulu")
    assert scene.band_names == ("B02", "B03", "B04", "B08", "B11")
    ours = bench.load_port(HONOLULU)
    assert (scene.data == ours.data).all()


def test_band_names_do_not_match_longer_band_numbers(bench, tmp_path):
    for name in ("a_B111.tif", "a_B11A.tif", "a_B08A.tif", "B080.tiff", "rgb.tiff", "a_B02.jpg"):
        (tmp_path / name).write_bytes(b"")
    assert bench.band_files(tmp_path) == {}


def test_the_port_scores_the_same_in_either_layout(bench, tmp_path):
    data = published_layout(tmp_path / "sen2ships")
    params = bench.VesselParams()
    published = bench.at_threshold(
        bench.run_port(data / "honolulu", params), params.berth_min_score
    )[0]
    ours = bench.at_threshold(bench.run_port(HONOLULU, params), params.berth_min_score)[0]
    assert published == ours and published.tp > 0


@pytest.mark.parametrize("factor", [1.41, 0.9])
def test_a_zoomed_port_covers_the_same_ground_with_its_ships(bench, factor):
    """``--zoom`` puts the ships on finer (or coarser) pixels over the same ground: each
    mask keeps its place and its area on the ground, and the ground pixel shrinks by the
    factor."""
    scene = bench.load_port(HONOLULU)
    masks = bench.coco_masks(bench.coco_file(HONOLULU))
    zoomed, zoomed_masks = bench.zoomed(scene, masks, factor)
    assert zoomed.shape == tuple(int(n * factor) for n in scene.shape)
    assert zoomed.pixel_m == pytest.approx(scene.pixel_m / factor, rel=0.02)
    assert zoomed.crs == scene.crs and zoomed.band_names == scene.band_names
    left, top = zoomed.transform * (0, 0)
    assert (left, top) == pytest.approx(scene.transform * (0, 0))
    area = [m.sum() * scene.pixel_m**2 for m in masks]
    zoomed_area = [m.sum() * zoomed.pixel_m**2 for m in zoomed_masks]
    assert zoomed_area == pytest.approx(area, rel=0.35)
    assert sum(zoomed_area) == pytest.approx(sum(area), rel=0.05)
    for mask, small in zip(masks, zoomed_masks, strict=True):
        centre = np.argwhere(mask).mean(axis=0) * scene.pixel_m
        moved = np.argwhere(small).mean(axis=0) * zoomed.pixel_m
        assert np.hypot(*(centre - moved)) < scene.pixel_m
    # Every value comes from the source pixel under its centre.
    np.testing.assert_array_equal(zoomed.data[:, 0, 0], scene.data[:, 0, 0])
    assert np.isin(zoomed.band("B08")[np.isfinite(zoomed.band("B08"))], scene.band("B08")).all()
