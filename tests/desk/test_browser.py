"""The widget and the console in headless Chromium (Debian's, never a downloaded one), on the real stack."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.desk.helpers import CHROMIUM, RESULTS, citizen_says, ensure_user, line, login, number_of, open_widget

pytestmark = pytest.mark.stack

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


async def test_citizen_and_clerk_end_to_end(desk, browser):
    ensure_user(desk.accounts, "张")
    citizen_ctx = await browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True, locale="zh-CN")
    clerk_ctx = await browser.new_context(viewport={"width": 1360, "height": 860})
    widget = await open_widget(citizen_ctx, desk.url)

    # A guide question, answered by the bot with quick replies.
    await citizen_says(widget, "护照过期了怎么换")
    await line(widget, "bot", "普通护照换发").first.wait_for(timeout=15000)
    assert await widget.locator(".wzd-qr").count() >= 3
    await widget.screenshot(path=str(RESULTS / "widget_guide_answer.png"))

    # Markup is shown as text, never run.
    await citizen_says(widget, "<script>window.__pwned=1</script><b>粗</b>")
    await line(widget, "citizen", "<script>window.__pwned=1</script>").wait_for()
    assert await widget.evaluate("window.__pwned === undefined")
    assert await widget.locator(".wzd-log b").count() == 0

    # Asks for a person with the visible button.
    await widget.click(".wzd-human")
    await line(widget, "bot", "转接人工客服").wait_for(timeout=15000)
    session_id = await widget.evaluate("Object.keys(localStorage).find(k => k.endsWith(':session'))")
    conversation = await widget.evaluate(f"JSON.parse(localStorage.getItem({session_id!r}))")

    # The clerk logs in and sees the conversation in the queue within a second (pushed live).
    console = await login(clerk_ctx, desk.url, "张")
    await console.locator(f'#queue li[data-id="{number_of(desk, conversation)}"]').wait_for(timeout=1000)
    await citizen_says(widget, "请问人工在吗")
    await console.click(f'#queue li[data-id="{number_of(desk, conversation)}"]')
    await console.locator(".line.citizen", has_text="请问人工在吗").wait_for(timeout=3000)
    # The citizen's markup is text in the console too.
    await console.locator(".line.citizen", has_text="<script>").wait_for()
    assert await console.evaluate("window.__pwned === undefined")
    assert await console.locator("#transcript b").count() == 0
    assert await console.locator("#sample-notice").is_visible()

    await console.click("#claim")
    await line(widget, "system", "工作人员 张 已接入").wait_for(timeout=3000)

    # Latency from the clerk's send to the citizen's screen, timed in the browsers (same machine clock).
    await widget.evaluate(
        """text => { window.__seen = new Promise(resolve => {
            new MutationObserver((_, observer) => {
              for (const node of document.querySelectorAll('.wzd-msg[data-sender="clerk"]')) {
                if (node.textContent.includes(text)) { observer.disconnect(); resolve(Date.now()); }
              }
            }).observe(document.body, {childList: true, subtree: true});
        }); }""",
        "您好，我是工作人员张，请讲。",
    )
    sent_at = await console.evaluate(
        """text => { document.getElementById('reply').value = text; const t = Date.now();
                    document.getElementById('reply-form').requestSubmit(); return t; }""",
        "您好，我是工作人员张，请讲。",
    )
    seen_at = await widget.evaluate("window.__seen")
    latency_ms = seen_at - sent_at
    print(f"\nclerk send -> citizen screen: {latency_ms} ms")
    (RESULTS / "clerk_latency.txt").write_text(f"clerk send -> citizen screen: {latency_ms} ms\n", encoding="utf-8")
    assert latency_ms < 1000
    await widget.screenshot(path=str(RESULTS / "widget_clerk_reply.png"))
    await console.screenshot(path=str(RESULTS / "console_conversation.png"))

    # Reload keeps the whole history, without duplicates.
    before = await widget.locator(".wzd-msg").count()
    await widget.reload()
    await line(widget, "clerk", "我是工作人员张").wait_for(timeout=5000)
    await widget.wait_for_timeout(300)
    assert await widget.locator(".wzd-msg").count() == before
    await widget.locator(".wzd-status", has_text="人工客服 张 为您服务").wait_for(timeout=3000)

    # The clerk hands back; the bot answers the next question, with the context it had.
    await console.click("#handback")
    await line(widget, "system", "已离开").wait_for(timeout=3000)
    await citizen_says(widget, "需要什么材料")
    await line(widget, "bot", "所需材料").wait_for(timeout=15000)
    await widget.screenshot(path=str(RESULTS / "widget_after_handback.png"))
    await console.screenshot(path=str(RESULTS / "console_after_handback.png"))
    await citizen_ctx.close()
    await clerk_ctx.close()


async def test_console_refuses_a_visitor_without_session(desk, browser):
    context = await browser.new_context()
    page = await context.new_page()
    reply = await page.request.get(f"{desk.url}/api/console/queue")
    assert reply.status == 401
    await page.goto(f"{desk.url}/console")
    assert page.url.startswith(f"{desk.url}/login")
    assert await page.locator("#queue").count() == 0
    await page.screenshot(path=str(RESULTS / "console_login.png"))
    await context.close()
