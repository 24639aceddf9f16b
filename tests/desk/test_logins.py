"""Password hashing runs in an executor of its own: a burst of log-ins does not hold up citizens, nor
the database work of log-ins and sessions (every console request checks its session on that pool)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import aiohttp

from bot.desk.accounts import FREE_ATTEMPTS
from tests.desk.helpers import Clerk, new_id, say, wait_for


async def test_a_burst_of_log_ins_does_not_hold_up_a_citizen(desk_without_rasa, monkeypatch):
    server = desk_without_rasa
    clerk = await Clerk.login(server, "哈希队列")  # logged in before the burst; its success gives the attempt back
    finished: list[float] = []
    hashing: list[float] = []
    real = hashlib.scrypt

    def timed(*args, **kwargs):
        hashing.append(time.monotonic())  # a scrypt run started: the burst is in the hashing thread
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", timed)

    async def log_in(http: aiohttp.ClientSession, index: int) -> None:
        # Unknown names: each costs one scrypt (the decoy); five, the attempts the throttle per
        # address lets through before its backoff (bot/desk/accounts.py FREE_ATTEMPTS).
        async with http.post(f"{server.url}/api/login", json={"name": f"nobody{index}", "password": "x" * 12}) as reply:
            assert reply.status == 401
        finished.append(time.monotonic())

    try:
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            logins = asyncio.gather(*(log_in(http, index) for index in range(FREE_ATTEMPTS)))
            await wait_for(lambda: hashing, timeout=10, interval=0.005)
            # A clerk's console request: its session is checked on the log-ins' database pool, which
            # scrypt must not occupy (with scrypt on that pool, this waited for the burst's hashes).
            status, _ = await clerk.get("/api/console/queue")
            checked = time.monotonic()
            answer = await say(server, new_id(), "你好")
            answered = time.monotonic()
            await logins
    finally:
        await clerk.close()
    assert status == 200 and answer["stored"]["text"] == "你好"
    assert checked < min(finished), (
        f"the clerk's request took {checked - started:.2f} s, the first log-in {min(finished) - started:.2f} s"
    )
    assert answered < max(finished), (
        f"the citizen waited {answered - started:.2f} s, the log-ins took {max(finished) - started:.2f} s"
    )
