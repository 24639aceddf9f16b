"""socket.io with a real client on a loopback port: the rasa-webchat protocol and the console channel.

The Python client uses long-polling: its websocket transport needs a newer
aiohttp than the one Rasa pins. The browser tests cover the websocket transport.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import socketio

from bot.desk.service import BOT_DOWN
from tests.desk.conftest import Clerk, new_id, say, wait_for


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
    """A socket.io client speaking like rasa-webchat, recording what it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[dict] = []
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.sio.on("bot_uttered", self.received.append)
        self.sio.on("session_confirm", self.confirmed.put_nowait)

    async def start(self, url: str, session_id: str | None = None) -> str:
        if not self.sio.connected:
            await self.sio.connect(url, transports=["polling"])
        await self.sio.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(self.confirmed.get(), 5)

    async def utter(self, session_id: str, text: str, **custom) -> dict:
        data = {"message": text, "customData": custom, "session_id": session_id}
        return await self.sio.call("user_uttered", data, timeout=5)

    def texts(self) -> list[str]:
        return [m["text"] for m in self.received]


async def test_session_confirm_returns_the_same_id_after_a_reload(desk_without_rasa):
    first = Citizen()
    session_id = await first.start(desk_without_rasa.url)
    assert isinstance(session_id, str) and len(session_id) >= 16
    await drop(first.sio)
    again = Citizen()
    assert await again.start(desk_without_rasa.url, session_id) == session_id
    other = Citizen()
    assert await other.start(desk_without_rasa.url, None) != session_id
    # An id that is not a plausible session id is replaced, not trusted.
    assert await other.start(desk_without_rasa.url, "<bad id>") != "<bad id>"
    for client in (again, other):
        await drop(client.sio)


async def test_user_uttered_is_acknowledged_after_storing_and_answered_in_webchat_shape(desk_without_rasa):
    server = desk_without_rasa
    citizen = Citizen()
    session_id = await citizen.start(server.url)
    try:
        ack = await citizen.utter(session_id, "护照过期了怎么换", client_id="c-1")
        assert ack["ok"] is True
        stored = server.store.messages(session_id)
        assert stored[0]["id"] == ack["id"] and stored[0]["client_id"] == "c-1"
        # Rasa is down: a clear message, well within the widget's patience.
        await wait_for(lambda: BOT_DOWN in citizen.texts(), timeout=5)
        message = citizen.received[0]
        assert set(message) >= {"text", "metadata"} and message["metadata"]["sender"] == "system"
        # The same client id again (a re-send after reconnect) is stored once.
        again = await citizen.utter(session_id, "护照过期了怎么换", client_id="c-1")
        assert again["id"] == ack["id"]
        assert [m["client_id"] for m in server.store.messages(session_id)].count("c-1") == 1
        bad = await citizen.sio.call("user_uttered", {"message": "", "session_id": session_id}, timeout=5)
        assert bad["ok"] is False
    finally:
        await drop(citizen.sio)


async def test_clerk_lines_reach_the_citizen_as_bot_uttered(desk_without_rasa):
    server = desk_without_rasa
    citizen = Citizen()
    session_id = await citizen.start(server.url)
    clerk = await Clerk.login(server, "张")
    try:
        await citizen.utter(session_id, "我要找人工", client_id="x1")
        await wait_for(lambda: server.store.conversation(session_id)["state"] == "waiting")
        assert (await clerk.act(session_id, "claim"))[0] == 200
        assert (await clerk.act(session_id, "reply", text="您好，请问有什么可以帮您？"))[0] == 200
        await wait_for(lambda: "您好，请问有什么可以帮您？" in citizen.texts())
        joined = next(m for m in citizen.received if m["text"] == "工作人员 张 已接入")
        assert joined["metadata"]["sender"] == "system"
        reply = next(m for m in citizen.received if m["text"] == "您好，请问有什么可以帮您？")
        assert reply["metadata"]["sender"] == "clerk" and reply["metadata"]["author"] == "张"
        # History for a reloaded widget: every line, in order, citizen lines included.
        history = await citizen.sio.call("history_request", {"session_id": session_id, "after": 0}, timeout=5)
        assert [m["text"] for m in history["messages"]][0] == "我要找人工"
        assert history["state"] == "clerk" and history["clerk"] == "张"
        after = history["messages"][-2]["metadata"]["id"]
        tail = await citizen.sio.call("history_request", {"session_id": session_id, "after": after}, timeout=5)
        assert len(tail["messages"]) == 1
    finally:
        await drop(citizen.sio)
        await clerk.close()


async def test_console_socket_needs_a_session_and_counts_presence(desk_without_rasa):
    server = desk_without_rasa
    assert await console_handshake(server.url) == "refused"

    clerk = await Clerk.login(server, "李")
    cookie = "; ".join(f"{c.key}={c.value}" for c in clerk.http.cookie_jar)
    assert await console_handshake(server.url, cookie) == "accepted"
    console = socketio.AsyncClient(reconnection=False)
    events: list[tuple[str, dict]] = []
    for name in ("queue", "waiting", "message", "conversation"):
        console.on(name, lambda data, name=name: events.append((name, data)), namespace="/console")
    try:
        await console.connect(server.url, namespaces=["/console"], transports=["polling"], headers={"Cookie": cookie})
        await wait_for(lambda: [c["name"] for c in server.store.online_clerks()] == ["李"])
        conversation = new_id()
        reply = await say(server, conversation, "人工")
        # A clerk is online: the citizen is not told that nobody is there.
        assert not any("没有工作人员在线" in line["text"] for line in reply["replies"])
        await wait_for(lambda: any(n == "waiting" and d["conversation"]["id"] == conversation for n, d in events))
        queue = [d for n, d in events if n == "queue"][-1]["queue"]
        assert conversation in [c["id"] for c in queue]
    finally:
        await drop(console)
        await clerk.close()


def test_presence_without_heartbeat_expires(tmp_path):
    from datetime import datetime, timedelta

    from bot.desk import DeskConfig, create_app
    from bot.desk.config import STORE
    from bot.desk.models import DeskPresence
    from tests.desk.conftest import ensure_user

    store = create_app(DeskConfig(database_url=f"sqlite:///{tmp_path / 'p.db'}"))[STORE]
    user = ensure_user(store, "周")
    store.touch_presence("sid-1", user["id"])
    assert [c["name"] for c in store.online_clerks()] == ["周"]
    with store.db.session() as session:
        session.get(DeskPresence, "sid-1").last_seen = datetime.utcnow() - timedelta(minutes=2)
    assert store.online_clerks() == [], "a console that stopped sending heartbeats is offline"
    store.touch_presence("sid-1", user["id"])
    store.drop_presence("sid-1")
    assert store.online_clerks() == []
