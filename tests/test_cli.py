"""The ``geo`` command as a user meets it: help everywhere, the plans table, clean errors."""

from __future__ import annotations

import re

import pytest

from geo.cli import app


def _commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)


def test_top_level_help(geo_cli):
    res = geo_cli("--help")
    assert res.returncode == 0
    for name in ("plans", "check", "resolve", "fetch"):
        assert name in res.stdout


@pytest.mark.parametrize("command", _commands())
def test_every_subcommand_has_help(geo_cli, command):
    res = geo_cli(command, "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage" in res.stdout


def test_plans_table(geo_cli):
    res = geo_cli("plans")
    assert res.returncode == 0, res.stderr
    for doc in ("城政办发〔2023〕5号", "晋市城字〔2024〕17号", "临泉发〔2023〕43号", "晋市城字〔2021〕17号"):
        assert doc in res.stdout
    rows = [line for line in res.stdout.splitlines() if re.match(r"^\W*00[0-4]\b", line)]
    assert len(rows) == 5
    row001 = next(r for r in rows if "〔2024〕17号" in r)
    assert "42" in row001  # places of plan 001


def test_unknown_plan_is_bad_input(geo_cli):
    res = geo_cli("resolve", "--plan", "999")
    assert res.returncode == 2
    assert "no such plan" in res.stderr and "Traceback" not in res.stderr


def test_unknown_region_is_bad_input(geo_cli):
    res = geo_cli("resolve", "泽州路", "--region", "火星")
    assert res.returncode == 2
    assert "unknown region" in res.stderr and "Traceback" not in res.stderr


def test_targets_against_figures(geo_cli, tmp_path):
    """窨井盖完好率 ≥ 98%: one area below, one above; a GBK figures file; an unknown target is bad input."""
    import csv

    figures = tmp_path / "figures.csv"
    figures.write_text("target,area,value\nmanhole,东城区,97.5\nmanhole,魏都区,99.1\n", encoding="gbk")
    out = tmp_path / "targets.csv"
    res = geo_cli("targets", "002", "--figures", str(figures), "--out", str(out))
    assert res.returncode == 0, res.stderr
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["target_id"] == "manhole"]
    verdict = {r["area"]: (r["met"], float(r["margin"])) for r in rows}
    assert verdict == {"东城区": ("False", -0.5), "魏都区": ("True", pytest.approx(1.1))}
    bad = tmp_path / "bad.csv"
    bad.write_text("target,value\nnosuch,1\n", encoding="utf-8")
    res = geo_cli("targets", "002", "--figures", str(bad), "--out", str(tmp_path / "t2.csv"))
    assert res.returncode == 2 and "nosuch" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "t2.csv").exists()


def test_public_functions_importable_from_geo():
    import geo

    for name in geo.__all__:
        assert callable(getattr(geo, name)), name


def test_error_brackets_are_printed_as_written(capsys):
    # rich markup must not swallow the "[field]" of a message or the "[extra]" of a pip hint
    import typer

    from geo.cli._common import _fail_input
    from geo.errors import InputError

    with pytest.raises(typer.Exit) as exc:
        _fail_input(InputError(["a.csv:4: [time] not a time; pip install 'chengguan-geo[dask]'"]))
    assert exc.value.exit_code == 2
    assert "a.csv:4: [time] not a time; pip install 'chengguan-geo[dask]'" in capsys.readouterr().err
