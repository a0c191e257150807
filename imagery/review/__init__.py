"""Review in QGIS: a styled, self-contained package per run, and marks that survive reruns.

``write_run`` turns one pair's detections and rasters into a run folder an analyst
opens in QGIS (``project.qgs``) or a browser (``report.html``); a rerun keeps the
analyst's review marks. ``update_history`` keeps a per-AOI record of every flag, and
``export_flags`` lists the reviewed flags of a whole output tree. See docs/review.md.
"""

from imagery.review.export import export_flags, find_runs
from imagery.review.history import update_history
from imagery.review.marks import merge_marks
from imagery.review.package import RunResult, write_run, write_run_files

__all__ = [
    "RunResult",
    "export_flags",
    "find_runs",
    "merge_marks",
    "update_history",
    "write_run",
    "write_run_files",
]
