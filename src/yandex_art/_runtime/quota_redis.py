"""The Redis quota store: a sorted set per budget, changed by one Lua script.

For processes on several hosts (``redis://host:port/db``; needs
``yandex-art-sdk[redis]``). The script makes each change atomic and times it
by the Redis server's clock, so the hosts' clocks do not matter. It decides
when an entry fits exactly as the local store does (``quota_file``).
"""

from __future__ import annotations

import secrets
from typing import Any

from .errors import ConfigurationError
from .quota_store import DAMPING, QuotaStore, Taken

__all__ = ["RedisStore"]

# KEYS[1]: the log (member: token, score: expiry); KEYS[2]: the pressure hash.
# ARGV: operation, limit, hold, token. Times are the server's, so hosts' clocks do not matter.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op, limit, hold = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl = math.ceil((hold + 2) * 1000)
if op == 'release' then
  local old = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[4]) or '0')
  if old < now + hold then redis.call('ZADD', KEYS[1], now + hold, ARGV[4]) end
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1, '0'}
end
local p = redis.call('HMGET', KEYS[2], 'until', 'cap', 'last')
local untl, cap, last = tonumber(p[1] or '0'), tonumber(p[2] or '0'), tonumber(p[3] or '0')
if op == 'exhausted' then
  if now - last > tonumber(ARGV[5]) then
    if now >= untl then cap = limit end
    cap = math.max(1, math.floor(cap / 2))
    last = now
  end
  untl = math.max(untl, now + hold)
  redis.call('HSET', KEYS[2], 'until', tostring(untl), 'cap', cap, 'last', tostring(last))
  redis.call('PEXPIRE', KEYS[2], math.ceil((untl - now + 1) * 1000))
  return {1, '0'}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. tostring(now + hold + 1), '+inf')
local n = redis.call('ZCARD', KEYS[1])
local function free_at(c)
  if n < c then return now end
  local e = redis.call('ZRANGE', KEYS[1], n - c, n - c, 'WITHSCORES')
  return tonumber(e[2])
end
local at = free_at(limit)
if now < untl then at = math.min(free_at(math.max(1, math.min(cap, limit))), math.max(at, untl)) end
if at > now then return {0, tostring(at - now)} end
redis.call('ZADD', KEYS[1], now + hold, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, '0'}
"""


class RedisStore(QuotaStore):
    """Budgets in Redis (``redis://host:port/db``), for processes on several hosts."""

    blocking = True

    def __init__(self, url: str, *, timeout: float = 0.5) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                f"quota store {url!r} needs the redis client: pip install 'yandex-art-sdk[redis]'"
            ) from None
        self.url = url
        self.name = _without_password(url)
        self._timeout = timeout
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Short timeouts and no retries: an unreachable store costs a client half a second
        # (then SharedBudget leaves it alone for a while), never a hang.
        self._redis: Any = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            retry=Retry(NoBackoff(), 0),
        )
        self._script: Any = self._redis.register_script(_LUA)

    def fresh(self) -> RedisStore:
        return self  # redis-py's pool opens new connections in a forked child

    def _run(self, key: str, *args: object) -> list[Any]:
        keys = [f"yandex-art:{key}", f"yandex-art:{key}:p"]
        result: list[Any] = self._script(keys=keys, args=args)
        return result

    def take(self, key: str, limit: int, hold: float) -> Taken:
        token = secrets.token_hex(8)
        granted, wait = self._run(key, "take", limit, hold, token)
        return Taken(token) if int(granted) else Taken(None, max(float(wait), 0.0))

    def release(self, key: str, token: str, hold: float) -> None:
        self._run(key, "release", 0, hold, token)

    def note_exhausted(self, key: str, limit: int, hold: float) -> None:
        self._run(key, "exhausted", limit, hold, "", DAMPING)


def _without_password(url: str) -> str:
    """The URL as it may be logged: a password in it is masked."""
    scheme, sep, rest = url.partition("://")
    _, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}"
