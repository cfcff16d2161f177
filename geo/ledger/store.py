"""The ledger's database: one GeoPackage file by default, the same schema on PostgreSQL/PostGIS.

A GeoPackage is SQLite with a few metadata tables (OGC 12-128r18); it opens in QGIS as it
stands. It is written here with the standard library's ``sqlite3`` (no GDAL needed on the
write path): geometries are GeoPackage binary blobs (an 8-byte header, then WKB). On
PostgreSQL the same tables hold PostGIS geometries. Every table also carries what the
report needs as plain columns (``lon``/``lat``, dates as day numbers), so one SQL text gives
the same figures on both.

The schema is versioned in ``ledger_meta`` and migrated forward when a ledger is opened.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import InputError

__all__ = ["SCHEMA_VERSION", "Store", "gpkg_blobs", "open_store"]

#: Current schema version; :func:`open_store` migrates older ledgers up to it.
SCHEMA_VERSION = 1

# Text columns of each table (besides fid and geometry), shared by both back ends.
CASE_COLUMNS = {
    "case_id": "TEXT NOT NULL UNIQUE",
    "reported_at": "TEXT",
    "reported_day": "INTEGER",  # days since 1970-01-01: same arithmetic in SQLite and PostgreSQL
    "category": "TEXT",
    "description": "TEXT",
    "address": "TEXT",
    "lon": "DOUBLE PRECISION",
    "lat": "DOUBLE PRECISION",
    "located_by": "TEXT",  # coordinates | address | unresolved
    "location_source": "TEXT",  # wgs84/gcj02/bd09 input, or gazetteer/osm/schematic for addresses
    "location_note": "TEXT",  # why an address could not be placed
    "status": "TEXT",
    "deadline": "TEXT",
    "deadline_day": "INTEGER",
    "limit_days": "INTEGER",
    "closed_at": "TEXT",
    "closed_day": "INTEGER",
    "unit_given": "TEXT",  # the case's own 责任单位 column
    "grid_code": "TEXT",
    "street": "TEXT",
    "street_chief": "TEXT",
    "rule_ids": "TEXT",
    "restrictions": "TEXT",
    "rule_units": "TEXT",
    "units": "TEXT",
    "assigned_by": "TEXT",
    "source_file": "TEXT",
    "source_row": "INTEGER",
    "updated_at": "TEXT",
}
EVENT_COLUMNS = {
    "case_id": "TEXT NOT NULL",
    "at": "TEXT NOT NULL",
    "kind": "TEXT NOT NULL",  # created | updated
    "old_status": "TEXT",
    "new_status": "TEXT",
    "changes": "TEXT",  # field: old → new, for every field that changed
    "source_file": "TEXT",
    "source_row": "INTEGER",
}
UNIT_COLUMNS = {"case_id": "TEXT NOT NULL", "unit": "TEXT NOT NULL"}
GRID_COLUMNS = {
    "code": "TEXT NOT NULL UNIQUE",
    "standard": "INTEGER",  # 1: a DB11-style 15-digit code; 0: numbered over the region only
    "district_code": "TEXT",
    "subdistrict": "TEXT",  # 街道
    "subdistrict_code": "TEXT",
    "community": "TEXT",  # 社区
    "community_code": "TEXT",
    "units": "TEXT",  # 责任主体
    "area_m2": "DOUBLE PRECISION",
    "source_ref": "TEXT",
}
CHIEF_COLUMNS = {
    "street": "TEXT NOT NULL UNIQUE",  # as written: 凤台街 or 凤台街望川楼路段
    "chief": "TEXT",
    "role": "TEXT",  # 街长 / 路长
    "unit": "TEXT",
    "source": "TEXT",
    "source_ref": "TEXT",
    "matched_by": "TEXT",
    "updated_at": "TEXT",
}

# table -> (columns, geometry type or None, indexes)
TABLES: dict[str, tuple[dict[str, str], str | None, tuple[str, ...]]] = {
    "cases": (CASE_COLUMNS, "POINT", ("grid_code", "reported_day")),
    "case_events": (EVENT_COLUMNS, None, ("case_id",)),
    "case_units": (UNIT_COLUMNS, None, ("case_id", "unit")),
    "grids": (GRID_COLUMNS, "MULTIPOLYGON", ()),
    "street_chiefs": (CHIEF_COLUMNS, "GEOMETRY", ()),
}

_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_USER_VERSION = 10300  # GeoPackage 1.3
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
)


def gpkg_blobs(geoms: Sequence[BaseGeometry | None] | np.ndarray, srs_id: int = 4326) -> list[bytes | None]:
    """GeoPackage binary geometry blobs (header without envelope + little-endian WKB).

    Parameters
    ----------
    geoms : array of shapely geometries (None for missing)
    srs_id : int

    Returns
    -------
    list of bytes or None
    """
    arr = np.asarray(geoms, dtype=object)
    header = b"GP\x00\x01" + int(srs_id).to_bytes(4, "little")  # version 0, flags: LE, no envelope
    out: list[bytes | None] = [None] * len(arr)
    ok = ~shapely.is_missing(arr) if len(arr) else np.zeros(0, bool)
    if ok.any() and np.all(shapely.get_type_id(arr[ok]) == 0):
        # Points (a million cases): header + 21-byte WKB laid out in one numpy array.
        idx = np.flatnonzero(ok)
        buf = np.zeros((len(idx), 29), dtype=np.uint8)
        buf[:, :8] = np.frombuffer(header, dtype=np.uint8)
        buf[:, 8] = 1  # little endian
        buf[:, 9:13] = np.frombuffer((1).to_bytes(4, "little"), dtype=np.uint8)  # wkbPoint
        buf[:, 13:21] = shapely.get_x(arr[idx]).astype("<f8").view(np.uint8).reshape(-1, 8)
        buf[:, 21:29] = shapely.get_y(arr[idx]).astype("<f8").view(np.uint8).reshape(-1, 8)
        raw = buf.tobytes()
        for k, i in enumerate(idx.tolist()):
            out[i] = raw[k * 29 : (k + 1) * 29]
        return out
    if ok.any():
        wkb = shapely.to_wkb(arr[ok], byte_order=1)
        idx = np.flatnonzero(ok)
        for i, w in zip(idx.tolist(), wkb.tolist(), strict=True):
            out[i] = header + w
    return out


def from_gpkg_blobs(blobs: Sequence[bytes | None]) -> np.ndarray:
    """Shapely geometries from GeoPackage blobs (None stays None)."""
    out = np.full(len(blobs), None, dtype=object)
    idx, wkb = [], []
    for i, b in enumerate(blobs):
        if b is None:
            continue
        b = bytes(b)
        flags = b[3]
        env = (flags >> 1) & 0b111
        skip = 8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get(env, 0)
        idx.append(i)
        wkb.append(b[skip:])
    if idx:
        out[np.asarray(idx)] = shapely.from_wkb(np.asarray(wkb, dtype=object))
    return out


class Store:
    """An open ledger. Use :func:`open_store`; close with :meth:`close` or as a context manager.

    SQL is written once with ``?`` placeholders; the PostgreSQL side converts them.
    """

    def __init__(self, kind: str, con: Any, where: str):
        self.kind = kind  # "gpkg" or "postgis"
        self.con = con
        self.where = where

    # -- plumbing ---------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.kind == "postgis" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the cursor."""
        return self.con.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""
        if not len(rows):
            return
        if self.kind == "postgis":
            with self.con.cursor() as cur:
                cur.executemany(self._sql(sql), rows)
        else:
            self.con.executemany(sql, rows)

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Query into a DataFrame."""
        cur = self.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One all-or-nothing transaction (an import: a crash or kill leaves the ledger as before)."""
        if self.kind == "postgis":
            with self.con.transaction():
                yield
        else:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- geometry ---------------------------------------------------------------------------
    def geom_param(self) -> str:
        """SQL for a geometry parameter given as what :meth:`geom_values` returns."""
        return "ST_GeomFromWKB(%s, 4326)" if self.kind == "postgis" else "?"

    def geom_values(self, geoms: Sequence[BaseGeometry | None] | np.ndarray) -> list[bytes | None]:
        """Geometry parameters: GeoPackage blobs, or plain WKB for PostGIS."""
        if self.kind == "gpkg":
            return gpkg_blobs(geoms)
        arr = np.asarray(geoms, dtype=object)
        out: list[bytes | None] = [None] * len(arr)
        ok = ~shapely.is_missing(arr) if len(arr) else np.zeros(0, bool)
        if ok.any():
            for i, w in zip(np.flatnonzero(ok).tolist(), shapely.to_wkb(arr[ok]).tolist(), strict=True):
                out[i] = w
        return out

    def geom_select(self, column: str = "geom") -> str:
        """SQL selecting a geometry column as something :meth:`geometries` decodes."""
        return f"ST_AsBinary({column}) AS {column}" if self.kind == "postgis" else column

    def geometries(self, values: Sequence[Any]) -> np.ndarray:
        """Shapely geometries from a geometry column selected with :meth:`geom_select`."""
        if self.kind == "gpkg":
            return from_gpkg_blobs(values)
        out = np.full(len(values), None, dtype=object)
        idx = [i for i, v in enumerate(values) if v is not None]
        if idx:
            out[np.asarray(idx)] = shapely.from_wkb(np.asarray([bytes(values[i]) for i in idx], dtype=object))
        return out

    # -- tables -----------------------------------------------------------------------------
    def insert_frame(self, table: str, df: pd.DataFrame, geoms: Sequence[BaseGeometry | None] | None = None):
        """Insert rows (columns of ``df`` named as the table's), optionally with geometries.

        PostGIS gets the rows through ``COPY … FROM STDIN`` (one round trip, not one statement
        per row); the GeoPackage through SQLite's ``executemany``.
        """
        if not len(df):
            return
        cols = list(df.columns)
        if self.kind == "postgis":
            df = whole_floats_as_ints(df)
        values = df.astype(object).where(df.notna(), None)
        if geoms is not None:
            cols = ["geom", *cols]
            blobs = self.copy_geoms(geoms) if self.kind == "postgis" else self.geom_values(geoms)
            values.insert(0, "__geom", object_column(blobs, values.index))
        if self.kind == "postgis":
            self.copy_rows(table, cols, values)
            return
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['?'] * len(cols))})"
        self.con.executemany(sql, list(values.itertuples(index=False, name=None)))

    def copy_rows(self, table: str, cols: Sequence[str], values: pd.DataFrame) -> None:
        """PostGIS only: stream rows into ``table`` with ``COPY``; geometries as from :meth:`copy_geoms`."""
        with self.con.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in values.itertuples(index=False, name=None):
                copy.write_row(row)

    @staticmethod
    def copy_geoms(geoms: Sequence[BaseGeometry | None] | np.ndarray, srid: int = 4326) -> list[str | None]:
        """Hex EWKB with the SRID, the text form a PostGIS geometry column takes in ``COPY``."""
        arr = np.asarray(geoms, dtype=object)
        out: list[str | None] = [None] * len(arr)
        ok = ~shapely.is_missing(arr) if len(arr) else np.zeros(0, bool)
        if ok.any():
            hexes = shapely.to_wkb(shapely.set_srid(arr[ok], srid), hex=True, include_srid=True)
            for i, w in zip(np.flatnonzero(ok).tolist(), hexes.tolist(), strict=True):
                out[i] = w
        return out

    def version(self) -> int:
        """The schema version of the open ledger."""
        row = self.execute("SELECT value FROM ledger_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0


def object_column(items: Sequence[Any], index: pd.Index) -> pd.Series:
    """A column that keeps ``None`` as ``None`` (a plain list inserted into a frame turns it into NaN)."""
    return pd.Series(np.asarray(items, dtype=object), index=index, dtype=object)


def whole_floats_as_ints(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns holding only whole numbers (integers with gaps) as integers.

    ``COPY`` parses text: an INTEGER column refuses "19460.0", where a bound parameter was cast.
    """
    out = df
    for c in df.columns:
        v = df[c]
        if v.dtype.kind == "f":
            a = v.to_numpy()
            ok = np.isfinite(a)
            if ok.any() and np.array_equal(a[ok], np.trunc(a[ok])) and np.abs(a[ok]).max() < 2**53:
                if out is df:
                    out = df.copy()
                out[c] = v.astype("Int64")
    return out


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


def _gpkg_base(con: sqlite3.Connection) -> None:
    con.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
    con.execute(f"PRAGMA user_version = {_GPKG_USER_VERSION}")
    con.execute(
        "CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,"
        " organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,"
        " description TEXT)"
    )
    con.executemany(
        "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian CRS"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic CRS"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, _WGS84_WKT, "longitude/latitude in decimal degrees"),
        ],
    )  # fmt: skip
    con.execute(
        "CREATE TABLE IF NOT EXISTS gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY,"
        " data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '',"
        " last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
        " min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,"
        " srs_id INTEGER REFERENCES gpkg_spatial_ref_sys(srs_id))"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL,"
        " column_name TEXT NOT NULL,"
        " geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,"
        " CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name))"
    )


def _create_v1(store: Store) -> None:
    gpkg = store.kind == "gpkg"
    if gpkg:
        _gpkg_base(store.con)
    else:
        store.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table, (cols, gtype, indexes) in TABLES.items():
        fid = "fid INTEGER PRIMARY KEY AUTOINCREMENT" if gpkg else "fid BIGSERIAL PRIMARY KEY"
        parts = [fid]
        if gtype is not None:
            parts.append(f"geom {gtype}" if gpkg else f"geom geometry({gtype}, 4326)")
        parts += [f"{c} {t.replace('DOUBLE PRECISION', 'REAL') if gpkg else t}" for c, t in cols.items()]
        store.execute(f"CREATE TABLE {table} ({', '.join(parts)})")
        for col in indexes:
            store.execute(f"CREATE INDEX {table}_{col}_idx ON {table} ({col})")
        if gpkg:
            kind = "features" if gtype is not None else "attributes"
            store.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES (?, ?, ?, ?)",
                (table, kind, table, 4326 if gtype else None),
            )
            if gtype is not None:
                store.execute(
                    "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, 4326, 0, 0)", (table, gtype)
                )
        elif gtype is not None:
            store.execute(f"CREATE INDEX {table}_geom_idx ON {table} USING GIST (geom)")


# version -> function migrating from version-1 to version
MIGRATIONS = {1: _create_v1}


def _migrate(store: Store) -> None:
    with store.transaction():
        store.execute("CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT)")
        current = store.version()
        if current > SCHEMA_VERSION:
            raise InputError.single(
                store.where,
                f"ledger schema version {current} is newer than this program's {SCHEMA_VERSION}; "
                "upgrade chengguan-geo",
            )
        for v in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[v](store)
            store.execute("DELETE FROM ledger_meta WHERE key = 'schema_version'")
            store.execute("INSERT INTO ledger_meta (key, value) VALUES ('schema_version', ?)", (str(v),))
        if store.kind == "gpkg" and current == 0:
            store.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier) "
                "VALUES ('ledger_meta', 'attributes', 'ledger_meta')"
            )


def _has_table(store: Store, name: str) -> bool:
    row = store.execute("SELECT name FROM sqlite_master WHERE type='table' AND name = ?", (name,)).fetchone()
    return row is not None


def open_store(db: str | Path, *, create: bool = True) -> Store:
    """Open (and create or migrate) a ledger.

    Parameters
    ----------
    db : str or Path
        A ``.gpkg`` file path, or a ``postgresql://`` URL (needs ``pip install chengguan-geo[postgis]``
        and the PostGIS extension available on the server).
    create : bool
        Create a missing GeoPackage (otherwise a missing file is an input error).

    Returns
    -------
    Store
    """
    text = str(db)
    if text.startswith(("postgresql://", "postgres://")) or text.startswith("host="):
        try:
            import psycopg
        except ImportError:
            raise InputError.single(
                "--db", "a PostgreSQL ledger needs psycopg: pip install 'chengguan-geo[postgis]'"
            ) from None
        try:
            con = psycopg.connect(text, autocommit=True)
        except psycopg.Error as e:
            raise InputError.single("--db", f"cannot connect to PostgreSQL: {e}".strip()) from None
        store = Store("postgis", con, "--db")
    else:
        path = Path(text)
        if path.suffix.lower() != ".gpkg":
            raise InputError.single("--db", f"expected a .gpkg file or a postgresql:// URL, got {text!r}")
        if not path.exists() and not create:
            raise InputError.single(text, "ledger not found; create it with geo cases import")
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE … COMMIT) in Store.
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode = DELETE")  # rollback journal: a killed import is undone
        con.execute("PRAGMA synchronous = FULL")
        con.execute("PRAGMA cache_size = -262144")  # 256 MB: big imports build their indexes in memory
        store = Store("gpkg", con, text)
    _migrate(store)
    return store
