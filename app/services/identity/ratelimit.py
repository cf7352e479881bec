"""Fixed-window rate limits and login lockouts kept in the shared cache, so every worker counts together."""

from __future__ import annotations

import hashlib

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


class LoginLockout:
    """Failed logins counted per subject (a username, an address) within a window; the failure
    that reaches a subject's limit locks it out for a while. Successes are never counted.
    Subjects are keyed by a digest, so a username that does not exist is counted and locked the
    same way as one that does."""

    def __init__(self, cache: Cache, *, action: str, limits: dict[str, int], window_seconds: int, lockout_seconds: int):
        self._cache = cache
        self._action = action
        self._limits = limits
        self._window = window_seconds
        self._lockout = lockout_seconds

    def _key(self, what: str, kind: str, subject: str) -> str:
        digest = hashlib.sha256(subject.casefold().encode()).hexdigest()[:32]
        return f"{what}:{self._action}:{kind}:{digest}"

    async def check(self, subjects: dict[str, str]) -> None:
        """Raises RateLimited (Retry-After: the longest lockout left) while any subject is locked."""
        keys = [self._key("lock", kind, subject) for kind, subject in subjects.items()]
        locked = [key for key, value in zip(keys, await self._cache.get_many(*keys), strict=True) if value]
        if locked:
            left = [await self._cache.ttl(key) for key in locked]
            raise RateLimited(retry_after=int(max(left)) + 1 if max(left) > 0 else self._lockout)

    async def failed(self, subjects: dict[str, str]) -> list[str]:
        """Counts one failure for each subject; returns the kinds this failure locked out. Each
        lockout is reported by exactly one failure, however many arrive together."""
        newly_locked: list[str] = []
        for kind, subject in subjects.items():
            failures = self._key("fail", kind, subject)
            if await self._cache.incr(failures, ttl=self._window) == self._limits[kind]:
                await self._cache.set(self._key("lock", kind, subject), b"1", ttl=self._lockout)
                # Counting starts again after the lockout, whatever is left of the window.
                await self._cache.delete(failures)
                newly_locked.append(kind)
        return newly_locked

    def locked_out(self) -> RateLimited:
        """The answer to the failure that locked a subject out."""
        return RateLimited(retry_after=self._lockout)

    async def succeeded(self, kind: str, subject: str) -> None:
        """A success clears that subject's failures (the operator typed it right in the end)."""
        await self._cache.delete(self._key("fail", kind, subject))
