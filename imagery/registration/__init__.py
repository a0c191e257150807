"""Co-registration internals: window grid, orientation correlation, robust fit, apply.

The public entry points live in :mod:`imagery.coregister`; this sub-package holds the
pieces, one job per module:

``features``
    Feature image per sensor and its gradient orientation (what is correlated).
``correlation``
    Batched, band-limited correlation with upsampled-DFT sub-pixel peaks.
``windows``
    The window grid and the strips it is read from (in memory or from files).
``fit``
    Robust translation / affine fit and model selection.
``measure``
    Measuring every window of the grid, strip by strip.
``estimate``
    Options; refusing, or fitting and building the :class:`Registration`.
``apply``
    Composing the correction into the moving transform and resampling once.
"""

from imagery.registration.model import Registration

__all__ = ["Registration"]
