"""Faults of the bot: the action server down, Rasa hung, Rasa killed mid-conversation.

Each checks what the citizen is told, that nothing acknowledged is lost, and that
things recover. They stop processes of the shared stack, so they are marked
`destructive` and run last (tests/conftest.py); each puts the stack back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from bot.desk import DeskConfig
from bot.desk.service import BOT_DOWN
from tests.desk.helpers import RESULTS, DeskServer, citizen_says, line, new_id, open_widget, say, texts

pytestmark = [pytest.mark.stack, pytest.mark.destructive]


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
    # After the timeout the desk looks for a late reply in Rasa's tracker (issue 10, item 4) for `late_reply_s`;
    # a hung Rasa answers no tracker read either, so the apology comes after both.
    config = DeskConfig(
        database_url=stack_database_url, rasa_url=rasa_stack.rasa_url, rasa_token=rasa_stack.token, rasa_timeout=1.5,
        late_reply_s=1.0,
    )  # fmt: skip
    server = await DeskServer(config).start()
    rasa = rasa_stack.processes["rasa"]
    os.killpg(rasa.pid, signal.SIGSTOP)  # Rasa hangs: it accepts connections but answers nothing
    try:
        conversation = new_id()
        started = time.monotonic()
        answer = await say(server, conversation, "护照过期了怎么换")
        assert time.monotonic() - started < 5
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


async def test_rasa_dies_mid_conversation_and_comes_back(desk, browser, rasa_stack):
    context = await browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN")
    widget = await open_widget(context, desk.url)
    await citizen_says(widget, "护照过期了怎么换")
    await line(widget, "bot", "普通护照换发").first.wait_for(timeout=15000)
    rasa_stack.stop_process("rasa")
    try:
        started = time.monotonic()
        await citizen_says(widget, "在国外怎么办理")
        await line(widget, "system", BOT_DOWN).wait_for(timeout=8000)
        assert time.monotonic() - started < 7, "the citizen hears within a few seconds"
        await widget.screenshot(path=str(RESULTS / "widget_rasa_down.png"))
        key = await widget.evaluate("Object.keys(localStorage).find(k => k.endsWith(':session'))")
        conversation = await widget.evaluate(f"JSON.parse(localStorage.getItem({key!r}))")
        assert desk.conversations.conversation(conversation)["state"] == "waiting"
        assert [c["reason"] for c in desk.conversations.queue() if c["id"] == conversation] == ["bot_unavailable"]
        assert desk.conversations.messages(conversation)[-3]["text"] == "在国外怎么办理", "what they wrote is kept"
        # A new conversation while Rasa is down: also to the queue, also told.
        down = await say(desk, new_id(), "你好")
        assert down["state"] == "waiting" and down["replies"][0]["text"] == BOT_DOWN
    finally:
        await asyncio.get_running_loop().run_in_executor(None, rasa_stack.start_rasa)
    # Rasa is back: new conversations go to the bot again.
    back = await say(desk, new_id(), "护照过期了怎么换")
    assert back["state"] == "bot"
    assert back["replies"][0]["data"]["custom"]["guide_item"] == "passport-renewal"
    await context.close()
