"""Resolve place names from the plans to geometry: gazetteer, local OSM extracts, online OSM."""
