"""The ``portwatch`` command line: one module per command, as in rasterio's ``rio``."""
