"""Helpers of the desk's and the trainer's tests: a desk on a real loopback port, a logged-in clerk,
a citizen's socket, and the browser's steps. Fixtures are in tests/conftest.py."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from bot.desk.accounts import Accounts
from bot.desk.config import DeskConfig
from bot.desk.conversations import Conversations
from bot.desk.handlers import ACCOUNTS, SERVICE
from bot.desk.ids import issue_id
from bot.desk.passwords import hash_password
from bot.desk.presence import Presence
from bot.desk.service import DeskService
from bot.server import RUNNER_OPTIONS, create_app

PASSWORD = "correct-horse-battery"
# A value for each route parameter that fits its pattern, so that the guard answers rather than the router
# (the route walks in tests/desk/test_api.py and tests/reports/test_dashboard.py).
ROUTE_SAMPLE_PARAMS = {
    "number": "1", "user_id": "1", "ticket_id": "1", "case_no": "WZ1", "message_id": "1", "job_id": "1",
    "intent": "item_x", "action": "add",
}  # fmt: skip
HOURS = "北京时间 周一至周六 8:30-20:30（覆盖欧洲上午至下午时段）"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run"]
RESULTS = Path(__file__).resolve().parents[2] / "results"


def number_of(server: DeskServer, conversation_id: str) -> int:
    number = server.conversations.number_of(conversation_id)
    assert number is not None, "no such conversation yet"
    return number


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_id() -> str:
    """A conversation id as the desk issues it (the tests run the desk in this process, same secret)."""
    return issue_id()


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    """PASSWORD hashed once: each scrypt run costs a noticeable part of a second."""
    return hash_password(PASSWORD)


def ensure_user(accounts: Accounts, name: str, role: str = "clerk") -> dict[str, Any]:
    """Accounts persist in the session's shared database; create each once.

    The display name (what citizens see) is the name here, so that tests read as the console would.
    """
    if accounts.user_by_name(name) is None:
        accounts.add_user(name, role, password_hash(), display_name=name)
    return accounts.user_by_name(name)


@dataclass
class DeskServer:
    """The composed server (desk and workbench) on a fixed loopback port; restartable (same port, same database).

    `conversations`, `accounts` and `presence` read the desk's tables directly, for the tests' checks.
    """

    config: DeskConfig
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None
    app: web.Application | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app_service(self) -> DeskService:
        return self.app[SERVICE]

    @property
    def conversations(self) -> Conversations:
        return self.app[SERVICE].conversations

    @property
    def presence(self) -> Presence:
        return self.app[SERVICE].presence

    @property
    def accounts(self) -> Accounts:
        return self.app[ACCOUNTS].accounts

    async def start(self) -> DeskServer:
        self.app = create_app(self.config)
        self.runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=1.0, **RUNNER_OPTIONS)
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
        user = ensure_user(server.accounts, name, role)
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

    def number(self, conversation_id: str) -> int:
        """The staff number of a conversation the test knows by its id, as a citizen does (issue 10, item 1)."""
        return number_of(self.server, conversation_id)

    async def act(self, conversation_id: str, action: str, **body: Any) -> tuple[int, Any]:
        """A console action on the conversation with this id: staff routes take its number."""
        return await self.post(f"/api/console/conversations/{self.number(conversation_id)}/{action}", body)

    async def view(self, conversation_id: str) -> tuple[int, Any]:
        """The console's view of the conversation with this id (transcript, notes), by its number."""
        return await self.get(f"/api/console/conversations/{self.number(conversation_id)}")

    async def close(self) -> None:
        await self.http.close()


async def say(server: DeskServer, conversation_id: str, text: str, **extra: Any) -> dict[str, Any]:
    """A citizen message through the plain HTTP API."""
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/conversations/{conversation_id}/messages"
        async with http.post(url, json={"message": text, **extra}) as reply:
            assert reply.status == 200, await reply.text()
            return await reply.json()


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


# --- a citizen's socket (rasa-webchat's protocol) ------------------------------------


async def drop(client: socketio.AsyncClient) -> None:
    """Disconnects at once: a polite polling disconnect waits out the server's long-poll (~30 s)."""
    await client.eio.disconnect(abort=True)


async def console_handshake(url: str, cookie: str = "") -> str:
    """Engine.IO polling by hand: open a transport, ask for the /console namespace, read the answer.

    (The Python client, when refused, waits out a long-poll before it raises.)
    """
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    headers = {"Cookie": cookie} if cookie else {}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(base) as reply:
            sid = json.loads((await reply.text())[1:])["sid"]
        async with http.post(f"{base}&sid={sid}", data="40/console,") as reply:
            assert reply.status == 200
        async with http.get(f"{base}&sid={sid}") as reply:
            answer = await reply.text()
    packets = answer.split("\x1e")  # Engine.IO 4 joins polled packets with a record separator
    if any(p.startswith("44/console") for p in packets):
        return "refused"
    return "accepted" if any(p.startswith("40/console") for p in packets) else answer


class Citizen:
    """A socket.io client speaking the rasa-webchat protocol, recording what it receives.

    `widget` (the default): it says it is the project's widget, and gets the lines with their metadata;
    without it, it is taken for rasa-webchat and gets rasa-webchat's bare shapes (bot/desk/webchat.py).
    """

    def __init__(self, widget: bool = True) -> None:
        self.widget = widget
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[dict] = []
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.sio.on("bot_uttered", self.received.append)
        self.sio.on("session_confirm", self.confirmed.put_nowait)

    async def start(self, url: str, session_id: str | None = None) -> str:
        if not self.sio.connected:
            await self.sio.connect(url, transports=["polling"])
        request = {"session_id": session_id, **({"widget": "wenzhou"} if self.widget else {})}
        await self.sio.emit("session_request", request)
        return await asyncio.wait_for(self.confirmed.get(), 5)

    async def utter(self, session_id: str, text: str, **custom) -> dict:
        data = {"message": text, "customData": custom, "session_id": session_id}
        return await self.sio.call("user_uttered", data, timeout=5)

    def texts(self) -> list[str]:
        return [m["text"] for m in self.received]



async def offline_desk_with_own_data(tmp_path: Path) -> DeskServer:
    """A started desk whose Rasa is down (nothing listens on its port), on a database of its own, with its
    own copy of the training data (so that corrections and examples never touch the project's)."""
    import shutil

    from bot.db import Database, seed
    from bot.trainer.nlu_files import NLU_DIR, corrections_file

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    seed(Database(url))
    data = tmp_path / "data"
    shutil.copytree(NLU_DIR.parent, data)
    (data / "nlu" / corrections_file()).unlink(missing_ok=True)
    config = DeskConfig(
        database_url=url,
        rasa_url=f"http://127.0.0.1:{free_port()}",
        rasa_token="x",
        rasa_timeout=2.0,
        training_data_dir=str(data),
    )
    server = await DeskServer(config).start()
    server.data_dir = data
    return server


# --- the browser's steps ---------------------------------------------------------------


async def open_widget(context, url: str):
    page = await context.new_page()
    await page.goto(f"{url}/demo")
    await page.click(".wzd-launcher")
    await page.wait_for_selector(".wzd-panel.open")
    return page


async def citizen_says(page, text: str) -> None:
    await page.fill(".wzd-input", text)
    await page.click(".wzd-send")


async def login(context, url: str, name: str):
    page = await context.new_page()
    await page.goto(f"{url}/console")
    assert "/login" in page.url, "the console sends a visitor without a session to the log-in page"
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await page.wait_for_url(f"{url}/console")
    await page.wait_for_selector("#conn.ok")
    return page


def line(page, sender: str, text: str):
    return page.locator(f'.wzd-msg[data-sender="{sender}"]', has_text=text)


# --- the transcript, as the desk stored it ----------------------------------------------


def texts(server: DeskServer, conversation: str, sender: str) -> list[str]:
    return [line["text"] for line in server.conversations.messages(conversation) if line["sender"] == sender]


async def post(server: DeskServer, conversation: str, text: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/conversations/{conversation}/messages"
        async with http.post(url, json={"message": text}) as reply:
            return reply.status, await reply.json()


# --- accessibility: axe-core (vendored, tests/desk/vendor/axe.min.js, MPL-2.0) ------------

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
# WCAG 2.1 levels A and AA (axe's tags for 2.0 and 2.1 rules).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def axe_violations(page, surface: str) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, each with its impact and nodes.

    Also appends them to results/axe_<surface>.json, so that a failure shows what axe found.
    """
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the staff pages' CSP (script-src 'self') refuses a script tag.
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", AXE_TAGS
    )
    violations = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")} for n in v["nodes"]],
        }
        for v in result["violations"]
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"axe_{surface}.json").write_text(json.dumps(violations, ensure_ascii=False, indent=1), "utf-8")
    return violations


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]
