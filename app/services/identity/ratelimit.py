"""Fixed-window rate limits kept in the shared cache, so every worker counts together."""

from __future__ import annotations

from app.errors import RateLimited
from app.ports import Cache


class RateLimiter:
    def __init__(self, cache: Cache, *, window_seconds: int):
        self._cache = cache
        self._window = window_seconds

    async def hit(self, action: str, subject_kind: str, subject: str, *, limit: int) -> None:
        """Count one attempt; raises RateLimited (with Retry-After) past the limit."""
        key = f"rl:{action}:{subject_kind}:{subject}"
        count = await self._cache.incr(key, ttl=self._window)
        if count > limit:
            remaining = await self._cache.ttl(key)
            raise RateLimited(retry_after=int(remaining) + 1 if remaining > 0 else self._window)
