"""Global settings: where bundled data, caches and outputs live, and network endpoints.

Every value can be overridden by an environment variable (named in each docstring) or by
assigning to the module attribute before calling the toolkit, as with ``osmnx.settings``.
"""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent

#: Overpass API endpoint (``GEO_OVERPASS_URL``); users in China often need a mirror.
overpass_url: str = os.environ.get("GEO_OVERPASS_URL", "https://overpass-api.de/api")
#: Nominatim endpoint (``GEO_NOMINATIM_URL``).
nominatim_url: str = os.environ.get("GEO_NOMINATIM_URL", "https://nominatim.openstreetmap.org/")
#: Network timeout in seconds for online requests (``GEO_TIMEOUT``); short so offline fails fast.
timeout: float = float(os.environ.get("GEO_TIMEOUT", "10"))


def data_dir() -> Path:
    """The bundled data folder (``GEO_DATA_DIR`` overrides).

    In a source checkout this is ``data/`` at the top of the repository; in an installed wheel
    the same files are shipped inside the package as ``geo/_data``.
    """
    env = os.environ.get("GEO_DATA_DIR")
    if env:
        return Path(env)
    repo = _PKG.parent / "data"
    return repo if repo.is_dir() else _PKG / "_data"


def plans_dir() -> Path:
    """Folder of the bundled plan files."""
    return data_dir() / "plans"


def cache_dir() -> Path:
    """Cache for downloads, outside the repository (``GEO_CACHE_DIR``, else XDG cache)."""
    env = os.environ.get("GEO_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chengguan-geo"
