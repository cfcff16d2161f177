"""Plan documents as data: the schema, loading and validation.

A plan file (``data/plans/<id>.yaml``) is a faithful transcription of one action plan: the
document, its phases, the places it names, its distance rules and its numbered tasks. The
schema is expressed with pydantic; checks that span the document (unique ids, references,
dates inside the plan's span) run after the field checks, and every problem is reported with
the file, line, column and field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import settings
from ._yaml import PathKey, Pos, load_yaml, position_of
from .errors import InputError, Problem

#: Place kinds the plans use (see DESIGN.md). Add a kind when a plan needs one; never squeeze
#: a place into a wrong kind.
PLACE_KINDS: dict[str, str] = {
    "street": "街路",
    "market": "市场",
    "school": "中小学校",
    "college": "高等院校",
    "demo_zone": "示范区",
    "hospital": "医院",
    "station": "交通场站",
    "park": "公园",
    "square": "广场",
    "garden": "游园",
    "residential": "小区",
    "residential_gate": "小区出入口",
    "traffic_node": "交通节点",
    "toilet": "公厕",
    "grid": "单元网格",
    "construction_site": "建筑工地",
    "landmark": "地标",
    "mall": "商超",
    "enterprise": "企业",
    "venue": "公共场馆",
    "river": "河道",
    "district": "片区",
    "utility": "公用设施",
}

#: Locator relations: how a plan phrase places something relative to a street or anchor.
RELATIONS = (
    "路段",
    "东段",
    "西段",
    "南段",
    "北段",
    "周边",
    "门前",
    "对面",
    "巷口",
    "全线",
    "沿线",
)

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$", min_length=1, max_length=64)]
Text = Annotated[str, Field(min_length=1)]
#: A number as written in the plan: ``true`` is not 1 and ``.inf`` is not a distance.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Count = Annotated[int, Field(strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Span(_Model):
    """The period the plan governs (inclusive); ``end`` null for plans that run on (长期坚持)."""

    start: dt.date
    end: dt.date | None = None


class Document(_Model):
    """The issuing document."""

    doc_number: Text | None = Field(
        description="文号, e.g. 城政办发〔2023〕5号; null where the text prints none (shown 未载)"
    )
    title: Text
    issuer: Text
    issued: dt.date | None = Field(None, description="date issued; null where the text gives none")
    region: Text = Field(description="the 行政区 the plan governs")
    source_file: Text = Field(description="seed file the transcription came from")
    span: Span
    note: str | None = None

    @property
    def doc_label(self) -> str:
        """The 文号 for display: as printed, or 未载 where the text prints none."""
        return self.doc_number or "未载"

    @property
    def doc_phrase(self) -> str:
        """The 文号 in running text (titles, source lines): as printed, or 文号未载."""
        return self.doc_number or "文号未载"


class Unit(_Model):
    """A responsible body, spelt once per plan; clauses keep the original wording."""

    id: Id
    name: Text
    aliases: list[Text] = []
    note: str | None = None


class Phase(_Model):
    """A stage of the plan; ``end`` is null for open-ended (长效/常态化) stages, ``start`` is
    null for a stage the plan gives only a deadline (“3月8日前”: in force until ``end``)."""

    id: Id
    name: Text
    start: dt.date | None = None
    end: dt.date | None = None
    clause: Text
    note: str | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Phase:
        if self.start is None and self.end is None:
            raise ValueError("a phase needs a start or an end date")
        return self

    @property
    def dates_text(self) -> str:
        """The phase's dates for a reader: ``A 至 B``, ``A 起（长期）`` or ``B 前``."""
        if self.start is None:
            return f"{self.end} 前"
        return f"{self.start} 至 {self.end}" if self.end else f"{self.start} 起（长期）"

    def in_force(self, day: dt.date) -> bool:
        """Whether ``day`` falls in the phase (both ends included; a missing end runs on)."""
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


class Locator(_Model):
    """A parsed place phrase: 文昌街望川楼路段 → street 文昌街, anchor 望川楼, relation 路段."""

    street: Text | None = None
    anchor: Text | None = None
    relation: Literal[RELATIONS] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _something(self) -> Locator:
        if not (self.street or self.anchor):
            raise ValueError("a locator needs a street or an anchor")
        return self


class Place(_Model):
    """A place the plan names, with the wording exactly as in the plan."""

    id: Id
    name: Text
    kind: str
    tags: list[Text] = Field([], description="categories as the plan words them: 十纵十横, 严管街, 马路市场")
    locator: Locator | None = None
    phases: list[Id] = []
    batch: Count | None = Field(None, ge=1)
    clause: str | None = None
    note: str | None = None

    @field_validator("kind")
    @classmethod
    def _kind_known(cls, v: str) -> str:
        if v not in PLACE_KINDS:
            raise ValueError(f"unknown kind {v!r}; expected one of: {', '.join(PLACE_KINDS)}")
        return v


class AppliesTo(_Model):
    """What a rule applies to: every place of some kinds in the region, and/or named places."""

    kinds: list[str] = []
    tags: list[Text] = Field([], description="restrict kinds to places carrying one of these tags")
    kind_tags: dict[str, list[Text]] = Field(
        {},
        description="restrict one kind only: {market: [农贸市场]} keeps the markets tagged 农贸市场 "
        "and every station and hospital",
    )
    places: list[Id] = []
    label: Text = Field(description="the plan's own words for the target, e.g. 中小学校")

    @field_validator("kinds")
    @classmethod
    def _kinds_known(cls, v: list[str]) -> list[str]:
        for k in v:
            if k not in PLACE_KINDS:
                raise ValueError(f"unknown kind {k!r}; expected one of: {', '.join(PLACE_KINDS)}")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> AppliesTo:
        if not (self.kinds or self.places):
            raise ValueError("applies_to needs kinds or places")
        for k, tags in self.kind_tags.items():
            if k not in self.kinds:
                raise ValueError(f"kind_tags names kind {k!r}, which is not among kinds {self.kinds}")
            if not tags:
                raise ValueError(f"kind_tags.{k} is empty; expected the tags that kind must carry")
        return self

    def tags_for(self, kind: str) -> list[str]:
        """The tags a place of ``kind`` must carry one of (empty: no restriction)."""
        return [*self.tags, *self.kind_tags.get(kind, [])]


class Share(_Model):
    """A required share of a theme among counted items (e.g. 30% 未成年人主题公益广告)."""

    theme: Text
    min_pct: Number = Field(gt=0, le=100)


class Rule(_Model):
    """A distance rule: a zone of ``distance_m`` around places (``buffer``) or a maximum
    spacing of items along streets (``spacing``)."""

    id: Id
    type: Literal["buffer", "spacing"] = "buffer"
    applies_to: AppliesTo
    distance_m: Number = Field(gt=0, le=50_000, description="metres")
    metric: Literal["euclidean", "network"] = "euclidean"
    restriction: Text
    clause: Text
    task: Id | None = None
    phases: list[Id] = Field(min_length=1)
    lead: list[Id] = []
    units: list[Id] = []
    share: Share | None = None
    note: str | None = None


class Target(_Model):
    """A measurable target: 3 次/天 清扫, 窨井盖完好率 ≥ 98% …"""

    id: Id
    metric: Text
    op: Literal[">=", "<=", "=", ">", "<"]
    value: Number
    unit: Text
    text: Text = Field(description="the plan's words, verbatim")
    due: dt.date | None = None
    note: str | None = None


class Task(_Model):
    """A numbered task of the plan."""

    id: Id
    number: Text = Field(description="numbering as printed: 1, （一）, 三(二)2 …")
    title: Text
    clause: Text
    lead: list[Id] = []
    units: list[Id] = []
    phases: list[Id] = []
    places: list[Id] = []
    start: dt.date | None = None
    end: dt.date | None = None
    targets: list[Target] = []
    tags: list[Text] = []
    note: str | None = None


class Plan(_Model):
    """One action plan as data."""

    schema_version: Literal[1] = 1
    id: Id
    document: Document
    units: list[Unit] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)
    places: list[Place] = []
    rules: list[Rule] = []
    tasks: list[Task] = Field(min_length=1)

    # Set by the loader; not part of the file.
    path: Path | None = Field(None, exclude=True)

    def unit_names(self, ids: Iterable[str]) -> list[str]:
        """Names of the units with the given ids, in the given order."""
        by_id = {u.id: u.name for u in self.units}
        return [by_id[i] for i in ids]

    def in_force(self, day: dt.date) -> bool:
        """Whether the plan governs on ``day``: inside its span (an open span runs on)."""
        span = self.document.span
        return span.start <= day and (span.end is None or day <= span.end)

    def phase(self, phase_id: str) -> Phase:
        """The phase with this id."""
        return next(p for p in self.phases if p.id == phase_id)

    def place(self, place_id: str) -> Place:
        """The place with this id."""
        return next(p for p in self.places if p.id == place_id)


# --------------------------------------------------------------------------------------------
# Cross-checks


def _cross_check(plan: Plan) -> list[tuple[PathKey, str]]:
    """Checks that span the document; returns (path, message) pairs."""
    out: list[tuple[PathKey, str]] = []

    def unique(items, section: str) -> set[str]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                out.append(((section, i, "id"), f"duplicate id {item.id!r} in {section}"))
            seen.add(item.id)
        return seen

    units = unique(plan.units, "units")
    phases = unique(plan.phases, "phases")
    places = unique(plan.places, "places")
    unique(plan.rules, "rules")
    tasks = unique(plan.tasks, "tasks")
    for i, t in enumerate(plan.tasks):
        seen: set[str] = set()
        for j, tg in enumerate(t.targets):
            if tg.id in seen:
                out.append((("tasks", i, "targets", j, "id"), f"duplicate target id {tg.id!r}"))
            seen.add(tg.id)

    def refs(path: PathKey, ids: Iterable[str], known: set[str], what: str) -> None:
        for j, ref in enumerate(ids):
            if ref not in known:
                out.append(
                    (path + (j,), f"{what} {ref!r} is not defined; expected one of the plan's {what} ids")
                )

    span = plan.document.span
    if span.end is not None and span.end < span.start:
        out.append((("document", "span", "end"), f"span ends {span.end} before it starts {span.start}"))

    def in_span(path: PathKey, d: dt.date | None) -> None:
        if d is not None and not (span.start <= d and (span.end is None or d <= span.end)):
            out.append((path, f"date {d} lies outside the plan's span {span.start}..{span.end or ''}"))

    for i, p in enumerate(plan.phases):
        if p.start is not None and p.end is not None and p.end < p.start:
            out.append((("phases", i, "end"), f"phase ends {p.end} before it starts {p.start}"))
        in_span(("phases", i, "start"), p.start)
        in_span(("phases", i, "end"), p.end)
    for i, p in enumerate(plan.places):
        refs(("places", i, "phases"), p.phases, phases, "phase")
    for i, r in enumerate(plan.rules):
        refs(("rules", i, "phases"), r.phases, phases, "phase")
        refs(("rules", i, "lead"), r.lead, units, "unit")
        refs(("rules", i, "units"), r.units, units, "unit")
        refs(("rules", i, "applies_to", "places"), r.applies_to.places, places, "place")
        if r.task is not None and r.task not in tasks:
            out.append((("rules", i, "task"), f"task {r.task!r} is not defined"))
        if r.type == "spacing" and r.metric != "euclidean":
            out.append((("rules", i, "metric"), "spacing rules are measured along the street"))
    for i, t in enumerate(plan.tasks):
        refs(("tasks", i, "phases"), t.phases, phases, "phase")
        refs(("tasks", i, "lead"), t.lead, units, "unit")
        refs(("tasks", i, "units"), t.units, units, "unit")
        refs(("tasks", i, "places"), t.places, places, "place")
        if not (t.lead or t.units):
            out.append((("tasks", i, "units"), "a task needs a lead or a responsible unit"))
        if t.start and t.end and t.end < t.start:
            out.append((("tasks", i, "end"), f"task ends {t.end} before it starts {t.start}"))
        in_span(("tasks", i, "start"), t.start)
        in_span(("tasks", i, "end"), t.end)
        for j, tg in enumerate(t.targets):
            in_span(("tasks", i, "targets", j, "due"), tg.due)
    return out


# --------------------------------------------------------------------------------------------
# Loading


def _field_path(loc: Iterable[Any]) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s


def _problem(file: str, positions: dict[PathKey, Pos], loc: PathKey, msg: str) -> Problem:
    pos = position_of(positions, loc)
    return Problem(
        file=file,
        message=msg,
        line=pos[0] if pos else None,
        column=pos[1] if pos else None,
        field=_field_path(loc) or None,
    )


def _describe(err: dict[str, Any]) -> str:
    """A pydantic error as 'found …; expected …'."""
    typ, msg = err["type"], err["msg"]
    if typ == "missing":
        return "required field is missing"
    if typ == "extra_forbidden":
        return "unknown field; check the spelling against the plan schema"
    found = err.get("input")
    if isinstance(found, (dict, list)):
        found = type(found).__name__
    msg = msg.removeprefix("Value error, ")
    return f"{msg} (found {found!r})"


def parse_plan(data: Any, positions: dict[PathKey, Pos], file: str) -> Plan:
    """Validate parsed YAML data as a plan.

    Raises
    ------
    InputError
        With one :class:`~geo.errors.Problem` per violation.
    """
    if not isinstance(data, dict):
        raise InputError.single(
            file, f"expected a mapping of plan fields, found {type(data).__name__}", line=1
        )
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        probs = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            # pydantic appends the Literal/union branch name; drop what is not in the file.
            loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("literal[")))
            probs.append(_problem(file, positions, loc, _describe(err)))
        raise InputError(probs) from None
    problems = [_problem(file, positions, loc, msg) for loc, msg in _cross_check(plan)]
    if problems:
        raise InputError(problems)
    return plan.model_copy(update={"path": Path(file)})


def _check_region(plan: Plan, positions: dict[PathKey, Pos], file: str) -> None:
    """The plan's region must be one the toolkit knows, said at its line (not at build time)."""
    from .regions import get_region

    try:
        get_region(plan.document.region)
    except InputError as exc:
        msg = exc.problems[0].message if exc.problems else "unknown region"
        raise InputError([_problem(file, positions, ("document", "region"), msg)]) from None


def load_plan(path: str | Path) -> Plan:
    """Load and validate one plan file.

    Parameters
    ----------
    path : str or Path
        A YAML plan file.

    Returns
    -------
    Plan

    Raises
    ------
    InputError
        Naming the file, line, column and field of every problem.
    """
    data, positions = load_yaml(path)
    plan = parse_plan(data, positions, str(path))
    _check_region(plan, positions, str(path))
    stem = Path(path).stem
    if plan.id != stem:
        pos = positions.get(("id",))
        raise InputError.single(
            str(path),
            f"plan id {plan.id!r} does not match the file name; expected {stem!r}",
            line=pos[0] if pos else None,
            field="id",
        )
    return plan


def plan_files(directory: str | Path | None = None) -> list[Path]:
    """The plan files in ``directory`` (default: the bundled plans), sorted by name."""
    d = Path(directory) if directory else settings.plans_dir()
    return sorted(d.glob("*.yaml"))


def load_plans(paths: Iterable[str | Path] | None = None) -> list[Plan]:
    """Load several plans by id or file (default: all bundled), collecting every problem.

    Raises
    ------
    InputError
        With the problems of every invalid file.
    """
    refs = list(paths) if paths is not None else plan_files()
    plans, problems = [], []
    for ref in refs:
        try:
            plans.append(get_plan(ref))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return plans


def get_plan(ref: str | Path) -> Plan:
    """A plan by id (``001``) or by path to a YAML file."""
    p = Path(ref)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return load_plan(p)
    candidate = settings.plans_dir() / f"{ref}.yaml"
    if not candidate.exists():
        known = ", ".join(f.stem for f in plan_files())
        raise InputError.single(str(ref), f"no such plan; expected a plan file or one of: {known}")
    return load_plan(candidate)


# --------------------------------------------------------------------------------------------
# Summaries: which plans a command needs, without validating every bundled plan each run


@dataclass(frozen=True)
class PlanSummary:
    """What a command needs to know to pick plans: id, region and rule distances.

    Attributes
    ----------
    path : Path
        The plan file.
    id : str
        The plan id.
    region : str
        ``document.region``.
    has_buffer_rules : bool
        Whether any rule is a buffer rule (draws zones a query can hit).
    max_distance_m : float
        The largest ``distance_m`` of any rule (0 when none has one).
    """

    path: Path
    id: str
    region: str
    has_buffer_rules: bool
    max_distance_m: float


def _summary_key(data: bytes) -> str:
    """Key of a plan file's summary: its bytes, and what validating it depends on (this module,
    the YAML loader, the region list, pydantic)."""
    import hashlib

    import pydantic

    from . import _yaml

    h = hashlib.sha256(b"plan-summary-1|" + pydantic.VERSION.encode())
    for code in (Path(__file__), Path(_yaml.__file__), settings.data_dir() / "regions.yaml"):
        h.update(hashlib.sha256(code.read_bytes()).digest())
    h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def plan_summaries(paths: Iterable[str | Path] | None = None) -> list[PlanSummary]:
    """Summaries of plan files (default: all bundled), as :func:`load_plans` would validate them.

    A file is loaded and validated in full the first time its exact bytes are seen; its summary
    is then kept in ``cache_dir()/plans/`` (keyed by the bytes, this module, the YAML loader and
    ``regions.yaml``), so later runs read a few bytes instead of parsing every plan. A summary is
    only ever written for a file that validated, so a changed or broken file is always loaded
    in full and reported as :func:`load_plans` reports it.

    Raises
    ------
    InputError
        With the problems of every invalid file.
    """

    refs = [Path(p) for p in paths] if paths is not None else plan_files()
    out, problems = [], []
    for path in refs:
        try:
            key = _summary_key(path.read_bytes())
        except OSError:
            key = None  # get_plan below says what is wrong with the file
        store = settings.cache_dir() / "plans" / f"{path.stem}-{key[:32]}.json" if key else None
        known = _read_summary(store, key) if store else None
        if known is not None:
            out.append(PlanSummary(path, *known))
            continue
        try:
            plan = get_plan(path)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        known = (
            plan.id,
            plan.document.region,
            any(r.type == "buffer" for r in plan.rules),
            float(max((r.distance_m or 0 for r in plan.rules), default=0)),
        )
        out.append(PlanSummary(path, *known))
        if store is not None:
            _write_summary(store, key, known)
    if problems:
        raise InputError(problems)
    return out


_SUMMARY_FIELDS = ("id", "region", "has_buffer_rules", "max_distance_m")


def _read_summary(store: Path, key: str) -> tuple[str, str, bool, float] | None:
    import json

    try:
        entry = json.loads(store.read_text(encoding="utf-8"))
        if entry["key"] != key:
            return None
        plan_id, region, buffer, max_m = (entry[f] for f in _SUMMARY_FIELDS)
        if not (isinstance(plan_id, str) and isinstance(region, str) and isinstance(buffer, bool)):
            return None
        return plan_id, region, buffer, float(max_m)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no summary yet, or a damaged one: validate the file


def _write_summary(store: Path, key: str, known: tuple[str, str, bool, float]) -> None:
    import json

    from ._io import write_text

    entry = {"key": key, **dict(zip(_SUMMARY_FIELDS, known, strict=True))}
    try:
        write_text(store, json.dumps(entry, ensure_ascii=False))
    except (OSError, InputError):
        return  # a cache that cannot be written only costs the validation next time
