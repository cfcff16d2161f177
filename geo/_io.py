"""Safe writes: output paths checked up front, temporary file beside the target, then rename.

A failure half-way (bad input found late, a full disk, Ctrl-C) leaves any existing file intact.
Inside :func:`staged` every write is held back as a temporary file and renamed into place only
when the whole block succeeded, so a command that fails writes nothing at all. Temporary files
carry the writer's process id; those of a process that is gone (killed) are removed by the next
write to the same place.

Also here, because every writer needs them: :func:`neutralise_formulas` (text cells that a
spreadsheet would run as formulas) and :func:`source_date_epoch` (the fixed time stamped into
reproducible files).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: Latest SOURCE_DATE_EPOCH accepted (2099-12-31 23:59:59 UTC); ZIP-based files (XLSX) cannot
#: store years after 2107 and a stamp that far out is a typo.
MAX_SOURCE_DATE_EPOCH = 4_102_444_799
#: Leftover temporary files without a process id (older versions) are removed after this long.
_STALE_SECONDS = 600
#: First characters that make a spreadsheet read a text cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# ---------------------------------------------------------------------------------------------
# Output paths


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_parent(path: Path, option: str, folder: Path) -> None:
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise InputError.single(option, f"cannot write {path}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError.single(option, f"cannot write {path}: folder {base} is not writable")


def check_out_file(path: str | Path, option: str = "--out") -> Path:
    """Check that ``path`` can be written as a file, before any work is done.

    Raises
    ------
    InputError
        When ``path`` is an existing folder, lies under a file, or its folder is not writable.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError.single(option, f"{p} is an existing folder; expected a file name")
    if p.exists() and not p.is_file():
        raise InputError.single(option, f"{p} exists and is not a regular file")
    _check_parent(p, option, p.parent)
    return p


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """Check that ``path`` is, or can be created as, a writable folder.

    Raises
    ------
    InputError
        When ``path`` is an existing file, lies under a file, or cannot be written.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError.single(option, f"{p} is an existing file; expected a folder")
    _check_parent(p, option, p)
    return p


def _os_problem(target: Path, exc: OSError) -> InputError:
    why = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied" if exc.errno != errno.EROFS else "read-only file system"
    return InputError.single(str(target), f"cannot write in folder {target.parent}: {why.lower()}")


# ---------------------------------------------------------------------------------------------
# Staging: every write of a block, or none


@dataclass
class _Stage:
    pending: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, target)
    deletions: list[Path] = field(default_factory=list)
    made_dirs: list[Path] = field(default_factory=list)


_STAGE: contextvars.ContextVar[_Stage | None] = contextvars.ContextVar("geo_io_stage", default=None)


@contextlib.contextmanager
def staged() -> Iterator[None]:
    """Hold back every write made through this module until the block ends without error.

    On success the targets are checked once more and the temporary files renamed over them; on
    any exception they are removed (and folders this block created, if left empty), so the
    outputs are as they were. Nested calls join the outer block.
    """
    if _STAGE.get() is not None:
        yield
        return
    stage = _Stage()
    token = _STAGE.set(stage)
    ok = False
    try:
        yield
        for _, target in stage.pending:
            check_out_file(target)
        ok = True
    finally:
        _STAGE.reset(token)
        if ok:
            for tmp, target in stage.pending:
                os.replace(tmp, target)
            for gone in stage.deletions:
                gone.unlink(missing_ok=True)
        else:
            for tmp, _ in stage.pending:
                tmp.unlink(missing_ok=True)
            for d in sorted(stage.made_dirs, key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()


def make_dirs(folder: str | Path) -> None:
    """``mkdir -p``; inside :func:`staged`, folders it creates are removed again on failure."""
    folder = Path(folder)
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_problem(folder, exc) from None
    stage = _STAGE.get()
    if stage is not None:
        stage.made_dirs.extend(missing)


def remove_later(path: str | Path) -> None:
    """Delete ``path`` now, or when the enclosing :func:`staged` block succeeds."""
    stage = _STAGE.get()
    if stage is None:
        Path(path).unlink(missing_ok=True)
    else:
        stage.deletions.append(Path(path))


# ---------------------------------------------------------------------------------------------
# Temporary files


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def clean_stale(folder: str | Path, prefix: str, suffix: str = "") -> None:
    """Remove temporary files and folders ``<prefix>~<pid>.XXXXXXXX<suffix>`` left in ``folder``
    by a process that is gone (killed mid-write), and unmarked ``<prefix>XXXXXXXX<suffix>`` ones
    (older versions) once they are ten minutes old. Only names of exactly that shape are touched.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    rand = r"[a-z0-9_]{8}" + re.escape(suffix) + "$"
    marked = re.compile(re.escape(prefix) + r"~(\d+)\." + rand)
    legacy = re.compile(re.escape(prefix) + rand)
    now = time.time()
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    for e in entries:
        m = marked.match(e.name)
        try:
            if m:
                stale = not _alive(int(m.group(1)))
            elif legacy.match(e.name):
                stale = now - e.stat(follow_symlinks=False).st_mtime > _STALE_SECONDS
            else:
                continue
            if not stale:
                continue
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                os.unlink(e.path)
        except OSError:
            continue


def temp_prefix(name: str) -> str:
    """Prefix of this process's temporary files for target ``name`` (see :func:`clean_stale`)."""
    return f".{name}.~{os.getpid()}."


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

    Raises
    ------
    InputError
        When ``path`` cannot be written (a folder, under a file, not writable).
    """
    target = Path(path)
    check_out_file(target)
    make_dirs(target.parent)
    suffix = suffix or target.suffix
    clean_stale(target.parent, f".{target.name}.", suffix)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(target.name), suffix=suffix)
    except OSError as exc:
        raise _os_problem(target, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # some writers refuse to overwrite; they get a fresh name
    stage = _STAGE.get()
    keep = False
    try:
        yield tmp_path
        if not tmp_path.exists():
            return
        os.chmod(tmp_path, 0o644)
        if stage is not None:
            stage.pending.append((tmp_path, target))
            keep = True
        else:
            try:
                os.replace(tmp_path, target)
            except OSError as exc:
                raise _os_problem(target, exc) from None
    finally:
        if not keep and tmp_path.exists():
            tmp_path.unlink()


def place(src: str | Path, path: str | Path) -> Path:
    """Move a finished file ``src`` (same file system) to ``path`` atomically, or staged."""
    with atomic_path(path) as tmp:
        os.replace(src, tmp)
    return Path(path)


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


# ---------------------------------------------------------------------------------------------
# What goes into files


def neutralise_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'`` (OWASP's CSV
    injection advice); numbers and everything else unchanged, so ``-3.5`` stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`neutralise_cell` applied to every text cell (vectorised
    over text columns; numeric columns are left as numbers). Column names too."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if not (s.dtype == object or isinstance(s.dtype, (pd.StringDtype, pd.CategoricalDtype))):
            continue
        changed = isinstance(s.dtype, pd.CategoricalDtype)
        if changed:
            s = s.astype(object)
        try:
            hit = s.str.startswith(FORMULA_STARTS, na=False)
        except AttributeError:  # no text in the column at all
            continue
        hit = hit.fillna(False).astype(bool)
        if hit.any():
            s = s.astype(object).where(~hit, "'" + s.where(hit, ""))
            changed = True
        if changed:  # assigning an unchanged column back would only cost a copy
            out[col] = s
    out.columns = [neutralise_cell(c) for c in out.columns]
    return out


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` as whole seconds, or None when unset.

    Raises
    ------
    InputError
        Naming the variable, when it is not a whole number between 0 and
        :data:`MAX_SOURCE_DATE_EPOCH`.
    """
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not env:
        return None
    if not env.isdigit() or len(env) > 12 or int(env) > MAX_SOURCE_DATE_EPOCH:
        raise InputError.single(
            "SOURCE_DATE_EPOCH",
            f"expected whole seconds since 1970-01-01 up to {MAX_SOURCE_DATE_EPOCH} (end of 2099), "
            f"found {env[:40]!r}",
        )
    return int(env)
