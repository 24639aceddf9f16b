"""Clerks' languages (issue 8): a waiting conversation is offered first to the online clerks who speak
its language; the others see it `offer_delay_s` later; nobody speaking it is said to the citizen."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import socketio

from bot.db import Database
from bot.desk import DeskConfig
from bot.desk.accounts import Accounts, create_user
from bot.desk.language import text as desk_text
from bot.desk.offers import annotate, queue_for
from tests.desk.helpers import Clerk, DeskServer, drop, free_port, new_id, say, wait_for

PICK_IT = {"language": "it", "language_source": "picked"}


def test_offers_first_to_speakers_then_to_everyone_after_the_delay():
    since = datetime(2026, 11, 30, 9, 0, 0)
    waiting = {"id": "c1", "language": "it", "waiting_since": since.isoformat() + "Z"}
    chinese = {"id": "c0", "language": "zh", "waiting_since": (since - timedelta(minutes=5)).isoformat() + "Z"}
    rossi, wang = {"id": 1, "languages": ["it"]}, {"id": 2, "languages": []}
    online = [rossi, wang]
    assert annotate(waiting, online, 30)["first_for"] == [1]
    # Rossi gets it at once and ahead of the longer-waiting Chinese one; Wang only after 30 s.
    assert [c["id"] for c in queue_for([chinese, waiting], rossi, online, 30, since)] == ["c1", "c0"]
    assert [c["id"] for c in queue_for([chinese, waiting], wang, online, 30, since + timedelta(seconds=29))] == ["c0"]
    assert [c["id"] for c in queue_for([chinese, waiting], wang, online, 30, since + timedelta(seconds=30))] == [
        "c0",
        "c1",
    ]
    # Nobody online speaks it: everyone at once.
    assert [c["id"] for c in queue_for([waiting], wang, [wang], 30, since)] == ["c1"]


def test_create_user_with_languages(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    command = [sys.executable, "-m", "bot.desk", "create-user", "Rossi", "--role", "clerk", "--languages", "it,EN"]
    done = subprocess.run(command, env={"DATABASE_URL": url, "PATH": "/usr/bin"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Accounts(Database(url)).user_by_name("Rossi")["languages"] == ["it", "en"]
    with pytest.raises(ValueError, match="unknown language"):
        create_user(Accounts(Database(url)), "Müller", "clerk", "de")


@pytest.fixture()
async def slow_offers(desk_db_url):
    config = DeskConfig(
        database_url=desk_db_url, rasa_url=f"http://127.0.0.1:{free_port()}", rasa_token="x", rasa_timeout=2.0
    )
    config.offer_delay_s = 3.0
    server = await DeskServer(config).start()
    yield server
    await server.stop()


async def _online(server: DeskServer, clerk: Clerk) -> socketio.AsyncClient:
    cookie = "; ".join(f"{c.key}={c.value}" for c in clerk.http.cookie_jar)
    console = socketio.AsyncClient(reconnection=False)
    await console.connect(server.url, namespaces=["/console"], transports=["polling"], headers={"Cookie": cookie})
    return console


async def test_the_italian_speaker_is_offered_it_first_and_the_other_clerk_later(slow_offers):
    server = slow_offers
    rossi_id = server.accounts.create_user("Rossi", "clerk", "correct-horse-battery", languages=["it"])
    server.accounts.create_user("王", "clerk", "correct-horse-battery")
    rossi, wang = await Clerk.login(server, "Rossi"), await Clerk.login(server, "王")
    consoles = [await _online(server, rossi), await _online(server, wang)]
    try:
        await wait_for(lambda: len(server.presence.online_clerks()) == 2)
        conversation = new_id()
        reply = await say(server, conversation, "Vorrei rinnovare il passaporto", metadata=PICK_IT)
        # Someone online speaks Italian: no "nobody speaks it" line.
        assert desk_text("no_speaker", "it") not in [line["text"] for line in reply["replies"]]
        _, for_rossi = await rossi.get("/api/console/queue")
        _, for_wang = await wang.get("/api/console/queue")
        assert [c["number"] for c in for_rossi["queue"]] == [rossi.number(conversation)]
        assert for_rossi["queue"][0]["first_for"] == [rossi_id]
        assert for_wang["queue"] == [], "the Chinese-only clerk does not see it yet"
        await asyncio.sleep(3.2)
        _, for_wang = await wang.get("/api/console/queue")
        assert [c["number"] for c in for_wang["queue"]] == [wang.number(conversation)], "after the delay everyone sees it"
    finally:
        for console in consoles:
            await drop(console)
        await rossi.close()
        await wang.close()


async def test_nobody_online_speaks_it_the_citizen_is_told_in_their_language(desk_without_rasa):
    server = desk_without_rasa
    server.accounts.create_user("王", "clerk", "correct-horse-battery")
    wang = await Clerk.login(server, "王")
    console = await _online(server, wang)
    try:
        await wait_for(lambda: len(server.presence.online_clerks()) == 1)
        conversation = new_id()
        reply = await say(server, conversation, "Bonjour, je veux parler à quelqu'un", metadata={"language": "fr"})
        texts = [line["text"] for line in reply["replies"]]
        assert desk_text("no_speaker", "fr") in texts
        _, for_wang = await wang.get("/api/console/queue")
        assert [c["number"] for c in for_wang["queue"]] == [wang.number(conversation)], "offered to everyone at once"
    finally:
        await drop(console)
        await wang.close()


async def test_only_an_admin_edits_a_clerks_languages(desk_without_rasa):
    server = desk_without_rasa
    admin, clerk = await Clerk.login(server, "管理员", role="admin"), await Clerk.login(server, "李")
    try:
        path = f"/api/console/users/{clerk.user['id']}/languages"
        status, _ = await clerk.post(path, {"languages": ["it"]})
        assert status == 403
        status, body = await admin.post(path, {"languages": ["fr", "en", "zh"]})
        assert status == 200 and body["languages"] == ["fr", "en"]
        assert server.accounts.user_by_name("李")["languages"] == ["fr", "en"]
        status, _ = await admin.post(path, {"languages": ["xx"]})
        assert status == 400
        _, me = await clerk.get("/api/console/me")
        assert me["languages"] == ["fr", "en"] and {"code": "it", "name": "Italiano"} in me["supported_languages"]
    finally:
        await admin.close()
        await clerk.close()
