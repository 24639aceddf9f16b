"""Password hashing runs in an executor of its own: a burst of log-ins does not hold up citizens."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bot.desk.accounts import FREE_ATTEMPTS
from tests.desk.helpers import new_id, say


async def test_a_burst_of_log_ins_does_not_hold_up_a_citizen(desk_without_rasa):
    server = desk_without_rasa
    finished: list[float] = []

    async def log_in(http: aiohttp.ClientSession, index: int) -> None:
        # Unknown names: each costs one scrypt (the decoy); five, the attempts the throttle per
        # address lets through before its backoff (bot/desk/accounts.py FREE_ATTEMPTS).
        async with http.post(f"{server.url}/api/login", json={"name": f"nobody{index}", "password": "x" * 12}) as reply:
            assert reply.status == 401
        finished.append(time.monotonic())

    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        logins = asyncio.gather(*(log_in(http, index) for index in range(FREE_ATTEMPTS)))
        await asyncio.sleep(0.05)  # the log-ins are queued for the hashing thread
        answer = await say(server, new_id(), "你好")
        answered = time.monotonic()
        await logins
    assert answer["stored"]["text"] == "你好"
    assert answered < max(finished), (
        f"the citizen waited {answered - started:.2f} s, the log-ins took {max(finished) - started:.2f} s"
    )
