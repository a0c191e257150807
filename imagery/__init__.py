"""portwatch: watch ports from space.

Co-register Sentinel-1 and Sentinel-2 scenes of a port, detect what is new since the
last pass (vessels at berth or at anchor, cargo stacks on quays) and hand it to an
analyst for review in QGIS.

The package is function-first: each stage is a module working on numpy arrays whose
georeferencing travels beside them in :class:`imagery.raster.Raster`.
"""

import logging

from imagery.errors import PortwatchError
from imagery.raster import Raster

__version__ = "0.1.0"
__all__ = ["PortwatchError", "Raster", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
