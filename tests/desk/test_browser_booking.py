"""Appointments in headless Chromium on the real stack (issue 14): a video booking at the Milan site from the
widget, the clerk marks it done on the day's list, the citizen cancels another booking with its code."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.desk.helpers import CHROMIUM, RESULTS, citizen_says, ensure_user, line, login, open_widget

pytestmark = pytest.mark.stack

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


async def test_book_by_video_at_milan_clerk_marks_it_done_citizen_cancels_another(desk, browser):
    ensure_user(desk.accounts, "米兰站")
    citizen_ctx = await browser.new_context(
        viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    clerk_ctx = await browser.new_context(viewport={"width": 1360, "height": 860})
    widget = await open_widget(citizen_ctx, desk.url)

    # The whole booking from the widget: the times as buttons, a name, a phone, the summary, confirm.
    await citizen_says(widget, "我想预约米兰服务站视频办委托书公证")
    await line(widget, "bot", "当地时间").first.wait_for(timeout=20000)
    await widget.screenshot(path=str(RESULTS / "booking_widget_slots.png"))
    await widget.locator(".wzd-qr:not([disabled])").first.click()
    await line(widget, "bot", "姓名").first.wait_for(timeout=15000)
    await citizen_says(widget, "陈小明")
    await line(widget, "bot", "联系方式").first.wait_for(timeout=15000)
    await citizen_says(widget, "+39 333 1234567")
    await line(widget, "bot", "请核对预约信息").wait_for(timeout=15000)
    await widget.locator(".wzd-qr", has_text="确认预约").click()
    confirmed = line(widget, "bot", "预约成功")
    await confirmed.wait_for(timeout=15000)
    assert await widget.locator(".wzd-ics").count() == 1
    code = re.search(r"BK[A-Z0-9]{6}", await confirmed.inner_text()).group(0)
    await widget.screenshot(path=str(RESULTS / "booking_widget_confirmed.png"), full_page=True)

    db = desk.app_service.database
    made = db.booking_by_code(code)
    assert made.place_id == "milan" and made.mode == "video" and made.name == "陈小明"

    # The clerk finds it on Milan's day list and marks it done.
    day = made.starts_at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo("Europe/Rome")).date().isoformat()
    console = await login(clerk_ctx, desk.url, "米兰站")
    await console.goto(f"{desk.url}/console/bookings?place=milan&day={day}")
    row = console.locator(f'#list tr[data-code="{code}"]')
    await row.wait_for(timeout=5000)
    assert "视频" in await row.inner_text() and "委托书公证" in await row.inner_text()
    await row.locator('button[data-status="done"]').click()
    await console.locator(f'#list tr[data-code="{code}"]', has_text="已办结").wait_for(timeout=5000)
    await console.screenshot(path=str(RESULTS / "booking_console_done.png"), full_page=True)
    assert db.booking_by_code(code).status == "done"

    # Another booking of the same citizen, cancelled from the widget with its code and surname.
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(days=20)
    other = db.book(
        place_id="milan",
        starts_at=start,
        capacity=2,
        mode="in_person",
        name="陈小明",
        contact="+393331234567",
        item_id="notary-power-of-attorney",
        language="zh",
    )
    await citizen_says(widget, f"取消预约 {other.code} 陈")
    await line(widget, "bot", f"预约 {other.code} 已取消").wait_for(timeout=15000)
    await widget.screenshot(path=str(RESULTS / "booking_widget_cancelled.png"), full_page=True)
    assert db.booking_by_code(other.code).status == "cancelled"
    await citizen_ctx.close()
    await clerk_ctx.close()


async def test_the_widget_sends_the_browsers_time_zone_and_a_typed_time_is_offered(desk, browser):
    """A citizen in Paris books a Wenzhou desk: the times in Beijing's clock and Paris's; a typed one offered."""
    ctx = await browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN", timezone_id="Europe/Paris")
    widget = await open_widget(ctx, desk.url)
    assert await widget.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Europe/Paris"
    await citizen_says(widget, "预约")
    await line(widget, "bot", "哪一项业务").first.wait_for(timeout=20000)
    await citizen_says(widget, "委托书公证")
    place = widget.locator(".wzd-qr:not([disabled])", has_text="温州市民中心华侨服务窗口")
    await place.wait_for(timeout=20000)
    await place.click()
    times = widget.locator(".wzd-qr:not([disabled])", has_text="巴黎时间")
    await times.first.wait_for(timeout=20000)
    shown = await times.first.inner_text()
    assert shown.startswith("北京时间 ") and "（巴黎时间 " in shown, shown
    await widget.screenshot(path=str(RESULTS / "booking_widget_paris_time.png"))

    month, day, hour, minute = re.search(r"(\d+)月(\d+)日\S* (\d+):(\d+)", shown).groups()
    await citizen_says(widget, f"{month}月{day}号 {hour}:{minute}")
    await line(widget, "bot", "有空位").wait_for(timeout=20000)
    take = widget.locator(".wzd-qr:not([disabled])", has_text=f"{hour}:{minute}")
    assert "巴黎时间" in await take.first.inner_text()
    await take.first.click()
    await line(widget, "bot", "姓名").first.wait_for(timeout=20000)
    await ctx.close()
