"""One asyncio lock per conversation, dropped as soon as nobody holds or waits for it.

Keeps a conversation's messages in order within this process without keeping a
lock for every conversation ever seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


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
