"""Satisfaction end to end in headless Chromium, on the real stack: a citizen marks an answer not helpful and
rates the conversation; the supervisor sees it on the dashboard; the trainer sees it in the inbox."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from tests.desk.helpers import CHROMIUM, PASSWORD, RESULTS, citizen_says, ensure_user, line, open_widget
from tests.reports.test_metrics import samples

pytestmark = pytest.mark.stack

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


async def staff_page(context, url: str, name: str, path: str):
    page = await context.new_page()
    await page.goto(f"{url}/login?next={quote(path)}")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await page.wait_for_url(f"{url}{path}")
    return page


async def test_not_helpful_and_rating_reach_the_supervisor_and_the_trainer(desk, browser):
    ensure_user(desk.accounts, "督导丙", "supervisor")
    ensure_user(desk.accounts, "训练员丙", "trainer")
    citizen_ctx = await browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True, locale="zh-CN")
    staff_ctx = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    try:
        widget = await open_widget(citizen_ctx, desk.url)
        await citizen_says(widget, "护照过期了怎么换")
        await line(widget, "bot", "普通护照换发").first.wait_for(timeout=15000)

        # "Not helpful" on the answer, a reason and a comment (with a phone number, which the staff never see).
        bar = widget.locator(".wzd-fb").first
        await bar.get_by_role("button", name="没帮助", exact=True).click()
        await bar.locator('.wzd-reason[data-reason="outdated"]').click()
        await bar.locator("input").fill("费用写错了 13812345678")
        await bar.locator(".wzd-fb-send").click()
        await bar.locator(".wzd-done", has_text="谢谢您的反馈").wait_for(timeout=5000)
        await widget.screenshot(path=str(RESULTS / "reports_widget_not_helpful.png"))

        # Closing after a real exchange asks for the rating once; two stars and a comment.
        await widget.click(".wzd-close")
        await line(widget, "system", "请为本次服务打分").wait_for(timeout=5000)
        assert await widget.locator(".wzd-panel.open").count() == 1
        await widget.locator(".wzd-qr", has_text="★★").first.click()
        await line(widget, "system", "谢谢您的评价").wait_for(timeout=5000)
        rating = widget.locator(".wzd-rating")
        await rating.locator("input").fill("希望写得更清楚")
        await rating.get_by_role("button", name="提交").click()
        await rating.locator(".wzd-done").wait_for(timeout=5000)
        await widget.screenshot(path=str(RESULTS / "reports_widget_rating.png"))
        await widget.click(".wzd-close")
        await widget.locator(".wzd-panel.open").wait_for(state="detached", timeout=3000)

        # The supervisor's dashboard: the not-helpful item with the masked question, the comment, no inbox links.
        dashboard = await staff_page(staff_ctx, desk.url, "督导丙", "/reports")
        dashboard.on("pageerror", lambda error: errors.append(str(error)))
        await dashboard.wait_for_selector("body[data-loaded]", timeout=15000)
        row = dashboard.locator("#not-helpful tr", has_text="普通护照换发")
        await row.wait_for(timeout=5000)
        assert "信息过时" in await row.text_content() and "护照过期了怎么换" in await row.text_content()
        await dashboard.locator("#comments li", has_text="★★ 希望写得更清楚").wait_for(timeout=3000)
        assert await dashboard.locator("[data-kpi=helpful_share] .value").text_content() != "—"
        assert await dashboard.locator("#not-helpful a.inbox-link").count() == 0
        assert "13812345678" not in await dashboard.content()
        assert await dashboard.locator("#chart-trend canvas").count() == 1  # ECharts drew it
        await dashboard.screenshot(path=str(RESULTS / "reports_dashboard_supervisor.png"), full_page=True)
        # The console is not the supervisor's.
        reply = await dashboard.request.get(f"{desk.url}/api/console/queue")
        assert reply.status == 403

        # The trainer's inbox, opened as the dashboard's link does.
        trainer_ctx = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        inbox = await staff_page(trainer_ctx, desk.url, "训练员丙", "/trainer?filter=not_helpful&item=passport-renewal")
        mark = inbox.locator("#inbox tr", has_text="护照过期了怎么换").locator(".feedback")
        await mark.first.wait_for(timeout=10000)
        assert "信息过时" in await mark.first.text_content() and "[号码]" in await mark.first.text_content()
        await inbox.screenshot(path=str(RESULTS / "reports_trainer_inbox_not_helpful.png"), full_page=True)
        await trainer_ctx.close()
        assert errors == []
    finally:
        await citizen_ctx.close()
        await staff_ctx.close()

    # /metrics saw the bot answer it.
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{desk.url}/metrics") as reply:
            found = samples(await reply.text())
    assert found[("desk_citizen_messages_total", (("outcome", "answered"),))] >= 1
    assert found[("desk_bot_seconds_count", ())] >= 1
