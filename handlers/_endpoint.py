"""`@endpoint`: who may call a route, what it accepts, and how it is documented, in one place.

    @bp.post("/realname")
    @endpoint(auth=RESIDENT, body=RealNameBody, summary="Bind the real name")
    async def bind_realname(request: Request, body: RealNameBody) -> HTTPResponse:
        return ok(await services(request).identity.bind_realname(...))

The decorator authenticates the bearer token (the principal lands in request.ctx.principal),
enforces the policy, checks path parameters that name stored rows (see `Lookup`), parses and
validates the JSON body and query string with pydantic, and records everything, success
statuses included, for /openapi.json.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
from pydantic import BaseModel, ValidationError
from sanic.response import HTTPResponse

from app import answers
from app.characters import UNSTORABLE, unstorable_fields
from app.db import MAX_ID
from app.errors import (
    AppError,
    Forbidden,
    InvalidJson,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)

if TYPE_CHECKING:
    from app.context import Principal, Request
    from app.services import Services


@dataclass(frozen=True)
class Policy:
    name: str
    authenticated: bool = True
    any_role: frozenset[str] = frozenset()
    face: bool = False
    description: str = ""


PUBLIC = Policy("public", authenticated=False, description="Anyone.")
RESIDENT = Policy("resident", description="Any logged-in user.")
FACE_VERIFIED = Policy("face_verified", face=True, description="A logged-in user whose last face check is recent.")
BUSINESS = Policy("business", any_role=frozenset({"business"}), description="A legal representative or agent.")
INSPECTOR = Policy("inspector", any_role=frozenset({"inspector"}), description="An inspector.")
OPERATOR = Policy("operator", any_role=frozenset({"operator"}), description="An operator.")
SANDBOX = Policy("sandbox", authenticated=False, description="Sandbox helper; never in production.")


@dataclass(frozen=True)
class Lookup:
    """A path parameter that names a stored row, and what an unknown one answers:

        LicenceId = Annotated[int, Lookup(LicenceNotFound)]
        OrderNo = Annotated[str, Lookup(OrderNotFound, max_length=32)]

        async def get_licence(request: Request, licence_id: LicenceId) -> HTTPResponse: ...

    A value no row can hold (an id beyond 64 bits, text longer than its column) names nothing,
    so @endpoint answers `not_found()` as for an unknown one, after the policy check and before
    the body is read, rather than hand the database a value it cannot take (SQLite and asyncpg
    raise OverflowError, Tortoise's max_length validator raises on the lookup). A plain `int`
    path parameter is an id too and answers `not_found`; text without a Lookup (a key a PUT
    creates, a code an agency checks) is the service's to validate.
    """

    not_found: type[AppError] = NotFound
    max_length: int | None = None

    def names_nothing(self, value: Any) -> bool:
        if isinstance(value, int):
            return not 0 < value <= MAX_ID
        return self.max_length is not None and len(value) > self.max_length


@dataclass(frozen=True)
class Header:
    """A request header the route reads, as /openapi.json documents it:

        IDEMPOTENCY = Header("Idempotency-Key", "...", {"type": "string", "pattern": "..."}, required=True)

    Declared on the route (`headers=`), read by the handler and checked by its service.
    (If-None-Match, on routes that answer 304, and X-Request-ID, on every route, are
    documented by handlers/_openapi.py itself.)"""

    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True)
class EndpointSpec:
    auth: Policy
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    statuses: tuple[int, ...] = (200,)
    path: dict[str, Lookup] = field(default_factory=dict)
    documented_path: str | None = None
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    upstream: bool = False
    documented_body: dict[str, type[BaseModel] | dict[str, Any]] = field(default_factory=dict)
    headers: tuple[Header, ...] = ()


# What a route that calls an outside party while it answers may answer when that party fails
# or refuses (502; its own unavailable codes, 503, it declares in `errors`).
UPSTREAM_ERRORS = ("upstream_error",)

Handler = Callable[..., Awaitable[HTTPResponse]]

# Handler parameters, after the request, that are not path parameters.
_NOT_PATH = frozenset({"body", "query"})


def endpoint(
    *,
    auth: Policy,
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    tags: tuple[str, ...] = (),
    errors: tuple[str, ...] = (),
    status: int | tuple[int, ...] = 200,
    documented_path: str | None = None,
    responses: dict[str, dict[str, Any]] | None = None,
    upstream: bool = False,
    documented_body: dict[str, type[BaseModel] | dict[str, Any]] | None = None,
    headers: tuple[Header, ...] = (),
) -> Callable[[Handler], Handler]:
    """`status`: the success status or statuses the route answers with (201 for a create, 204
    without a body, (201, 200) when it may find the thing already made), as documented.
    `documented_path`: the path as the contract spells it, when the route pattern cannot (a
    `path` parameter that ends in a file suffix).
    `responses`: OpenAPI response objects by status key that replace the generated ones, for a
    route that does not answer in our JSON (a channel callback answers in the channel's format).
    `upstream`: the route calls an outside party (WeChat, a pay channel, a billing agency) while it
    answers, so it may answer 502 `upstream_error` (UPSTREAM_ERRORS), documented with its errors.
    `documented_body`: the request body as documented, a model or a JSON Schema by media type, for
    a route that reads its raw body itself (an import that takes JSON or CSV).
    `response`: the model of the JSON body of each success status but 204 and 304, as documented
    (the handler answers it; the model is not applied to the answer).
    `headers`: the request headers the route reads (see Header)."""
    statuses = (status,) if isinstance(status, int) else status
    if upstream:
        errors = (*errors, *(code for code in UPSTREAM_ERRORS if code not in errors))

    def decorate(handler: Handler) -> Handler:
        spec = EndpointSpec(
            auth, summary, body, query, response, tags, errors, statuses, _path_lookups(handler), documented_path,
            dict(responses or {}), upstream, dict(documented_body or {}), headers,
        )
        wrapper = _guarded(handler, spec)
        wrapper.__endpoint__ = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _path_lookups(handler: Handler) -> dict[str, Lookup]:
    """The handler's path parameters that name rows, from its annotations (see Lookup)."""
    hints = typing.get_type_hints(handler, include_extras=True)
    lookups: dict[str, Lookup] = {}
    for name in list(inspect.signature(handler).parameters)[1:]:
        if name in _NOT_PATH:
            continue
        hint = hints.get(name)
        base, *marks = typing.get_args(hint) if typing.get_origin(hint) is typing.Annotated else (hint,)
        lookup = next((mark for mark in marks if isinstance(mark, Lookup)), None)
        if lookup is None and base is int:
            lookup = Lookup()
        if lookup is not None:
            lookups[name] = lookup
    return lookups


def _guarded(handler: Handler, spec: EndpointSpec) -> Handler:
    """The handler with its policy check, path checks and parsing in front, decided once per
    route: every request goes through this, so a public route with none of them runs the bare
    handler."""
    policy, body_model, query_model, lookups = spec.auth, spec.body, spec.query, tuple(spec.path.items())
    if not policy.authenticated and body_model is None and query_model is None and not lookups:
        return handler

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if policy.authenticated:
            await authorize(request, policy)
        for name, lookup in lookups:
            if lookup.names_nothing(kwargs[name]):
                raise lookup.not_found()
        if body_model is not None:
            kwargs["body"] = parse_body(request, body_model)
        if query_model is not None:
            kwargs["query"] = parse_query(request, query_model)
        response = await handler(request, *args, **kwargs)
        if policy.authenticated and "cache-control" not in response.headers:
            # A signed-in caller's answer is theirs alone: no shared or on-disk cache keeps it.
            response.headers["Cache-Control"] = "no-store"
        return response

    return wrapper


def services(request: Request) -> Services:
    return request.app.ctx.services


def principal(request: Request) -> Principal:
    """The authenticated caller; only valid inside a route whose policy is not PUBLIC."""
    who = request.ctx.principal
    assert who is not None, "principal() used on a public route"
    return who


async def authorize(request: Request, policy: Policy) -> None:
    if not policy.authenticated:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    who = await services(request).identity.authenticate(token.strip())
    request.ctx.principal = who
    if policy.any_role and not (who.roles & policy.any_role):
        raise Forbidden()
    if policy.face:
        services(request).identity.require_recent_face(who)


def parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = request.body or b""
    if raw.strip():
        content_type = request.headers.get("content-type", "application/json")
        if "json" not in content_type.split(";", 1)[0]:
            raise UnsupportedMediaType()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidJson() from None
    else:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.")
    return _validate(model, data, whole="(body)")


def parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    query_string = request.query_string
    if len(query_string) <= _REMEMBERED_QUERY_CHARS:
        # A copy: a model's "before" validator may change the dict it is given.
        return _validate(model, _remembered_query_values(query_string).copy(), whole="(query)")
    return _validate(model, query_values(query_string), whole="(query)")


# Decoding percent-escapes is slow in pure Python (7 µs for a five-character Chinese search),
# and the same few query strings (the home page's region, popular searches) come back all day.
_REMEMBERED_QUERY_CHARS = 512


@functools.lru_cache(maxsize=1024)
def _remembered_query_values(query_string: str) -> dict[str, str]:
    return query_values(query_string)


def query_values(query_string: str) -> dict[str, str]:
    """The first value of each parameter, exactly as `request.args` would give it (parse_qs:
    `+` is a space, percent-escapes decoded as UTF-8 with replacement, blank values dropped),
    without building the lists of every value that request.args keeps."""
    values: dict[str, str] = {}
    if not query_string:
        return values
    for pair in query_string.split("&"):
        name, separator, value = pair.partition("=")
        if not (separator and value):
            continue
        if "%" in pair or "+" in pair:
            name = unquote(name.replace("+", " "), errors="replace")
            value = unquote(value.replace("+", " "), errors="replace")
        values.setdefault(name, value)
    return values


def _validate(model: type[BaseModel], data: dict[str, Any], *, whole: str) -> BaseModel:
    """`whole` names a problem with no one field (a model validator's): "(body)" or "(query)".

    Every string in the body or query, however deep and whichever the model, must be storable
    (app/characters.py): a NUL would reach PostgreSQL and fail there, after part of the work.
    A model names in `checked_by_service` the fields whose text its service refuses in its own
    documented way and never stores as it is (a search query, a scanned code)."""
    unstorable = unstorable_fields(data)
    if unstorable and (own := getattr(model, "checked_by_service", None)):
        unstorable = [where for where in unstorable if where.split(".", 1)[0] not in own]
    if unstorable:
        raise ValidationFailed(context={"fields": [
            {"field": where or whole, "problem": UNSTORABLE} for where in unstorable
        ]})
    try:
        # What model_validate does, minus its keyword plumbing (this runs on every request).
        return model.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        # Report where and what, never the submitted value (it may be personal data).
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or whole, "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ValidationFailed(context={"fields": problems}) from None


def not_modified(request: Request, etag: str) -> bool:
    """Whether a GET or HEAD with this If-None-Match gets 304 for a representation tagged `etag`
    (RFC 9110 §13.1.2): the header is `*` (any current representation) or lists the tag, with
    the weak comparison (a `W/` prefix is ignored on either side)."""
    condition = request.headers.get("if-none-match")
    if not condition:
        return False
    if condition.strip() == "*":
        return True
    tag = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == tag for candidate in condition.split(","))


def to_jsonable(data: Any) -> Any:
    if isinstance(data, (dict, list)):
        return data
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return dataclasses.asdict(data)
    return data


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


class Response(HTTPResponse):
    """An HTTPResponse that skips Sanic's header scrubbing when there is nothing to scrub.

    Sanic strips CR, LF and NUL from every header name and value with str.translate, about a
    microsecond each: a dozen per answer, as much as the rest of a cached read. A value that is
    printable holds none of those characters, so it goes out as it is; anything else still
    goes through Sanic's own scrubbing.
    """

    __slots__ = ()

    @staticmethod
    def _sanitize_header_value(value: str) -> str:
        return value if value.isprintable() else HTTPResponse._sanitize_header_value(value)


def ok(data: Any = None, *, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    if status == 204:
        return Response(status=204, headers=headers)
    body = answers.dumps(to_jsonable(data), default=_default)
    return Response(body, status=status, headers=headers, content_type="application/json")
