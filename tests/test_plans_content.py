"""What a reader of the seed documents would check in the bundled plans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from geo.plan import get_plan, load_plans

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
D = dt.date


@pytest.fixture(scope="module")
def plans():
    return {p.id: p for p in load_plans()}


def _seed_text(plan) -> str:
    path = SEEDS / plan.document.source_file
    if not path.exists():
        pytest.skip(f"seed {path} not present")
    return path.read_text(encoding="utf-8")


def _flat(s: str) -> str:
    """Seed text with the line-break artefacts removed, for verbatim comparisons."""
    return "".join(s.split())


def test_five_plans_load(plans):
    assert sorted(plans) == ["000", "001", "002", "003", "004"]
    for p in plans.values():
        assert p.document.source_file.startswith(p.id + "_")


def test_documents(plans):
    assert plans["000"].document.doc_number == "城政办发〔2023〕5号"
    assert plans["000"].document.issued == D(2023, 3, 15)
    assert plans["000"].document.issuer == "晋城市城区人民政府办公室"
    assert plans["001"].document.doc_number == "晋市城字〔2024〕17号"
    assert plans["003"].document.doc_number == "临泉发〔2023〕43号"
    assert plans["004"].document.doc_number == "晋市城字〔2021〕17号"
    assert plans["002"].document.issued == D(2023, 3, 8)
    assert "许昌" in plans["002"].document.region
    assert "临泉镇" in plans["003"].document.region


@pytest.mark.parametrize(
    ("plan_id", "expected"),
    [
        ("000", [(D(2023, 3, 15), D(2023, 3, 31)), (D(2023, 4, 1), D(2023, 4, 15))]),
        (
            "001",
            [
                (D(2024, 7, 15), D(2024, 11, 30)),
                (D(2024, 12, 1), D(2025, 4, 30)),
                (D(2025, 5, 1), D(2025, 12, 31)),
            ],
        ),
        (
            "002",
            [
                (D(2023, 3, 8), D(2023, 3, 8)),
                (D(2023, 3, 9), D(2023, 3, 20)),
                (D(2023, 3, 21), D(2023, 8, 31)),
                (D(2023, 9, 1), D(2023, 12, 31)),
            ],
        ),
        (
            "003",
            [(D(2023, 9, 14), D(2023, 9, 20)), (D(2023, 9, 20), D(2023, 10, 20)), (D(2023, 10, 20), None)],
        ),
    ],
)
def test_phase_dates(plans, plan_id, expected):
    assert [(p.start, p.end) for p in plans[plan_id].phases] == expected


def test_001_markets_two_batches(plans):
    p = plans["001"]
    markets = [x for x in p.places if x.kind == "market" and "马路市场" in x.tags]
    assert len(markets) == 17
    b1 = [m for m in markets if m.batch == 1]
    b2 = [m for m in markets if m.batch == 2]
    assert len(b1) == 8 and len(b2) == 9
    assert all(m.phases == ["p1"] for m in b1)
    assert all(m.phases == ["p2"] for m in b2)
    seed = _flat(_seed_text(p))
    for m in markets:
        assert m.name in seed, m.name
    names = {m.name: m for m in markets}
    loc = names["文昌街望川楼路段"].locator
    assert (loc.street, loc.anchor, loc.relation) == ("文昌街", "望川楼", "路段")
    loc = names["百灵街东段"].locator
    assert (loc.street, loc.anchor, loc.relation) == ("百灵街", None, "东段")
    loc = names["建设路建东巷口"].locator
    assert (loc.street, loc.anchor, loc.relation) == ("建设路", "建东巷", "巷口")
    loc = names["陈岭路新市医院东门路段"].locator
    assert (loc.street, loc.anchor, loc.relation) == ("陈岭路", "新市医院东门", "路段")
    assert names["金屯菜市场周边"].locator.relation == "周边"


def test_001_strict_streets(plans):
    p = plans["001"]
    strict = {x.name for x in p.places if "严管街" in x.tags}
    assert strict == {"泽州路", "凤台街"}
    # Every street and anchor a locator mentions is a place of its own, to be drawn.
    names = {x.name for x in p.places}
    for x in p.places:
        if x.locator and x.locator.street:
            assert x.locator.street in names, x.locator.street


def test_000_rings(plans):
    p = plans["000"]
    rings = {r.distance_m: r for r in p.rules if r.applies_to.kinds == ["demo_zone"]}
    assert set(rings) == {100, 500}
    assert "露天烧烤" in rings[100].restriction and "清零" in rings[100].restriction
    assert "每日巡查" in rings[500].restriction and "油烟" in rings[500].restriction
    for r in rings.values():
        assert p.unit_names(r.units) == ["区生态环境分局", "各镇（街道）"]
        assert r.phases == ["p1", "p2"]
        assert _flat(r.clause) in _flat(_seed_text(p))


def test_000_streets_and_sweeping(plans):
    p = plans["000"]
    shizong = {x.name for x in p.places if "十纵十横" in x.tags}
    assert shizong == {"凤台街", "泽州路", "文博路", "兰花路", "景西路", "黄华街", "文昌街", "红星街"}
    t1 = next(t for t in p.tasks if t.id == "t1")
    sweep = t1.targets[0]
    assert (sweep.op, sweep.value, sweep.unit) == (">=", 3, "次/天")
    assert p.unit_names(t1.units) == ["区环卫中心", "各镇（街道）"]


def test_002_rules(plans):
    p = plans["002"]
    rules = {r.id: r for r in p.rules}
    school = next(r for r in rules.values() if r.applies_to.kinds == ["school"])
    assert school.distance_m == 200 and school.type == "buffer"
    assert "游商" in school.restriction
    assert p.unit_names(school.lead) == ["市城市管理执法支队", "环境卫生管理处", "园林绿化中心"]
    assert p.unit_names(school.units) == ["五区城管（环卫、园林）部门"]
    five = [r for r in rules.values() if r.distance_m == 500]
    assert {k for r in five for k in r.applies_to.kinds} == {"market", "station", "hospital"}
    ads = next(r for r in rules.values() if r.type == "spacing")
    assert ads.distance_m == 100
    assert ads.share is not None and ads.share.min_pct == 30 and "未成年人" in ads.share.theme
    assert set(ads.applies_to.tags) >= {"主次干道", "商业大街"}
    for r in rules.values():
        assert r.phases == ["p1", "p2", "p3", "p4"]


def test_002_targets(plans):
    p = plans["002"]
    targets = {tg.text: tg for t in p.tasks for tg in t.targets}
    manhole = next(tg for tg in targets.values() if "98" in tg.text)
    assert (manhole.op, manhole.value, manhole.unit) == (">=", 98, "%")
    assert any(tg.value == 50 and "围挡" in tg.text for tg in targets.values())


def test_004_places_and_units(plans):
    p = plans["004"]
    names = {x.name for x in p.places}
    assert {"丹河快线", "中原街", "太岳街"} <= names
    by_no = {t.number: t for t in p.tasks}
    assert len([t for t in p.tasks if t.number.isdigit()]) == 20
    t5 = by_no["5"]
    assert "公厕地图" in t5.clause and "网格化" in t5.clause
    assert p.unit_names(t5.units) == ["市容环卫管理科", "城区环卫中心"]
    assert "街（路）长制" in by_no["13"].clause


def test_003_ledger_task(plans):
    p = plans["003"]
    assert p.phases[-1].end is None
    assert any("问题台账" in t.clause and "销号" in t.clause for t in p.tasks)


def test_clauses_are_verbatim(plans):
    """Every task clause appears in its seed (once line-break artefacts are removed)."""
    for p in plans.values():
        if p.id == "003":
            continue  # the seed's pages are out of order; its clauses were reassembled
        seed = _flat(_seed_text(p))
        for t in p.tasks:
            head = _flat(t.clause)[:30]
            assert head in seed, (p.id, t.id, head)


def test_units_normalised(plans):
    for p in plans.values():
        names = [u.name for u in p.units]
        assert len(names) == len(set(names)), p.id
        spellings = names + [a for u in p.units for a in u.aliases]
        assert len(spellings) == len(set(spellings)), p.id


def test_get_plan_by_id_and_path():
    assert get_plan("001").id == "001"
    assert get_plan(ROOT / "data" / "plans" / "002.yaml").id == "002"
