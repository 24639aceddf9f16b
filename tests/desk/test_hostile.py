"""Hostile input against the desk's HTTP API and socket.io events (hypothesis, bounded).

Expectation everywhere: a clear 4xx or a stored message, never a 5xx or a crash; what is stored
is exactly what was sent; the desk still answers afterwards. Rasa is absent here (the citizen
is queued for a clerk), so these tests exercise the desk alone, quickly.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import socketio
from hypothesis import given
from hypothesis import strategies as st

from bot.db import Database, seed
from bot.desk import DeskConfig
from bot.limits import MAX_TEXT
from tests.desk.helpers import DeskServer, free_port, new_id
from tests.helpers import bounded_hypothesis

BOUNDED = bounded_hypothesis()
TEXTS = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "' OR 1=1; DROP TABLE desk_messages; --",
            "{{7*7}}",
            "${jndi:ldap://x}",
            "\u202e护照过期\u202c",
            "😀" * 500,
            "\x00\x1b[31m",
            "字" * MAX_TEXT,
            "/restart",
            '/provide_case_info{"a":1}',
        ]
    ),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def loop_desk(tmp_path_factory):
    """One desk for the module, limits lifted (every example comes from 127.0.0.1)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'desk.db'}"
    seed(Database(url))
    config = DeskConfig(
        database_url=url,
        rasa_url=f"http://127.0.0.1:{free_port()}",
        rasa_token="x",
        rasa_timeout=1.0,
        messages_per_conversation=(10**6, 60),
        messages_per_address=(10**6, 60),
    )
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(DeskServer(config).start())
    yield server, loop
    loop.run_until_complete(server.stop())
    loop.close()


async def raw_post(
    server: DeskServer, path: str, body: bytes, content_type: str = "application/json"
) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}{path}", data=body, headers={"Content-Type": content_type}) as reply:
            return reply.status, await reply.text()


def still_answers(server: DeskServer, loop) -> None:
    async def check() -> int:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/health") as reply:
                return reply.status

    assert loop.run_until_complete(check()) == 200


@BOUNDED
@given(text=TEXTS)
def test_any_text_is_stored_as_sent_or_refused_clearly(loop_desk, text):
    server, loop = loop_desk
    conversation = new_id()
    status, raw = loop.run_until_complete(
        raw_post(server, f"/api/conversations/{conversation}/messages", json.dumps({"message": text}).encode())
    )
    assert status < 500, raw[:200]
    if status == 200:
        stored = [m["text"] for m in server.conversations.messages(conversation) if m["sender"] == "citizen"]
        assert stored == [text.strip()]
    else:
        assert json.loads(raw)["error"]
    still_answers(server, loop)


@BOUNDED
@given(body=st.one_of(st.binary(max_size=2000), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_malformed_bodies_get_a_clear_error(loop_desk, body):
    server, loop = loop_desk
    status, raw = loop.run_until_complete(raw_post(server, f"/api/conversations/{new_id()}/messages", body))
    assert status < 500, raw[:200]
    if status != 200:
        assert "error" in json.loads(raw)
    still_answers(server, loop)


def test_deep_nesting_huge_bodies_and_bad_ids(loop_desk):
    server, loop = loop_desk
    deep = ("[" * 5000 + "]" * 5000).encode()
    for body in (deep, b'{"message": "' + b"x" * 200_000 + b'"}', b"\xff\xfe\xfd"):
        status, _ = loop.run_until_complete(raw_post(server, f"/api/conversations/{new_id()}/messages", body))
        assert 400 <= status < 500
    status, _ = loop.run_until_complete(
        raw_post(server, "/api/conversations/..%2F..%2Fetc/messages", json.dumps({"message": "x"}).encode())
    )
    assert 400 <= status < 500
    status, _ = loop.run_until_complete(
        raw_post(server, f"/api/conversations/{new_id()}/messages", b'{"message": "x"}', "text/plain")
    )
    assert 400 <= status < 500
    still_answers(server, loop)


@BOUNDED
@given(data=JSON_VALUES, text=TEXTS)
def test_socket_events_with_any_payload_never_break_the_desk(loop_desk, data, text):
    server, loop = loop_desk

    async def run() -> None:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(server.url, transports=["polling"])
        try:
            await client.emit("session_request", data)
            answer = await client.call("user_uttered", data, timeout=5)
            assert isinstance(answer, dict) and answer.get("ok") is False
            session = new_id()
            await client.emit("session_request", {"session_id": session})
            answer = await client.call(
                "user_uttered", {"message": text, "customData": data, "session_id": session}, timeout=5
            )
            assert isinstance(answer, dict)
            if answer.get("ok"):
                stored = [m["text"] for m in server.conversations.messages(session) if m["sender"] == "citizen"]
                assert stored == [text.strip()]
            else:
                assert answer.get("error")
            history = await client.call("history_request", data if isinstance(data, dict) else {}, timeout=5)
            assert isinstance(history, dict)
        finally:
            await client.eio.disconnect(abort=True)

    loop.run_until_complete(run())
    still_answers(server, loop)
