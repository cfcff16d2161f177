"""What every command module shares: the typer app, consoles, progress bar, common options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import InputError

app = typer.Typer(
    name="geo",
    help="Turn urban-management action plans into map layers, zones and maps.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Wide when piped, so tables of Chinese text are not cut to 80 columns in logs.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def progress_bar():
    """A rich progress display on stderr, shown only on a terminal so logs and pipes stay clean."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def schematic_note() -> None:
    """Say on stderr that the geometry is the bundled schematic (示意) extract, not surveyed."""
    err.print(
        "note: geometry from the bundled schematic (示意) extract, not surveyed data",
        markup=False,
        highlight=False,
    )


def _fail_input(exc: InputError) -> None:
    from rich.markup import escape

    for p in exc.problems:  # the message's own [field] brackets are text, not markup
        err.print(f"[bold red]error:[/] {escape(str(p))}", markup=True, highlight=False)
    raise typer.Exit(2)


OsmOpt = Annotated[
    list[Path] | None,
    typer.Option("--osm", help="OSM extract (.osm, .osm.bz2, .osm.pbf) or fetched .gpkg; repeatable."),
]
GazOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--gazetteer", help="Your own list of places (CSV, XLSX, GeoJSON); wins over OSM; repeatable."
    ),
]


def _print_problems(problems) -> None:
    for p in problems:
        err.print(f"warning: {p}", markup=False, highlight=False)
