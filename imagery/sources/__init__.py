"""Imagery sources: Sentinel Hub search and download into the local imagery store.

``search_scenes`` lists acquisitions over an AOI from the Catalog API; ``fetch_scenes``
downloads them through the Process API onto the AOI's UTM grid at 10 m and writes them
to the store (:mod:`imagery.store`). Settings come from the environment or a config
file (:mod:`imagery.sources.config`); see ``docs/sentinelhub.md``.

sentinelhub-py is imported only when this package is, so commands that never download
do not pay for it.
"""

from imagery.sources.catalog import Acquisition
from imagery.sources.catalog import search as search_scenes
from imagery.sources.config import Settings, load_settings
from imagery.sources.fetch import FetchEvent, FetchResult, FetchSummary, fetch_scenes

__all__ = [
    "Acquisition",
    "FetchEvent",
    "FetchResult",
    "FetchSummary",
    "Settings",
    "fetch_scenes",
    "load_settings",
    "search_scenes",
]
