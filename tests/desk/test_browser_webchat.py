"""The real rasa-webchat (1.0.1, npm's lib/index.js, vendored with its Apache-2.0 licence) on a citizen's
site, in headless Chromium, against the desk (issue 11): it shows the desk's lines, a clerk's photo as an
image and a clerk's PDF as a link, each opening the file, and on the next visit what the clerk wrote while
it was closed. Every check waits on a condition."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from tests.desk.helpers import CHROMIUM, RESULTS, Clerk, free_port, wait_for
from tests.desk.test_attachments import PDF, png
from tests.desk.test_webchat_files import _seen, clerk_sends

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)

RASA_WEBCHAT = Path(__file__).resolve().parent / "vendor" / "rasa-webchat.js"


def site_page(desk_url: str) -> str:
    """A page of some other site embedding rasa-webchat, as its README shows, pointed at the desk."""
    props = {
        "selector": "#webchat",
        "socketUrl": desk_url,
        "socketPath": "/socket.io/",
        "initPayload": "请帮我看看材料",
        "customData": {"language": "zh"},
        "embedded": True,
        "params": {"storage": "local"},
        "title": "温州华侨服务",
    }
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>citizens</title></head><body>'
        '<div id="webchat" style="height:760px;max-width:520px"></div><script src="/rasa-webchat.js"></script>'
        # No typing delay before each line (rasa-webchat waits up to 3 s per line by default).
        f"<script>WebChat.default(Object.assign({json.dumps(props)}, {{customMessageDelay: () => 0}}), null);</script>"
        "</body></html>"
    )


async def test_rasa_webchat_shows_the_desks_lines_a_clerks_photo_and_pdf(desk_without_rasa, browser):
    server = desk_without_rasa
    # The citizens' site: another origin (its own port) on loopback, as Chromium lets a page of a public
    # origin reach a loopback desk only through a secure context (Private Network Access).
    site = web.Application()
    site.router.add_get("/", lambda _: web.Response(text=site_page(server.url), content_type="text/html"))
    site.router.add_get("/rasa-webchat.js", lambda _: web.FileResponse(RASA_WEBCHAT))
    runner = web.AppRunner(site)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    context = await browser.new_context(viewport={"width": 1024, "height": 800}, locale="zh-CN")
    # rasa-webchat's stylesheet asks Google for a font: nothing leaves the machine.
    await context.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    page = await context.new_page()
    await page.goto(f"http://127.0.0.1:{port}/")
    # The init payload reaches the desk (Rasa is down here): the desk's own answer shows as a text line,
    # which rasa-webchat drops when the message carries anything but `text`.
    await page.locator(".rw-response").first.wait_for(timeout=20000)
    session = await page.evaluate("JSON.parse(localStorage.getItem('chat_session')).session_id")
    assert session, "rasa-webchat kept the conversation id the desk confirmed"

    clerk = await Clerk.login(server, "网页文件员")
    try:
        assert (await clerk.act(session, "claim"))[0] == 200
        assert (await clerk.act(session, "reply", text="您好，我是工作人员，请看附件。"))[0] == 200
        await page.locator(".rw-response", has_text="请看附件").wait_for(timeout=15000)

        await clerk_sends(clerk, session, png(), "样表.png")
        image = page.locator(f'img.rw-image-frame[src^="{server.url}/files/"]')
        await image.wait_for(timeout=15000)
        # The image loaded from the desk (an absolute, signed URL), not a broken icon.
        await page.wait_for_function(
            "() => { const i = document.querySelector('img.rw-image-frame'); return i && i.complete && i.naturalWidth === 64; }",
            timeout=15000,
        )

        await clerk_sends(clerk, session, PDF, "申请表.pdf")
        link = page.locator(f'.rw-response a[href^="{server.url}/files/"]', has_text="申请表.pdf")
        await link.wait_for(timeout=15000)
        href = await link.get_attribute("href")
        reply = await page.request.get(href)
        assert reply.status == 200 and reply.headers["content-type"] == "application/pdf"
        RESULTS.mkdir(exist_ok=True)
        await image.scroll_into_view_if_needed()
        await page.screenshot(path=str(RESULTS / "webchat_files.png"))

        # The citizen leaves; the clerk answers meanwhile; on the next visit rasa-webchat shows the answer
        # once, beside the lines it kept itself (none twice).
        await page.close()
        await wait_for(lambda: _seen(server, session) == server.conversations.messages(session)[-1]["id"], timeout=15)
        assert (await clerk.act(session, "reply", text="材料齐全，下周一可以来办理。"))[0] == 200
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.locator(".rw-response", has_text="下周一可以来办理").wait_for(timeout=15000)
        await page.locator(".rw-response", has_text="请看附件").wait_for(timeout=15000)
        assert await page.locator(".rw-response", has_text="下周一可以来办理").count() == 1
        assert await page.locator(".rw-response", has_text="请看附件").count() == 1
        await page.screenshot(path=str(RESULTS / "webchat_next_visit.png"))
    finally:
        await clerk.close()
        await context.close()
        await runner.cleanup()
