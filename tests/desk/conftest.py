"""Fixtures of the desk's tests: a desk on a real loopback port, in front of a real or an absent Rasa."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.db import Database, seed
from bot.desk import DeskConfig, create_app
from bot.desk.config import STORE
from bot.desk.store import DeskStore

PASSWORD = "correct-horse-battery"
HOURS = "北京时间 周一至周六 8:30-20:30（覆盖欧洲上午至下午时段）"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_id() -> str:
    return "t" + uuid.uuid4().hex


def ensure_user(store: DeskStore, name: str, role: str = "clerk") -> dict[str, Any]:
    """Accounts persist in the session's shared database; create each once."""
    if store.user_by_name(name) is None:
        store.create_user(name, role, PASSWORD)
    return store.user_by_name(name)


@dataclass
class DeskServer:
    """The desk app on a fixed loopback port; restartable (same port, same database)."""

    config: DeskConfig
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None
    app: web.Application | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store(self) -> DeskStore:
        return self.app[STORE]

    async def start(self) -> DeskServer:
        self.app = create_app(self.config)
        self.runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None


class Clerk:
    """A logged-in console session over HTTP, the way the console page talks to the desk."""

    def __init__(self, server: DeskServer, http: aiohttp.ClientSession, csrf: str, user: dict[str, Any]):
        self.server, self.http, self.csrf, self.user = server, http, csrf, user

    @classmethod
    async def login(cls, server: DeskServer, name: str, role: str = "clerk") -> Clerk:
        user = ensure_user(server.store, name, role)
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with http.post(f"{server.url}/api/login", json={"name": name, "password": PASSWORD}) as reply:
            assert reply.status == 200, await reply.text()
            csrf = (await reply.json())["csrf"]
        return cls(server, http, csrf, user)

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(f"{self.server.url}{path}") as reply:
            return reply.status, await reply.json()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf}
        async with self.http.post(f"{self.server.url}{path}", json=body or {}, headers=headers) as reply:
            return reply.status, await reply.json()

    async def act(self, conversation_id: str, action: str, **body: Any) -> tuple[int, Any]:
        return await self.post(f"/api/console/conversations/{conversation_id}/{action}", body)

    async def close(self) -> None:
        await self.http.close()


async def say(server: DeskServer, conversation_id: str, text: str, **extra: Any) -> dict[str, Any]:
    """A citizen message through the plain HTTP API."""
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/conversations/{conversation_id}/messages"
        async with http.post(url, json={"message": text, **extra}) as reply:
            assert reply.status == 200, await reply.text()
            return await reply.json()


@pytest.fixture()
def desk_db_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    seed(Database(url))
    return url


@pytest.fixture()
async def desk_without_rasa(desk_db_url):
    """A desk whose Rasa is down: nothing listens on its port."""
    config = DeskConfig(
        database_url=desk_db_url, rasa_url=f"http://127.0.0.1:{free_port()}", rasa_token="x", rasa_timeout=2.0
    )
    server = await DeskServer(config).start()
    yield server
    await server.stop()


@pytest.fixture()
async def desk(rasa_stack, stack_database_url):
    """A desk in front of the real Rasa and action server, sharing their database (hand-off rows)."""
    config = DeskConfig(database_url=stack_database_url, rasa_url=rasa_stack.rasa_url, rasa_token=rasa_stack.token)
    server = await DeskServer(config).start()
    yield server
    await server.stop()


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.05):
    """Polls until predicate() is truthy; returns its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
