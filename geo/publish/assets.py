"""Offline assets: the JavaScript and CSS a map needs, vendored in ``vendor/`` and inlined.

folium links Leaflet, jQuery, Bootstrap, Font Awesome and its plugins from CDNs. A planner on
an isolated intranet gets a blank page from that. Here every resource folium asks for is either
mapped to a file vendored in this package (see ``vendor/README.md``) or dropped because the maps
do not use it; :func:`localize` rewrites the elements' resource lists before rendering and
:func:`inline` replaces the resulting tags by ``<script>``/``<style>`` content, with the images
CSS refers to turned into ``data:`` URIs. :func:`assert_offline` checks the result.

A resource folium asks for that is in neither list raises :class:`UnknownResource`, so a new
folium feature cannot slip a CDN link into a map unnoticed.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from functools import cache
from pathlib import Path

from branca.element import Element

#: The folder of vendored files.
VENDOR = Path(__file__).with_name("vendor")

#: Scheme of the placeholder URLs :func:`localize` writes and :func:`inline` resolves.
SCHEME = "geo-vendor:"

#: Vendored packages: name → (version, licence, folder). Listed in ``vendor/README.md`` too.
PACKAGES: dict[str, tuple[str, str, str]] = {
    "leaflet": ("1.9.4", "BSD-2-Clause", "leaflet"),
    "leaflet.fullscreen": ("3.0.0", "MIT", "leaflet.fullscreen"),
    "leaflet-measure": ("2.1.7", "MIT", "leaflet-measure"),
    "leaflet-minimap": ("3.6.1", "BSD-2-Clause", "leaflet-minimap"),
    "leaflet.markercluster": ("1.5.3", "MIT", "leaflet.markercluster"),
}

#: folium's resource names → vendored file (relative to :data:`VENDOR`), or ``None`` when the
#: maps do not need the resource (it is dropped).
RESOURCES: dict[str, str | None] = {
    # folium.Map
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "jquery": None,  # only folium's non-embedded GeoJson ($.ajax) needs it; data is embedded
    "bootstrap": None,  # Bootstrap styles nothing the maps draw
    "awesome_markers": None,  # no Font Awesome markers: places are circles, lines and areas
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": None,
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
    # folium.plugins.Fullscreen
    "Control.Fullscreen.js": "leaflet.fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "leaflet.fullscreen/Control.FullScreen.css",
    # folium.plugins.MeasureControl
    "leaflet_measure_js": "leaflet-measure/leaflet-measure.min.js",
    "leaflet_measure_css": "leaflet-measure/leaflet-measure.css",
    # folium.plugins.MiniMap (the maps use their own element with the same names)
    "Control_MiniMap_js": "leaflet-minimap/Control.MiniMap.min.js",
    "Control_MiniMap_css": "leaflet-minimap/Control.MiniMap.min.css",
    # folium.plugins.MarkerCluster / FastMarkerCluster (benchmarks/bench_map.py draws the
    # folium alternative offline with it)
    "markerclusterjs": "leaflet.markercluster/leaflet.markercluster.js",
    "markerclustercss": "leaflet.markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet.markercluster/MarkerCluster.Default.css",
}


class UnknownResource(RuntimeError):
    """folium asked for a resource that is neither vendored nor known to be unneeded."""


class NotOffline(RuntimeError):
    """A rendered page still refers to a resource on the network."""


def _walk(element: Element):
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def localize(root: Element) -> None:
    """Point every resource link of ``root``'s elements at the vendored files.

    Each element that declares ``default_js``/``default_css`` (folium's ``JSCSSMixin``) gets
    instance lists of ``geo-vendor:`` placeholders; unneeded resources are dropped.

    Raises
    ------
    UnknownResource
        For a resource name not in :data:`RESOURCES`.
    """
    for el in _walk(root):
        for attr in ("default_js", "default_css"):
            links = getattr(el, attr, None)
            if not links:
                continue
            local = []
            for name, url in links:
                if isinstance(url, str) and url.startswith(SCHEME):
                    local.append((name, url))
                    continue
                if name not in RESOURCES:
                    raise UnknownResource(
                        f"{type(el).__name__} needs {name} ({url}), which is not vendored; add it to "
                        "geo/publish/vendor and RESOURCES, or to RESOURCES as None if unneeded"
                    )
                rel = RESOURCES[name]
                if rel is not None:
                    local.append((name, SCHEME + rel))
            setattr(el, attr, local)


def _package_of(rel: str) -> str:
    folder = rel.split("/", 1)[0]
    for name, (version, licence, pkg_folder) in PACKAGES.items():
        if pkg_folder == folder:
            return f"{name}@{version} ({licence}; licence text in geo/publish/vendor/{folder}/)"
    raise KeyError(rel)


def _read(rel: str) -> str:
    path = (VENDOR / rel).resolve()
    if VENDOR.resolve() not in path.parents:
        raise ValueError(f"not a vendored file: {rel}")
    return path.read_text(encoding="utf-8")


@cache
def data_uri(rel: str) -> str:
    """A vendored file (image) as a ``data:`` URI."""
    path = VENDOR / rel
    mime = "image/svg+xml" if path.suffix == ".svg" else mimetypes.guess_type(path.name)[0]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?!data:|#|['"]?data:)([^'")]+)\1\s*\)""")


@cache
def css_text(rel: str) -> str:
    """A vendored stylesheet with its relative ``url(…)`` images inlined as data URIs."""
    base = Path(rel).parent

    def repl(m: re.Match) -> str:
        target = (base / m.group(2)).as_posix()
        if not (VENDOR / target).is_file():
            raise UnknownResource(f"{rel} refers to {m.group(2)}, which is not vendored")
        return f'url("{data_uri(target)}")'

    return _CSS_URL.sub(repl, _read(rel))


@cache
def js_text(rel: str) -> str:
    """A vendored script, safe to place inside a ``<script>`` element."""
    text = _read(rel)
    if re.search(r"</script", text, re.IGNORECASE):
        raise ValueError(f"{rel} contains '</script'; it cannot be inlined as it is")
    return text


def script_tag(rel: str) -> str:
    """``<script>`` element holding a vendored script."""
    return f"<script>/* {rel} — {_package_of(rel)} */\n{js_text(rel)}\n</script>"


def style_tag(rel: str) -> str:
    """``<style>`` element holding a vendored stylesheet."""
    return f"<style>/* {rel} — {_package_of(rel)} */\n{css_text(rel)}\n</style>"


_TAG = {
    "js": re.compile(r'<script src="' + re.escape(SCHEME) + r'([^"]+)"></script>'),
    "css": re.compile(r'<link rel="stylesheet" href="' + re.escape(SCHEME) + r'([^"]+)"\s*/?>'),
}


def inline(html: str) -> str:
    """Replace the placeholder links :func:`localize` produced by the vendored content."""
    html = _TAG["js"].sub(lambda m: script_tag(m.group(1)), html)
    return _TAG["css"].sub(lambda m: style_tag(m.group(1)), html)


_RESOURCE_TAG = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed|object|input)\b[^>]*>", re.IGNORECASE
)
_RESOURCE_ATTR = re.compile(
    r"""\b(src|href|data|srcset|poster)\s*=\s*(['"]?)\s*((?:https?:)?//|geo-vendor:)""", re.IGNORECASE
)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>", re.IGNORECASE | re.DOTALL)
_STYLE_REMOTE = re.compile(r"""url\(\s*['"]?\s*(?:https?:)?//|@import""", re.IGNORECASE)


def remote_references(html: str) -> list[str]:
    """Tags (script, link, img …) and stylesheets of ``html`` that load something from the network.

    Links in text (``<a href>``, attribution) are not resource loads and are not reported.
    """
    found = []
    for m in _RESOURCE_TAG.finditer(html):
        tag = m.group(0)
        if _RESOURCE_ATTR.search(tag):
            found.append(tag[:200])
    for m in _STYLE.finditer(html):
        for r in _STYLE_REMOTE.finditer(m.group(1)):
            found.append(m.group(1)[max(r.start() - 60, 0) : r.end() + 60])
    return found


def assert_offline(html: str) -> None:
    """Raise :class:`NotOffline` when ``html`` loads any script, style or image from the network."""
    found = remote_references(html)
    if found:
        listed = "\n  ".join(found[:10])
        raise NotOffline(f"the page refers to {len(found)} network resource(s):\n  {listed}")
