"""Operator login: failures counted per username and per address, a temporary lockout (429 with
Retry-After, one audit record), successes never counted, and unknown usernames treated alike."""

import secrets

import httpx
import pytest

from app.services.identity.operators import create_operator
from models.identity import AuditEvent
from tests.conftest import OPERATOR_PASSWORD, make_settings, start_server, stop_server

LOGIN = "/api/v1/auth/operator-login"


@pytest.fixture
async def locking(tmp_path, live):
    settings = make_settings(
        str(tmp_path),
        rate_limits={
            "operator_login_per_username": 3,
            "operator_login_per_ip": 5,
            "operator_failure_window_seconds": 60,
            "operator_lockout_seconds": 120,
        },
    )
    server = await start_server(settings, name="operator_lockout", manage_orm=False)
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
        yield client, live
    await stop_server(server)


def address() -> dict[str, str]:
    return {"X-Forwarded-For": f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"}


async def new_operator(live) -> str:
    username = "op_" + secrets.token_hex(4)
    await create_operator(
        username=username, password=OPERATOR_PASSWORD, blind_key=live.settings.security.blind_index_key
    )
    return username


async def attempt(client: httpx.AsyncClient, username: str, password: str, headers: dict | None = None):
    return await client.post(LOGIN, json={"username": username, "password": password}, headers=headers or address())


async def test_successful_logins_are_not_counted(locking):
    client, live = locking
    username, here = await new_operator(live), address()
    answers = [await attempt(client, username, OPERATOR_PASSWORD, here) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 7


async def test_failures_lock_the_username_out_from_every_address(locking):
    client, live = locking
    username = await new_operator(live)
    answers = [await attempt(client, username, "wrong-password-0") for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert answers[-1].headers["Retry-After"] == "120"
    # Locked: even the right password from a new address is refused until the lockout ends.
    locked = await attempt(client, username, OPERATOR_PASSWORD)
    assert locked.status_code == 429 and 1 <= int(locked.headers["Retry-After"]) <= 121
    events = await AuditEvent.filter(kind="operator_login_locked", subject=f"operator:{username}")
    assert len(events) == 1 and events[0].data["seconds"] == 120
    # Another operator is not affected.
    assert (await attempt(client, await new_operator(live), OPERATOR_PASSWORD)).status_code == 200


async def test_a_success_clears_the_usernames_failures(locking):
    client, live = locking
    username = await new_operator(live)
    statuses = [(await attempt(client, username, "wrong-password-0")).status_code for _ in range(2)]
    statuses.append((await attempt(client, username, OPERATOR_PASSWORD)).status_code)
    statuses += [(await attempt(client, username, "wrong-password-0")).status_code for _ in range(2)]
    assert statuses == [401, 401, 200, 401, 401]


async def test_an_unknown_username_is_answered_exactly_like_a_known_one(locking):
    client, live = locking
    known, unknown = await new_operator(live), "op_" + secrets.token_hex(4)

    async def story(username: str) -> list[tuple[int, dict, str | None]]:
        answers = [await attempt(client, username, "wrong-password-0") for _ in range(4)]
        answers.append(await attempt(client, username, OPERATOR_PASSWORD))
        return [
            (
                a.status_code,
                {k: v for k, v in a.json()["error"].items() if k != "context"},
                a.headers.get("Retry-After"),
            )
            for a in answers
        ]

    told_known, told_unknown = await story(known), await story(unknown)
    assert [s for s, _, _ in told_known] == [401, 401, 429, 429, 429]
    assert [(s, e) for s, e, _ in told_unknown] == [(s, e) for s, e, _ in told_known]
    assert await AuditEvent.filter(kind="operator_login_locked", subject=f"operator:{unknown}").count() == 1


async def test_failures_lock_the_address_out_across_usernames(locking):
    client, live = locking
    here, username = address(), await new_operator(live)
    statuses = [
        (await attempt(client, "op_" + secrets.token_hex(4), "wrong-password-0", here)).status_code for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]
    refused = await attempt(client, username, OPERATOR_PASSWORD, here)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    ip = here["X-Forwarded-For"]
    assert await AuditEvent.filter(kind="operator_login_locked", subject=f"ip:{ip}").count() == 1
    assert (await attempt(client, username, OPERATOR_PASSWORD)).status_code == 200
