"""Tables users bring: text decoding, CSV, XLSX and vector files, cells, point tables.

Offices hand over spreadsheets saved by Excel and WPS in whatever encoding the machine used
(UTF-8 with or without BOM, GBK/GB18030, UTF-16 "Unicode text"), with blank rows, full-width
digits and Chinese headers. This module reads them once for every caller — the gazetteer, the
point files of ``geo query``, the 问题台账 and the street chiefs — and names the file, line and
field of anything it cannot read.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from .crs import check_lonlat, to_wgs84
from .errors import InputError, Problem

__all__ = [
    "NO_DATE",
    "POINT_FORMATS",
    "cell_number",
    "cell_text",
    "csv_frame",
    "csv_records",
    "csv_table",
    "decode_text",
    "find_column",
    "fold_key",
    "is_blank",
    "lenient_date",
    "parse_dates",
    "read_point_table",
    "read_points",
    "vector_table",
    "xlsx_table",
]

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


def decode_text(data: bytes, source: str) -> tuple[str, str]:
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


def fold_key(s: str) -> str:
    return unicodedata.normalize("NFKC", s).replace("\ufeff", "").strip().lower()


def is_blank(v: Any) -> bool:
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
        if not all(is_blank(c) for c in cells):
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


def cell_text(v: Any) -> str:
    if is_blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # an XLSX cell holding 12 comes back as 12.0
    return str(v).strip()


def cell_number(v: Any) -> float | None:
    """Float value; ``nan`` for blank; ``None`` for text that is not a number."""
    if is_blank(v):
        return math.nan
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    s = unicodedata.normalize("NFKC", str(v)).strip()  # full-width digits from a Chinese IME
    try:
        return float(s)
    except ValueError:
        return None


#: File suffixes :func:`read_points` reads.
POINT_FORMATS = (".csv", ".txt", ".xlsx", ".xlsm", ".geojson", ".json", ".gpkg", ".parquet", ".shp")


def lenient_date(v: Any) -> pd.Timestamp | None:
    if isinstance(v, (dt.date, pd.Timestamp)):
        return pd.Timestamp(v)
    text = str(v).strip().replace("/", "-").replace(".", "-")
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y年%m月%d日"):
        try:
            return pd.Timestamp(dt.datetime.strptime(text, fmt))
        except ValueError:
            continue
    return None


_LON_NAMES = ("lon", "lng", "longitude", "经度", "x坐标")


_LAT_NAMES = ("lat", "latitude", "纬度", "y坐标")


def find_column(
    columns: Sequence[str], wanted: str | None, names: Sequence[str], what: str, source: str
) -> str:

    folded = {fold_key(str(c)): c for c in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        if fold_key(wanted) in folded:
            return folded[fold_key(wanted)]
        raise InputError.single(
            source,
            f"no {what} column {wanted!r}; columns found: {', '.join(map(str, columns)) or 'none'}",
            line=1,
            field=wanted,
        )
    for name in names:
        if name in folded:
            return folded[name]
    raise InputError.single(
        source,
        f"no {what} column found (looked for {', '.join(names)}); columns found: "
        f"{', '.join(map(str, columns)) or 'none'}; name it with --{what}-col",
        line=1,
    )


def _dedupe(header: Sequence[Any]) -> list[str]:
    out: list[str] = []
    for i, h in enumerate(header):
        name = "" if h is None else str(h).strip().lstrip("\ufeff")
        name = name or f"column{i + 1}"
        base, k = name, 1
        while name in out:
            k += 1
            name = f"{base}.{k}"
        out.append(name)
    return out


def csv_table(path: Path, source: str) -> tuple[pd.DataFrame, list[int] | NDArray[np.int64], list[Problem]]:
    """All columns of a CSV as text, with each record's line number (header = line 1)."""
    # The gazetteer's decoder: BOM, strict UTF-8, else GBK/GB18030 as Chinese Excel saves it.

    text, _ = decode_text(path.read_bytes(), source)
    cells, rows, lines, widths = csv_frame(text, source)
    del text
    if not cells:
        raise InputError.single(source, "the file is empty; expected a header row such as id,lon,lat")
    header = _dedupe(cells)
    width = len(header)
    problems: list[Problem] = []
    # Rows with more fields than the header: fine when the extra cells are blank (Excel's
    # trailing commas), else a field holds an unquoted comma and every later cell is misplaced.
    over = np.flatnonzero(widths > width)
    if len(over):
        extra = np.zeros(len(over), dtype=bool)
        for c in range(width, rows.shape[1]):
            extra |= (rows[c].iloc[over].str.strip() != "").to_numpy(dtype=bool, na_value=False)
        bad = over[extra]
        for i in bad:
            start = int(lines[i])
            problems.append(
                Problem(
                    source,
                    f"row {start}: {int(widths[i])} fields but the header has {width}; "
                    "is there an unquoted comma in a field? Quote it or use ，",
                    line=start,
                )
            )
        if len(bad):
            keep = np.ones(len(rows), dtype=bool)
            keep[bad] = False
            rows = rows.iloc[np.flatnonzero(keep)].reset_index(drop=True)
            lines = lines[keep]
    # Short rows read as blank trailing cells (the frame already holds "" there).
    if rows.shape[1] >= width:
        table = rows.iloc[:, :width]
    else:
        table = rows.reindex(columns=range(width), fill_value="")
    table = table.set_axis(header, axis=1)
    return table, lines, problems


def xlsx_table(path: Path, source: str) -> tuple[pd.DataFrame, list[int]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises several types for damaged or foreign files
        raise InputError.single(source, f"cannot open the workbook ({type(e).__name__}): {e}") from None
    try:
        ws = wb.worksheets[0]
        header: list[str] | None = None
        rows, lines = [], []
        for number, cells in enumerate(ws.iter_rows(values_only=True), start=1):
            if all(is_blank(c) for c in cells):
                continue
            if header is None:
                header = _dedupe(cells)
                continue
            cells = list(cells[: len(header)]) + [None] * (len(header) - len(cells))
            rows.append(cells)
            lines.append(number)
    finally:
        wb.close()
    if header is None:
        raise InputError.single(source, "the first sheet is empty; expected a header row such as id,lon,lat")
    return pd.DataFrame(rows, columns=header, dtype=object), lines


def vector_table(path: Path, source: str, layer: str | None) -> tuple[gpd.GeoDataFrame, list[int]]:
    try:
        if path.suffix.lower() == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError.single(
                    source, "reading GeoParquet needs the pyarrow package (pip install pyarrow)"
                ) from None
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except InputError:
        raise
    except Exception as e:  # pyogrio/GDAL errors for unreadable files
        raise InputError.single(source, f"cannot read the file ({type(e).__name__}): {e}") from None
    return gdf, list(range(1, len(gdf) + 1))


_DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _plain_numbers(values: pd.Series) -> NDArray[np.float64]:
    """Plain decimal numbers of a column as floats, NaN for every other cell (blank, text,
    full-width digits); those go through the gazetteer's reader one by one."""
    if values.dtype.kind in "fiu":
        return values.to_numpy(dtype=float, na_value=np.nan)
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed cells (an XLSX column of numbers and text)
        arr = None
    if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        try:  # a clean column: every cell a plain number
            return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False).astype(float, copy=False)
        except pa.ArrowInvalid:
            pass
        text = pc.utf8_trim_whitespace(arr)
        plain = pc.match_substring_regex(text, _DECIMAL)
        nums = pc.cast(pc.if_else(plain, text, pa.scalar(None, text.type)), pa.float64())
        return nums.to_numpy(zero_copy_only=False).astype(float, copy=False)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def read_points(
    path: str | Path,
    *,
    lon_col: str | None = None,
    lat_col: str | None = None,
    crs: str = "wgs84",
    date_col: str | None = None,
    layer: str | None = None,
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Read a point file, reporting bad rows instead of failing on them.

    Parameters
    ----------
    path, lon_col, lat_col, crs, date_col, layer
        As for :func:`read_point_table`.

    Returns
    -------
    points : GeoDataFrame
        The good rows: every original column, ``source_row`` (row number as the user sees it:
        CSV line with the header as line 1, XLSX sheet row, feature number), WGS84 Points.
    problems : list of Problem
        One per skipped row (empty, non-numeric, out of range, lat/lon swapped, not a Point,
        bad date), with its row number.

    Raises
    ------
    InputError
        When the file cannot be read at all (missing, unknown type, undecodable, no coordinate
        column).
    """
    attrs, lon, lat, problems = read_point_table(
        path, lon_col=lon_col, lat_col=lat_col, crs=crs, date_col=date_col, layer=layer
    )
    return gpd.GeoDataFrame(attrs, geometry=shapely.points(lon, lat), crs="EPSG:4326"), problems


def read_point_table(
    path: str | Path,
    *,
    lon_col: str | None = None,
    lat_col: str | None = None,
    crs: str = "wgs84",
    date_col: str | None = None,
    layer: str | None = None,
) -> tuple[pd.DataFrame, NDArray[np.float64], NDArray[np.float64], list[Problem]]:
    """Read a point file as a table and WGS84 coordinate arrays, reporting bad rows.

    :func:`read_points` without the Point objects: for a million points, the query and a CSV
    result need only the two arrays.

    Parameters
    ----------
    path : str or Path
        CSV (UTF-8 with or without BOM, or GBK/GB18030 as Chinese Excel saves it; comma, tab or
        semicolon separated), XLSX (first sheet), GeoJSON, GeoPackage, Shapefile, or GeoParquet
        (needs ``pyarrow``).
    lon_col, lat_col : str, optional
        Coordinate columns of CSV/XLSX (default: the first of ``lon, lng, longitude, 经度`` and
        ``lat, latitude, 纬度``, any case).
    crs : str
        System of the coordinates as given: ``wgs84`` (or ``cgcs2000``), ``gcj02`` (Amap,
        Tencent) or ``bd09`` (Baidu); they are converted to WGS84. For vector files in a
        projected CRS the file's own CRS is used and ``crs`` must be ``wgs84``.
    date_col : str, optional
        A column of dates, checked here (see :func:`parse_dates`).
    layer : str, optional
        Layer of a GeoPackage (default: its first).

    Returns
    -------
    table : DataFrame
        The good rows: every original column (CSV/XLSX cells as text) and ``source_row`` (row
        number as the user sees it: CSV line with the header as line 1, XLSX sheet row,
        feature number).
    lon, lat : ndarray of float
        WGS84 coordinates of the good rows.
    problems : list of Problem
        One per skipped row (empty, non-numeric, out of range, lat/lon swapped, not a Point,
        bad date), with its row number.

    Raises
    ------
    InputError
        When the file cannot be read at all (missing, unknown type, undecodable, no coordinate
        column).
    """
    from .crs import norm_crs

    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise InputError.single(
            source, "file not found (or not a file); expected a CSV, XLSX or GIS point file"
        )
    try:
        crs_name = norm_crs(crs)
    except ValueError as e:
        raise InputError.single(source, str(e)) from None
    suffix = p.suffix.lower()
    problems: list[Problem] = []
    if suffix in (".csv", ".txt", ".xlsx", ".xlsm"):
        if suffix in (".csv", ".txt"):
            table, lines, problems = csv_table(p, source)
        else:
            table, lines = xlsx_table(p, source)
        lon_name = find_column(list(table.columns), lon_col, _LON_NAMES, "lon", source)
        lat_name = find_column(list(table.columns), lat_col, _LAT_NAMES, "lat", source)
        lon = np.full(len(table), np.nan)
        lat = np.full(len(table), np.nan)
        bad = np.zeros(len(table), dtype=bool)
        for col, arr, what in ((lon_name, lon, "lon"), (lat_name, lat, "lat")):
            values = table[col]
            # Plain numbers in one vectorised pass; the gazetteer's reader (full-width digits from a
            # Chinese IME, blanks, text) only for what that pass could not read.
            fast = _plain_numbers(values)
            arr[:] = fast
            for i in np.flatnonzero(np.isnan(fast)):
                v = values.iloc[i]
                num = cell_number(v)
                if num is None:
                    bad[i] = True
                    problems.append(
                        Problem(
                            source,
                            f"row {lines[i]}: {what} {str(v).strip()!r} is not a number; "
                            "expected decimal degrees",
                            line=int(lines[i]),
                            field=col,
                        )
                    )
                else:
                    arr[i] = num
        attrs = table
    elif suffix in POINT_FORMATS:
        gdf, lines = vector_table(p, source, layer)
        file_crs = gdf.crs
        if file_crs is not None and not file_crs.is_geographic:
            if crs_name != "wgs84":
                raise InputError.single(
                    source, f"the file is in {file_crs.name}; --crs {crs} applies to lon/lat files only"
                )
            gdf = gdf.to_crs(4326)
        geoms = np.asarray(gdf.geometry.array, dtype=object)
        types = shapely.get_type_id(geoms)
        bad = types != 0
        for i in np.flatnonzero(bad):
            kind = "no geometry" if types[i] < 0 else f"a {geoms[i].geom_type}"
            problems.append(
                Problem(
                    source,
                    f"feature {lines[i]}: {kind}; expected a Point",
                    line=int(lines[i]),
                    field="geometry",
                )
            )
        pts = np.where(bad, None, geoms)
        lon = np.where(bad, np.nan, shapely.get_x(pts))
        lat = np.where(bad, np.nan, shapely.get_y(pts))
        attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    else:
        raise InputError.single(
            source, f"unsupported file type {p.suffix!r}; expected one of {', '.join(POINT_FORMATS)}"
        )

    line_arr = np.asarray(lines, dtype=np.int64)
    screen = ~bad
    if screen.any():
        try:
            check_lonlat(lon[screen], lat[screen], source=source, rows=line_arr[screen])
        except InputError as e:
            problems.extend(e.problems)
            flagged = {pr.line for pr in e.problems}
            bad |= np.isin(line_arr, list(flagged))
    if date_col is not None:
        if date_col not in attrs.columns:
            raise InputError.single(
                source,
                f"no date column {date_col!r}; columns found: {', '.join(map(str, attrs.columns))}",
                field=date_col,
            )
        _, bad_dates = parse_dates(attrs[date_col])
        for i in np.flatnonzero(bad_dates & ~bad):
            problems.append(
                Problem(
                    source,
                    f"row {lines[i]}: {date_col} {attrs[date_col].iloc[i]!r} is not a date; "
                    "expected YYYY-MM-DD",
                    line=int(lines[i]),
                    field=date_col,
                )
            )
        bad |= bad_dates
    keep = ~bad
    x, y = to_wgs84(lon[keep], lat[keep], crs_name)
    out = attrs.reset_index(drop=True) if keep.all() else attrs.loc[keep].reset_index(drop=True)
    if "source_row" in out.columns:
        out = out.rename(columns={"source_row": "source_row_in"})
    out["source_row"] = line_arr[keep]
    problems.sort(key=lambda pr: pr.line or 0)
    return out, np.asarray(x, dtype=float), np.asarray(y, dtype=float), problems


# "No date" for a point: no phase filtering.
NO_DATE = np.iinfo(np.int64).min


def parse_dates(values: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Dates as day numbers, the way :func:`query_points` reads a date column.

    Accepts ISO text (``2023-03-20``, ``2023-03-20T08:00``), ``2023/3/20``, ``2023.3.20``,
    ``20230320``, dates, datetimes and Excel date cells.

    Returns
    -------
    days : ndarray of int64
        Days since 1970-01-01; blank values get a "no date" marker (no phase filtering).
    bad : ndarray of bool
        Values that are not blank and not a date.
    """
    s = pd.Series(np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values)
    if pd.api.types.is_datetime64_any_dtype(s):
        parsed = pd.to_datetime(s, errors="coerce")
        blank = parsed.isna().to_numpy()
    else:
        text = s.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
        blank = text.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
        blank = blank | s.isna().to_numpy()
        as_text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
        parsed = pd.to_datetime(as_text, errors="coerce", format="ISO8601")
        # Hand-typed dates (2023-3-20, 20230320) fail the ISO8601 fast path: try them one by one.
        retry = parsed.isna().to_numpy() & ~blank
        if retry.any():
            idx = np.flatnonzero(retry)
            parsed = parsed.copy()
            for i in idx:
                v = as_text.iloc[i]
                parsed.iloc[i] = lenient_date(v)
    parsed = pd.to_datetime(parsed, errors="coerce")
    nat = parsed.isna().to_numpy()
    days = np.full(len(s), NO_DATE, dtype=np.int64)
    ok = ~nat
    days[ok] = parsed[ok].to_numpy().astype("datetime64[D]").astype(np.int64)
    bad = nat & ~blank
    return days, bad
