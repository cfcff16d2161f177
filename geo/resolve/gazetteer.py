"""The user's own list of places (a gazetteer): reading, checking, and turning it into a layer.

A gazetteer holds what OpenStreetMap lacks (many 马路市场 and 路段 exist only in a plan) and it
wins over OSM. It comes as

CSV
    UTF-8 (with or without BOM), or GBK/GB18030 as saved by Chinese Excel ("CSV (逗号分隔)").
XLSX
    The first sheet; the first non-empty row is the header.
GeoJSON
    A FeatureCollection of Point/LineString/Polygon (or Multi-) features with properties
    ``name``, ``kind``, ``note`` (and optionally ``crs``, ``accuracy_m``).

Columns of CSV/XLSX (header names case-insensitive; Chinese headers accepted):

========== ===================== =====================================================
column     also accepted         meaning
========== ===================== =====================================================
name       名称                  required; kept as written (stripped)
kind       类型, 类别            optional; a key of ``PLACE_KINDS`` or its Chinese label
lon, lat   经度, 纬度, lng, ...  required unless ``wkt`` is given
crs        坐标系                wgs84 (default), cgcs2000, gcj02, bd09
wkt        geometry, 几何        optional line/area (or point), in the row's crs
note       备注                  optional
tags       标签                  optional; the plan's categories (农贸市场), split on ; 、 ,
accuracy_m                       optional, metres
========== ===================== =====================================================

A bad row is reported as a :class:`~geo.errors.Problem` with the row number the user sees
(CSV line number with the header as line 1, XLSX row number, GeoJSON feature index) and
skipped; the good rows still load. A file that cannot be read at all (undecodable text, a
required column missing) is an :class:`~geo.errors.InputError`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.crs import check_lonlat, to_wgs84
from geo.errors import InputError, Problem
from geo.layers import make_layer
from geo.plan import PLACE_KINDS

__all__ = ["DEFAULT_ACCURACY_GEOMETRY_M", "DEFAULT_ACCURACY_POINT_M", "Gazetteer", "read_gazetteer"]

#: How far (km) outside the region's box a gazetteer place may lie before its row is refused.
DEFAULT_MAX_KM = 50.0
#: Accuracy (m) given to a point without ``accuracy_m``: a coordinate picked by hand on a web map.
DEFAULT_ACCURACY_POINT_M = 20.0
#: Accuracy (m) given to a line or area without ``accuracy_m``: traced along a basemap, where
#: the vertices sit on visible features.
DEFAULT_ACCURACY_GEOMETRY_M = 10.0

SOURCE = "gazetteer"
EXTRA_COLUMNS = ("note", "crs_in", "tags")

# Header spellings → canonical column. Keys are compared after NFKC folding and lower-casing,
# so full-width letters and any capitalisation match.
_HEADER_ALIASES: dict[str, str] = {
    "name": "name",
    "名称": "name",
    "kind": "kind",
    "类型": "kind",
    "类别": "kind",
    "lon": "lon",
    "lng": "lon",
    "longitude": "lon",
    "经度": "lon",
    "lat": "lat",
    "latitude": "lat",
    "纬度": "lat",
    "crs": "crs",
    "坐标系": "crs",
    "note": "note",
    "备注": "note",
    "wkt": "wkt",
    "geometry": "wkt",
    "几何": "wkt",
    "accuracy_m": "accuracy_m",
    "tags": "tags",
    "标签": "tags",
}

# Input systems accepted in the crs column (after folding case, '-', '_' and spaces).
# CGCS2000 is kept distinct here so that crs_in records what the user wrote; geo.crs treats it
# as WGS84.
_CRS_NAMES: dict[str, str] = {
    "wgs84": "wgs84",
    "cgcs2000": "cgcs2000",
    "gcj02": "gcj02",
    "bd09": "bd09",
    "bd09ll": "bd09",
}

# Chinese labels of the kinds (the values of PLACE_KINDS) → kind key, so 中小学校 means school.
_KIND_LABELS: dict[str, str] = {label: key for key, label in PLACE_KINDS.items()}

_GEOMETRY_TYPES = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")

# Byte-order marks, UTF-32 before UTF-16 because FF FE 00 00 starts with FF FE.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_GB_FAMILY = ("gb18030", "gbk", "gb2312", "cp936", "hz")
# What the detector may pick instead, as codecs.lookup() names: UTF-16/32 without a BOM (files
# with NUL bytes), and Big5 (traditional Chinese tools) when the file is neither UTF-8 nor GB.
_WIDE_FAMILY = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")
_BIG5_FAMILY = ("big5", "big5hkscs", "cp950")
# charset-normalizer scores "chaos" (mess) from 0 upwards; candidates this close count as tied.
_CHAOS_TIE = 0.02
# Share of non-ASCII characters that must be in GB2312 (the 6,763 common hanzi and the usual
# full-width punctuation) for a GB18030 decode to count as plainly Chinese. Text in some other
# encoding read as GB18030 lands mostly outside it (GBK extension, private use), while real
# names only now and then use a rarer character (喆, 堃).
_GB2312_SHARE = 0.9
# A text that is valid UTF-8 with this many non-ASCII characters before its first bad byte is
# UTF-8 with damage (or pasted rows in another encoding), not GBK: GBK text essentially never
# forms several valid UTF-8 multi-byte sequences by chance.
_UTF8_PREFIX_CHARS = 3
_SAVE_HINT = "save it as UTF-8 (in Excel: 另存为 → 'CSV UTF-8(逗号分隔)') and try again"


@dataclass
class Gazetteer:
    """A gazetteer as read from a file.

    Attributes
    ----------
    layer : geopandas.GeoDataFrame
        The good rows, with the standard layer columns plus ``note`` and ``crs_in``, in EPSG:4326.
    problems : list of geo.errors.Problem
        One entry per problem found in a skipped row, in file order.
    encoding : str or None
        Text encoding the file was read with (CSV and GeoJSON), ``None`` for XLSX.
    """

    layer: gpd.GeoDataFrame
    problems: list[Problem] = field(default_factory=list)
    encoding: str | None = None


@dataclass
class _Row:
    """One data row before checking: its user-visible number and raw values by canonical column."""

    line: int
    values: dict[str, Any]
    # GeoJSON only: the feature's geometry, or the reason it could not be read.
    geometry: BaseGeometry | None = None
    geometry_error: str | None = None
    # A problem that makes the whole row unreadable (e.g. misaligned CSV fields).
    row_error: str | None = None
    # How messages name the row: "row" (CSV line, sheet row) or "feature" (GeoJSON).
    unit: str = "row"


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def read_gazetteer(
    path: str | Path,
    *,
    region_bounds: Sequence[float] | None = None,
    max_km: float = DEFAULT_MAX_KM,
    strict: bool = False,
) -> Gazetteer:
    """Read a gazetteer file (CSV, XLSX or GeoJSON) into a layer, reporting bad rows.

    Parameters
    ----------
    path : str or pathlib.Path
        The file. Its format is taken from the suffix: ``.csv``/``.txt``, ``.xlsx``/``.xlsm``,
        ``.geojson``/``.json``.
    region_bounds : (minx, miny, maxx, maxy), optional
        WGS84 box where the places are expected (e.g. the city's extent). Rows more than
        `max_km` from it, or that fit it only with latitude and longitude swapped, are reported.
        Without it, coordinates are only screened against China's rough extent.
    max_km : float, default 50.0
        How far outside `region_bounds` a place may lie.
    strict : bool, default False
        Raise :class:`~geo.errors.InputError` listing every bad row, instead of skipping them.

    Returns
    -------
    Gazetteer
        ``layer``: one feature per good row, with ``id`` ``g<row>``, ``name``, ``kind``,
        ``source`` ``"gazetteer"``, ``source_ref`` ``"<file name>:<row>"``, ``accuracy_m``,
        empty ``matched_by``, and the extra columns ``note`` and ``crs_in``; geometry in
        EPSG:4326. ``problems``: one :class:`~geo.errors.Problem` per problem in a skipped row.

    Raises
    ------
    geo.errors.InputError
        If the file is missing, of an unsupported type, undecodable (the message names the byte
        offset and line), lacks a required column (the message lists the columns found), or —
        with ``strict=True`` — has any bad row (then it carries every row's problems).

    Notes
    -----
    Row numbers are those the user sees: the CSV line number counting the header as line 1
    (quoted fields spanning lines are counted as lines), the XLSX row number, or the GeoJSON
    feature's 1-based index. A row with a ``wkt`` value takes its geometry from it, and any
    ``lon``/``lat`` in that row is ignored. Coordinates are screened as given, before
    conversion: the GCJ-02/BD-09 shift (under a kilometre) does not matter at screening scale,
    and the messages then quote exactly what the user typed.
    """
    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise InputError.single(
            source, "file not found (or not a file); expected a gazetteer CSV, XLSX or GeoJSON"
        )
    suffix = p.suffix.lower()
    encoding: str | None = None
    if suffix in (".csv", ".txt"):
        rows, encoding = _read_csv(p, source)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _read_xlsx(p, source)
    elif suffix in (".geojson", ".json"):
        rows, encoding = _read_geojson(p, source)
    elif suffix == ".xls":
        raise InputError.single(
            source, "old Excel .xls workbooks are not read; save it as .xlsx (or as CSV UTF-8) and try again"
        )
    else:
        raise InputError.single(
            source, f"unsupported file type {p.suffix!r}; expected .csv, .xlsx or .geojson"
        )

    layer, problems = _build(rows, source, p.name, region_bounds=region_bounds, max_km=max_km)
    if strict and problems:
        raise InputError(problems)
    return Gazetteer(layer=layer, problems=problems, encoding=encoding)


# --------------------------------------------------------------------------------------------
# Text decoding
# --------------------------------------------------------------------------------------------


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _bad_byte(data: bytes, err: UnicodeDecodeError) -> str:
    return f"byte 0x{data[err.start]:02X} at offset {err.start}, line {_line_of(data, err.start)}"


def _looks_like_text(text: str) -> bool:
    """False for decodes that produce control or private-use characters: the mark of a wrong guess."""
    for ch in text:
        if ch in "\t\r\n":
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Co", "Cs"):
            return False
    return True


def _detector_candidates(data: bytes) -> list[tuple[str, float]]:
    """charset-normalizer's candidate encodings with their chaos scores, best first."""
    from charset_normalizer import from_bytes  # only files that are not UTF-8 get here

    return sorted(((m.encoding, float(m.chaos)) for m in from_bytes(data)), key=lambda t: t[1])


def _gb2312_share(text: str) -> float:
    """Share of the non-ASCII characters of `text` in the GB2312 area of GBK (1.0 for none).

    Measured on the GBK bytes (lead and trail byte both A1–FE) rather than with Python's
    ``gb2312`` codec, which maps a few punctuation marks (—, ·) differently from GBK/Excel.
    """
    wide = [ch for ch in text if ord(ch) > 127]
    if not wide:
        return 1.0
    common = 0
    for ch in wide:
        try:
            b = ch.encode("gbk")
        except UnicodeEncodeError:
            continue
        common += len(b) == 2 and 0xA1 <= b[0] <= 0xF7 and 0xA1 <= b[1] <= 0xFE
    return common / len(wide)


def _detector_allows_gb(candidates: list[tuple[str, float]]) -> bool:
    # Only asked when the GB18030 text has many rare characters. It then rejects GB18030 only
    # when it finds it clearly messier than another encoding, or not plausible at all.
    if not candidates:
        return True
    best = candidates[0][1]
    gb = [chaos for enc, chaos in candidates if enc.lower() in _GB_FAMILY]
    return bool(gb) and min(gb) <= best + _CHAOS_TIE


def _detector_fallback(
    data: bytes, candidates: list[tuple[str, float]], family: tuple[str, ...]
) -> tuple[str, str] | None:
    """The detector's decode, only if its top candidates are all in `family` and give the same text.

    The detector happily names some single-byte or Japanese code page for almost any bytes (a
    GBK file cut mid-character comes out as Shift-JIS), so only encodings a Chinese user's
    tools really produce are taken from it.
    """
    if not candidates:
        return None
    best = candidates[0][1]
    texts: dict[str, str] = {}
    for enc, chaos in candidates:
        if chaos > best + _CHAOS_TIE:
            break
        try:
            name = codecs.lookup(enc).name
            if name not in family:
                return None
            texts[name] = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            return None
    if len(set(texts.values())) != 1:
        return None
    enc, text = next(iter(texts.items()))
    return (text, enc) if _looks_like_text(text) else None


def _decode(data: bytes, source: str) -> tuple[str, str]:
    """Decode a text file: BOM, else strict UTF-8, else strict GB18030; never a silent guess.

    Returns
    -------
    text, encoding : str, str
    """
    if data.startswith(b"PK\x03\x04"):
        raise InputError.single(
            source, "this is a zip file (an Excel .xlsx workbook?), not text; name it .xlsx"
        )
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError.single(
            source, "this is an old Excel .xls workbook, not text; save it as .xlsx or CSV"
        )

    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as err:
                raise InputError.single(
                    source,
                    f"starts with a {enc} byte-order mark but {_bad_byte(data, err)} is not valid {enc}; "
                    + _SAVE_HINT,
                    line=_line_of(data, err.start),
                ) from None

    if b"\x00" in data:
        # NUL bytes are valid UTF-8, but no CSV or GeoJSON holds them: UTF-16 without a BOM, or
        # not a text file at all.
        wide = _detector_fallback(data, _detector_candidates(data), _WIDE_FAMILY)
        if wide is not None:
            return wide
        offset = data.index(b"\x00")
        raise InputError.single(
            source,
            f"contains NUL bytes (first at offset {offset}, line {_line_of(data, offset)}): not a text "
            f"file, or UTF-16 text that cannot be recognised; {_SAVE_HINT}",
            line=_line_of(data, offset),
        )

    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as err:
        utf8_err = err
    where = _bad_byte(data, utf8_err)
    line = _line_of(data, utf8_err.start)

    prefix = data[: utf8_err.start].decode("utf-8")
    if sum(ord(ch) > 127 for ch in prefix) >= _UTF8_PREFIX_CHARS:
        # Valid UTF-8 Chinese up to here: a damaged UTF-8 file or one with rows pasted in from a
        # GBK file. Decoding the whole as GBK would garble the first part, so refuse.
        raise InputError.single(
            source,
            f"the text is UTF-8 up to line {line}, but {where} is not valid UTF-8: the file mixes "
            f"encodings or is damaged; fix that line, or {_SAVE_HINT}",
            line=line,
        )

    try:
        gb_text: str | None = data.decode("gb18030")
        gb_reason = ""
    except UnicodeDecodeError as err:
        gb_text = None
        gb_reason = (
            "it is not valid GBK/GB18030 either"
            if err.start == utf8_err.start
            else f"not GBK/GB18030 either ({_bad_byte(data, err)})"
        )

    if gb_text is not None and _looks_like_text(gb_text) and _gb2312_share(gb_text) >= _GB2312_SHARE:
        # Plain Chinese, as Chinese Excel writes it. The detector is not asked: on short texts
        # it ranks GBK, CP949, Big5 and Shift-JIS nearly alike and often names the wrong one.
        return gb_text, "gb18030"
    candidates = _detector_candidates(data)
    if gb_text is not None:
        # Unusual characters: let the detector break the tie.
        if _looks_like_text(gb_text) and _detector_allows_gb(candidates):
            return gb_text, "gb18030"
        gb_reason = "decoding it as GBK/GB18030 gives unlikely characters"

    # Fallback: Big5, only when the detector is unambiguous about it.
    guess = _detector_fallback(data, candidates, _BIG5_FAMILY)
    if guess is not None:
        return guess
    raise InputError.single(
        source,
        f"cannot tell how the text is encoded: it is not UTF-8 ({where}), and {gb_reason}; "
        f"refusing to guess — {_SAVE_HINT}",
        line=line,
    )


# --------------------------------------------------------------------------------------------
# Readers: each returns _Row objects keyed by canonical column
# --------------------------------------------------------------------------------------------


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", s).replace("\ufeff", "").strip().lower()


def _map_header(cells: Sequence[Any], source: str, line: int) -> dict[int, str]:
    """Column index → canonical name; checks that the required columns are there."""
    found: list[str] = []
    index: dict[int, str] = {}
    seen: dict[str, str] = {}
    for i, cell in enumerate(cells):
        raw = "" if cell is None else str(cell).strip()
        if not raw:
            continue
        found.append(raw)
        canon = _HEADER_ALIASES.get(_fold(raw))
        if canon is None:
            continue  # columns of the user's own are allowed and ignored
        if canon in seen:
            raise InputError.single(
                source,
                f"columns {seen[canon]!r} and {raw!r} both mean {canon!r}; keep only one",
                line=line,
                field=canon,
            )
        seen[canon] = raw
        index[i] = canon

    have = set(index.values())
    required = ["name"] if "wkt" in have else ["name", "lon", "lat"]
    for col in required:
        if col not in have:
            also = [k for k, v in _HEADER_ALIASES.items() if v == col and k != col]
            raise InputError.single(
                source,
                f"missing required column {col!r} (also accepted: {', '.join(also)}); "
                f"columns found: {', '.join(found) or 'none'}",
                line=line,
                field=col,
            )
    return index


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def csv_records(text: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records of CSV text, each with the physical line it starts on (1-based).

    Excel's "Unicode text" is tab-separated and some locales use ``;``: the delimiter is the one
    the first non-blank line uses most, comma by default. Blank lines and Excel's trailing
    ``,,,,`` rows are skipped; a quoted field spanning lines keeps later line numbers right.

    Raises
    ------
    InputError
        When the text is not parseable CSV, naming the line.
    """
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        start = reader.line_num + 1  # the physical line the next record starts on
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise InputError.single(source, f"cannot parse the CSV: {err}", line=start) from None
        if not all(_blank(c) for c in cells):
            yield start, cells


def _delimiter(text: str) -> str:
    """The delimiter the first non-blank line uses most (comma by default)."""
    head = text[: 1 << 16].splitlines()  # the first line is near the start: no need to split it all
    first = next((ln for ln in head[:-1] if ln.strip()), None)
    if first is None:
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return max(",\t;", key=lambda d: (first.count(d), d == ","))


def csv_frame(text: str, source: str) -> tuple[list[str], pd.DataFrame, NDArray[np.int64], NDArray[np.int64]]:
    """The non-blank records of CSV text as one frame of text columns, read by pandas' C parser.

    The same records, cells and line numbers as :func:`csv_records`, for files of millions of
    rows: line numbers and field counts come from numpy over the bytes, blank rows are found
    column by column. Text with quote characters (a quoted field may span lines) or lone ``\\r``
    line ends goes through :func:`csv_records` instead, which counts lines exactly.

    Returns
    -------
    header : list of str
        The first non-blank record's cells.
    rows : DataFrame
        The later non-blank records, one text column per field position (``0 … w-1``, ``w`` the
        widest record); cells past a record's end are ``""``.
    lines : ndarray of int64
        Physical line each record of ``rows`` starts on (1-based).
    widths : ndarray of int64
        Number of fields of each record of ``rows``.

    Raises
    ------
    InputError
        When the text is empty or not parseable CSV, naming the line.
    """
    delimiter = _delimiter(text)
    data = text.encode("utf-8")
    if b'"' in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
        return _frame_from_records(csv_records(text, source))
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    n_lines = len(newlines) + (1 if len(data) and data[-1:] != b"\n" else 0)
    if n_lines == 0:
        return _frame_from_records(iter(()))
    # Fields per physical line: delimiters on it, plus one.
    delims = np.flatnonzero(buf == ord(delimiter))
    widths = np.bincount(np.searchsorted(newlines, delims), minlength=n_lines)[:n_lines] + 1
    width = int(widths.max())
    regular = _arrow_csv(data, delimiter, newlines, widths)
    if regular is not None:
        return regular
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=delimiter,
            header=None,
            names=list(range(width)),
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
            quoting=csv.QUOTE_NONE,
            engine="c",
            encoding="utf-8",
        )
    except (pd.errors.ParserError, ValueError):
        return _frame_from_records(csv_records(text, source))
    if len(frame) != n_lines:  # the parser saw other line ends than numpy did: count exactly
        return _frame_from_records(csv_records(text, source))
    blank = np.ones(len(frame), dtype=bool)
    for c in frame.columns:
        col = frame[c]
        blank &= (col.str.strip() == "").to_numpy(dtype=bool, na_value=True)
    keep = np.flatnonzero(~blank)
    if not len(keep):
        return _frame_from_records(iter(()))
    head = int(keep[0])
    hw = int(widths[head])
    header = [str(v) for v in frame.iloc[head, :hw].tolist()]
    body = keep[1:]
    rows = frame.iloc[body].reset_index(drop=True)
    return header, rows, (body + 1).astype(np.int64), widths[body].astype(np.int64)


#: Files larger than this are parsed by Arrow on several threads.
_THREADED_CSV_BYTES = 32 << 20
# Lines with at most this many bytes besides delimiters may be blank: checked one by one.
_SHORT_LINE = 8


def _arrow_csv(
    data: bytes, delimiter: str, newlines: NDArray[np.int64], widths: NDArray[np.int64]
) -> tuple[list[str], pd.DataFrame, NDArray[np.int64], NDArray[np.int64]] | None:
    """:func:`csv_frame` of a regular file (every non-blank line as wide as the header, blank
    lines truly empty) with Arrow's multi-threaded reader; None for any other file."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n_lines = len(widths)
    starts = np.concatenate([[0], newlines + 1])[:n_lines]
    ends = np.concatenate([newlines, [len(data)]])[:n_lines]
    content = (ends - starts) - (widths - 1)  # bytes that are not delimiters (\r included)
    short = np.flatnonzero(content <= _SHORT_LINE)
    if len(short) > 10_000:
        return None  # many tiny lines: let pandas find the blank ones
    blank = np.zeros(n_lines, dtype=bool)
    for i in short:
        line = data[starts[i] : ends[i]]
        if not line.replace(delimiter.encode(), b"").strip():
            if line.strip(b"\r"):
                return None  # ",,," or spaces: Arrow would read it as a row
            blank[i] = True
    keep = np.flatnonzero(~blank)
    if len(keep) < 2 or not (widths[keep] == widths[keep[0]]).all():
        return None
    width = int(widths[keep[0]])
    names = [str(i) for i in range(width)]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            # Arrow's worker threads only pay off on big files: each starts its own malloc arena
            # (MBs of RSS kept) and the hand-off costs CPU that a few MB do not win back.
            read_options=pacsv.ReadOptions(column_names=names, use_threads=len(data) > _THREADED_CSV_BYTES),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char=False, newlines_in_values=False, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    if table.num_rows != len(keep):
        return None
    header = [str(table.column(i)[0]) for i in range(width)]
    body = table.slice(1)
    rows = pd.DataFrame(
        {i: pd.Series(body.column(i).to_pandas(), copy=False) for i in range(width)}, copy=False
    )
    lines = keep[1:] + 1
    return header, rows, lines.astype(np.int64), widths[keep[1:]].astype(np.int64)


def _frame_from_records(
    records: Iterator[tuple[int, list[str]]],
) -> tuple[list[str], pd.DataFrame, NDArray[np.int64], NDArray[np.int64]]:
    header: list[str] | None = None
    cells: list[list[str]] = []
    lines: list[int] = []
    for start, rec in records:
        if header is None:
            header = rec
            continue
        cells.append(rec)
        lines.append(start)
    if header is None:
        return [], pd.DataFrame(), np.empty(0, np.int64), np.empty(0, np.int64)
    widths = np.array([len(c) for c in cells], dtype=np.int64)
    width = max(int(widths.max()) if len(widths) else 0, len(header))
    frame = pd.DataFrame([c + [""] * (width - len(c)) for c in cells], columns=list(range(width)), dtype=str)
    return header, frame, np.array(lines, dtype=np.int64), widths


def _read_csv(path: Path, source: str) -> tuple[list[_Row], str]:
    text, encoding = _decode(path.read_bytes(), source)
    if "\x00" in text:
        raise InputError.single(source, "the file contains NUL characters: it is not a text CSV")

    header: dict[int, str] | None = None
    width = 0
    rows: list[_Row] = []
    for start, cells in csv_records(text, source):
        if header is None:
            header = _map_header(cells, source, start)
            width = len(cells)
            continue
        # Short rows (trailing empty cells left out by hand) read as blank.
        values = {canon: (cells[i] if i < len(cells) else "") for i, canon in header.items()}
        row = _Row(line=start, values=values)
        if len(cells) > width and any(not _blank(c) for c in cells[width:]):
            # More cells than headers: almost always an unquoted comma in a name or note, so
            # every later cell of the row is in the wrong column.
            row.row_error = (
                f"row {start}: {len(cells)} fields but the header has {width}; "
                "is there an unquoted comma in a name or note? Quote that field or use ，"
            )
        rows.append(row)
    if header is None:
        raise InputError.single(
            source, "the file is empty; expected a header row such as name,kind,lon,lat,crs"
        )
    return rows, encoding


def _read_xlsx(path: Path, source: str) -> list[_Row]:
    # openpyxl directly rather than pandas.read_excel: it gives each row's real sheet row
    # number, which is what the user sees, even around blank rows.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=False, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as err:
        raise InputError.single(source, f"cannot open the workbook: {err}") from None
    except Exception as err:  # zipfile.BadZipFile and friends from a damaged file
        raise InputError.single(source, f"cannot open the workbook ({type(err).__name__}): {err}") from None
    try:
        if not wb.worksheets:
            raise InputError.single(source, "the workbook has no sheets")
        ws = wb.worksheets[0]
        header: dict[int, str] | None = None
        rows: list[_Row] = []
        for number, cells in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            if all(_blank(c) for c in cells):
                continue
            if header is None:
                header = _map_header(cells, source, number)
                continue
            values = {canon: (cells[i] if i < len(cells) else None) for i, canon in header.items()}
            rows.append(_Row(line=number, values=values))
    finally:
        wb.close()
    if header is None:
        raise InputError.single(source, f"the first sheet ({ws.title!r}) is empty; expected a header row")
    return rows


def _read_geojson(path: Path, source: str) -> tuple[list[_Row], str]:
    text, encoding = _decode(path.read_bytes(), source)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError.single(
            source, f"not valid JSON: {err.msg}", line=err.lineno, column=err.colno
        ) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError.single(source, "expected a GeoJSON FeatureCollection")
    crs_member = doc.get("crs")
    if crs_member is not None:
        # Pre-RFC 7946 files may name their CRS; only WGS84/CGCS2000 geographic is accepted.
        name = str(
            ((crs_member.get("properties") or {}) if isinstance(crs_member, dict) else {}).get("name", "")
        )
        if not any(tag in name.upper() for tag in ("CRS84", "4326", "4490")):
            raise InputError.single(
                source,
                f"the FeatureCollection declares crs {name or crs_member!r}; expected WGS84 lon/lat "
                "(give GCJ-02/BD-09 features a 'crs' property instead)",
                field="crs",
            )
    features = doc.get("features")
    if not isinstance(features, list):
        raise InputError.single(source, "the FeatureCollection has no 'features' list", field="features")

    rows: list[_Row] = []
    for number, feat in enumerate(features, start=1):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            rows.append(
                _Row(number, {}, row_error=f"feature {number}: not a GeoJSON Feature", unit="feature")
            )
            continue
        props = feat.get("properties") or {}
        values: dict[str, Any] = {}
        if isinstance(props, dict):
            for key, val in props.items():
                canon = _HEADER_ALIASES.get(_fold(str(key)))
                if canon in ("name", "kind", "crs", "note", "accuracy_m"):
                    values.setdefault(canon, val)
        row = _Row(number, values, unit="feature")
        geom = feat.get("geometry")
        if not geom:
            row.geometry_error = f"feature {number}: no geometry; expected a Point, LineString or Polygon"
        else:
            try:
                row.geometry = shape(geom)
            except Exception as err:  # shapely raises several types for malformed coordinates
                row.geometry_error = f"feature {number}: geometry cannot be read ({err})"
        rows.append(row)
    return rows, encoding


# --------------------------------------------------------------------------------------------
# Checking and building the layer
# --------------------------------------------------------------------------------------------


def _text(v: Any) -> str:
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # an XLSX cell holding 12 comes back as 12.0
    return str(v).strip()


def _tags(v: Any) -> str | None:
    """A tags cell (``农贸市场；菜市场``, ``a、b``, ``a,b``) as ``;``-joined tags, or None."""
    text = unicodedata.normalize("NFKC", _text(v))
    parts = [t.strip() for t in re.split(r"[;、,]", text)]
    return ";".join(t for t in parts if t) or None


def _number(v: Any) -> float | None:
    """Float value; ``nan`` for blank; ``None`` for text that is not a number."""
    if _blank(v):
        return math.nan
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    s = unicodedata.normalize("NFKC", str(v)).strip()  # full-width digits from a Chinese IME
    try:
        return float(s)
    except ValueError:
        return None


def _kinds_hint() -> str:
    return ", ".join(f"{k} ({v})" for k, v in PLACE_KINDS.items())


def _geometry_from_wkt(wkt: str, where: str) -> tuple[BaseGeometry | None, str | None]:
    try:
        geom = shapely.from_wkt(wkt)
    except Exception as err:  # shapely's GEOSException, but be safe against odd input
        return (
            None,
            f"{where}: WKT cannot be read ({err}); expected e.g. LINESTRING (112.85 35.5, 112.86 35.5)",
        )
    return geom, None


def _geometry_problem(geom: BaseGeometry, where: str) -> str | None:
    if geom.geom_type not in _GEOMETRY_TYPES:
        expected = ", ".join(_GEOMETRY_TYPES)
        return f"{where}: geometry type {geom.geom_type} is not supported; expected {expected}"
    if geom.is_empty:
        return f"{where}: geometry is empty"
    if not geom.is_valid:
        return f"{where}: geometry is not valid ({shapely.is_valid_reason(geom)}); fix the outline"
    return None


def _to_wgs84_geometry(geom: BaseGeometry, crs: str) -> BaseGeometry:
    if crs in ("wgs84", "cgcs2000"):
        return geom

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([lon, lat])

    # Vertex by vertex: the shift varies with position, so a whole-geometry offset would be wrong.
    return shapely.transform(geom, shift)


def _build(
    rows: Iterable[_Row],
    source: str,
    file_name: str,
    *,
    region_bounds: Sequence[float] | None,
    max_km: float,
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    problems: dict[int, list[Problem]] = {}

    def report(line: int, fld: str | None, message: str) -> None:
        problems.setdefault(line, []).append(Problem(file=source, message=message, line=line, field=fld))

    parsed: list[dict[str, Any]] = []
    # Coordinates to screen, one entry per point or vertex, with their row number.
    check_lon: list[float] = []
    check_lat: list[float] = []
    check_rows: list[int] = []

    for row in rows:
        n = row.line
        v = row.values
        where = f"{row.unit} {n}"
        if row.row_error:
            report(n, None, row.row_error)
            continue

        name = _text(v.get("name"))
        if not name:
            report(n, "name", f"{where}: name is empty; every place needs a name")

        kind_raw = _text(v.get("kind"))
        kind: str | None = None
        if kind_raw:
            folded = unicodedata.normalize("NFKC", kind_raw)
            kind = folded.lower() if folded.lower() in PLACE_KINDS else _KIND_LABELS.get(folded)
            if kind is None:
                report(n, "kind", f"{where}: unknown kind {kind_raw!r}; expected one of {_kinds_hint()}")

        crs_raw = _text(v.get("crs"))
        crs = "wgs84"
        if crs_raw:
            key = _fold(crs_raw).replace("-", "").replace("_", "").replace(" ", "")
            if key in _CRS_NAMES:
                crs = _CRS_NAMES[key]
            else:
                crs = ""
                report(
                    n,
                    "crs",
                    f"{where}: unknown coordinate system {crs_raw!r}; "
                    "expected wgs84, cgcs2000, gcj02 or bd09",
                )

        accuracy = math.nan
        acc_raw = v.get("accuracy_m")
        if not _blank(acc_raw):
            acc = _number(acc_raw)
            if acc is None or not math.isfinite(acc) or acc < 0:
                report(
                    n,
                    "accuracy_m",
                    f"{where}: accuracy_m {acc_raw!r} is not a distance in metres (a number ≥ 0)",
                )
            else:
                accuracy = acc

        geom: BaseGeometry | None = None
        wkt = _text(v.get("wkt"))
        if row.geometry_error:
            report(n, "geometry", row.geometry_error)
        elif row.geometry is not None or wkt:
            geom_field = "geometry" if row.geometry is not None else "wkt"
            err: str | None = None
            geom = row.geometry
            if geom is None:
                geom, err = _geometry_from_wkt(wkt, where)
            if geom is not None and err is None:
                err = _geometry_problem(geom, where)
            if err:
                report(n, geom_field, err)
                geom = None
            else:
                xy = shapely.get_coordinates(geom)
                check_lon.extend(xy[:, 0].tolist())
                check_lat.extend(xy[:, 1].tolist())
                check_rows.extend([n] * len(xy))
        elif "lon" not in v and "lat" not in v:
            # The file has a wkt column but no lon/lat columns, and this row's wkt is empty.
            report(
                n, "wkt", f"{where}: wkt is empty and the file has no lon/lat columns; give a WKT geometry"
            )
        else:
            lon, lat = _number(v.get("lon")), _number(v.get("lat"))
            for fld, val, raw in (("lon", lon, v.get("lon")), ("lat", lat, v.get("lat"))):
                if val is None:
                    report(n, fld, f"{where}: {fld} {_text(raw)!r} is not a number; expected decimal degrees")
            if lon is not None and lat is not None:
                # Blank values stay NaN here; check_lonlat reports them as missing.
                check_lon.append(lon)
                check_lat.append(lat)
                check_rows.append(n)
                geom = shapely.Point(lon, lat) if math.isfinite(lon) and math.isfinite(lat) else None

        parsed.append(
            {
                "line": n,
                "name": name,
                "kind": kind,
                "crs": crs,
                "accuracy": accuracy,
                "geom": geom,
                "note": _text(v.get("note")) or None,
                "tags": _tags(v.get("tags")),
            }
        )

    if check_rows:
        try:
            check_lonlat(
                check_lon,
                check_lat,
                source=source,
                region_bounds=region_bounds,
                max_km=max_km if region_bounds is not None else None,
                rows=check_rows,
            )
        except InputError as err:
            seen: set[int] = set()
            for prob in err.problems:
                # A line or area gives one problem per bad vertex; its first one says enough.
                if prob.line is not None and prob.line not in seen:
                    seen.add(prob.line)
                    problems.setdefault(prob.line, []).append(prob)

    records: list[dict[str, Any]] = []
    geoms: list[BaseGeometry] = []
    good = [r for r in parsed if r["line"] not in problems and r["geom"] is not None]
    # Points are converted in one vectorised call per input system; lines and areas per row.
    wgs: dict[int, BaseGeometry] = {}
    for crs in {r["crs"] for r in good}:
        pts = [r for r in good if r["crs"] == crs and r["geom"].geom_type == "Point"]
        if pts:
            lon, lat = to_wgs84([r["geom"].x for r in pts], [r["geom"].y for r in pts], crs)
            for r, x, y in zip(pts, lon.tolist(), lat.tolist(), strict=True):
                wgs[r["line"]] = shapely.Point(x, y)
    for r in good:
        n = r["line"]
        geom = wgs[n] if n in wgs else _to_wgs84_geometry(r["geom"], r["crs"])
        accuracy = r["accuracy"]
        if math.isnan(accuracy):
            is_point = geom.geom_type == "Point"
            accuracy = DEFAULT_ACCURACY_POINT_M if is_point else DEFAULT_ACCURACY_GEOMETRY_M
        records.append(
            {
                "id": f"g{n}",
                "name": r["name"],
                "kind": r["kind"],
                "source": SOURCE,
                "source_ref": f"{file_name}:{n}",
                "accuracy_m": accuracy,
                "matched_by": None,
                "note": r["note"],
                "crs_in": r["crs"],
                "tags": r["tags"],
            }
        )
        geoms.append(geom)

    columns = ["id", "name", "kind", "source", "source_ref", "accuracy_m", "matched_by", *EXTRA_COLUMNS]
    layer = make_layer(pd.DataFrame(records, columns=columns), geometry=geoms, extra=EXTRA_COLUMNS)
    for col in EXTRA_COLUMNS:
        layer[col] = layer[col].astype("string")
    flat = [p for line in sorted(problems) for p in problems[line]]
    return layer, flat
