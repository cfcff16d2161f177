"""``geo plans`` and ``geo check``: list and validate plan files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ._common import _fail_input, app, err, out


@app.command("plans")
def plans_cmd(
    date: Annotated[
        str | None,
        typer.Option("--date", help="Only plans in force that day (YYYY-MM-DD); an open-ended plan runs on."),
    ] = None,
) -> None:
    """List the bundled plans: id, 文号, issuer, date and counts."""
    import datetime as dt

    from ..plan import load_plans

    try:
        plans = load_plans()
        if date is not None:
            try:
                day = dt.date.fromisoformat(date)
            except ValueError:
                raise InputError.single("--date", f"{date!r} is not a date; expected YYYY-MM-DD") from None
            plans = [p for p in plans if p.in_force(day)]
    except InputError as exc:
        _fail_input(exc)
    from rich.table import Table

    title = f"Bundled plans in force on {date}" if date else "Bundled plans"
    table = Table(title=title, show_lines=False)
    for col in ("id", "文号", "issuer", "date", "span", "phases", "places", "rules", "tasks"):
        table.add_column(col, justify="right" if col in ("phases", "places", "rules", "tasks") else "left")
    for p in plans:
        d = p.document
        table.add_row(
            p.id,
            d.doc_label,
            d.issuer,
            str(d.issued or "—"),
            f"{d.span.start}–{d.span.end or '长期'}",
            str(len(p.phases)),
            str(len(p.places)),
            str(len(p.rules)),
            str(len(p.tasks)),
        )
    out.print(table)


@app.command("check")
def check_cmd(
    plan_files: Annotated[
        list[Path] | None, typer.Argument(help="Plan YAML files (default: all bundled plans).")
    ] = None,
) -> None:
    """Validate plan files; exit 0 when valid, 2 with file:line messages when not."""
    from ..plan import load_plan
    from ..plan import plan_files as bundled

    files = plan_files or bundled()
    if not files:
        err.print("error: no plan files found")
        raise typer.Exit(2)
    bad = 0
    for f in files:
        try:
            plan = load_plan(f)
        except InputError as exc:
            bad += 1
            for p in exc.problems:
                err.print(f"error: {p}", markup=False, highlight=False)
            continue
        out.print(
            f"ok  {f}  ({len(plan.phases)} phases, {len(plan.places)} places, "
            f"{len(plan.rules)} rules, {len(plan.tasks)} tasks)",
            markup=False,
            highlight=False,
        )
    if bad:
        err.print(f"{bad} of {len(files)} plan file(s) invalid", markup=False)
        raise typer.Exit(2)
