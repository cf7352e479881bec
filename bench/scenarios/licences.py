"""Licence scenarios (issue 4): minting presentations, inspecting them, the trust list, QR PNGs.

Targets, relative to the bare Sanic reference on the same machine in the same run: inspection
>= 25%, and inspection with 1,000,000 licences within 20% of the rate with 10,000 (compare the
two `licence-inspect-*` rows; the 1M rows run on PostgreSQL only, `--database postgres`). The
licence table is filled with `python -m app licences-bulk-generate`. Each inspection request
carries a fresh presentation (a code is accepted once), minted through the API before the run.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from urllib.parse import quote

from bench.harness import BenchContext, Request, Scenario, Session, client_ip

FOOD = "11100000MB0143000Y001"
SAMR = "11440000MB2C901609"
BUSINESSES = 20  # licences whose presentations the scenarios rotate through
SMALL, LARGE = 10_000, 1_000_000
KEY_STEMS = (("gd-samr-2025", "2025-01-01T00:00:00Z"), ("gd-samr-2026", "2026-01-01T00:00:00Z"))

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _id_number(n: int) -> str:
    first17 = f"440106198801{(n % 28) + 1:02d}{n % 1000:03d}"
    return first17 + _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _credit_code() -> str:
    body = "91440106" + "".join(random.choice(_USCC) for _ in range(9))
    return body + _USCC[(31 - sum(_USCC.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True)) % 31) % 31]


@dataclass
class World:
    owner_openids: list[str]
    licence_ids: list[int]
    inspector_openid: str


async def _ok(response, what: str) -> dict:
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
    return response.json()


async def _world(ctx: BenchContext) -> World:
    async def make() -> World:
        operator = await ctx.operator()
        http, headers = ctx.http, operator.headers
        await _ok(await http.put(f"/api/v1/admin/licence-types/{FOOD}", headers=headers, json={
            "name": "食品经营许可证", "department": "市场监督管理局", "holder_kind": "enterprise",
            "field_schema": {"licence_no": {"label": "许可证编号", "required": True},
                             "legal_rep": {"label": "法定代表人", "required": True},
                             "address": {"label": "经营场所", "required": True},
                             "scope": {"label": "经营项目", "required": True}},
            "qr_fields": ["licence_no", "scope"],
            "visible_fields": {"inspector": ["licence_no", "scope", "address"]},
        }), "licence type")
        await _ok(await http.put(f"/api/v1/admin/licence-issuers/{SAMR}", headers=headers, json={
            "name": "广东省市场监督管理局", "region_code": "440000", "licence_types": [FOOD]}), "issuer")
        keys = ctx.project_root / "certs" / "sandbox" / "licences"
        for stem, signs_from in KEY_STEMS:
            await _ok(await http.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys", headers=headers, json={
                "certificate_pem": (keys / f"{stem}.cert.pem").read_text(), "signs_from": signs_from}), "issuer key")
        owners, licence_ids = [], []
        for n in range(BUSINESSES):
            owner = await ctx.login()
            id_number = _id_number(random.randrange(10**6))
            await _ok(await http.post("/api/v1/me/realname", headers=owner.headers,
                                      json={"name": "王五", "id_number": id_number}), "realname")
            credit_code = _credit_code()
            await _ok(await http.post("/api/v1/admin/enterprises", headers=headers, json={
                "credit_code": credit_code, "name": f"基准测试餐饮公司{n}", "region_code": "440106",
                "legal_rep_name": "王五", "legal_rep_id_number": id_number}), "enterprise")
            issued = await _ok(await http.post("/api/v1/admin/licences", headers=headers, json={
                "type_code": FOOD, "issuer_code": SAMR, "serial": f"BENCH{random.randrange(16**8):08X}",
                "holder": {"name": f"基准测试餐饮公司{n}", "credit_code": credit_code}, "region_code": "440106",
                "data": {"licence_no": f"JY{n:014d}", "legal_rep": "王五", "address": "广州市天河区某路1号",
                         "scope": "热食类食品制售；冷食类食品制售"},
                "valid_from": "2025-01-01", "valid_until": "2030-12-31"}), "licence")
            owners.append(owner.openid or "")
            licence_ids.append(issued["id"])
        inspector = await ctx.login()
        await _ok(await http.post("/api/v1/me/realname", headers=inspector.headers,
                                  json={"name": "李四", "id_number": _id_number(random.randrange(10**6))}), "realname")
        await _ok(await http.put(f"/api/v1/admin/inspectors/{inspector.user_id}", headers=headers,
                                 json={"licence_types": [FOOD], "regions": ["440000"]}), "inspector scope")
        return World(owners, licence_ids, inspector.openid or "")

    return await ctx.once("licences:world", make)


async def _sessions(ctx: BenchContext) -> tuple[list[Session], Session]:
    """Fresh tokens (a bulk load may outlast an access token): owners, then the inspector."""
    world = await _world(ctx)

    async def make() -> tuple[list[Session], Session]:
        owners = [await ctx.login(openid) for openid in world.owner_openids]
        return owners, await ctx.login(world.inspector_openid)

    return await ctx.once(f"licences:sessions:{ctx.state.get('licences:dataset', 0)}", make)


async def _fill(ctx: BenchContext, count: int) -> None:
    await _world(ctx)
    await ctx.run_app("licences-bulk-generate", "--count", str(count), "--type-code", FOOD, "--issuer-code", SAMR,
                      time_limit=3600)
    ctx.state["licences:dataset"] = count


async def _presentations(ctx: BenchContext, count: int) -> list[tuple[int, Session, str]]:
    world = await _world(ctx)
    owners, _ = await _sessions(ctx)
    semaphore = asyncio.Semaphore(16)

    async def one(index: int) -> tuple[int, Session, str]:
        slot = index % len(owners)
        licence_id, owner = world.licence_ids[slot], owners[slot]
        async with semaphore:
            body = await _ok(await ctx.http.post(f"/api/v1/licences/{licence_id}/presentations",
                                                 headers=owner.headers), "presentation")
        return licence_id, owner, body["payload"]

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def mint_requests(ctx: BenchContext, count: int) -> list[Request]:
    world = await _world(ctx)
    owners, _ = await _sessions(ctx)
    return [Request(path=f"/api/v1/licences/{licence_id}/presentations", headers=owner.headers)
            for licence_id, owner in zip(world.licence_ids, owners, strict=True)]


async def inspect_requests(ctx: BenchContext, count: int) -> list[Request]:
    _, inspector = await _sessions(ctx)
    return [Request(body={"payload": payload}, headers={**inspector.headers, "X-Forwarded-For": client_ip()})
            for _, _, payload in await _presentations(ctx, count)]


async def png_requests(ctx: BenchContext, count: int) -> list[Request]:
    return [Request(path=f"/api/v1/licences/{licence_id}/presentations/{quote(payload, safe='')}.png",
                    headers=owner.headers)
            for licence_id, owner, payload in await _presentations(ctx, min(count, 200))]


def _dataset(count: int) -> object:
    async def setup(ctx: BenchContext) -> None:
        if ctx.state.get("licences:dataset", 0) < count:
            await _fill(ctx, count)

    return setup


def scenarios(ctx: BenchContext) -> list[Scenario]:
    sizes = [SMALL] + ([LARGE] if ctx.database == "postgres" else [])
    listed: list[Scenario] = []
    for size in sizes:
        label = "10k" if size == SMALL else "1m"
        listed += [
            Scenario(name=f"licence-mint-{label}", method="POST", path="/api/v1/licences/0/presentations",
                     requests=mint_requests, setup=_dataset(size),  # type: ignore[arg-type]
                     note=f"{size:,} licences; ES256 COSE + base45, {BUSINESSES} holders rotated"),
            Scenario(name=f"licence-inspect-{label}", method="POST", path="/api/v1/inspections",
                     requests=inspect_requests, single_use=True, target_ratio=0.25,
                     note=f"{size:,} licences; each code fresh (replay check, status, scope, record)"),
        ]
    listed += [
        Scenario(name="licence-trust-list", path="/.well-known/licence-trust-list",
                 note="signed trust list, served from the cache"),
        Scenario(name="licence-qr-png", path="/api/v1/licences/0/presentations/x.png", requests=png_requests,
                 note="verify the payload, then render a version-15 PNG (zxing-cpp encoder + zlib)"),
    ]
    return listed
