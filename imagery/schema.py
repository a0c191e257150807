"""Field names of the layers portwatch writes: a public contract.

Users' scripts and QGIS projects depend on these names; add fields freely, never
rename or drop one.
"""

from __future__ import annotations

__all__ = [
    "DEPARTED_FIELDS",
    "DETECTION_FIELDS",
    "KINDS",
    "REVIEW_FIELDS",
    "STATUSES",
    "VESSEL_FIELDS",
]

#: Kinds of flag.
KINDS = ("vessel", "cargo")
#: Review statuses; ``new`` is what a run writes, the others are an analyst's marks.
STATUSES = ("new", "confirmed", "dismissed")

#: Layer ``detections`` of ``detections.gpkg``: what is new in the after scene.
DETECTION_FIELDS = (
    "id",  # int, unique within the file
    "kind",  # "vessel" | "cargo"
    "score",  # 0-1, probability-like
    "area_m2",
    "length_m",
    "width_m",
    "lon",  # centroid, WGS84 degrees
    "lat",
    "before_time",  # ISO 8601 UTC
    "after_time",
    "status",  # "new" | "confirmed" | "dismissed"
)

#: Fields an analyst edits; a rerun keeps them.
REVIEW_FIELDS = ("status", "note")

#: Layer ``departed``: vessels in the before scene with no vessel near them after.
DEPARTED_FIELDS = DETECTION_FIELDS

#: Layer ``vessels`` of ``vessels.gpkg``: every vessel in one scene.
VESSEL_FIELDS = ("id", "score", "length_m", "width_m", "heading_deg", "lon", "lat", "time")
