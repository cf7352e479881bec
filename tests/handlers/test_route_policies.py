"""Every route declares a policy, and every non-public route refuses callers without it.

This walks the live router, so a route added later is covered automatically: no token → 401;
a plain resident on a role-restricted route → 403 with nothing but the error envelope.
"""

import re

from handlers._endpoint import EndpointSpec
from tests.conftest import login

_PARAM = re.compile(r"<([a-zA-Z_]+)(?::([^>]+))?>")
_SAMPLES = {"int": "1", "float": "1.0", "uuid": "00000000-0000-0000-0000-000000000001"}


def sample(kind: str | None) -> str:
    if kind and "|" in kind:
        return kind.split("|")[0]  # an alternation: any listed value routes
    return _SAMPLES.get(kind or "", "X1")


def concrete(path: str) -> str:
    return "/" + _PARAM.sub(lambda m: sample(m.group(2)), path).lstrip("/")


def routes(live):
    for route in live.app.router.routes:
        spec: EndpointSpec | None = getattr(route.handler, "__endpoint__", None)
        path = "/" + route.path.lstrip("/")
        if path.startswith("/sandbox"):
            continue
        yield route, spec, path


def test_every_api_route_declares_a_policy(live):
    missing = [
        path for route, spec, path in routes(live) if spec is None and not path.startswith(("/console", "/notify"))
    ]
    assert missing == []


async def test_non_public_routes_refuse_anonymous_and_wrong_roles(api, live):
    resident = await login(api)
    checked = 0
    for route, spec, path in routes(live):
        if spec is None or not spec.auth.authenticated:
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            url = concrete(path)
            anonymous = await api.request(method, url)
            assert anonymous.status_code == 401, (method, url, anonymous.text)
            assert set(anonymous.json()) == {"error", "request_id"}
            if spec.auth.any_role:
                refused = await api.request(method, url, headers=resident.headers, json={})
                assert refused.status_code == 403, (method, url, refused.text)
                assert refused.json()["error"]["code"] == "forbidden"
            checked += 1
    assert checked >= 10


async def test_unknown_route_and_method(api):
    missing = await api.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = await api.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
