"""Operator catalogue routes (operator role only): items, departments, zones, bundles,
bulk import and export, and the change log. Edits name the revision they were made against."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from app.services.catalogue.admin import ZONE_CLEARABLE
from app.services.catalogue.errors import BundleNotFound, ServiceItemNotFound, ZoneNotFound
from app.services.catalogue.transfer import CSV_COLUMNS
from handlers._endpoint import OPERATOR, Lookup, endpoint, ok, principal, services
from handlers._fields import FreeText, FreeTextLines, Moment
from handlers.catalogue import Guide

bp = Blueprint("admin_catalogue", url_prefix="/api/v1/admin/catalogue")

_TAGS = ("catalogue admin",)
_ADMIN_READ_TAGS = ("catalogue admin", "admin")
_CODE = r"^[0-9A-Za-z]+$"
_SLUG = r"^[a-z0-9][a-z0-9-]{1,39}$"

ItemCode = Annotated[str, Lookup(ServiceItemNotFound, max_length=40)]
ZoneId = Annotated[int, Lookup(ZoneNotFound)]
BundleId = Annotated[int, Lookup(BundleNotFound)]


class ItemContent(BaseModel):
    basic_code: str = Field(min_length=4, max_length=20, pattern=_CODE)
    name: str = Field(min_length=2, max_length=200)
    item_type: str = Field(max_length=20)
    department_code: str = Field(max_length=18)
    region_code: str = Field(max_length=12)
    audiences: list[str] = Field(min_length=1, max_length=2)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    guide: Guide = Field(default_factory=lambda: Guide({}))


class NewItem(ItemContent):
    code: str = Field(min_length=6, max_length=40, pattern=_CODE, description="implementation code")


class ImportItems(BaseModel):
    items: list[NewItem]


class ImportFile(RootModel[list[NewItem] | ImportItems]):
    """A JSON import: a list of items, or {"items": [...]}."""


_IMPORT_CSV = {
    "type": "string",
    "description": "A header row naming some of " + ", ".join(CSV_COLUMNS) + " (code at least); audiences and "
    'aliases are "|"-separated, guide is a JSON object (the Guide schema).',
}


def _null_only_where_clearable(schema: dict[str, Any], model: type[Any]) -> None:
    """An edit's fields are optional, but null clears only the model's `clearable` ones: the
    service refuses null for any other (422 `must not be null`), so the schema does not offer it."""
    for name, prop in schema.get("properties", {}).items():
        if name in model.clearable or "anyOf" not in prop:
            continue
        kept = [choice for choice in prop.pop("anyOf") if choice != {"type": "null"}]
        prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        if prop.get("default", ...) is None:
            del prop["default"]


class EditBody(BaseModel):
    """A PATCH body: what is left out stays as it is."""

    model_config = ConfigDict(json_schema_extra=_null_only_where_clearable)
    clearable: ClassVar[frozenset[str]] = frozenset()


class ItemPatch(EditBody):
    revision: int = Field(ge=1, description="the revision the edit was made against")
    basic_code: str | None = Field(default=None, min_length=4, max_length=20, pattern=_CODE)
    name: str | None = Field(default=None, min_length=2, max_length=200)
    item_type: str | None = Field(default=None, max_length=20)
    department_code: str | None = Field(default=None, max_length=18)
    region_code: str | None = Field(default=None, max_length=12)
    audiences: list[str] | None = Field(default=None, min_length=1, max_length=2)
    aliases: list[str] | None = Field(default=None, max_length=20)
    guide: Guide | None = None


class RevisionBody(BaseModel):
    revision: int = Field(ge=1)


class ItemsQuery(BaseModel):
    status: Literal["draft", "published", "retired"] | None = None
    page: int = Field(default=1, ge=1, le=10_000)
    page_size: int = Field(default=50, ge=1, le=200)


class ListQuery(BaseModel):
    status: Literal["draft", "published", "retired"] | None = None
    limit: int = Field(default=200, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


class DepartmentBody(BaseModel):
    code: str = Field(min_length=18, max_length=18, pattern=_CODE, description="unified social credit code")
    name: FreeText = Field(min_length=2, max_length=100)
    kind: FreeText = Field(default="", max_length=40)
    region_code: str = Field(max_length=12)


class ZoneFields(BaseModel):
    title: FreeText = Field(min_length=1, max_length=40)
    icon: str = Field(default="", max_length=200)
    description: FreeTextLines = Field(default="", max_length=200)
    audiences: list[str] = Field(min_length=1, max_length=2)
    region_code: str = Field(max_length=12)
    publish_from: Moment | None = None
    publish_until: Moment | None = None


class NewZone(ZoneFields):
    slug: str = Field(pattern=_SLUG)


class ZonePatch(EditBody):
    clearable = ZONE_CLEARABLE  # an open publishing window
    revision: int = Field(ge=1)
    title: FreeText | None = Field(default=None, min_length=1, max_length=40)
    icon: str | None = Field(default=None, max_length=200)
    description: FreeTextLines | None = Field(default=None, max_length=200)
    audiences: list[str] | None = Field(default=None, min_length=1, max_length=2)
    region_code: str | None = Field(default=None, max_length=12)
    publish_from: Moment | None = None
    publish_until: Moment | None = None


class ZoneEntryBody(BaseModel):
    kind: Literal["service", "bundle"]
    basic_code: str | None = Field(default=None, max_length=20)
    bundle_slug: str | None = Field(default=None, max_length=40)
    title: FreeText | None = Field(default=None, max_length=60)


class ZoneEntriesBody(BaseModel):
    revision: int = Field(ge=1)
    entries: list[ZoneEntryBody] = Field(max_length=100)


class ZoneOrderBody(BaseModel):
    zone_ids: list[int] = Field(min_length=1, max_length=200)


class BundleFields(BaseModel):
    title: FreeText = Field(min_length=2, max_length=60)
    description: FreeTextLines = Field(default="", max_length=300)
    audiences: list[str] = Field(min_length=1, max_length=2)
    region_code: str = Field(max_length=12)
    basic_codes: list[str] = Field(min_length=2, max_length=20, description="the flow, in order")


class NewBundle(BundleFields):
    slug: str = Field(pattern=_SLUG)


class BundlePatch(EditBody):
    revision: int = Field(ge=1)
    title: FreeText | None = Field(default=None, min_length=2, max_length=60)
    description: FreeTextLines | None = Field(default=None, max_length=300)
    audiences: list[str] | None = Field(default=None, min_length=1, max_length=2)
    region_code: str | None = Field(default=None, max_length=12)
    basic_codes: list[str] | None = Field(default=None, min_length=2, max_length=20)


class ImportQuery(BaseModel):
    format: Literal["json", "csv"] = "json"
    publish: bool = False  # from the query string: "true", "1", "yes" and the like


class ExportQuery(BaseModel):
    format: Literal["json", "csv"] = "json"
    status: Literal["draft", "published", "retired"] | None = None


class ChangesQuery(BaseModel):
    entity: Literal["item", "zone", "bundle", "department"] | None = None
    key: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=100, ge=1, le=500)


def _changes(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True, exclude={"revision"})


def _actor(request: Request) -> int:
    return principal(request).user_id


# ---------------------------------------------------------------------- items
@bp.get("/items")
@endpoint(auth=OPERATOR, query=ItemsQuery, summary="List service items", tags=_TAGS)
async def list_items(request: Request, query: ItemsQuery) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(await admin.list_items(status=query.status, page=query.page, page_size=query.page_size))


@bp.post("/items")
@endpoint(
    auth=OPERATOR,
    body=NewItem,
    summary="Create a service item (as a draft)",
    tags=_TAGS,
    status=201,
    errors=("already_exists", "unknown_department", "unknown_region"),
)
async def create_item(request: Request, body: NewItem) -> HTTPResponse:
    content = body.model_dump(exclude={"code"})
    item = await services(request).catalogue.admin.create_item(
        actor_id=_actor(request), code=body.code, content=content
    )
    return ok(item, status=201)


@bp.get("/items/<code:str>")
@endpoint(auth=OPERATOR, summary="Preview an item's working copy and its pending changes", tags=_TAGS)
async def preview_item(request: Request, code: ItemCode) -> HTTPResponse:
    return ok(await services(request).catalogue.admin.preview_item(code=code))


@bp.patch("/items/<code:str>")
@endpoint(
    auth=OPERATOR,
    body=ItemPatch,
    summary="Edit an item's working copy",
    tags=_TAGS,
    errors=("revision_conflict", "transition_not_allowed", "unknown_department", "unknown_region"),
)
async def update_item(request: Request, code: ItemCode, body: ItemPatch) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(
        await admin.update_item(actor_id=_actor(request), code=code, revision=body.revision, changes=_changes(body))
    )


@bp.post("/items/<code:str>/publish")
@endpoint(
    auth=OPERATOR,
    body=RevisionBody,
    summary="Publish the working copy at this revision",
    tags=_TAGS,
    errors=("revision_conflict", "transition_not_allowed"),
)
async def publish_item(request: Request, code: ItemCode, body: RevisionBody) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(await admin.publish_item(actor_id=_actor(request), code=code, revision=body.revision))


@bp.post("/items/<code:str>/retire")
@endpoint(
    auth=OPERATOR,
    body=RevisionBody,
    summary="Retire an item (residents no longer see it)",
    tags=_TAGS,
    errors=("revision_conflict", "transition_not_allowed"),
)
async def retire_item(request: Request, code: ItemCode, body: RevisionBody) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(await admin.retire_item(actor_id=_actor(request), code=code, revision=body.revision))


@bp.get("/items/<code:str>/versions")
@endpoint(auth=OPERATOR, summary="Every published version of an item", tags=_TAGS)
async def item_versions(request: Request, code: ItemCode) -> HTTPResponse:
    return ok(await services(request).catalogue.admin.item_versions(code=code))


# ---------------------------------------------------------------------- departments
@bp.post("/departments")
@endpoint(
    auth=OPERATOR, body=DepartmentBody, summary="Add a department", tags=_TAGS, status=201, errors=("already_exists",)
)
async def create_department(request: Request, body: DepartmentBody) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(await admin.create_department(actor_id=_actor(request), **body.model_dump()), status=201)


# ---------------------------------------------------------------------- zones
@bp.post("/zones")
@endpoint(
    auth=OPERATOR,
    body=NewZone,
    summary="Create a theme zone (as a draft)",
    tags=_TAGS,
    status=201,
    errors=("already_exists",),
)
async def create_zone(request: Request, body: NewZone) -> HTTPResponse:
    zone = await services(request).catalogue.admin.create_zone(actor_id=_actor(request), fields=body.model_dump())
    return ok(zone, status=201)


@bp.get("/zones")
@endpoint(
    auth=OPERATOR,
    query=ListQuery,
    summary="Every zone, drafts included, in home-page order with its entry count",
    tags=_ADMIN_READ_TAGS,
)
async def list_zones(request: Request, query: ListQuery) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(await admin.list_zones(status=query.status, limit=query.limit, offset=query.offset))


@bp.put("/zones/order")
@endpoint(auth=OPERATOR, body=ZoneOrderBody, summary="Set the order of the zones on the home page", tags=_TAGS)
async def order_zones(request: Request, body: ZoneOrderBody) -> HTTPResponse:
    return ok(await services(request).catalogue.admin.order_zones(actor_id=_actor(request), zone_ids=body.zone_ids))


@bp.get("/zones/<zone_id:int>")
@endpoint(auth=OPERATOR, summary="A zone as operators see it", tags=_TAGS)
async def get_zone(request: Request, zone_id: ZoneId) -> HTTPResponse:
    return ok(await services(request).catalogue.admin.zone_admin_view(zone_id))


@bp.patch("/zones/<zone_id:int>")
@endpoint(auth=OPERATOR, body=ZonePatch, summary="Edit a zone", tags=_TAGS, errors=("revision_conflict",))
async def update_zone(request: Request, zone_id: ZoneId, body: ZonePatch) -> HTTPResponse:
    admin = services(request).catalogue.admin
    zone = await admin.update_zone(
        actor_id=_actor(request), zone_id=zone_id, revision=body.revision, fields=_changes(body)
    )
    return ok(zone)


@bp.put("/zones/<zone_id:int>/entries")
@endpoint(
    auth=OPERATOR,
    body=ZoneEntriesBody,
    summary="Set a zone's entries in display order (reorder by sending a new order)",
    tags=_TAGS,
    errors=("revision_conflict", "invalid_entries"),
)
async def set_zone_entries(request: Request, zone_id: ZoneId, body: ZoneEntriesBody) -> HTTPResponse:
    admin = services(request).catalogue.admin
    entries = [entry.model_dump() for entry in body.entries]
    return ok(
        await admin.set_zone_entries(actor_id=_actor(request), zone_id=zone_id, revision=body.revision, entries=entries)
    )


@bp.post("/zones/<zone_id:int>/<action:publish|retire>")
@endpoint(
    auth=OPERATOR,
    body=RevisionBody,
    summary="Publish or retire a zone",
    tags=_TAGS,
    errors=("revision_conflict", "transition_not_allowed"),
)
async def zone_status(request: Request, zone_id: ZoneId, action: str, body: RevisionBody) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(
        await admin.set_zone_status(actor_id=_actor(request), zone_id=zone_id, revision=body.revision, action=action)
    )


# ---------------------------------------------------------------------- bundles
@bp.post("/bundles")
@endpoint(
    auth=OPERATOR,
    body=NewBundle,
    summary="Create an 一件事 bundle (as a draft)",
    tags=_TAGS,
    status=201,
    errors=("already_exists", "invalid_entries"),
)
async def create_bundle(request: Request, body: NewBundle) -> HTTPResponse:
    bundle = await services(request).catalogue.admin.create_bundle(actor_id=_actor(request), fields=body.model_dump())
    return ok(bundle, status=201)


@bp.get("/bundles")
@endpoint(auth=OPERATOR, query=ListQuery, summary="Every bundle, drafts included", tags=_ADMIN_READ_TAGS)
async def list_bundles(request: Request, query: ListQuery) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(await admin.list_bundles(status=query.status, limit=query.limit, offset=query.offset))


@bp.get("/bundles/<bundle_id:int>")
@endpoint(
    auth=OPERATOR,
    summary="A bundle with every implementation of its items and the merged materials",
    tags=_ADMIN_READ_TAGS,
    errors=("bundle_not_found",),
)
async def get_bundle(request: Request, bundle_id: BundleId) -> HTTPResponse:
    return ok(await services(request).catalogue.admin.bundle_detail(bundle_id=bundle_id))


@bp.patch("/bundles/<bundle_id:int>")
@endpoint(auth=OPERATOR, body=BundlePatch, summary="Edit a bundle", tags=_TAGS, errors=("revision_conflict",))
async def update_bundle(request: Request, bundle_id: BundleId, body: BundlePatch) -> HTTPResponse:
    admin = services(request).catalogue.admin
    bundle = await admin.update_bundle(
        actor_id=_actor(request), bundle_id=bundle_id, revision=body.revision, fields=_changes(body)
    )
    return ok(bundle)


@bp.post("/bundles/<bundle_id:int>/<action:publish|retire>")
@endpoint(
    auth=OPERATOR,
    body=RevisionBody,
    summary="Publish or retire a bundle",
    tags=_TAGS,
    errors=("revision_conflict", "transition_not_allowed"),
)
async def bundle_status(request: Request, bundle_id: BundleId, action: str, body: RevisionBody) -> HTTPResponse:
    admin = services(request).catalogue.admin
    bundle = await admin.set_bundle_status(
        actor_id=_actor(request), bundle_id=bundle_id, revision=body.revision, action=action
    )
    return ok(bundle)


# ---------------------------------------------------------------------- import, export, changes
@bp.post("/import")
@endpoint(
    auth=OPERATOR,
    query=ImportQuery,
    summary="Import items from JSON or CSV (the raw body); all rows or none",
    tags=_TAGS,
    errors=("import_rejected", "import_unreadable"),
    documented_body={"application/json": ImportFile, "text/csv": _IMPORT_CSV},
)
async def import_items(request: Request, query: ImportQuery) -> HTTPResponse:
    transfer = services(request).catalogue.transfer
    report = await transfer.import_items(
        actor_id=_actor(request), payload=request.body or b"", fmt=query.format, publish=query.publish
    )
    return ok(report)


@bp.get("/export")
@endpoint(auth=OPERATOR, query=ExportQuery, summary="Export items as JSON or CSV", tags=_TAGS)
async def export_items(request: Request, query: ExportQuery) -> HTTPResponse:
    body = await services(request).catalogue.transfer.export_items(fmt=query.format, status=query.status)
    content_type = "application/json" if query.format == "json" else "text/csv; charset=utf-8"
    return HTTPResponse(body, content_type=content_type)


@bp.get("/changes")
@endpoint(auth=OPERATOR, query=ChangesQuery, summary="Who changed what in the catalogue, newest first", tags=_TAGS)
async def list_changes(request: Request, query: ChangesQuery) -> HTTPResponse:
    admin = services(request).catalogue.admin
    return ok(await admin.changes(entity=query.entity, key=query.key, limit=query.limit))
