"""Run the ``geo`` command in this process (no interpreter start-up per call): the same entry point
as the console script, with argv, environment, stdout and stderr swapped for the call."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _env(changes: Mapping[str, str | None]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in changes}
    for k, v in changes.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _cwd(path: Path | None) -> Iterator[None]:
    old = Path.cwd()
    if path is not None:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def geo(*args: str | Path, env: Mapping[str, str | None] | None = None, cwd: Path | None = None) -> Result:
    """``geo ARGS…`` through :func:`geo.cli.main`; an exception other than SystemExit escapes
    (so a traceback fails the test that caused it)."""
    from geo.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["geo", *map(str, args)]
    code = 0
    try:
        with (
            _env({"GEO_DEBUG": None, **(env or {})}),
            _cwd(cwd),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return Result(code, out.getvalue(), err.getvalue())


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (content) and folder (None) under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }
