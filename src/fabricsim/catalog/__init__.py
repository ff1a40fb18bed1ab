"""Hardware and model catalog: data files with a source for every figure, and their loader."""

from fabricsim.catalog.loader import Catalog, default_catalog, load_catalog

__all__ = ["Catalog", "default_catalog", "load_catalog"]
