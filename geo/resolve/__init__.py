"""The geocoding chain: gazetteer → OSM (local extract or fetched cache) → bundled schematic.

Public functions::

    build_sources(region, osm=..., gazetteers=...)  -> Sources, problems
    resolve_names(names, sources)                   -> layer, unresolved
    resolve_plan(plan, sources)                     -> layer, unresolved
"""

from .names import normalize, parse_phrase
from .resolver import Sources, Unresolved, build_sources, resolve_names, resolve_one, resolve_plan

__all__ = [
    "Sources",
    "Unresolved",
    "build_sources",
    "normalize",
    "parse_phrase",
    "resolve_names",
    "resolve_one",
    "resolve_plan",
]
