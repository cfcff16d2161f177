"""The interactive map page's own CSS, JavaScript and HTML shells, read as package data."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["read"]


@cache
def read(name: str) -> str:
    """The text of ``geo/publish/templates/<name>`` (UTF-8)."""
    return (files(__package__) / name).read_text(encoding="utf-8")
