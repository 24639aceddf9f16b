"""Faults on the desk's side: a clerk's browser gone mid-conversation, the desk itself restarted.

Neither touches the shared Rasa stack.
"""

from __future__ import annotations

import pytest

from tests.desk.helpers import RESULTS, Clerk, citizen_says, line, new_id, open_widget, post, texts


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
        status, data = await back.view(conversation)
        assert status == 200
        seen = [line["text"] for line in data["messages"] if line["sender"] == "citizen"]
        assert seen[-2:] == ["你还在吗", "我的护照丢了"]
        assert (await back.act(conversation, "reply", text="在的，请讲。"))[0] == 200
    finally:
        await back.close()
    assert texts(desk_without_rasa, conversation, "clerk") == ["在的，请讲。"]


@pytest.mark.stack
async def test_desk_restart_loses_nothing_and_the_widget_recovers(desk, browser):
    context = await browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN")
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
    citizen_lines = [m["text"] for m in desk.conversations.messages(conversation) if m["sender"] == "citizen"]
    assert citizen_lines == ["护照过期了怎么换", "需要什么材料"], "stored once each, in order"
    await widget.reload()
    await line(widget, "bot", "所需材料").wait_for(timeout=5000)
    assert await line(widget, "citizen", "需要什么材料").count() == 1
    await context.close()
