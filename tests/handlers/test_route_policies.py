"""Every route declares a policy, and every non-public route refuses callers without it.

This walks the live router, so a route added later is covered automatically: no token → 401;
a plain resident on a role-restricted route → 403 with nothing but the error envelope.
"""

import re

from handlers._endpoint import EndpointSpec
from tests.conftest import bind_realname, login, pass_face, seed_guangdong_regions

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


# A number no 64-bit id can be, and text longer than any key column; each also the shape of
# the other (a zone is addressed by id or by slug).
_OVERSIZE = {"int": str(2**63), "str": ("9" * 19, "x" * 300), "path": ("x" * 300,)}


def oversize_urls(path: str):
    """The path with one parameter at a time replaced by a value no row can hold: yields the
    parameter's name, the value as the handler gets it, and the URL."""
    for m in _PARAM.finditer(path):
        kind = m.group(2) or "str"
        if "|" in kind:
            continue
        values = _OVERSIZE.get(kind, _OVERSIZE["str"])
        for value in (values,) if isinstance(values, str) else values:
            url = concrete(path[: m.start()] + value + path[m.end():])
            yield m.group(1), int(value) if kind == "int" else value, url


async def test_path_values_no_row_can_hold_answer_not_found(api, live, operator):
    """An id beyond 64 bits or a key longer than its column names nothing: the route answers as
    for an unknown one (its own not-found code), after its policy, and never a 500."""
    await seed_guangdong_regions()  # else the public zone and bundle routes stop at the region
    resident = await pass_face(api, await bind_realname(api, await login(api)))
    checked = 0
    for route, spec, path in routes(live):
        if "<" not in path:
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            for name, value, url in oversize_urls(path):
                anonymous = await api.request(method, url)
                assert anonymous.status_code < 500, (method, url, anonymous.text[:300])
                if spec is None:
                    continue
                caller = operator if spec.auth.any_role & {"operator"} else resident
                answer = await api.request(method, url, headers=caller.headers, json={})
                assert answer.status_code < 500, (method, url, answer.text[:300])
                error = answer.json()["error"]
                assert set(error) == {"code", "message", "context"}, (method, url)
                lookup = spec.path.get(name)
                if lookup is not None and lookup.names_nothing(value):
                    assert answer.status_code == 404, (method, url, answer.text[:300])
                    assert error["code"] == lookup.not_found.code, (method, url, error)
                checked += 1
    assert checked >= 40


async def test_path_values_as_long_as_their_column_reach_the_database_safely(api, live, operator):
    """The bounds are not looser than the columns: the longest value a Lookup lets through is
    an ordinary unknown value to the database (a too-generous bound would give a 500 here)."""
    resident = await pass_face(api, await bind_realname(api, await login(api)))
    checked = 0
    for route, spec, path in routes(live):
        if spec is None:
            continue
        for name, lookup in spec.path.items():
            if lookup.max_length is None:
                value = str(2**63 - 1)
            else:
                value = "Z" * lookup.max_length
            url = concrete(re.sub(rf"<{name}(:[^>]+)?>", value, path))
            caller = operator if spec.auth.any_role & {"operator"} else resident
            for method in route.methods - {"HEAD", "OPTIONS"}:
                answer = await api.request(method, url, headers=caller.headers, json={})
                assert answer.status_code < 500, (method, url, answer.text[:300])
                checked += 1
    assert checked >= 30


async def test_method_not_allowed_names_the_allowed_methods(api):
    resident = await login(api)
    wrong = await api.delete("/api/v1/me", headers=resident.headers)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert sorted(m.strip() for m in wrong.headers["allow"].split(",")) == ["GET", "HEAD"]
    post_only = await api.get("/api/v1/auth/login")
    assert post_only.status_code == 405 and post_only.headers["allow"] == "POST"


async def test_every_get_route_answers_head_without_a_body(api, live):
    for path in ("/healthz", "/api/v1/regions"):
        got, head = await api.get(path), await api.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b"" and head.headers["content-length"] == str(len(got.content))
        assert head.headers["content-type"] == got.headers["content-type"]
    for route, _spec, path in routes(live):
        if "GET" in route.methods:
            head = await api.head(concrete(path))
            assert head.status_code != 405 and head.content == b"", (path, head.status_code)
