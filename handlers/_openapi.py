"""Builds the OpenAPI 3.1 document from the routes and their @endpoint specs."""

from __future__ import annotations

import copy
import itertools
import re
from http import HTTPStatus
from typing import Any

from sanic import Sanic

from app.context import REQUEST_ID
from app.db import MAX_ID
from app.errors import AppError
from handlers._endpoint import EndpointSpec, Lookup

_PARAM = re.compile(r"<([a-zA-Z_][a-zA-Z0-9_]*)(?::([^>]+))?>")
_TEMPLATE = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)}")
_PARAM_TYPES: dict[str, dict[str, Any]] = {"int": {"type": "integer"}, "float": {"type": "number"}}
_NO_BODY = frozenset({204, 304})


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error", "request_id"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "context"],
                "properties": {
                    "code": {"type": "string", "description": "stable snake_case code"},
                    "message": {"type": "string"},
                    "context": {"type": "object", "description": "details for the code; {} when none"},
                },
            },
            "request_id": {"type": "string"},
        },
    }


_ERROR_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_WAIT = "seconds to wait before sending the request again"
_BAD_GATEWAY = ": an outside party (WeChat, a pay channel, a billing agency) failed or refused the request"
_RETRY_AFTER: dict[str, Any] = {"description": _WAIT, "schema": {"type": "integer", "minimum": 1}}
# A route that answers 304 compares If-None-Match with the ETag it sends (handlers/_endpoint.not_modified).
_IF_NONE_MATCH = {
    "name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "an ETag this route answered before (or *): 304 without a body while it still applies",
}
_ETAG = {"ETag": {"description": "send it back in If-None-Match", "schema": {"type": "string"}}}
# Every route honours it (app/factory.py); inline, so each operation lists every header it reads.
_REQUEST_ID = {
    "name": "X-Request-ID", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": REQUEST_ID.pattern},
    "description": "the caller's own request id for the answer, its error envelope and the logs; else a new one",
}


def _shared_responses() -> dict[str, Any]:
    """Answers the shared error renderer (app/factory.py) gives on any route, documented once."""
    return {
        "StoreUnavailable": {
            "description": (
                "Error: store_unavailable: PostgreSQL, Redis or a locked SQLite file did not answer; what the "
                "request wrote was one transaction or nothing, so it may be sent again after Retry-After "
                "seconds. (service_unavailable: the answer took longer than the request timeout.)"
            ),
            "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
            **_ERROR_REF,
        },
        "RateLimited": {
            "description": "Error: rate_limited; context.retry_after is the Retry-After header's value",
            "headers": {"Retry-After": {**_RETRY_AFTER, "required": True}},
            **_ERROR_REF,
        },
    }


def build_openapi(app: Sanic) -> dict[str, Any]:
    """The contract: the routes declared with @endpoint. The sandbox's routes (/sandbox/...) are
    a development stand-in for outside parties, never served in production, and not in it."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": _error_schema()}
    statuses = _codes_by_status()
    for route in app.router.routes:
        spec: EndpointSpec | None = getattr(route.handler, "__endpoint__", None)
        uri = "/" + route.path.lstrip("/")
        if spec is None:
            continue
        for openapi_path, params, variant in _concrete_paths(uri, spec):
            for method in sorted(route.methods):
                if method in ("HEAD", "OPTIONS"):
                    continue
                operation = _operation(spec, route, params, schemas, statuses)
                if variant and "operationId" in operation:
                    operation["operationId"] += "_" + variant
                paths.setdefault(openapi_path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Government services mini-program API",
            "version": "1.0.0",
            "description": "Residents, businesses, inspectors and operators. Errors use the Error envelope with a stable code.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": _shared_responses(),
            "headers": {"RetryAfter": {**_RETRY_AFTER, "description": "always sent with store_unavailable: " + _WAIT}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _concrete_paths(uri: str, spec: EndpointSpec) -> list[tuple[str, list[dict[str, Any]], str]]:
    """The OpenAPI paths of one route, each with its path parameters and a variant name.

    A parameter that is an alternation (`<action:publish|retire>`) is a fixed word, so the route
    is one documented path per word; `documented_path` replaces the route's own spelling."""
    lookups = spec.path
    kinds = {m.group(1): m.group(2) or "" for m in _PARAM.finditer(uri)}
    if spec.documented_path:
        named = _TEMPLATE.findall(spec.documented_path)
        assert sorted(named) == sorted(kinds), f"{spec.documented_path} does not name the parameters of {uri}"
        return [(spec.documented_path, [_parameter(name, kinds[name], lookups.get(name)) for name in named], "")]
    fixed = {name: kind.split("|") for name, kind in kinds.items() if "|" in kind}
    params = [_parameter(name, kind, lookups.get(name)) for name, kind in kinds.items() if name not in fixed]
    found = []
    for words in itertools.product(*fixed.values()):
        chosen = dict(zip(fixed, words, strict=True))

        def spell(m: re.Match[str], chosen: dict[str, str] = chosen) -> str:
            return chosen.get(m.group(1)) or "{" + m.group(1) + "}"

        found.append((_PARAM.sub(spell, uri), params, "_".join(words)))
    return found


def _parameter(name: str, kind: str, lookup: Lookup | None) -> dict[str, Any]:
    schema: dict[str, Any] = dict(_PARAM_TYPES.get(kind, {"type": "string"}))
    if lookup is not None and schema["type"] == "integer":
        schema.update(format="int64", minimum=1, maximum=MAX_ID)
    elif lookup is not None and lookup.max_length is not None:
        schema["maxLength"] = lookup.max_length
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _codes_by_status() -> dict[str, int]:
    """Every error code the application raises, with its status."""
    found: dict[str, int] = {}
    classes: list[type[AppError]] = [AppError]
    while classes:
        cls = classes.pop()
        found.setdefault(cls.code, cls.status)
        classes.extend(cls.__subclasses__())
    return found


def _operation(
    spec: EndpointSpec, route: Any, params: list[dict[str, Any]], schemas: dict[str, Any], statuses: dict[str, int]
) -> dict[str, Any]:
    """`statuses`: every error code's HTTP status (_codes_by_status, read once per document)."""
    error_ref = _ERROR_REF
    client_errors = [code for code in spec.errors if statuses.get(code, 400) < 500]
    unavailable = [code for code in spec.errors if statuses.get(code) == 503]
    # 502: an outside party failed or refused (upstream_error, or the route's own such code).
    bad_gateway = [code for code in spec.errors if statuses.get(code) == 502]
    body_ref = None
    if spec.response is not None:
        schemas[spec.response.__name__] = _schema(spec.response, schemas)
        body_ref = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{spec.response.__name__}"}}}}
    responses: dict[str, Any] = {}
    conditional = 304 in spec.statuses
    for status in spec.statuses:
        responses[str(status)] = {"description": HTTPStatus(status).phrase}
        if conditional and status in (200, 304):
            responses[str(status)]["headers"] = copy.deepcopy(_ETAG)
        if body_ref is not None and status not in _NO_BODY:
            responses[str(status)].update(body_ref)
    responses["4XX"] = {"description": "Error: " + (", ".join(client_errors) or "see code"), **error_ref}
    if "rate_limited" in spec.errors:
        responses["429"] = {"$ref": "#/components/responses/RateLimited"}
    if bad_gateway:
        responses["502"] = {"description": "Error: " + ", ".join(bad_gateway) + _BAD_GATEWAY, **error_ref}
    # Any route may meet a store outage: the shared renderer answers it (README "The API").
    responses["503"] = {"$ref": "#/components/responses/StoreUnavailable"}
    if unavailable:  # the route's own 503s too, which carry no Retry-After
        responses["503"] = {
            "description": "Error: store_unavailable (with Retry-After), " + ", ".join(unavailable),
            "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
            **error_ref,
        }
    responses.update(copy.deepcopy(spec.responses))
    operation: dict[str, Any] = {
        "summary": spec.summary,
        "operationId": route.name.replace(".", "_"),
        "tags": list(spec.tags) or [route.name.split(".")[1] if "." in route.name else "default"],
        "parameters": [*params, *_header_parameters(spec), copy.deepcopy(_REQUEST_ID)],
        "x-auth-policy": spec.auth.name,
        "description": f"Who may call: {spec.auth.description}",
        "responses": responses,
    }
    if spec.auth.authenticated:
        # These answer the route's own 401 and 403 codes too: a client reads them, not 4XX.
        def listing(status: int, *shared: str) -> str:
            return ", ".join(dict.fromkeys([*shared, *(c for c in client_errors if statuses.get(c) == status)]))

        operation["security"] = [{"bearer": []}]
        operation["responses"]["401"] = {
            "description": listing(401, "unauthorized", "token_invalid", "token_expired"), **error_ref,
        }
        face = ("face_verification_required",) if spec.auth.face else ()
        operation["responses"]["403"] = {"description": listing(403, "forbidden", *face), **error_ref}
    if spec.body is not None:
        schemas[spec.body.__name__] = _schema(spec.body, schemas)
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{spec.body.__name__}"}}},
        }
    elif spec.documented_body:
        content: dict[str, Any] = {}
        for media, described in spec.documented_body.items():
            if isinstance(described, dict):
                content[media] = {"schema": copy.deepcopy(described)}
            else:
                schemas[described.__name__] = _schema(described, schemas)
                content[media] = {"schema": {"$ref": f"#/components/schemas/{described.__name__}"}}
        operation["requestBody"] = {"required": True, "content": content}
    if spec.query is not None:
        for name, prop in _schema(spec.query, schemas).get("properties", {}).items():
            required = name in spec.query.model_json_schema().get("required", [])
            operation["parameters"].append({"name": name, "in": "query", "required": required, "schema": prop})
    return operation


def _header_parameters(spec: EndpointSpec) -> list[dict[str, Any]]:
    found = [
        {"name": h.name, "in": "header", "required": h.required, "schema": dict(h.schema), "description": h.description}
        for h in spec.headers
    ]
    if 304 in spec.statuses:
        found.append(dict(_IF_NONE_MATCH))
    return found


def _schema(model: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    return schema


DOCS_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>API</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:14px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2129}
header{background:#1677ff;color:#fff;padding:16px 24px}h1{margin:0;font-size:20px}
main{max-width:1100px;margin:auto;padding:16px}
details{background:#fff;border:1px solid #e5e6eb;border-radius:6px;margin:6px 0}
summary{cursor:pointer;padding:8px 12px;font-family:ui-monospace,monospace}
.m{display:inline-block;width:64px;font-weight:700}.get{color:#00a870}.post{color:#1677ff}.put{color:#ff7d00}.delete{color:#f53f3f}.patch{color:#722ed1}
.auth{float:right;color:#86909c;font-family:system-ui}
pre{background:#f2f3f5;margin:0 12px 12px;padding:8px;overflow:auto;border-radius:4px}
h2{font-size:16px;margin:20px 0 6px}
</style></head><body><header><h1>API reference</h1><div>OpenAPI document: <a style="color:#fff" href="/openapi.json">/openapi.json</a></div></header>
<main id="root">Loading…</main>
<script>
fetch('/openapi.json').then(r=>r.json()).then(doc=>{
  const root=document.getElementById('root');root.textContent='';
  const groups={};
  for(const [path,ops] of Object.entries(doc.paths)) for(const [m,op] of Object.entries(ops)) (groups[(op.tags||['other'])[0]] ||= []).push([m,path,op]);
  for(const [tag,list] of Object.entries(groups).sort()){
    const h=document.createElement('h2');h.textContent=tag;root.appendChild(h);
    for(const [m,path,op] of list){
      const d=document.createElement('details');const s=document.createElement('summary');
      s.innerHTML='<span class="m '+m+'">'+m.toUpperCase()+'</span>';s.append(path+'  '+(op.summary||''));
      const a=document.createElement('span');a.className='auth';a.textContent=op['x-auth-policy']||'';s.appendChild(a);
      const pre=document.createElement('pre');const body=op.requestBody?doc.components.schemas[op.requestBody.content['application/json'].schema.$ref.split('/').pop()]:null;
      pre.textContent=JSON.stringify({description:op.description,parameters:op.parameters,body,responses:op.responses},null,2);
      d.append(s,pre);root.appendChild(d);
    }
  }
});
</script></body></html>"""
