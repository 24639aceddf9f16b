"""Issue 10, item 6: log-in. Display names, a throttle per address instead of a lockout, the decoy
hash, an atomic failure counter, sessions and console sockets ended by a log-out or a new
password, one-time passwords that expire and stay out of logs, scrypt at OWASP's parameters."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import secrets
import threading
from datetime import datetime, timedelta

import aiohttp
import pytest
import socketio
from sqlalchemy import event, update

from bot.db import Database
from bot.desk import passwords
from bot.desk.__main__ import announce_first_admin
from bot.desk.account_service import AccountService
from bot.desk.accounts import Accounts, create_user, reset_password
from bot.desk.tables import DeskUser
from tests.desk.helpers import PASSWORD, Clerk, DeskServer, drop, new_id, say, wait_for

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


def _cookie(clerk: Clerk) -> str:
    return "; ".join(f"{c.key}={c.value}" for c in clerk.http.cookie_jar)


async def _console(server: DeskServer, clerk: Clerk) -> tuple[socketio.AsyncClient, asyncio.Event]:
    """A console socket let in with the clerk's cookie, and an event set when the desk ends it."""
    console = socketio.AsyncClient(reconnection=False)
    ended = asyncio.Event()
    console.on("disconnect", ended.set, namespace="/console")
    await console.connect(
        server.url, namespaces=["/console"], transports=["polling"], headers={"Cookie": _cookie(clerk)}
    )
    return console, ended


async def test_citizens_see_the_display_name_never_the_login_name(desk_without_rasa):
    server = desk_without_rasa
    named = server.accounts.create_user("kefu-login-7", "clerk", PASSWORD, display_name="小陈")
    unnamed = server.accounts.create_user("admin-login-8", "clerk", PASSWORD)
    conversation = new_id()
    await say(server, conversation, "转人工")
    first, second = await Clerk.login(server, "kefu-login-7"), await Clerk.login(server, "admin-login-8")
    try:
        assert (await first.act(conversation, "claim"))[0] == 200
        assert (await first.act(conversation, "reply", text="您好"))[0] == 200
        assert (await first.act(conversation, "transfer", to="admin-login-8"))[0] == 200
        assert (await second.act(conversation, "close"))[0] == 200
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/api/conversations/{conversation}/messages") as reply:
                citizen_view = await reply.text()
        assert "kefu-login-7" not in citizen_view and "admin-login-8" not in citizen_view
        assert "工作人员 小陈 已接入" in citizen_view
        # Without a display name, the account's number stands in for it.
        assert f"已为您转接工作人员 {unnamed:03d}" in citizen_view
        assert named != unnamed
    finally:
        await first.close()
        await second.close()


async def test_log_ins_are_throttled_per_address_with_a_backoff_and_no_account_is_locked(desk_db_url):
    from bot.desk import DeskConfig
    from tests.desk.helpers import free_port

    # The desk behind a proxy on 127.0.0.1: X-Forwarded-For tells the addresses apart.
    config = DeskConfig(
        database_url=desk_db_url, rasa_url=f"http://127.0.0.1:{free_port()}", rasa_token="x", trusted_proxies="127.0.0.1"
    )
    server = await DeskServer(config).start()
    server.accounts.create_user("节流", "clerk", PASSWORD)
    attacker, clerk = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.20"}
    url = f"{server.url}/api/login"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(5):
                async with http.post(url, json={"name": "节流", "password": "nope"}, headers=attacker) as reply:
                    assert reply.status == 401
            # The sixth attempt from that address waits, even with the right password ...
            async with http.post(url, json={"name": "节流", "password": PASSWORD}, headers=attacker) as reply:
                assert reply.status == 429
                assert int(reply.headers["Retry-After"]) >= 1
            # ... while the clerk, from another address, logs in: nobody can lock a clerk out.
            async with http.post(url, json={"name": "节流", "password": PASSWORD}, headers=clerk) as reply:
                assert reply.status == 200
            # After the wait the address may try again, and the next wait is longer.
            await asyncio.sleep(1.1)
            async with http.post(url, json={"name": "节流", "password": "nope"}, headers=attacker) as reply:
                assert reply.status == 401
            async with http.post(url, json={"name": "节流", "password": "nope"}, headers=attacker) as reply:
                assert reply.status == 429
                assert int(reply.headers["Retry-After"]) >= 2
    finally:
        await server.stop()


def test_a_burst_of_parallel_attempts_passes_the_throttle_only_for_the_free_ones(tmp_path):
    """Counted before the password is checked: parallel guesses cannot all slip through while none failed yet."""
    database = Database(f"sqlite:///{tmp_path / 'burst.db'}")
    database.create_schema()
    accounts = Accounts(database)
    start, waits = threading.Barrier(12), []

    def attempt() -> None:
        start.wait()
        waits.append(accounts.login_attempt("login:burst-address"))

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wait == 0 for wait in waits).count(True) == 5


def test_the_failure_counter_is_one_update_not_a_read_then_a_write(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'count.db'}")
    database.create_schema()
    accounts = Accounts(database)
    user_id = accounts.add_user("计数", "clerk", "scrypt$1$1$1$00$00")
    statements: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    accounts.login_result(user_id, False)
    accounts.login_result(user_id, False)
    assert accounts.failed_logins(user_id) == 2
    writes = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert writes and all("failed_logins + " in s for s in writes), writes
    assert not any(s.lstrip().upper().startswith("SELECT") for s in statements[: statements.index(writes[0])])


@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL not set: SQLite serialises writers anyway")
def test_concurrent_failures_are_all_counted_on_postgresql():
    database = Database(POSTGRES_URL)
    database.create_schema()
    accounts = Accounts(database)
    user_id = accounts.add_user(f"并发{secrets.token_hex(4)}", "clerk", "scrypt$1$1$1$00$00")
    start = threading.Barrier(16)

    def fail() -> None:
        start.wait()
        accounts.login_result(user_id, False)

    threads = [threading.Thread(target=fail) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert accounts.failed_logins(user_id) == 16


async def test_an_unknown_name_costs_one_scrypt_run_from_the_first_log_in(tmp_path, monkeypatch):
    database = Database(f"sqlite:///{tmp_path / 'decoy.db'}")
    database.create_schema()
    monkeypatch.setattr(passwords, "_DECOY", None)
    service = AccountService(database)
    try:
        await service.start()  # the desk does this when it starts: the decoy exists before any log-in
        runs: list[int] = []
        real = hashlib.scrypt

        def counted(*args, **kwargs):
            runs.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(hashlib, "scrypt", counted)
        user, reason, _ = await service.login("nobody-at-all", "guess")
        assert user is None and reason == "wrong"
        assert len(runs) == 1, "an unknown name must cost exactly what a wrong password costs"
    finally:
        service.close()


def test_scrypt_parameters_follow_owasp_and_old_hashes_are_replaced_at_log_in(tmp_path):
    stored = passwords.hash_password("x" * 12)
    _, n, r, p, _, _ = stored.split("$")
    # OWASP Password Storage Cheat Sheet: N=2^17 r=8 p=1, or an equivalent such as N=2^14 r=8 p=5.
    assert int(n) * int(r) * int(p) >= 2**14 * 8 * 5 and int(r) >= 8
    salt = secrets.token_bytes(16)
    old = f"scrypt${2**14}$8$1${salt.hex()}${hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32).hex()}"
    database = Database(f"sqlite:///{tmp_path / 'rehash.db'}")
    database.create_schema()
    accounts = Accounts(database)
    user_id = accounts.add_user("旧哈希", "clerk", old)
    service = AccountService(database)
    try:
        user, _, _ = asyncio.run(service.login("旧哈希", PASSWORD))
    finally:
        service.close()
    assert user is not None
    assert not passwords.needs_rehash(accounts.password_hash(user_id))
    assert passwords.verify_password(PASSWORD, accounts.password_hash(user_id))


async def test_a_password_change_ends_every_session_and_console_socket(desk_without_rasa):
    server = desk_without_rasa
    elsewhere, here = await Clerk.login(server, "改密"), await Clerk.login(server, "改密")
    console, ended = await _console(server, elsewhere)
    try:
        await wait_for(lambda: console.connected)
        change = {"old": PASSWORD, "new": "another-long-password"}
        status, body = await here.post("/api/console/password", change)
        assert status == 200
        # This browser goes on, with a new session ...
        here.csrf = body["csrf"]
        assert (await here.get("/api/console/me"))[0] == 200
        # ... every other session of the account, and its console socket, ended.
        assert (await elsewhere.get("/api/console/me"))[0] == 401
        await asyncio.wait_for(ended.wait(), 5)
    finally:
        server.accounts.set_password_hash(here.user["id"], passwords.hash_password(PASSWORD))
        if console.connected:
            await drop(console)
        await here.close()
        await elsewhere.close()


async def test_log_out_ends_the_console_socket_and_a_heartbeat_checks_the_session_again(desk_without_rasa):
    server = desk_without_rasa
    clerk = await Clerk.login(server, "登出")
    console, ended = await _console(server, clerk)
    try:
        assert (await clerk.post("/api/logout"))[0] == 200
        await asyncio.wait_for(ended.wait(), 5)
    finally:
        if console.connected:
            await drop(console)
        await clerk.close()
    # A session ended elsewhere (another desk instance, expiry): the next heartbeat notices.
    clerk = await Clerk.login(server, "登出")
    console, ended = await _console(server, clerk)
    try:
        token = next(c.value for c in clerk.http.cookie_jar if c.key == "desk_session")
        server.accounts.drop_session(token)
        await console.emit("heartbeat", {}, namespace="/console")
        await asyncio.wait_for(ended.wait(), 5)
    finally:
        if console.connected:
            await drop(console)
        await clerk.close()


async def test_one_time_passwords_expire_after_24_hours_and_a_reset_gives_a_new_one(desk_without_rasa):
    server = desk_without_rasa
    password = create_user(server.accounts, "过期", "clerk")
    user = server.accounts.user_by_name("过期")
    with server.accounts.db.session() as session:
        row = session.get(DeskUser, user["id"])
        assert row.password_expires_at - datetime.utcnow() <= timedelta(hours=24)
        session.execute(
            update(DeskUser).where(DeskUser.id == user["id"]).values(password_expires_at=datetime.utcnow() - timedelta(minutes=1))
        )
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/login", json={"name": "过期", "password": password}) as reply:
            assert reply.status == 401
            assert "过期" in (await reply.json())["error"]
        fresh = reset_password(server.accounts, "过期")
        async with http.post(f"{server.url}/api/login", json={"name": "过期", "password": fresh}) as reply:
            assert reply.status == 200 and (await reply.json())["must_change"] is True


def test_the_first_admins_one_time_password_never_reaches_a_log(tmp_path, caplog):
    database = Database(f"sqlite:///{tmp_path / 'first.db'}")
    database.create_schema()
    accounts = Accounts(database)
    output = io.StringIO()  # not a terminal: what a server's stdout is under bot/tools/stack.py
    with caplog.at_level(logging.INFO):
        announce_first_admin(accounts, output)
    written = output.getvalue() + caplog.text
    assert "reset-password admin" in written
    stored = accounts.password_hash(accounts.user_by_name("admin")["id"])
    alphabet = set("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    candidates = {word for word in written.replace("`", " ").split() if len(word) == 14 and set(word) <= alphabet}
    assert not any(passwords.verify_password(word, stored) for word in candidates)
