"""Atomic writes: write to a temporary file beside the target, then rename over it.

A failure half-way (bad input found late, a full disk, Ctrl-C) leaves any existing file intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``path``.

    Parameters
    ----------
    path : str or Path
        The final file.
    suffix : str, optional
        Suffix for the temporary file (writers such as GDAL pick the format from it);
        default: the target's own suffix.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix or target.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # some writers refuse to overwrite; they get a fresh name
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write text atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
