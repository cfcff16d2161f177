"""The ``geo`` command: a thin shell over the package's public functions.

One module per command group; each registers its commands on the shared typer ``app``.
Exit status: 0 success, 2 bad input (clear message, no traceback), 1 internal error.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
import warnings

from ..errors import GeoError, InputError
from ._common import app, err

__all__ = ["app", "main"]

#: Command groups in the order ``geo --help`` lists them; each module registers on ``app``.
COMMAND_MODULES = (
    "plans",
    "resolve",
    "gazetteer",
    "analysis",
    "maps",
    "build",
    "cases",
    "grid",
    "chiefs",
    "tracks",
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings as one plain line each, without the source line Python adds."""
    err.print(f"warning: {message}", markup=False, highlight=False)


def _skip_last_collection() -> None:
    """At exit, leave the objects still alive out of the interpreter's last garbage collections.

    They walk every object pandas, geopandas and pydantic made (0.1-0.2 s of CPU per command)
    only to free memory the operating system takes back anyway. Registered with atexit, so a
    caller that runs commands in its own process (the tests) keeps collecting until it exits.
    """
    global _FREEZE_AT_EXIT
    if not _FREEZE_AT_EXIT:
        atexit.register(gc.freeze)
        _FREEZE_AT_EXIT = True


_FREEZE_AT_EXIT = False


def main() -> None:
    """Entry point for the console script."""
    warnings.showwarning = _show_warning
    _skip_last_collection()
    try:
        app()
    except InputError as exc:
        for p in exc.problems:
            err.print(f"error: {p}", markup=False, highlight=False)
        sys.exit(2)
    except GeoError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("GEO_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (set GEO_DEBUG=1 to see the traceback)",
            markup=False,
            highlight=False,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
