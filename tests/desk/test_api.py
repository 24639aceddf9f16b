"""The desk's HTTP API without Rasa: log-in, guards, CSRF, the queue, claims, notes, cases, Rasa being down."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time

import aiohttp
import pytest

from bot.db import Database
from bot.desk.account_service import AccountService
from bot.desk.accounts import Accounts, create_user
from bot.desk.service import BOT_DOWN
from bot.knowledge import SAMPLE_NOTICE
from tests.desk.helpers import (
    HOURS,
    PASSWORD,
    ROUTE_SAMPLE_PARAMS,
    Clerk,
    console_handshake,
    ensure_user,
    new_id,
    number_of,
    say,
)

PUBLIC = {
    "/",
    "/demo",
    "/widget.js",
    "/api/widget/strings",
    "/health",
    "/api/status",
    "/api/conversations",
    "/api/conversations/{conversation_id}/messages",
    # A citizen's attachments: the conversation id is the key, as for its messages.
    "/api/conversations/{conversation_id}/attachments",
    "/api/conversations/{conversation_id}/attachments/{attachment_id}",
    # A file sent to a rasa-webchat citizen: a signed, expiring link bound to its conversation (bot/desk/webchat.py).
    "/files/{attachment_id}/{expires}/{tag}",
    "/calendar/{token}.ics",  # a booking's calendar file, behind its unguessable token (issue 14)
    "/login",
    "/api/login",
    "/api/logout",
    "/api/models/live",  # Rasa's model server: guarded by its own token (bot/trainer/model_server.py)
    # Not by log-in: loopback or a token (bot/reports/metrics.py; tests/reports/test_metrics.py).
    "/metrics",
}




def _is_console(path: str) -> bool:
    return any(path.startswith(prefix) for prefix in ("/console", "/api/console", "/trainer", "/reports"))


async def test_every_console_route_requires_login_and_a_role(desk_without_rasa):
    app = desk_without_rasa.app
    console_routes = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or path.startswith("/static") or path.startswith("/socket.io"):
            continue
        if _is_console(path):
            assert getattr(route.handler, "desk_roles", None), f"{route.method} {path} has no @requires"
            console_routes.append((route.method, path))
        else:
            # A new route must be either guarded or consciously listed as public.
            assert path in PUBLIC, f"{route.method} {path} is neither a console route nor listed as public"
    assert len(console_routes) >= 12
    async with aiohttp.ClientSession() as http:
        for method, path in console_routes:
            url = desk_without_rasa.url + re.sub(
                r"\{(\w+)[^}]*\}", lambda m: ROUTE_SAMPLE_PARAMS.get(m.group(1), "x" * 10), path
            )
            async with http.request(method, url, json={}, allow_redirects=False) as reply:
                assert reply.status in (401, 302), f"{method} {path} answered {reply.status} without log-in"
                if reply.status == 302:
                    assert reply.headers["Location"].startswith("/login")


async def test_login_sets_a_strict_httponly_cookie_and_csrf_is_enforced(desk_without_rasa):
    server = desk_without_rasa
    ensure_user(server.accounts, "王")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{server.url}/api/login", json={"name": "王", "password": "wrong"}) as reply:
            assert reply.status == 401
        async with http.post(f"{server.url}/api/login", json={"name": "王", "password": PASSWORD}) as reply:
            assert reply.status == 200
            cookie = reply.headers["Set-Cookie"]
            csrf = (await reply.json())["csrf"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        conversation = new_id()
        await say(server, conversation, "你好")
        url = f"{server.url}/api/console/conversations/{number_of(server, conversation)}/claim"
        async with http.post(url, json={}) as reply:
            assert reply.status == 403, "a state change without the CSRF token must be refused"
        async with http.post(url, json={}, headers={"X-CSRF-Token": "forged"}) as reply:
            assert reply.status == 403
        async with http.post(url, json={}, headers={"X-CSRF-Token": csrf}) as reply:
            assert reply.status == 200
        # A form post (not JSON) cannot log in: cross-site forms are shut out.
        async with http.post(f"{server.url}/api/login", data={"name": "王", "password": PASSWORD}) as reply:
            assert reply.status == 415


async def test_one_time_password_must_be_changed_first(desk_without_rasa):
    server = desk_without_rasa
    password = create_user(server.accounts, "新人", "clerk")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{server.url}/api/login", json={"name": "新人", "password": password}) as reply:
            body = await reply.json()
            assert body["must_change"] is True
        headers = {"X-CSRF-Token": body["csrf"]}
        async with http.get(f"{server.url}/api/console/queue") as reply:
            assert reply.status == 403
        change = {"old": password, "new": "a-new-long-password"}
        async with http.post(f"{server.url}/api/console/password", json=change, headers=headers) as reply:
            assert reply.status == 200
        async with http.get(f"{server.url}/api/console/queue") as reply:
            assert reply.status == 200
        async with http.post(f"{server.url}/api/login", json={"name": "新人", "password": password}) as reply:
            assert reply.status == 401, "the one-time password works once only"


async def test_trainer_neither_reads_nor_acts_on_the_console(desk_without_rasa):
    """Issue 10, item 5: trainers see the masked inbox only; the console's routes and socket are the clerks'."""
    server = desk_without_rasa
    conversation = new_id()
    await say(server, conversation, "你好")
    trainer = await Clerk.login(server, "培训师", role="trainer")
    try:
        for path in (f"/api/console/conversations/{trainer.number(conversation)}", "/api/console/queue", "/api/console/live",
                     "/api/console/cases/WZ202610080017", "/api/console/clerks"):  # fmt: skip
            status, _ = await trainer.get(path)
            assert status == 403, path
        status, _ = await trainer.act(conversation, "claim")
        assert status == 403
        cookie = "; ".join(f"{c.key}={c.value}" for c in trainer.http.cookie_jar)
        assert await console_handshake(server.url, cookie) == "refused"
    finally:
        await trainer.close()


async def test_rasa_down_answers_within_seconds_and_queues_the_conversation(desk_without_rasa):
    server = desk_without_rasa
    conversation = new_id()
    started = time.monotonic()
    reply = await say(server, conversation, "护照过期了怎么换", client_id="m1", metadata={"country": "法国"})
    assert time.monotonic() - started < 5
    texts = [line["text"] for line in reply["replies"]]
    assert texts[0] == BOT_DOWN
    assert HOURS in texts[1], "with no clerk online the citizen is told the staffed hours"
    assert reply["state"] == "waiting"
    queue = server.conversations.queue()
    assert [c["id"] for c in queue] == [conversation]
    assert queue[0]["reason"] == "bot_unavailable" and queue[0]["country"] == "法国"
    transcript = server.conversations.messages(conversation)
    assert transcript[0]["sender"] == "citizen" and transcript[0]["text"] == "护照过期了怎么换"
    # A re-sent message (same client id) is stored once and not routed again.
    again = await say(server, conversation, "护照过期了怎么换", client_id="m1")
    assert again["stored"]["id"] == transcript[0]["id"] and again["replies"] == []
    assert len(server.conversations.messages(conversation)) == len(transcript)
    # Further messages wait for the clerk, in the same transcript.
    await say(server, conversation, "我在巴黎")
    assert server.conversations.messages(conversation)[-1]["text"] == "我在巴黎"


async def test_queue_is_sorted_by_waiting_time(desk_without_rasa):
    server = desk_without_rasa
    first, second = new_id(), new_id()
    await say(server, first, "一")
    await say(server, second, "二")
    clerk = await Clerk.login(server, "李")
    try:
        status, body = await clerk.get("/api/console/queue")
        assert status == 200
        assert [c["number"] for c in body["queue"]] == [clerk.number(first), clerk.number(second)]
        assert body["queue"][0]["last_citizen_text"] == "一"
    finally:
        await clerk.close()


async def test_two_clerks_claiming_at_once_one_wins(desk_without_rasa):
    server = desk_without_rasa
    conversation = new_id()
    await say(server, conversation, "人呢")
    zhang, li = await Clerk.login(server, "张"), await Clerk.login(server, "李")
    try:
        results = await asyncio.gather(zhang.act(conversation, "claim"), li.act(conversation, "claim"))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409]
        loser = next(body for status, body in results if status == 409)
        winner = server.conversations.conversation(conversation)["clerk"]
        assert winner in loser["error"]
        joined = [m["text"] for m in server.conversations.messages(conversation) if m["sender"] == "system"]
        assert f"工作人员 {winner} 已接入" in joined
        assert sum("已接入" in t for t in joined) == 1
    finally:
        await zhang.close()
        await li.close()


async def test_reply_note_transfer_close_and_case_lookup(desk_without_rasa):
    server = desk_without_rasa
    conversation = new_id()
    await say(server, conversation, "我要查办件")
    zhang, li = await Clerk.login(server, "张"), await Clerk.login(server, "李")
    try:
        status, _ = await li.act(conversation, "reply", text="未接入不能回复")
        assert status == 409
        assert (await zhang.act(conversation, "claim"))[0] == 200
        assert (await zhang.act(conversation, "reply", text="您好，我是张"))[0] == 200
        assert (await zhang.act(conversation, "note", text="群众在巴黎，护照号已核对"))[0] == 200
        status, body = await zhang.get("/api/console/cases/wz202610080017")
        assert status == 200 and body["case_no"] == "WZ202610080017" and body["history"]
        assert (await zhang.get("/api/console/cases/WZ000000000000"))[0] == 404
        assert (await zhang.act(conversation, "transfer", to="李"))[0] == 200
        assert (await zhang.act(conversation, "reply", text="已转走"))[0] == 409
        assert (await li.act(conversation, "reply", text="您好，我是李"))[0] == 200
        status, detail = await li.view(conversation)
        assert detail["conversation"]["clerk"] == "李"
        assert [n["text"] for n in detail["notes"]] == ["群众在巴黎，护照号已核对"]
        assert detail["sample_notice"] == SAMPLE_NOTICE
        # Notes are internal: never in what the citizen can read.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/api/conversations/{conversation}/messages") as reply:
                citizen_view = await reply.text()
        assert "护照号已核对" not in citizen_view
        assert "您好，我是张" in citizen_view and "已为您转接工作人员 李" in citizen_view
        assert (await li.act(conversation, "close"))[0] == 200
        assert server.conversations.conversation(conversation)["state"] == "closed"
    finally:
        await zhang.close()
        await li.close()


async def test_create_user_command_prints_a_working_one_time_password(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "bot.desk", "create-user", "陈", "--role", "clerk"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    password = done.stdout.strip().rsplit(" ", 1)[-1]
    again = subprocess.run(
        [sys.executable, "-m", "bot.desk", "create-user", "陈", "--role", "clerk"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1
    user, _, _ = await AccountService(Database(url)).login("陈", password)
    assert user and user["must_change"] and user["role"] == "clerk"


async def test_first_admin_only_on_an_empty_desk(tmp_path):
    from bot.desk.accounts import ensure_first_admin

    database = Database(f"sqlite:///{tmp_path / 'first.db'}")
    database.create_schema()
    password = ensure_first_admin(Accounts(database))
    assert password and len(password) >= 12
    assert ensure_first_admin(Accounts(database)) is None
    user, _, _ = await AccountService(database).login("admin", password)
    assert user["role"] == "admin"


@pytest.mark.parametrize("path", ["/demo", "/console", "/login"])
async def test_pages_forbid_inline_scripts(desk_without_rasa, path):
    async with aiohttp.ClientSession() as http:
        async with http.get(desk_without_rasa.url + path, allow_redirects=False) as reply:
            assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
