"""`@endpoint`: who may call a route, what it accepts, and how it is documented, in one place.

    @bp.post("/realname")
    @endpoint(auth=RESIDENT, body=RealNameBody, summary="Bind the real name")
    async def bind_realname(request: Request, body: RealNameBody) -> HTTPResponse:
        return ok(await services(request).identity.bind_realname(...))

The decorator authenticates the bearer token (the principal lands in request.ctx.principal),
enforces the policy, parses and validates the JSON body and query string with pydantic, and
records everything for /openapi.json.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
from pydantic import BaseModel, ValidationError
from sanic.response import HTTPResponse

from app.errors import (
    Forbidden,
    InvalidJson,
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
class EndpointSpec:
    auth: Policy
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    extra_responses: dict[int, str] = field(default_factory=dict)


Handler = Callable[..., Awaitable[HTTPResponse]]


def endpoint(
    *,
    auth: Policy,
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    tags: tuple[str, ...] = (),
    errors: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    spec = EndpointSpec(auth, summary, body, query, response, tags, errors)

    def decorate(handler: Handler) -> Handler:
        wrapper = _guarded(handler, spec)
        wrapper.__endpoint__ = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _guarded(handler: Handler, spec: EndpointSpec) -> Handler:
    """The handler with its policy check and parsing in front, decided once per route: every
    request goes through this, so a public route without a body or query runs the bare handler."""
    policy, body_model, query_model = spec.auth, spec.body, spec.query
    if not policy.authenticated and body_model is None and query_model is None:
        return handler

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if policy.authenticated:
            await authorize(request, policy)
        if body_model is not None:
            kwargs["body"] = parse_body(request, body_model)
        if query_model is not None:
            kwargs["query"] = parse_query(request, query_model)
        return await handler(request, *args, **kwargs)

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
    return _validate(model, data)


def parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    query_string = request.query_string
    if len(query_string) <= _REMEMBERED_QUERY_CHARS:
        # A copy: a model's "before" validator may change the dict it is given.
        return _validate(model, _remembered_query_values(query_string).copy())
    return _validate(model, query_values(query_string))


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


def _validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        # What model_validate does, minus its keyword plumbing (this runs on every request).
        return model.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        # Report where and what, never the submitted value (it may be personal data).
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ValidationFailed(context={"fields": problems}) from None


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
    body = orjson.dumps(to_jsonable(data), default=_default)
    return Response(body, status=status, headers=headers, content_type="application/json")
