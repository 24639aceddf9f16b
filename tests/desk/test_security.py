"""Issue 10: what a security review of the desk found. Each test names the item it guards and
fails without that item's fix."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.desk.conversations import Line
from bot.desk.ids import issue_id, issued_id
from bot.desk.service import BOT_DOWN
from bot.limits import SESSION_REQUESTS_PER_ADDRESS
from bot.privacy import client_address, client_key, trusted_networks
from tests.desk.helpers import Citizen, citizen_says, drop, line, new_id, open_widget, say, texts, wait_for

# --- item 1: the server issues every conversation id ------------------------------------


async def test_a_proposed_conversation_id_is_replaced_by_an_issued_one(desk_without_rasa):
    """Item 1 (and the smaller item on `$` vs fullmatch): only ids the server issued are confirmed."""
    issued = issue_id()
    made_up = ["chosen-by-client", "0" * 32 + "-" + "0" * 16, issued + "\n", issued.upper()]
    for proposed in made_up:
        citizen = Citizen()
        try:
            confirmed = await citizen.start(desk_without_rasa.url, proposed)
            assert confirmed != proposed and issued_id(confirmed) == confirmed
            # 128 random bits in hex before the tag.
            assert len(confirmed.split("-")[0]) == 32
        finally:
            await drop(citizen.sio)
    # An id the server issued is kept (rasa-webchat's reload), and no row is stored before a message (item 8).
    citizen = Citizen()
    try:
        assert await citizen.start(desk_without_rasa.url, issued) == issued
        assert desk_without_rasa.conversations.conversation(issued) is None
    finally:
        await drop(citizen.sio)


async def test_a_socket_is_bound_to_the_conversation_it_was_confirmed_for(desk_without_rasa):
    """Item 1: a socket cannot write into, or read, another conversation by naming its id."""
    server = desk_without_rasa
    victim = new_id()
    citizen = Citizen()
    try:
        mine = await citizen.start(server.url)
        ack = await citizen.utter(victim, "我的办件", client_id="x")
        assert ack["ok"] is False
        assert server.conversations.conversation(victim) is None
        history = await citizen.sio.call("history_request", {"session_id": victim}, timeout=5)
        assert history["messages"] == []
        # A second session_request on the same socket confirms the same conversation.
        assert await citizen.start(server.url, victim) == mine
    finally:
        await drop(citizen.sio)


async def test_session_requests_are_rate_limited_per_address(desk_without_rasa):
    """Item 1: session_request is limited per address (no confirm once over the limit)."""
    citizen = Citizen()
    busy: asyncio.Queue = asyncio.Queue()
    citizen.sio.on("desk_busy", busy.put_nowait)
    try:
        events, _ = SESSION_REQUESTS_PER_ADDRESS
        for _ in range(events):
            await citizen.start(desk_without_rasa.url)
        await citizen.sio.emit("session_request", {"session_id": None})
        assert (await asyncio.wait_for(busy.get(), 5))["retry_after"] > 0
    finally:
        await drop(citizen.sio)


async def test_the_http_api_takes_only_issued_ids(desk_without_rasa):
    """Item 1: the HTTP API does not create a conversation under a client's chosen id; it issues one."""
    url = desk_without_rasa.url
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/conversations/chosen-by-me/messages", json={"message": "你好"}) as reply:
            assert reply.status == 400
        async with http.post(f"{url}/api/conversations") as reply:
            assert reply.status == 200
            issued = (await reply.json())["conversation_id"]
    assert issued_id(issued) == issued


# --- item 4: no message left behind ------------------------------------------------------


async def test_a_resent_line_that_was_never_routed_is_routed(desk_without_rasa):
    """Item 4: a line stored by a desk that died before routing it is routed when the widget sends it again."""
    server = desk_without_rasa
    citizen = Citizen()
    try:
        session_id = await citizen.start(server.url)
        # Stored, as `accept` does, but never routed (the desk died after the commit).
        server.conversations.accept_citizen_line(session_id, "护照过期了怎么换", {}, "lost-1", [])
        ack = await citizen.utter(session_id, "护照过期了怎么换", client_id="lost-1")
        assert ack["ok"] is True
        # Rasa is down in this fixture: routing it means the bot-down line and the queue.
        await wait_for(lambda: BOT_DOWN in citizen.texts(), timeout=5)
        lines = server.conversations.messages(session_id)
        assert [m["client_id"] for m in lines].count("lost-1") == 1 and lines[0]["data"]["routed"] is True
        # Routed once: a further re-send is not routed again (over HTTP, whose answer waits for the routing).
        again = await say(server, session_id, "护照过期了怎么换", client_id="lost-1")
        assert again["stored"]["id"] == lines[0]["id"] and again["replies"] == [], again
        assert [m["text"] for m in server.conversations.messages(session_id)].count(BOT_DOWN) == 1
    finally:
        await drop(citizen.sio)


async def test_lines_left_behind_are_routed_when_the_desk_starts(desk_without_rasa):
    """Item 4: at start the desk routes recent lines that were stored but never routed."""
    server = desk_without_rasa
    conversation = new_id()
    await server.stop()
    server.conversations.accept_citizen_line(conversation, "我要找人工", {}, "left-1", [])
    await server.start()
    await wait_for(lambda: BOT_DOWN in texts(server, conversation, "system"), timeout=8)


async def test_a_rate_limited_line_is_kept_for_a_retry(desk_without_rasa):
    """Item 4: the acknowledgement says when the widget must keep a refused line and send it again."""
    server = desk_without_rasa
    citizen = Citizen()
    try:
        session_id = await citizen.start(server.url)
        acks = [await citizen.utter(session_id, f"第{i}条", client_id=f"r{i}") for i in range(25)]
        refused = [a for a in acks if not a["ok"]]
        assert refused and all(a["retry"] is True for a in refused)
        bad = await citizen.sio.call("user_uttered", {"message": "", "session_id": session_id}, timeout=5)
        assert bad["ok"] is False and bad["retry"] is False
    finally:
        await drop(citizen.sio)


# --- item 2: rate limits keyed on the citizen, not on the proxy --------------------------


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    """Item 2: X-Forwarded-For counts only when the peer is a configured proxy; its forgeable left part never."""
    trusted = trusted_networks("10.0.0.0/8, ::1")
    assert client_address("10.1.2.3", "198.51.100.7", trusted) == "198.51.100.7"
    # The client's own forged entry on the left is skipped: the right-most untrusted hop counts.
    assert client_address("10.1.2.3", "1.2.3.4, 198.51.100.7, 10.9.9.9", trusted) == "198.51.100.7"
    assert client_address("203.0.113.5", "198.51.100.7", trusted) == "203.0.113.5"
    assert client_address("203.0.113.5", "198.51.100.7", []) == "203.0.113.5"
    # Two citizens behind the proxy get two buckets.
    one = client_key(client_address("10.1.2.3", "198.51.100.7", trusted))
    assert one != client_key(client_address("10.1.2.3", "198.51.100.8", trusted))


async def test_citizens_behind_a_trusted_proxy_get_a_bucket_each_and_a_forged_header_gets_none(desk_db_url):
    """Item 2, on the desk's routes (`citizen_key`): behind a configured proxy each forwarded address has its
    own limit; from a peer that is not a configured proxy, X-Forwarded-For changes nothing."""
    from bot.desk import DeskConfig
    from bot.limits import SESSION_REQUESTS_PER_ADDRESS
    from tests.desk.helpers import DeskServer, free_port

    allowed, _ = SESSION_REQUESTS_PER_ADDRESS

    async def issue(http: aiohttp.ClientSession, url: str, forwarded: str) -> int:
        async with http.post(f"{url}/api/conversations", headers={"X-Forwarded-For": forwarded}) as reply:
            return reply.status

    for proxies, first, second, second_status in (
        ("127.0.0.1", "198.51.100.7", "198.51.100.8", 200),  # behind the proxy: two citizens, two buckets
        ("", "203.0.113.7", "203.0.113.8", 429),  # no proxy configured: the header is the client's word, ignored
    ):
        config = DeskConfig(
            database_url=desk_db_url, rasa_url=f"http://127.0.0.1:{free_port()}", rasa_token="x", trusted_proxies=proxies
        )
        server = await DeskServer(config).start()
        try:
            async with aiohttp.ClientSession() as http:
                assert [await issue(http, server.url, first) for _ in range(allowed)] == [200] * allowed
                assert await issue(http, server.url, first) == 429
                assert await issue(http, server.url, second) == second_status, proxies
        finally:
            await server.stop()


def test_ipv6_clients_are_keyed_by_their_64():
    """Item 2: rotating addresses within one /64 does not give a fresh bucket."""
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff:1:2:3")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("198.51.100.7") != client_key("198.51.100.8")
    assert client_key("::ffff:198.51.100.7") == client_key("198.51.100.7")


# --- smaller: only phone-number shapes become tel: links ---------------------------------


async def test_only_phone_shapes_become_links_and_none_in_a_case_reply(desk_without_rasa, browser):
    """Smaller item: case numbers, dates, tracking and passport numbers stay text; a case-status reply gets no tel: link."""
    server = desk_without_rasa
    context = await browser.new_context()
    try:
        widget = await open_widget(context, server.url)
        await citizen_says(widget, "你好")
        key = await widget.evaluate("Object.keys(localStorage).find(k => k.endsWith(':session'))")
        conversation = await widget.evaluate(f"JSON.parse(localStorage.getItem({key!r}))")
        mixed = "办件 WZ202610080017，日期 20261008，快递 773123456789012，护照 E12345678，电话 13912345678"
        await server.app_service.say(conversation, Line("bot", mixed, {}))
        case_reply = "您的办件状态：已受理。如有疑问请致电 13800001111"
        await server.app_service.say(conversation, Line("bot", case_reply, {"custom": {"case": {"status": "received"}}}))
        await line(widget, "bot", "已受理").wait_for(timeout=5000)
        hrefs = await widget.eval_on_selector_all('.wzd-log a[href^="tel:"]', "links => links.map(a => a.href)")
        assert hrefs == ["tel:13912345678"]
    finally:
        await context.close()


# --- smaller: database errors without citizens' text; item 7: the token file ------------------


def test_database_errors_do_not_carry_bound_parameters(desk_db_url):
    """Smaller item: an error's message (and so the log) has no bound parameter, i.e. no citizen text."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from bot.db import Database
    from bot.desk.tables import DeskConversation

    database = Database(desk_db_url)
    values = {"id": new_id(), "state": "bot", "understood": {}, "bot_paused": False, "site": "陈先生的秘密"}
    with database.session() as session:
        session.execute(insert(DeskConversation.__table__).values(**values))
    try:
        with database.session() as session:
            session.execute(insert(DeskConversation.__table__).values(**values))
    except IntegrityError as error:
        assert "陈先生的秘密" not in str(error) and values["id"] not in str(error)
    else:
        raise AssertionError("the duplicate id was accepted")


def test_the_rasa_token_file_is_owner_only(tmp_path):
    """Item 7 (part): var/rasa_token is written 0600, also over an older, wider file."""
    import os
    import stat

    from bot.tools.stack import write_secret

    path = tmp_path / "rasa_token"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_secret(path, "secret-token")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "secret-token"


@pytest.mark.stack
async def test_on_the_live_stack_a_proposed_id_is_replaced_and_the_bot_answers_under_the_issued_one(desk):
    """Item 1 against the real Rasa and action server: rasa-webchat's exchange works with the issued id."""
    citizen = Citizen()
    try:
        confirmed = await citizen.start(desk.url, "my-own-chosen-session-id")
        assert confirmed != "my-own-chosen-session-id" and issued_id(confirmed) == confirmed
        ack = await citizen.utter(confirmed, "护照过期了怎么换", client_id="live-1")
        assert ack["ok"] is True
        await wait_for(lambda: any("护照" in text for text in citizen.texts()), timeout=20)
        assert desk.conversations.messages(confirmed)[0]["data"]["routed"] is True
    finally:
        await drop(citizen.sio)



# --- smaller: CSP and HSTS -----------------------------------------------------------------


async def test_csp_connects_only_to_the_own_origin_and_hsts_follows_secure_cookies(desk_db_url):
    """Smaller item: connect-src 'self' only (no ws:/wss: to anywhere); HSTS when cookies are secure."""
    from bot.desk import DeskConfig
    from tests.desk.helpers import DeskServer, free_port

    for secure in (False, True):
        config = DeskConfig(
            database_url=desk_db_url, rasa_url=f"http://127.0.0.1:{free_port()}", rasa_token="x", secure_cookies=secure
        )
        server = await DeskServer(config).start()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{server.url}/demo") as reply:
                    csp = reply.headers["Content-Security-Policy"]
                    hsts = reply.headers.get("Strict-Transport-Security")
        finally:
            await server.stop()
        connect = next(part.split()[1:] for part in csp.split(";") if part.split()[0] == "connect-src")
        assert connect == ["'self'"]
        assert (hsts is not None) == secure


async def test_staff_case_lookups_leave_an_audit_row(desk_without_rasa):
    """Smaller item: each console case lookup is recorded with who, what (masked) and whether it was found."""
    from tests.desk.helpers import Clerk

    server = desk_without_rasa
    clerk = await Clerk.login(server, "审计")
    try:
        assert (await clerk.get("/api/console/cases/WZ202610080017"))[0] == 200
        assert (await clerk.get("/api/console/cases/WZ209999999999"))[0] == 404
    finally:
        await clerk.close()
    rows = server.conversations.audit_rows(clerk.user["id"])
    assert [(r["action"], r["found"]) for r in rows] == [("case_lookup", True), ("case_lookup", False)]
    assert all("****" in r["target"] and "080017" not in r["target"] for r in rows)


# --- item 8: bounds and purges ---------------------------------------------------------------


async def test_metadata_and_payloads_are_bounded(desk_without_rasa):
    """Item 8: a client's metadata strings are cut, and an oversized payload is refused, not stored whole."""
    server = desk_without_rasa
    citizen = Citizen()
    try:
        session_id = await citizen.start(server.url)
        huge = "意" * 5000  # over MAX_TEXT (4000), under the socket's packet limit
        data = {"message": huge, "session_id": session_id, "customData": {"title": "短", "country": huge, "client_id": "m1"}}
        refused = await citizen.sio.call("user_uttered", data, timeout=10)
        assert refused["ok"] is False
        data = {"message": "你好", "session_id": session_id, "customData": {"country": huge, "client_id": "m2"}}
        assert (await citizen.sio.call("user_uttered", data, timeout=10))["ok"] is True
        assert len(server.conversations.conversation(session_id)["country"]) <= 32
    finally:
        await drop(citizen.sio)


async def test_old_rate_limit_rows_are_purged_when_the_desk_starts(desk_without_rasa):
    """Item 8: rate-limit and log-in throttle rows of keys never seen again do not stay forever; recent ones stay."""
    from datetime import datetime, timedelta

    from sqlalchemy import func, insert, select

    from bot.db.tables import RateEvent
    from bot.desk.tables import DeskLoginThrottle

    server = desk_without_rasa
    database = server.app_service.database
    now, old = datetime.utcnow(), datetime.utcnow() - timedelta(days=2)
    with database.session() as session:
        session.execute(insert(RateEvent.__table__), [{"key": f"msg:addr:gone{i}", "at": old} for i in range(5)])
        session.execute(insert(RateEvent.__table__), [{"key": "msg:addr:here", "at": now}])
        throttle = [{"key": f"login:gone{i}", "failures": 7, "last_at": old, "next_at": old} for i in range(5)]
        throttle.append({"key": "login:here", "failures": 7, "last_at": now, "next_at": now})
        session.execute(insert(DeskLoginThrottle.__table__), throttle)
    await server.stop()
    await server.start()

    def count(table, column, pattern: str) -> int:
        with database.session() as session:
            return session.execute(select(func.count()).select_from(table).where(column.like(pattern))).scalar_one()

    await wait_for(lambda: count(RateEvent, RateEvent.key, "msg:addr:gone%") == 0, timeout=5)
    await wait_for(lambda: count(DeskLoginThrottle, DeskLoginThrottle.key, "login:gone%") == 0, timeout=5)
    assert count(RateEvent, RateEvent.key, "msg:addr:here") == 1
    assert count(DeskLoginThrottle, DeskLoginThrottle.key, "login:here") == 1


def test_email_addresses_are_masked():
    """Item 5 (part): "chen@example.com" no longer reaches the trainers' inbox or the training data."""
    from bot.privacy import mask

    masked = mask("我的邮箱是 chen.wei+visa@example.com.cn，请回复")
    assert "chen" not in masked and "example" not in masked and "[邮箱]" in masked
