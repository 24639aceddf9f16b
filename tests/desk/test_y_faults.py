"""More faults: the action server down, Rasa slow, the database locked or gone, a clerk who drops out.

Each checks what the citizen is told, that nothing acknowledged is lost, and that things recover.
Runs before test_z_faults (which restarts Rasa); every test here puts the stack back as it was.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from bot.desk import DeskConfig
from bot.desk.service import BOT_DOWN, DATABASE_DOWN
from tests.desk.conftest import Clerk, DeskServer, new_id, say

pytestmark = pytest.mark.stack


def texts(server: DeskServer, conversation: str, sender: str) -> list[str]:
    return [line["text"] for line in server.store.messages(conversation) if line["sender"] == sender]


async def test_action_server_down_the_citizen_is_told_and_queued_then_the_bot_is_back(desk, rasa_stack):
    rasa_stack.stop_process("actions")
    try:
        conversation = new_id()
        answer = await say(desk, conversation, "护照过期了怎么换")
        assert [line["text"] for line in answer["replies"]][0] == BOT_DOWN
        assert answer["state"] == "waiting"
        assert texts(desk, conversation, "citizen") == ["护照过期了怎么换"]
    finally:
        rasa_stack.start_actions()
    again = await say(desk, new_id(), "护照过期了怎么换")
    assert again["replies"][0]["data"]["custom"]["guide_item"] == "passport-renewal"


async def test_slow_rasa_gets_a_clear_answer_within_seconds(rasa_stack, stack_database_url):
    config = DeskConfig(
        database_url=stack_database_url, rasa_url=rasa_stack.rasa_url, rasa_token=rasa_stack.token, rasa_timeout=1.5
    )
    server = await DeskServer(config).start()
    rasa = rasa_stack.processes["rasa"]
    os.killpg(rasa.pid, signal.SIGSTOP)  # Rasa hangs: it accepts connections but answers nothing
    try:
        conversation = new_id()
        started = time.monotonic()
        answer = await say(server, conversation, "护照过期了怎么换")
        assert time.monotonic() - started < 4
        assert answer["replies"][0]["text"] == BOT_DOWN and answer["state"] == "waiting"
        assert texts(server, conversation, "citizen") == ["护照过期了怎么换"]
    finally:
        os.killpg(rasa.pid, signal.SIGCONT)
    # Rasa answers again; a new conversation goes to the bot.
    deadline = time.monotonic() + 30
    while True:
        answer = await say(server, new_id(), "护照过期了怎么换")
        if answer["state"] == "bot" or time.monotonic() > deadline:
            break
    assert answer["replies"][0]["data"]["custom"]["guide_item"] == "passport-renewal"
    await server.stop()


async def post(server: DeskServer, conversation: str, text: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/conversations/{conversation}/messages"
        async with http.post(url, json={"message": text}) as reply:
            return reply.status, await reply.json()


async def test_database_locked_for_a_moment_the_message_waits_and_is_kept(desk_without_rasa, desk_db_url):
    path = desk_db_url.split("sqlite:///", 1)[1]
    locker = sqlite3.connect(path, timeout=5, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, locker.rollback).start()
    conversation = new_id()
    started = time.monotonic()
    status, _ = await post(desk_without_rasa, conversation, "你好，我的材料寄到了吗")
    locker.close()
    assert status == 200
    assert time.monotonic() - started >= 0.9, "the write waited for the lock"
    assert texts(desk_without_rasa, conversation, "citizen") == ["你好，我的材料寄到了吗"]


async def test_database_gone_answers_503_and_acknowledges_nothing(desk_without_rasa, desk_db_url):
    path = Path(desk_db_url.split("sqlite:///", 1)[1])
    conversation = new_id()
    assert (await post(desk_without_rasa, conversation, "第一条"))[0] == 200
    aside = path.with_suffix(".aside")
    path.rename(aside)
    path.mkdir()  # the file is gone and nothing can create it: every connection fails
    try:
        status, body = await post(desk_without_rasa, conversation, "第二条")
        assert status == 503 and body["error"] == DATABASE_DOWN
    finally:
        shutil.rmtree(path)
        aside.rename(path)
    assert (await post(desk_without_rasa, conversation, "第二条"))[0] == 200
    assert texts(desk_without_rasa, conversation, "citizen") == ["第一条", "第二条"]


async def test_a_clerk_who_drops_out_finds_everything_on_return(desk_without_rasa):
    conversation = new_id()
    await post(desk_without_rasa, conversation, "我要找人工")  # Rasa is down: it waits for a clerk
    clerk = await Clerk.login(desk_without_rasa, "王")
    assert (await clerk.act(conversation, "claim"))[0] == 200
    await clerk.close()  # the browser is gone, mid-conversation
    for text in ("你还在吗", "我的护照丢了"):
        status, body = await post(desk_without_rasa, conversation, text)
        assert status == 200 and body["state"] == "clerk"
    back = await Clerk.login(desk_without_rasa, "王")
    try:
        status, data = await back.get(f"/api/console/conversations/{conversation}")
        assert status == 200
        seen = [line["text"] for line in data["messages"] if line["sender"] == "citizen"]
        assert seen[-2:] == ["你还在吗", "我的护照丢了"]
        assert (await back.act(conversation, "reply", text="在的，请讲。"))[0] == 200
    finally:
        await back.close()
    assert texts(desk_without_rasa, conversation, "clerk") == ["在的，请讲。"]
