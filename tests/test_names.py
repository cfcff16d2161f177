"""Chinese place names and phrases: normalisation, direction-split streets, locators."""

from __future__ import annotations

import pytest

from geo.resolve.names import (
    canonical_street,
    normalize,
    parse_phrase,
    split_street,
    street_parts_pattern,
    suffix_variants,
)


@pytest.mark.parametrize(
    ("text", "street", "anchor", "relation"),
    [
        ("文昌街望川楼路段", "文昌街", "望川楼", "路段"),
        ("太行路百纺超市路段", "太行路", "百纺超市", "路段"),
        ("百灵街东段", "百灵街", None, "东段"),
        ("建设路建东巷口", "建设路", "建东巷", "巷口"),
        ("陈岭路新市医院东门路段", "陈岭路", "新市医院东门", "路段"),
        ("金屯菜市场周边", None, "金屯菜市场", "周边"),
        ("儿童公园周边路段", None, "儿童公园", "周边"),
        ("晋城二中对面路段", None, "晋城二中", "对面"),
        ("龙度华府小区门前", None, "龙度华府小区", "门前"),
        ("职业技术学院南门路段", None, "职业技术学院南门", "路段"),
        ("新市街东街富士康路段", "新市东街", "富士康", "路段"),
        ("泽州路", "泽州路", None, None),
        ("英雄公园", None, "英雄公园", None),
    ],
)
def test_parse_phrase(text, street, anchor, relation):
    p = parse_phrase(text)
    assert (p.street, p.anchor, p.relation) == (street, anchor, relation)


def test_gate_is_split_from_anchor():
    p = parse_phrase("陈岭路新市医院东门路段")
    assert p.gate == "东门" and p.anchor_base == "新市医院"


def test_normalize_width_spaces_brackets():
    assert normalize(" 五区城管（环卫、园林） 部门") == "五区城管(环卫、园林)部门"
    assert normalize("Ｇ２０７") == "G207"


def test_direction_split_streets():
    rx = street_parts_pattern("凤台街")
    assert all(rx.match(n) for n in ("凤台街", "凤台东街", "凤台西街", "凤台大街"))
    assert not rx.match("凤台路")
    only_east = street_parts_pattern("凤台东街")
    assert only_east.match("凤台东街") and not only_east.match("凤台西街")
    rx = street_parts_pattern("泽州路")
    assert rx.match("泽州南路") and rx.match("泽州北路") and not rx.match("泽州街")


def test_split_and_variants():
    assert split_street("凤台东街") == ("凤台", "东", "街")
    assert split_street("英雄公园") is None
    assert "文昌大街" in suffix_variants("文昌街")
    assert canonical_street("新市街东街") == "新市东街"
