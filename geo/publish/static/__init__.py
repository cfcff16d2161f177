"""Static maps for briefings: A4 landscape PNG (300 dpi) or vector PDF, with Chinese labels.

:func:`render_static` (one file) and :func:`render_static_files` (one drawing saved as PNG and
PDF) draw one plan (:class:`geo.build.PlanData`) in its metric CRS (CGCS2000 Gauss-Krüger,
``data.epsg``), so the scale bar is true, with a title (plan title and 文号), a legend (rule
zones, streets by category, 马路市场 batches, places by kind, the region boundary), a scale bar,
a north arrow, a source-and-date line and — whenever anything drawn comes from the bundled
schematic extract — a 示意图 stamp saying positions are not surveyed. Every class of feature is
drawn in its style from :mod:`geo.publish.style`, the table the interactive map, KML and the
GeoPackage's QGIS styles share.

The package is split by job:

=============== ===========================================================================
``page``        the A4 layout, drawing a plan in order, saving PNG and PDF from one figure
``draw``        layers to matplotlib collections in their styles; what the legend and the
                labels need
``labels``      label placement (collision avoidance, leader lines)
``legend``      the legend panel, drawn from what the map drew
``cases``       the 问题台账 at a date (``--cases``/``--as-of``): cases by status, the note
``furniture``   title, scale bar, north arrow, 示意图 stamp, footer
``notes``       制图日期, sources, why a map is empty
``fonts``       the CJK font and glyph checks
``png``         the PNG file (unfiltered rows, deflated; text and resolution chunks)
=============== ===========================================================================

Fonts
-----
Chinese text is set in Noto Sans SC from the ``pylopdf-fonts-zh-cn`` package (see
:mod:`.fonts`). In PDFs the font is embedded as subsetted Type 3 fonts with a ToUnicode map
(text stays searchable and copyable): matplotlib cannot embed a CFF-flavoured OpenType font such
as Noto Sans SC as Type 42 validly (it writes the CFF data as ``FontFile2``; matplotlib issue
#2869), while Type 3 renders in every viewer.

Reproducibility
---------------
Re-rendering unchanged data gives byte-identical files: PNG and PDF carry no software or time
stamps, and the 制图日期 printed on the map is not today's date but, in this order,
``SOURCE_DATE_EPOCH`` (the reproducible-builds convention, as a UTC date) when set, else the
plan's issue date, else the start of the plan's span (both then marked 取方案日期). A web basemap
(``basemap=``, needs the optional ``contextily`` package and network) makes a file depend on the
tiles of the day.
"""

from ._text import nice_length as _nice_length
from .fonts import CJKGlyphWarning, drawn_texts, font_path, missing_glyphs
from .notes import footer_text, map_date
from .page import (
    DPI,
    PAGE_SIZE_IN,
    STATIC_LAYERS,
    build_figure,
    render_static,
    render_static_files,
)
from .page import norm_layers as _norm_layers

__all__ = [
    "DPI",
    "PAGE_SIZE_IN",
    "STATIC_LAYERS",
    "CJKGlyphWarning",
    "build_figure",
    "drawn_texts",
    "font_path",
    "footer_text",
    "map_date",
    "missing_glyphs",
    "render_static",
    "render_static_files",
]
# Names the CLI and tests reach for.
_PRIVATE = (_nice_length, _norm_layers)
