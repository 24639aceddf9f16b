"""One asyncio lock per conversation, dropped as soon as nobody holds or waits for it.

Keeps a conversation's messages in order within this process without keeping a
lock for every conversation ever seen. With several desk instances (`make cluster`),
`ClusterLocks` adds a lock in Redis around it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


class KeyedLocks:
    def __init__(self) -> None:
        # key -> (lock, how many hold it or wait for it)
        self._entries: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[bool]:
        """Holds the key's lock; yields True when it was free (nobody held or awaited it)."""
        lock, users = self._entries.get(key) or (asyncio.Lock(), 0)
        self._entries[key] = (lock, users + 1)
        try:
            async with lock:
                yield users == 0
        finally:
            lock, users = self._entries[key]
            if users == 1:
                del self._entries[key]
            else:
                self._entries[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._entries)


# How long a desk waits for Redis (restarting) before it gives a message up to the sweep.
REDIS_WAIT_S = 5.0


class ClusterLocks:
    """A conversation's lock across desk instances: the in-process lock, then one in Redis.

    The in-process lock keeps the order of the messages this desk received (asyncio locks are
    FIFO; Redis's are not); the Redis lock makes sure that no other desk sends the same
    conversation to Rasa meanwhile, so two Rasa replicas never process one conversation at
    once (Rasa's own RedisLockStore has a race, RasaHQ/rasa#9213). The Redis lock expires after
    `ttl` seconds unless renewed, and it is renewed while held: a desk killed while holding it
    blocks that conversation for at most `ttl` seconds.
    """

    def __init__(
        self, redis: Any, ttl: float = 6.0, prefix: str = "desk:conversation-lock:", redis_wait_s: float = REDIS_WAIT_S,
        required: bool = True,
    ):  # fmt: skip
        """`required=False`: when Redis cannot be reached within `redis_wait_s`, the holder goes on with the
        in-process lock only (for locks that order what is emitted, where the database decides the rest)."""
        self.local = KeyedLocks()
        self.redis = redis
        self.ttl = ttl
        self.prefix = prefix
        self.redis_wait_s = redis_wait_s
        self.required = required

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[bool]:
        from redis.exceptions import ConnectionError as RedisDown
        from redis.exceptions import TimeoutError as RedisSlow

        async with self.local.hold(key):
            lock = self.redis.lock(self.prefix + key, timeout=self.ttl, sleep=0.02)
            try:
                await self._acquire(lock)
            except (RedisDown, RedisSlow):
                if self.required:
                    raise
                lock = None
            renewing = asyncio.create_task(self._renew(lock)) if lock is not None else None
            try:
                # Another desk may have routed a message of this conversation meanwhile.
                yield False
            finally:
                if renewing is not None:
                    renewing.cancel()
                    with contextlib.suppress(Exception):  # expired or Redis gone: the lock is free anyway
                        await lock.release()

    async def _acquire(self, lock: Any) -> None:
        """Waits for the lock; rides out a Redis restart of up to `redis_wait_s` (then the error goes up
        and the message, stored already, is routed by the sweep of unrouted messages)."""
        from redis.exceptions import ConnectionError as RedisDown
        from redis.exceptions import TimeoutError as RedisSlow

        deadline = asyncio.get_running_loop().time() + self.redis_wait_s
        while True:
            try:
                await lock.acquire()
                return
            except (RedisDown, RedisSlow):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def _renew(self, lock: Any) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            with contextlib.suppress(Exception):  # Redis restarting: the next renewal may work
                await lock.reacquire()

    def __len__(self) -> int:
        return len(self.local)
