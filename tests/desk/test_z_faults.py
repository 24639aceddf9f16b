"""Faults: the desk restarts, Rasa dies mid-conversation and comes back. Runs last (it restarts Rasa)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.desk.service import BOT_DOWN
from tests.desk.conftest import new_id, say
from tests.desk.test_browser import RESULTS, browser, citizen_says, line, open_widget  # noqa: F401

pytestmark = pytest.mark.stack


async def test_desk_restart_loses_nothing_and_the_widget_recovers(desk, browser):  # noqa: F811
    context = await browser.new_context(viewport={"width": 390, "height": 780})
    widget = await open_widget(context, desk.url)
    await citizen_says(widget, "护照过期了怎么换")
    await line(widget, "bot", "普通护照换发").first.wait_for(timeout=15000)

    await desk.stop()
    await widget.locator(".wzd-banner.show").wait_for(timeout=10000)
    # Written while the desk is down: kept by the widget, drawn as pending.
    await citizen_says(widget, "需要什么材料")
    await widget.locator(".wzd-msg.pending", has_text="需要什么材料").wait_for()
    await widget.screenshot(path=str(RESULTS / "widget_desk_down.png"))

    await desk.start()
    await line(widget, "bot", "所需材料").wait_for(timeout=20000)
    await widget.locator(".wzd-banner.show").wait_for(state="hidden")
    assert await widget.locator(".wzd-msg.pending").count() == 0
    key = await widget.evaluate("Object.keys(localStorage).find(k => k.endsWith(':session'))")
    conversation = await widget.evaluate(f"JSON.parse(localStorage.getItem({key!r}))")
    citizen_lines = [m["text"] for m in desk.store.messages(conversation) if m["sender"] == "citizen"]
    assert citizen_lines == ["护照过期了怎么换", "需要什么材料"], "stored once each, in order"
    await widget.reload()
    await line(widget, "bot", "所需材料").wait_for(timeout=5000)
    assert await line(widget, "citizen", "需要什么材料").count() == 1
    await context.close()


async def test_rasa_dies_mid_conversation_and_comes_back(desk, browser, rasa_stack):  # noqa: F811
    context = await browser.new_context(viewport={"width": 390, "height": 780})
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
        assert desk.store.conversation(conversation)["state"] == "waiting"
        assert [c["reason"] for c in desk.store.queue() if c["id"] == conversation] == ["bot_unavailable"]
        assert desk.store.messages(conversation)[-3]["text"] == "在国外怎么办理", "what they wrote is kept"
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
