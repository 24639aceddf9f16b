"""socket.io with a real client on a loopback port: the rasa-webchat protocol and the console channel.

The Python client uses long-polling: its websocket transport needs a newer
aiohttp than the one Rasa pins. The browser tests cover the websocket transport.
"""

from __future__ import annotations

import socketio

from bot.desk.service import BOT_DOWN
from bot.limits import MAX_TEXT
from tests.desk.helpers import Citizen, Clerk, console_handshake, drop, new_id, say, wait_for


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
        stored = server.conversations.messages(session_id)
        assert stored[0]["id"] == ack["id"] and stored[0]["client_id"] == "c-1"
        # Rasa is down: a clear message, well within the widget's patience.
        await wait_for(lambda: BOT_DOWN in citizen.texts(), timeout=5)
        message = citizen.received[0]
        assert set(message) >= {"text", "metadata"} and message["metadata"]["sender"] == "system"
        # The same client id again (a re-send after reconnect) is stored once.
        again = await citizen.utter(session_id, "护照过期了怎么换", client_id="c-1")
        assert again["id"] == ack["id"]
        assert [m["client_id"] for m in server.conversations.messages(session_id)].count("c-1") == 1
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
        await wait_for(lambda: server.conversations.conversation(session_id)["state"] == "waiting")
        assert (await clerk.act(session_id, "claim"))[0] == 200
        assert (await clerk.act(session_id, "reply", text="您好，请问有什么可以帮您？"))[0] == 200
        await wait_for(lambda: "您好，请问有什么可以帮您？" in citizen.texts())
        joined = next(m for m in citizen.received if m["text"] == "工作人员 张 已接入")
        assert joined["metadata"]["sender"] == "system"
        # What the line means travels as an event; a widget never has to read the wording.
        assert joined["metadata"]["event"] == "joined" and joined["metadata"]["author"] == "张"
        reply = next(m for m in citizen.received if m["text"] == "您好，请问有什么可以帮您？")
        assert reply["metadata"]["sender"] == "clerk" and reply["metadata"]["author"] == "张"
        # History for a reloaded widget: every line, in order, citizen lines included.
        history = await citizen.sio.call("history_request", {"session_id": session_id, "after": 0}, timeout=5)
        assert [m["text"] for m in history["messages"]][0] == "我要找人工"
        assert history["state"] == "clerk" and history["clerk"] == "张"
        assert history["max_text"] == MAX_TEXT, "the widget takes the length limit from the desk"
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
        await wait_for(lambda: [c["name"] for c in server.presence.online_clerks()] == ["李"])
        conversation = new_id()
        reply = await say(server, conversation, "人工")
        # A clerk is online: the citizen is not told that nobody is there.
        assert not any("没有工作人员在线" in line["text"] for line in reply["replies"])
        # Console events name the conversation by its staff number, never by its id (issue 10, item 1).
        number = clerk.number(conversation)
        await wait_for(lambda: any(n == "waiting" and d["conversation"]["number"] == number for n, d in events))
        queue = [d for n, d in events if n == "queue"][-1]["queue"]
        assert number in [c["number"] for c in queue]
    finally:
        await drop(console)
        await clerk.close()


def test_presence_without_heartbeat_expires(tmp_path):
    from datetime import datetime, timedelta

    from bot.db import Database
    from bot.desk.accounts import Accounts
    from bot.desk.presence import Presence
    from bot.desk.tables import DeskPresence
    from tests.desk.helpers import ensure_user

    database = Database(f"sqlite:///{tmp_path / 'p.db'}")
    database.create_schema()
    presence = Presence(database)
    user = ensure_user(Accounts(database), "周")
    presence.touch("sid-1", user["id"])
    assert [c["name"] for c in presence.online_clerks()] == ["周"]
    with database.session() as session:
        session.get(DeskPresence, "sid-1").last_seen = datetime.utcnow() - timedelta(minutes=2)
    assert presence.online_clerks() == [], "a console that stopped sending heartbeats is offline"
    presence.touch("sid-1", user["id"])
    presence.drop("sid-1")
    assert presence.online_clerks() == []
