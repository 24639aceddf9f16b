"""The trainer sees in the inbox which context decided a message (issue 13), in headless Chromium.

A citizen asks about an item through the desk, then a follow-up that names no item; the
inbox shows the first line decided by the message alone and the follow-up by the item
under discussion, with the previous item when a return changed the topic.
"""

from __future__ import annotations

import pytest

from tests.desk.helpers import PASSWORD, RESULTS, ensure_user, new_id, say

pytestmark = pytest.mark.stack


async def test_inbox_shows_which_context_decided(desk, browser):
    conversation = new_id()
    for text in ("想办继承公证", "我在法国，必须回国吗", "另外护照过期了怎么换", "回到继承公证，要带什么"):
        await say(desk, conversation, text)
    ensure_user(desk.accounts, "训练员", "trainer")

    page = await (await browser.new_context(viewport={"width": 1360, "height": 900})).new_page()
    await page.goto(f"{desk.url}/trainer")
    await page.fill("#name", "训练员")
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await page.wait_for_url(f"{desk.url}/trainer")
    # Only this item's lines: the session's shared database holds other tests' conversations.
    await page.locator("#f-item option[value='notary-inheritance']").wait_for(state="attached", timeout=5000)
    await page.select_option("#f-item", "notary-inheritance")
    await page.click("#inbox-filter button[type=submit]")

    follow_up = page.locator("#inbox tr", has_text="必须回国吗").first
    await follow_up.wait_for(timeout=5000)
    note = follow_up.locator(".context")
    assert await note.get_attribute("data-decided-by") == "current_item"
    assert "当前事项的追问" in await note.text_content()

    back = page.locator("#inbox tr", has_text="要带什么").first
    note = back.locator(".context")
    assert await note.get_attribute("data-decided-by") == "return"
    text = await note.text_content()
    assert "回到之前的话题" in text and "之前：普通护照换发" in text, text

    first = page.locator("#inbox tr", has_text="想办继承公证").first
    assert "仅凭本句" in await first.locator(".context").text_content()
    await page.screenshot(path=str(RESULTS / "trainer_inbox_context.png"))
