"""The whole flow for one plan, as data: plan → sources → places → zones.

:func:`build_plan` runs the stages in DESIGN.md's order and returns a :class:`PlanData` that
analysis and the publishers read; nothing here draws or writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .layers import split
from .plan import Plan
from .regions import Region, get_region
from .resolve import Sources, build_sources, resolve_plan
from .rules import build_zones, dissolve_zones, load_network, outside_region, spacing_streets


@dataclass
class PlanData:
    """Everything known about one plan's geography.

    Attributes
    ----------
    plan : Plan
    region : Region
    sources : Sources
        What names were resolved against (``sources.labels``; ``sources.schematic``).
    places : GeoDataFrame
        The plan's named places, resolved (standard columns).
    zones : GeoDataFrame
        One zone per (buffer rule, place) (see :func:`geo.rules.build_zones`).
    dissolved : GeoDataFrame
        One zone per rule.
    spacing : GeoDataFrame
        Streets governed by spacing rules.
    kind_places : GeoDataFrame
        Places of the kinds the plan's rules target that the plan does not name (every school,
        market … of the region, from every source).
    unresolved : DataFrame
        Places that could not be placed, and the user's places a kind rule would reach but that
        lie outside the region (with their distance to it): ``plan, place_id, name, reason,
        candidates``.
    problems : list
        Bad gazetteer rows (skipped).
    """

    plan: Plan
    region: Region
    sources: Sources
    places: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    dissolved: gpd.GeoDataFrame
    spacing: gpd.GeoDataFrame
    kind_places: gpd.GeoDataFrame
    unresolved: pd.DataFrame
    problems: list = field(default_factory=list)

    @property
    def sources_used(self) -> list[str]:
        """The sources of everything drawn (places, zones, kind places, spacing streets), real
        sources first: ``gazetteer``, ``osm``, ``user``, then ``schematic``."""
        used: set[str] = set()
        for df in (self.places, self.zones, self.kind_places, self.spacing):
            if len(df):
                used.update(part for s in df["source"].dropna().unique() for part in split(s))
        order = ["gazetteer", "osm", "user", "schematic"]
        return sorted(used, key=lambda s: (order.index(s) if s in order else len(order), s))

    @property
    def schematic(self) -> bool:
        """Whether anything drawn comes from the schematic (示意) extract: the 示意 notices on
        maps follow this, so a plan whose places all come from real data carries none."""
        return "schematic" in self.sources_used

    @property
    def epsg(self) -> int:
        """The metric CRS used."""
        return self.sources.epsg


def build_plan(
    plan: Plan,
    *,
    osm: Sequence[str | Path] = (),
    gazetteers: Sequence[str | Path] = (),
    sources: Sources | None = None,
    zones_only: bool = False,
) -> PlanData:
    """Resolve a plan's places and compute its zones.

    Parameters
    ----------
    plan : Plan
    osm, gazetteers : sequences of paths
        Real data (see :func:`geo.resolve.build_sources`); without ``osm`` the bundled schematic
        extract of the plan's region is used.
    sources : Sources, optional
        Already-built sources (several plans of one region share them).
    zones_only : bool
        Skip what a point query does not read: ``dissolved`` and ``spacing`` are left empty.

    Returns
    -------
    PlanData
    """
    region = get_region(plan.document.region)
    problems: list = []
    if sources is None:
        sources, problems = build_sources(region, osm=osm, gazetteers=gazetteers)
    places, unresolved = resolve_plan(plan, sources)
    network = None
    if any(r.metric == "network" for r in plan.rules):
        files = [p for p in osm if not str(p).endswith(".gpkg")] or [region.schematic]
        network = load_network(files, sources.epsg)
    zones = build_zones(plan, places, sources.pois, sources.epsg, boundary=region.boundary, network=network)
    outside = outside_region(plan, sources.pois, region.boundary, sources.epsg, region.name)
    if len(outside):
        unresolved = pd.concat([unresolved, outside], ignore_index=True)
    if zones_only:
        dissolved, spacing = zones.iloc[0:0], zones.iloc[0:0]
    else:
        dissolved = dissolve_zones(zones, sources.epsg)
        spacing = spacing_streets(plan, places, sources.streets, region.boundary)
    named_ids = set(places["id"])
    kind_places = zones.drop_duplicates("place_id")
    kind_places = kind_places[~kind_places["place_id"].isin(named_ids)]
    if sources.pois is not None and len(kind_places):
        kind_places = sources.pois[sources.pois["id"].isin(set(kind_places["place_id"]))].reset_index(
            drop=True
        )
    else:
        kind_places = places.iloc[0:0]
    return PlanData(
        plan=plan,
        region=region,
        sources=sources,
        places=places,
        zones=zones,
        dissolved=dissolved,
        spacing=spacing,
        kind_places=kind_places,
        unresolved=unresolved,
        problems=problems,
    )
