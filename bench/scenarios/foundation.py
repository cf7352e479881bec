"""Foundation scenarios (issue 2): health check, login through the sandbox, the caller's profile.

Targets, relative to the bare Sanic reference on the same machine in the same run:
GET /api/v1/me >= 35%, login >= 10%.
"""

from __future__ import annotations

from bench.harness import BenchContext, Request, Scenario, Session, client_ip

RETURNING_USERS = 100  # distinct residents whose logins and tokens the scenarios rotate through


async def _returning_users(ctx: BenchContext) -> list[Session]:
    return await ctx.once("foundation:residents", lambda: ctx.login_many(RETURNING_USERS))


async def _login_requests(ctx: BenchContext, count: int, *, returning: bool) -> list[Request]:
    openids = [s.openid for s in await _returning_users(ctx) if s.openid] if returning else None
    codes = await ctx.login_codes(count, openids=openids)
    # A different client address per request keeps the per-IP login limit out of the measurement.
    return [Request(body={"code": code}, headers={"X-Forwarded-For": client_ip()}) for code, _ in codes]


async def returning_logins(ctx: BenchContext, count: int) -> list[Request]:
    return await _login_requests(ctx, count, returning=True)


async def first_logins(ctx: BenchContext, count: int) -> list[Request]:
    return await _login_requests(ctx, count, returning=False)


async def profile_requests(ctx: BenchContext, count: int) -> list[Request]:
    return [Request(headers=s.headers) for s in await _returning_users(ctx)]


def scenarios(ctx: BenchContext) -> list[Scenario]:
    return [
        Scenario(name="healthz", path="/healthz", note="database and cache ping"),
        Scenario(
            name="login", method="POST", path="/api/v1/auth/login", requests=returning_logins, single_use=True,
            target_ratio=0.10, note=f"{RETURNING_USERS} returning residents; the code goes to the sandbox over HTTP",
        ),
        Scenario(
            name="login-first-time", method="POST", path="/api/v1/auth/login", requests=first_logins,
            single_use=True, note="a new resident per request",
        ),
        Scenario(
            name="me", path="/api/v1/me", requests=profile_requests, target_ratio=0.35,
            note=f"{RETURNING_USERS} tokens rotated",
        ),
    ]
