"""What a reader of the seed documents would check in the bundled plans."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from geo.plan import get_plan, load_plans

ROOT = Path(__file__).resolve().parents[1]
# The seeds sit beside the checkout (../shared/seeds); a worktree one level deeper looks up one more.
SEEDS = next(
    (d for d in (ROOT.parent / "shared" / "seeds", ROOT.parents[1] / "shared" / "seeds") if d.is_dir()),
    ROOT.parent / "shared" / "seeds",
)
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


def _flat_pages(s: str) -> str:
    """:func:`_flat` with the printed page numbers (``- 7 -``) removed too."""
    return re.sub(r"-\d+-", "", _flat(s))


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
                (None, D(2023, 3, 8)),  # “（一）宣传动员阶段（3月8日前）”: a deadline only
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
    # “在巩固第一批8处马路市场整治成效的同时，对第二批9处马路市场进行整治”
    assert all(m.phases == ["p1", "p2"] for m in b1)
    assert all("巩固第一批8处马路市场整治成效" in (m.note or "") for m in b1)
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
    assert "(长期坚持)" in p.phases[-1].clause
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


# --------------------------------------------------------------------------------------------
# The line-by-line audit against the seeds (issue 9, items 11-13)


def test_open_ended_plan_stays_in_force(plans):
    """003's last phase is “(三)检查验收及巩固提升阶段(长期坚持)”: the plan has no end."""
    p = plans["003"]
    assert "(三)检查验收及巩固提升阶段(长期坚持)" in _flat(_seed_text(p))
    assert p.document.span.end is None
    assert p.in_force(D(2026, 3, 1)) and p.phases[-1].in_force(D(2026, 3, 1))
    assert not p.in_force(D(2023, 9, 13))
    # Plans with a printed last day end then.
    assert not plans["001"].in_force(D(2026, 3, 1))


def test_phase_with_only_a_deadline(plans):
    p1 = plans["002"].phase("p1")
    assert "（一）宣传动员阶段（3月8日前）" in _flat(_seed_text(plans["002"]))
    assert (p1.start, p1.end) == (None, D(2023, 3, 8))
    assert p1.in_force(D(2023, 2, 1)) and p1.in_force(D(2023, 3, 8))
    assert not p1.in_force(D(2023, 3, 9))
    assert p1.dates_text == "2023-03-08 前"


def test_002_has_no_doc_number(plans):
    doc = plans["002"].document
    assert doc.doc_number is None  # the seed prints no 文号
    assert doc.doc_label == "未载"
    assert "文号未载" not in (doc.note or "")
    assert plans["000"].document.doc_label == "城政办发〔2023〕5号"


def test_002_market_rule_reaches_farmers_markets_only(plans):
    """“以农贸市场、交通场站和医院周边 500 米以内为重点”: markets must be 农贸市场."""
    r = next(r for r in plans["002"].rules if r.distance_m == 500)
    assert r.applies_to.kind_tags == {"market": ["农贸市场"]}
    assert r.applies_to.tags_for("market") == ["农贸市场"]
    assert r.applies_to.tags_for("hospital") == [] and r.applies_to.tags_for("station") == []
    assert "以农贸市场、交通场站和医院周边500米以内为重点" in _flat(_seed_text(plans["002"]))


def test_001_vegetable_markets_not_called_farmers_markets(plans):
    p = plans["001"]
    for pid in ("jintun_caishichang", "qiqingyuan_caishichang"):
        place = p.place(pid)
        assert "菜市场" in place.tags and "农贸市场" not in place.tags
    assert "农贸市场" not in _seed_text(p)


def test_000_work_requirements_complete(plans):
    p = plans["000"]
    seed = _flat_pages(_seed_text(p))
    by_no = {t.number: t for t in p.tasks}
    assert {"五(一)", "五(二)", "五(三)", "五(四)"} <= set(by_no)
    w1, w4 = by_no["五(一)"], by_no["五(四)"]
    assert _flat(w1.clause) in seed and _flat(w4.clause) in seed
    assert "各镇（街道）、区直各相关单位要按照责任分工，认真履职尽责" in w1.clause
    assert p.unit_names(w1.units) == ["各镇（街道）", "区直各相关单位"]
    assert w4.title == "建立长效机制" and "相关责任部门要不断解放思想" in w4.clause
    w2 = by_no["五(二)"]  # the whole paragraph, not only its first sentence
    assert _flat(w2.clause).endswith("通过群众素质的提高来改善城市品质。") and _flat(w2.clause) in seed
    assert p.unit_names(w4.units) == ["相关责任部门"]


def test_001_phase3_year_as_printed(plans):
    p = plans["001"]
    p3 = p.phase("p3")
    assert "（2025年5月1日至12月31日）" in _seed_text(p)
    assert (p3.start, p3.end) == (D(2025, 5, 1), D(2025, 12, 31))
    assert "推定" not in (p3.note or "") and "未写年份" not in (p3.note or "")
    assert "（2025年5月1日至12月31日）" in p3.note
    assert "第三阶段“5月1日至12月31日”的年份" not in p.document.note


def test_004_wastewater_plants(plans):
    p = plans["004"]
    seed = _flat(_seed_text(p))
    assert "阳城、沁水第二污水处理厂年内必须建成投运" in seed
    for pid in ("yangcheng_dier_wushuichang", "qinshui_dier_wushuichang"):
        place = p.place(pid)
        assert "拆为两处" in place.note and "阳城、沁水第二污水处理厂" in place.note
        assert "原文未单独写出" in place.note
    sz = p.place("gaoping_sizhuang_wushuichang")
    assert sz.kind == "utility" and sz.name.endswith("污水处理厂")
    assert "高平寺庄等 7 个乡镇污水处理厂" in sz.note and "不是寺庄镇本身" in sz.note
