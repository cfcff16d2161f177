"""Malformed plans: each gives exit 2, a message naming the file and line, and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from geo.errors import InputError
from geo.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "data" / "plans" / "000.yaml"


def _good_text() -> str:
    return GOOD.read_text(encoding="utf-8")


def _line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line number of the nth line containing needle."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth]


# Each case: (name, how to make the bytes from the good plan, substring expected in the message,
# the line the message must name — computed from the bad text itself).
def _replace(old: str, new: str, count: int = 1):
    def make(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)

    return make


CASES = [
    (
        "yaml_syntax",
        _replace("  - id: p2\n    name: 巩固提升阶段", "  - id: p2\n    name: [巩固提升阶段"),
        "YAML syntax error",
        "name: [巩固提升阶段",
    ),
    ("wrong_type", _replace("distance_m: 500", "distance_m: 五百米"), "distance_m", "distance_m: 五百米"),
    (
        "missing_field",
        _replace("    restriction: 餐饮饭店动态清零，严禁露天烧烤\n", ""),
        "required field is missing",
        "  - id: r_demo_100",
    ),
    (
        "unknown_kind",
        _replace("kind: street", "kind: boulevard"),
        "unknown kind 'boulevard'",
        "kind: boulevard",
    ),
    (
        "negative_distance",
        _replace("distance_m: 100", "distance_m: -100"),
        "greater than 0",
        "distance_m: -100",
    ),
    ("zero_distance", _replace("distance_m: 500", "distance_m: 0"), "greater than 0", "distance_m: 0"),
    (
        "end_before_start",
        _replace(
            "    start: 2023-04-01\n    end: 2023-04-15\n    clause:",
            "    start: 2023-04-01\n    end: 2023-03-20\n    clause:",
        ),
        "before it starts",
        "end: 2023-03-20",
    ),
    (
        "dangling_phase",
        _replace(
            "    phases: [p1, p2]\n    units: [qu_shengtai_huanjing_fenju, ge_zhen_jiedao]",
            "    phases: [p1, p9]\n    units: [qu_shengtai_huanjing_fenju, ge_zhen_jiedao]",
        ),
        "phase 'p9' is not defined",
        "phases: [p1, p9]",
    ),
    (
        "dangling_place",
        _replace("places: [fengtai_jie, zezhou_lu,", "places: [fengtai_jie, no_such_street,"),
        "place 'no_such_street' is not defined",
        "no_such_street",
    ),
    (
        "dangling_unit",
        _replace("units: [qu_huanwei_zhongxin, ge_zhen_jiedao]", "units: [qu_huanwei_zhongxin, nobody]"),
        "unit 'nobody' is not defined",
        "nobody",
    ),
    (
        "duplicate_id",
        _replace("id: t3\n", "id: t2\n"),
        "duplicate id 't2'",
        "  - id: t2\n    number: 三(二)3",
    ),
    (
        "duplicate_key",
        _replace("    title: 出店占道经营整治\n", "    title: 出店占道经营整治\n    title: 又一个标题\n"),
        "duplicate key 'title'",
        "title: 又一个标题",
    ),
    (
        "date_outside_span",
        _replace("    start: 2023-03-15\n    end: 2023-03-20", "    start: 2023-03-15\n    end: 2024-03-20"),
        "outside the plan's span",
        "end: 2024-03-20",
    ),
    (
        "bad_date",
        _replace("issued: 2023-03-15", "issued: 2023-02-30"),
        "document.issued",
        "issued: 2023-02-30",
    ),
    (
        "unknown_field",
        _replace("  region: 晋城市城区", "  region: 晋城市城区\n  regoin: typo"),
        "unknown field",
        "regoin: typo",
    ),
]


@pytest.mark.parametrize(("name", "make", "expect", "line_marker"), CASES, ids=[c[0] for c in CASES])
def test_malformed_plan_cli(tmp_path, geo_cli, name, make, expect, line_marker):
    bad = make(_good_text())
    path = tmp_path / "000.yaml"
    path.write_text(bad, encoding="utf-8")
    expected_line = bad[: bad.index(line_marker)].count("\n") + 1
    res = geo_cli("check", str(path))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert expect in res.stderr
    # The position is the spot named by the file:line prefix, or, for a YAML construct left open,
    # the line where it started, named in the message.
    named = f"{path}:{expected_line}:" in res.stderr or f"starts at line {expected_line}" in res.stderr
    assert named, (expected_line, res.stderr)


def test_non_utf8_bytes(tmp_path, geo_cli):
    text = _good_text()
    data = text.encode("utf-8")
    # Save the title line as GBK, the way a Windows editor might.
    title = "  title: 晋城市城区城市品质提升春季行动工作方案"
    data = data.replace(title.encode("utf-8"), title.encode("gbk"))
    path = tmp_path / "000.yaml"
    path.write_bytes(data)
    res = geo_cli("check", str(path))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "not valid UTF-8" in res.stderr
    assert f"{path}:{_line_of(text, title)}" in res.stderr


@pytest.mark.parametrize("content", [b"", b"# only a comment\n", b"\n\n"])
def test_empty_file(tmp_path, geo_cli, content):
    path = tmp_path / "000.yaml"
    path.write_bytes(content)
    res = geo_cli("check", str(path))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert f"{path}:1" in res.stderr and "empty" in res.stderr


def test_not_a_mapping(tmp_path):
    path = tmp_path / "000.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected a mapping"):
        load_plan(path)


def test_id_must_match_file_name(tmp_path):
    path = tmp_path / "999.yaml"
    path.write_text(_good_text(), encoding="utf-8")
    with pytest.raises(InputError, match="does not match the file name"):
        load_plan(path)


def test_all_problems_reported_at_once(tmp_path):
    bad = _good_text().replace("kind: street", "kind: avenue", 1).replace("distance_m: 100", "distance_m: -1")
    path = tmp_path / "000.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_plan(path)
    fields = {p.field for p in info.value.problems}
    assert "places[0].kind" in fields and "rules[1].distance_m" in fields


def test_check_leaves_good_files_valid(geo_cli):
    res = geo_cli("check")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("ok  ") == len(list((ROOT / "data" / "plans").glob("*.yaml")))


def test_yaml_is_plain_safe_yaml():
    # Bundled plans are ordinary YAML any tool can read.
    for f in (ROOT / "data" / "plans").glob("*.yaml"):
        assert isinstance(yaml.safe_load(f.read_text(encoding="utf-8")), dict)
