"""Resident catalogue routes: regions, zones, service guides, bundles and search (public).

Every answer carries an ETag; a request whose If-None-Match names it gets 304 and no body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from app.services.catalogue.content import guide_json_schema
from app.services.catalogue.errors import BundleNotFound, ServiceItemNotFound, ZoneNotFound
from app.services.catalogue.reads import MAX_QUERY_CHARS, Rendered
from handlers._endpoint import PUBLIC, Lookup, Response, endpoint, not_modified, services

bp = Blueprint("catalogue", url_prefix="/api/v1")

_TAGS = ("catalogue",)
# Answered with 304 when If-None-Match names the answer's ETag.
_READ = (200, 304)
# Zones and bundles by numeric id or by slug (40 characters at most).
ZoneRef = Annotated[str, Lookup(ZoneNotFound, max_length=40)]
BundleRef = Annotated[str, Lookup(BundleNotFound, max_length=40)]
ServiceCode = Annotated[str, Lookup(ServiceItemNotFound, max_length=40)]


class RegionQuery(BaseModel):
    region: str | None = Field(default=None, max_length=40, description="GB/T 2260 code; default: the province")


class ZonesQuery(RegionQuery):
    audience: str | None = Field(default=None, max_length=20, description="individual or enterprise")


def _q_as_the_service_takes_it(schema: dict[str, Any]) -> None:
    q = schema["properties"]["q"]
    q.pop("default", None)
    q.update(minLength=1, maxLength=MAX_QUERY_CHARS, pattern=r"\S")
    schema["required"] = ["q", *schema.get("required", ())]


class SearchQuery(BaseModel):
    # Generous limits here: the service answers too-long or odd text (control characters too:
    # search_query_invalid) with its own error codes. The document says what it takes: q with
    # something in it (else 400 search_query_empty), at most MAX_QUERY_CHARS (else 400
    # search_query_too_long).
    model_config = ConfigDict(json_schema_extra=_q_as_the_service_takes_it)
    checked_by_service: ClassVar[frozenset[str]] = frozenset({"q"})
    q: str = Field(default="", max_length=4000, description="what the resident typed")
    region: str | None = Field(default=None, max_length=40)
    audience: str | None = Field(default=None, max_length=20)
    page: int = Field(default=1, ge=1, le=100)
    page_size: int = Field(default=20, ge=1, le=50)


def _described_by_guide_schema(schema: dict[str, Any]) -> None:
    schema.update(guide_json_schema())


class Guide(RootModel[dict[str, Any]]):
    """A guide (办事指南) as the API document shows it: the service's own schema (GUIDE_SCHEMA).
    Bodies take any object here; the service checks it and names each problem's field."""

    model_config = ConfigDict(json_schema_extra=_described_by_guide_schema)


class DepartmentView(BaseModel):
    code: str
    name: str


class RegionView(BaseModel):
    code: str
    name: str | None = Field(default=None, description="absent for a region no longer in the tree")
    level: str | None = None


class ServiceItemAnswer(BaseModel):
    code: str
    basic_code: str
    name: str
    item_type: str
    department: DepartmentView
    region: RegionView
    audiences: list[str]
    aliases: list[str]
    guide: Guide
    revision: int | None
    published_at: datetime | None


class RegionNode(BaseModel):
    code: str
    name: str
    level: str = Field(description="province, city or county")
    children: list[RegionNode]


class RegionTreeAnswer(BaseModel):
    regions: list[RegionNode]


class ZoneEntry(BaseModel):
    """A tile: a service item (code; the zone's own page adds basic_code and region_code) or a
    bundle (bundle_id; the zone's own page adds slug)."""

    kind: Literal["service", "bundle"]
    title: str
    code: str | None = Field(default=None, description="kind service")
    basic_code: str | None = Field(default=None, description="kind service, on the zone's page")
    region_code: str | None = Field(default=None, description="kind service, on the zone's page")
    bundle_id: int | None = Field(default=None, description="kind bundle")
    slug: str | None = Field(default=None, description="kind bundle, on the zone's page")


class ZoneSummary(BaseModel):
    id: int
    slug: str
    title: str
    icon: str
    description: str
    entries: list[ZoneEntry] = Field(description="the first few tiles")
    entry_count: int


class ZonesAnswer(BaseModel):
    region: RegionView | None = Field(description="null before any region tree is loaded")
    audience: str | None
    zones: list[ZoneSummary]


class ZoneAnswer(BaseModel):
    id: int
    slug: str
    title: str
    icon: str
    description: str
    audiences: list[str]
    entries: list[ZoneEntry]
    region: RegionView
    available_in_region: bool


class BundleItem(BaseModel):
    code: str
    basic_code: str
    name: str
    department: DepartmentView
    region_code: str


class BundleMaterial(BaseModel):
    name: str
    form: str
    copies: int
    required: bool
    licence_type: str | None
    used_by: list[str] = Field(description="codes of the items that ask for it")


class BundleStep(BaseModel):
    step: int
    name: str
    items: list[str]
    description: str | None = Field(default=None, description="the first and last steps")
    department: str | None = Field(default=None, description="a department's step")
    time_limit_days: int | None = Field(default=None, description="a department's step")


class BundleAnswer(BaseModel):
    id: int
    slug: str
    title: str
    description: str
    audiences: list[str]
    region: RegionView
    items: list[BundleItem]
    unavailable_in_region: list[str] = Field(description="basic codes with no implementation serving the region")
    materials: list[BundleMaterial]
    flow: list[BundleStep]


class SearchHit(BaseModel):
    code: str
    basic_code: str
    name: str
    item_type: str
    department: DepartmentView
    region: RegionView
    score: float


class SearchAnswer(BaseModel):
    query: str
    region: str | None
    audience: str | None
    page: int
    page_size: int
    total: int
    has_more: bool
    items: list[SearchHit]


def reply(request: Request, answer: Rendered) -> HTTPResponse:
    headers = {"ETag": answer.etag}
    if not_modified(request, answer.etag):
        return Response(status=304, headers=headers)
    return Response(answer.body, headers=headers, content_type="application/json")


@bp.get("/regions")
@endpoint(auth=PUBLIC, summary="The region tree (province, cities, counties and districts)", tags=_TAGS, status=_READ,
          response=RegionTreeAnswer)
async def region_tree(request: Request) -> HTTPResponse:
    return reply(request, await services(request).catalogue.reader.region_tree())


@bp.get("/zones")
@endpoint(
    auth=PUBLIC,
    query=ZonesQuery,
    summary="Theme zones for a region and audience, with their entries",
    tags=_TAGS,
    status=_READ,
    errors=("unknown_region", "unknown_audience"),
    response=ZonesAnswer,
)
async def list_zones(request: Request, query: ZonesQuery) -> HTTPResponse:
    answer = await services(request).catalogue.reader.zones(region=query.region, audience=query.audience)
    return reply(request, answer)


@bp.get("/zones/<zone_ref:str>")
@endpoint(
    auth=PUBLIC, query=RegionQuery, summary="One zone (by id or slug)", tags=_TAGS, status=_READ,
    errors=("zone_not_found", "unknown_region"), response=ZoneAnswer,
)
async def zone_detail(request: Request, zone_ref: ZoneRef, query: RegionQuery) -> HTTPResponse:
    answer = await services(request).catalogue.reader.zone(zone_ref=zone_ref, region=query.region)
    return reply(request, answer)


@bp.get("/services/<code:str>")
@endpoint(
    auth=PUBLIC, summary="A service item's full guide (办事指南)", tags=_TAGS, status=_READ, errors=("service_not_found",),
    response=ServiceItemAnswer,
)
async def service_detail(request: Request, code: ServiceCode) -> HTTPResponse:
    return reply(request, await services(request).catalogue.reader.item(code=code))


@bp.get("/bundles/<bundle_ref:str>")
@endpoint(
    auth=PUBLIC,
    query=RegionQuery,
    summary="An 一件事 bundle: its items in the region, one materials list and one flow",
    tags=_TAGS,
    status=_READ,
    errors=("bundle_not_found", "unknown_region"),
    response=BundleAnswer,
)
async def bundle_detail(request: Request, bundle_ref: BundleRef, query: RegionQuery) -> HTTPResponse:
    answer = await services(request).catalogue.reader.bundle(bundle_ref=bundle_ref, region=query.region)
    return reply(request, answer)


@bp.get("/search")
@endpoint(
    auth=PUBLIC,
    query=SearchQuery,
    summary="Search service items: everyday words, pinyin, initials, typos",
    tags=_TAGS,
    status=_READ,
    errors=(
        "search_query_empty",
        "search_query_too_long",
        "search_query_invalid",
        "unknown_region",
        "unknown_audience",
    ),
    response=SearchAnswer,
)
async def search(request: Request, query: SearchQuery) -> HTTPResponse:
    answer = await services(request).catalogue.reader.search(
        query=query.q, region=query.region, audience=query.audience, page=query.page, page_size=query.page_size
    )
    return reply(request, answer)
