"""Catalogue scenarios (issue 3): the cached zone listing and search, at 1,000 and 100,000 items.

Targets on one worker: cached zone listing >= 60% of the bare reference; search p99 <= 30 ms at
100,000 items with 50 concurrent clients. The catalogue is stored with `python -m app seed-demo
--scale N` (idempotent, so the 100,000 run adds to the 1,000 one), then the service restarts so
every worker builds its search index from the new data (with the in-process Redis stand-in a
separate command cannot signal the running service).

Search requests rotate through everyday words, pinyin, initials, typos and region filters taken
from the quality set, so both fresh queries and the per-worker result cache are exercised.
"""

from __future__ import annotations

from urllib.parse import urlencode

from bench.harness import BenchContext, Request, Scenario
from tests.unit.test_search_quality import QUALITY_SET

SMALL, LARGE = 1_000, 100_000
ZONES_PATH = "/api/v1/zones?region=440106&audience=individual"
_REGIONS = (None, "440106", "440300", "441900", "445381")


async def _seed(ctx: BenchContext, scale: int) -> None:
    async def make() -> int:
        await ctx.run_app("seed-demo", "--scale", str(scale), time_limit=3600)
        await ctx.restart_service()
        return scale

    if ctx.state.get("catalogue:scale") != scale:
        await make()
        ctx.state["catalogue:scale"] = scale


def _search_requests(ctx: BenchContext, count: int) -> list[Request]:
    requests = []
    for index, (query, region, audience, _, _) in enumerate(QUALITY_SET):
        params = {"q": query}
        region = region or _REGIONS[index % len(_REGIONS)]
        if region:
            params["region"] = region
        if audience:
            params["audience"] = audience
        requests.append(Request(path="/api/v1/search?" + urlencode(params)))
    return requests


def scenarios(ctx: BenchContext) -> list[Scenario]:
    rows = []
    for scale, label in ((SMALL, "1k"), (LARGE, "100k")):
        rows.append(
            Scenario(
                name=f"catalogue-zones-{label}",
                path=ZONES_PATH,
                setup=lambda ctx, scale=scale: _seed(ctx, scale),
                target_ratio=0.6,
                note=f"{scale:,} items, cached listing",
            )
        )
        rows.append(
            Scenario(
                name=f"catalogue-search-{label}",
                path="/api/v1/search?q=jiashizheng",
                requests=_search_requests,
                setup=lambda ctx, scale=scale: _seed(ctx, scale),
                connections=50,
                target_p99_ms=30,
                note=f"{scale:,} items, {len(QUALITY_SET)} queries, 50 clients",
            )
        )
    return rows
