"""A deterministic demo catalogue for Guangdong: regions, departments, items, zones, bundles.

Pure Python and data only (no database): `generate(seed=..., scale=...)` returns plain records
that the seed command stores and the search benchmarks index directly. The same seed and scale
always give the same catalogue, codes included.

Codes follow the observed Guangdong shapes: departments carry an 18-character unified social
credit code (GB 32100, valid check character; synthetic, since real ones are not needed here);
an item's basic code is item-type code (2) + main item (5) + sub item (3); its implementation
code is the department's credit code + type digit + region code + main and sub item (13).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.services.catalogue.demo_templates import (
    BUNDLES,
    ITEM_TYPE_CODES,
    MATERIALS,
    ONLINE_DEPTHS,
    SITUATIONS,
    TEMPLATES,
    ZONES,
    ServiceTemplate,
)
from app.services.catalogue.guangdong import (
    CITIES,
    DEPARTMENT_KINDS,
    PROVINCE_CODE,
    PROVINCIAL_ONLY,
    City,
    RegionRecord,
    department_name,
    regions,
)

DEFAULT_SEED = 20_240_101
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class DepartmentRecord:
    code: str  # unified social credit code
    name: str
    kind: str
    region_code: str


@dataclass(frozen=True)
class ItemRecord:
    code: str
    basic_code: str
    name: str
    item_type: str
    department_code: str
    department_name: str
    region_code: str
    audiences: tuple[str, ...]
    aliases: tuple[str, ...]
    zones: tuple[str, ...]
    popularity: int
    guide: dict[str, Any]


@dataclass(frozen=True)
class ZoneRecord:
    slug: str
    title: str
    icon: str
    description: str
    audiences: tuple[str, ...]
    region_code: str
    entries: tuple[dict[str, str], ...]  # {"kind": "service", "basic_code"} or {"kind": "bundle", "slug"}


@dataclass(frozen=True)
class BundleRecord:
    slug: str
    title: str
    description: str
    audiences: tuple[str, ...]
    region_code: str
    basic_codes: tuple[str, ...]  # the flow, in order


@dataclass
class DemoCatalogue:
    regions: list[RegionRecord]
    departments: list[DepartmentRecord]
    items: list[ItemRecord]
    zones: list[ZoneRecord]
    bundles: list[BundleRecord]
    basic_codes: dict[str, str] = field(default_factory=dict)  # template name -> basic code


def credit_code(region_code: str, serial: int) -> str:
    """A unified social credit code for a government body (1-1 prefix) with valid checks."""
    org_body = f"{serial:08d}"
    total = sum(int(ch) * w for ch, w in zip(org_body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    org_code = org_body + ("X" if check == 10 else "0" if check == 11 else str(check))
    body = "11" + region_code + org_code
    total = sum(_CREDIT_CHARS.index(ch) * w for ch, w in zip(body, _CREDIT_WEIGHTS, strict=True))
    return body + _CREDIT_CHARS[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    if len(code) != 18 or any(ch not in _CREDIT_CHARS for ch in code):
        return False
    total = sum(_CREDIT_CHARS.index(ch) * w for ch, w in zip(code[:17], _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_CHARS[(31 - total % 31) % 31] == code[17]


def base_item_count() -> int:
    """Items in the full base catalogue: every standard item in every region that runs it."""
    return sum(len(_implementing_regions(t)) for t in TEMPLATES)


def generate(*, seed: int = DEFAULT_SEED, scale: int | None = None) -> DemoCatalogue:
    """The demo catalogue; `scale` trims or extends the item count to exactly that many."""
    rng = random.Random(seed)
    region_records = regions()
    departments = _departments()
    by_key = {(d.kind, d.region_code): d for d in departments}
    basic_codes = {t.name: _basic_code(t, index, 0) for index, t in enumerate(TEMPLATES)}
    target = base_item_count() if scale is None else max(0, scale)
    items = []
    for template, index, situation, region in _placements(target):
        department = _department_for(template, region, by_key)
        items.append(_item(rng, template, index, situation, region, department))
    zones = _zones(basic_codes)
    bundles = [
        BundleRecord(
            slug=slug,
            title=title,
            description=description,
            audiences=audiences,
            region_code=PROVINCE_CODE,
            basic_codes=tuple(basic_codes[name] for name in names),
        )
        for slug, title, description, audiences, names in BUNDLES
    ]
    return DemoCatalogue(
        regions=region_records,
        departments=departments,
        items=items,
        zones=zones,
        bundles=bundles,
        basic_codes=basic_codes,
    )


# ---------------------------------------------------------------------- placements
@dataclass(frozen=True)
class _Place:
    code: str
    name: str
    city: City | None
    county: str | None


def _implementing_regions(template: ServiceTemplate) -> list[_Place]:
    if template.level == "province":
        return [_Place(PROVINCE_CODE, "广东省", None, None)]
    if template.level == "city":
        return [_Place(c.code, c.name, c, None) for c in CITIES]
    places = []
    # Interleave cities so a trimmed catalogue still spreads over the province.
    longest = max(len(c.counties) for c in CITIES)
    for position in range(max(longest, 1)):
        for city in CITIES:
            if not city.counties and position == 0:
                places.append(_Place(city.code, city.name, city, None))
            elif position < len(city.counties):
                code, name = city.counties[position]
                places.append(_Place(code, name, city, name))
    return places


def _placements(target: int) -> Iterator[tuple[ServiceTemplate, int, str | None, _Place]]:
    """Round-robin over standard items so any prefix covers every item and many regions."""
    per_template = [_implementing_regions(t) for t in TEMPLATES]
    produced = 0
    situation_round = 0
    while produced < target:
        situation = None if situation_round == 0 else SITUATIONS[(situation_round - 1) % len(SITUATIONS)]
        depth = 0
        progressed = True
        while progressed and produced < target:
            progressed = False
            for index, template in enumerate(TEMPLATES):
                places = per_template[index]
                if depth < len(places):
                    progressed = True
                    yield template, index + (situation_round * 1000), situation, places[depth]
                    produced += 1
                    if produced >= target:
                        return
            depth += 1
        situation_round += 1
        if situation_round > len(SITUATIONS) * 50:
            return


def _department_for(template: ServiceTemplate, place: _Place, by_key: dict) -> DepartmentRecord:
    kind = DEPARTMENT_KINDS[template.department]
    if place.city is None:
        return by_key[(template.department, PROVINCE_CODE)]
    if place.county is not None and kind.county is not None:
        return by_key[(template.department, place.code)]
    return by_key[(template.department, place.city.code)]


def _departments() -> list[DepartmentRecord]:
    records: list[DepartmentRecord] = []
    seen: set[str] = set()
    serial = 1000

    def add(name: str, kind: str, region_code: str) -> None:
        nonlocal serial
        key = f"{kind}:{region_code}"
        if key in seen:
            return
        seen.add(key)
        serial += 7
        records.append(DepartmentRecord(credit_code(region_code, serial), name, kind, region_code))

    for slug in DEPARTMENT_KINDS:
        add(department_name(slug), slug, PROVINCE_CODE)
    for index, name in enumerate(PROVINCIAL_ONLY):
        add(name, f"provincial_{index}", PROVINCE_CODE)
    for city in CITIES:
        for slug in DEPARTMENT_KINDS:
            add(department_name(slug, city=city), slug, city.code)
    for city in CITIES:
        for code, county in city.counties:
            for slug, kind in DEPARTMENT_KINDS.items():
                if kind.county is not None:
                    add(department_name(slug, city=city, county=county), slug, code)
    return records


# ---------------------------------------------------------------------- one item
def _basic_code(template: ServiceTemplate, index: int, situation_round: int) -> str:
    return f"{ITEM_TYPE_CODES[template.item_type]}{index + 1:05d}{situation_round:03d}"


def _item(
    rng: random.Random,
    template: ServiceTemplate,
    index: int,
    situation: str | None,
    place: _Place,
    department: DepartmentRecord,
) -> ItemRecord:
    template_index, situation_round = index % 1000, index // 1000
    basic_code = _basic_code(template, template_index, situation_round)
    type_digit = ITEM_TYPE_CODES[template.item_type][-1]
    code = f"{department.code}{type_digit}{place.code}{template_index + 1:03d}{situation_round:03d}"
    name = template.name if situation is None else f"{template.name}（{situation}）"
    popularity = _popularity(rng, template, place)
    guide = _guide(rng, template, name, place, department)
    return ItemRecord(
        code=code,
        basic_code=basic_code,
        name=name,
        item_type=template.item_type,
        department_code=department.code,
        department_name=department.name,
        region_code=place.code,
        audiences=template.audiences,
        aliases=template.aliases,
        zones=template.zones,
        popularity=popularity,
        guide=guide,
    )


_CITY_WEIGHT = {"440100": 10, "440300": 10, "440600": 6, "441900": 6, "442000": 3, "440400": 3}


def _popularity(rng: random.Random, template: ServiceTemplate, place: _Place) -> int:
    city_weight = _CITY_WEIGHT.get(place.city.code if place.city else "", 2)
    if place.city is None:
        city_weight = 12
    return int(template.hotness**3 * city_weight * rng.uniform(8, 12))


def _time_limits(rng: random.Random, template: ServiceTemplate) -> tuple[int, int]:
    legal = {"行政许可": 20, "行政给付": 30, "行政确认": 20, "行政征收": 15, "行政裁决": 45}.get(template.item_type, 15)
    if template.online_depth == 4 and template.item_type in ("公共服务", "行政征收", "其他行政权力"):
        return legal, 0
    return legal, max(1, legal // rng.choice((2, 3, 4, 5)))


def _steps(template: ServiceTemplate, promised: int) -> list[dict[str, Any]]:
    if promised == 0:
        names = (("申请", "通过粤省事、广东政务服务网或窗口提交申请"), ("受理并办结", "材料齐全、符合条件的当场办结"))
        return [{"name": n, "description": d, "time_limit_days": 0} for n, d in names]
    flows = {
        "行政许可": (
            ("申请", "提交申请及材料"),
            ("受理", "审查材料是否齐全、符合法定形式"),
            ("审查", "对申请材料进行实质审查，必要时现场核查"),
            ("决定", "作出准予或不予许可的决定"),
            ("送达", "颁发证照，可选择邮寄或窗口领取"),
        ),
        "行政给付": (
            ("申请", "提交申请及材料"),
            ("受理", "审核申请人资格"),
            ("审核", "核定给付标准并公示"),
            ("发放", "待遇按月或一次性发放至本人银行账户"),
        ),
        "行政确认": (
            ("申请", "提交申请及材料"),
            ("受理", "核验身份及材料"),
            ("审核", "核实有关事实"),
            ("办结", "出具确认结果或制发证件"),
        ),
    }
    steps = flows.get(template.item_type, (("申请", "提交申请及材料"), ("受理", "核验材料"), ("办结", "出具办理结果")))
    share = max(1, promised // max(1, len(steps) - 1))
    return [
        {"name": name, "description": text, "time_limit_days": 0 if i == 0 else share}
        for i, (name, text) in enumerate(steps)
    ]


def _materials(template: ServiceTemplate, name: str) -> list[dict[str, Any]]:
    materials = [
        {
            "name": f"{template.name}申请表",
            "form": "original",
            "copies": 1,
            "required": True,
            "licence_type": None,
            "note": "可在线填写，无需打印",
        },
    ]
    for key in template.materials:
        if key.startswith("raw:"):
            materials.append(
                {"name": key[4:], "form": "original", "copies": 1, "required": True, "licence_type": None, "note": ""}
            )
            continue
        spec = MATERIALS[key]
        materials.append(
            {
                "name": spec.name,
                "form": spec.form,
                "copies": spec.copies,
                "required": spec.required,
                "licence_type": spec.licence_type,
                "note": spec.note,
            }
        )
    if "proxy" not in template.materials and "individual" in template.audiences:
        spec = MATERIALS["proxy"]
        materials.append(
            {
                "name": spec.name,
                "form": spec.form,
                "copies": 1,
                "required": False,
                "licence_type": None,
                "note": spec.note,
            }
        )
    return materials


def _guide(
    rng: random.Random,
    template: ServiceTemplate,
    name: str,
    place: _Place,
    department: DepartmentRecord,
) -> dict[str, Any]:
    legal_days, promised_days = _time_limits(rng, template)
    area = place.city.phone_area_code if place.city else "020"
    phone = f"{area}-{rng.randint(2, 8)}{rng.randint(100, 999)}{rng.randint(1000, 9999)}"
    hall = f"{place.name}政务服务中心" if place.city is not None else "广东省政务服务中心"
    city_prefix = place.city.name if place.city is not None and place.county else ""
    depth = template.online_depth
    channels = ["window"]
    if depth >= 3:
        channels += ["mini_program", "web"]
    if depth == 4:
        channels.append("mail")
    conditions = list(template.conditions) or _default_conditions(template)
    fees = []
    if template.fee:
        fee_name, amount, basis = template.fee
        fees.append({"name": fee_name, "amount": amount, "basis": basis, "reducible": False})
    return {
        "subject": department.name,
        "subject_nature": "法定机关",
        "exercise_level": {"province": "省级", "city": "市级", "county": "县级"}[template.level],
        "handling_kind": "即办件" if promised_days == 0 else "承诺件",
        "service_object": ["自然人" if a == "individual" else "法人" for a in template.audiences],
        "conditions": conditions,
        "materials": _materials(template, name),
        "steps": _steps(template, promised_days),
        "legal_time_limit_days": legal_days,
        "promised_time_limit_days": promised_days,
        "visits": 0 if depth == 4 else 1,
        "on_site_reason": "" if depth == 4 else "需现场核验身份或采集信息",
        "fees": fees,
        "free_of_charge": not fees,
        "online_depth": depth,
        "online_depth_label": ONLINE_DEPTHS[depth],
        "channels": channels,
        "supports_online_payment": bool(fees) and depth >= 3,
        "supports_appointment": depth <= 3,
        "supports_delivery": depth == 4 or bool(fees),
        "cross_region": depth == 4,
        "result": {
            "name": _result_name(template),
            "kind": "证照" if template.item_type in ("行政许可", "行政确认") else "批文",
        },
        "consulting": {"phone": phone, "address": f"{city_prefix}{hall}综合窗口"},
        "complaint": {"phone": "12345", "channel": "12345政务服务便民热线、粤省事“好差评”"},
        "windows": [
            {"address": f"{city_prefix}{hall}", "hours": "周一至周五 9:00-12:00，14:00-17:30（法定节假日除外）"}
        ],
        "faqs": _faqs(template, promised_days),
        "legal_basis": [template.legal_basis],
        "guide_version": 1,
    }


def _default_conditions(template: ServiceTemplate) -> list[str]:
    if "enterprise" in template.audiences and "individual" not in template.audiences:
        return ["申请单位依法设立并有效存续", "申请材料真实、完整、有效"]
    if template.item_type == "行政给付":
        return ["符合国家和广东省规定的给付条件", "申请人或其监护人如实申报相关信息"]
    return ["申请人为本人或其监护人、受托人", "申请材料真实、完整、有效"]


def _result_name(template: ServiceTemplate) -> str:
    for suffix in ("申领", "办理", "核发", "登记", "申请", "认定"):
        if template.name.endswith(suffix):
            return template.name[: -len(suffix)] + "结果"
    return f"{template.name}结果"


def _faqs(template: ServiceTemplate, promised_days: int) -> list[dict[str, str]]:
    progress = (
        "当场办结，可在粤省事“我的办件”查看结果"
        if promised_days == 0
        else (f"承诺{promised_days}个工作日内办结，可在粤省事“我的办件”实时查看进度")
    )
    answers = [
        {"question": "办理进度怎么查？", "answer": progress},
        {
            "question": "可以委托他人代办吗？",
            "answer": "可以，受托人需携带授权委托书及本人身份证件"
            if "individual" in template.audiences
            else "可以，经办人需持单位授权书及本人身份证件",
        },
    ]
    if any(MATERIALS.get(m) and MATERIALS[m].licence_type for m in template.materials):
        answers.append(
            {"question": "已有电子证照还要带原件吗？", "answer": "已在粤省事“我的证照”领取的电子证照可免于提交对应材料"}
        )
    return answers


def _zones(basic_codes: dict[str, str]) -> list[ZoneRecord]:
    zones = []
    bundle_by_zone = {
        "births": ["newborn"],
        "startup": ["enterprise-startup", "restaurant"],
        "elderly": ["retirement"],
        "disability": ["disability"],
        "housing": ["home-transfer"],
    }
    for slug, title, icon, description, audiences in ZONES:
        entries: list[dict[str, str]] = [{"kind": "bundle", "slug": b} for b in bundle_by_zone.get(slug, [])]
        ranked = sorted((t for t in TEMPLATES if slug in t.zones), key=lambda t: (-t.hotness, basic_codes[t.name]))
        entries.extend({"kind": "service", "basic_code": basic_codes[t.name]} for t in ranked)
        zones.append(
            ZoneRecord(
                slug=slug,
                title=title,
                icon=icon,
                description=description,
                audiences=audiences,
                region_code=PROVINCE_CODE,
                entries=tuple(entries),
            )
        )
    return zones
