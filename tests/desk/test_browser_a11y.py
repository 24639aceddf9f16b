"""Accessibility of the staff and citizen surfaces in headless Chromium (issue 11).

axe-core (vendored, WCAG 2.1 A and AA rules) must find no serious or critical violation on: the widget
opened on a phone with an answer and its buttons, the widget in elderly-friendly mode on a laptop, the
log-in page, the console with a conversation open, and the trainer's workbench (on the shared stack); and
the bookings page with the admin's clerk-hours form and the 留言 list with a left message (on a desk of
their own). Each surface's findings go to results/axe_<surface>.json, and a screenshot beside it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.desk.helpers import (
    CHROMIUM,
    RESULTS,
    Citizen,
    axe_violations,
    citizen_says,
    drop,
    ensure_user,
    line,
    login,
    number_of,
    open_widget,
    serious,
)

pytestmark = pytest.mark.stack

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
LAPTOP = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


def report(found: dict[str, list[dict]]) -> str:
    lines = []
    for surface, violations in found.items():
        bad = serious(violations)
        lines.append(f"{surface}: {len(bad)} serious/critical, {len(violations)} in all")
        lines += [f"  - {v['impact']} {v['id']} ({len(v['nodes'])}): {v['nodes'][0]['target']}" for v in bad]
    return "\n".join(lines)


async def test_axe_finds_no_serious_violation_on_the_five_surfaces(desk, browser):
    found: dict[str, list[dict]] = {}
    ensure_user(desk.accounts, "无障碍", "admin")

    # 1. The widget on a phone, with an answer and its topic buttons.
    phone = await browser.new_context(**PHONE)
    widget = await open_widget(phone, desk.url)
    await citizen_says(widget, "护照过期了怎么换")
    await line(widget, "bot", "普通护照换发").first.wait_for(timeout=15000)
    await widget.locator(".wzd-qr").first.wait_for()
    found["widget_phone"] = await axe_violations(widget, "widget_phone")
    await widget.screenshot(path=str(RESULTS / "a11y_widget_phone.png"))
    conversation = await widget.evaluate(
        "JSON.parse(localStorage.getItem(Object.keys(localStorage).find(k => k.endsWith(':session'))))"
    )

    # 2. The widget on a laptop in the elderly-friendly mode, after asking for a person.
    laptop = await browser.new_context(**LAPTOP)
    big = await open_widget(laptop, desk.url)
    await big.click(".wzd-large")
    await citizen_says(big, "需要什么材料")
    await big.locator('.wzd-msg[data-sender="bot"]').first.wait_for(timeout=15000)
    found["widget_elderly"] = await axe_violations(big, "widget_elderly")
    await big.screenshot(path=str(RESULTS / "a11y_widget_elderly.png"))

    # 3. The log-in page.
    staff = await browser.new_context(**LAPTOP)
    page = await staff.new_page()
    await page.goto(f"{desk.url}/login")
    await page.locator("#login-btn").wait_for()
    found["login"] = await axe_violations(page, "login")
    await page.screenshot(path=str(RESULTS / "a11y_login.png"))
    await page.close()

    # 4. The console, with the phone citizen's conversation open.
    await citizen_says(widget, "转人工")
    await line(widget, "bot", "转接人工客服").wait_for(timeout=15000)
    console = await login(staff, desk.url, "无障碍")
    await console.click(f'#queue li[data-id="{number_of(desk, conversation)}"]')
    await console.locator(".line.citizen", has_text="护照过期了怎么换").wait_for(timeout=5000)
    found["console"] = await axe_violations(console, "console")
    await console.screenshot(path=str(RESULTS / "a11y_console.png"))

    # 5. The trainer's workbench, its inbox.
    workbench = await staff.new_page()
    await workbench.goto(f"{desk.url}/trainer")
    await workbench.locator("#inbox tr").first.wait_for(timeout=10000)
    found["workbench"] = await axe_violations(workbench, "workbench")
    await workbench.screenshot(path=str(RESULTS / "a11y_workbench.png"))

    summary = report(found)
    print("\n" + summary)
    (RESULTS / "axe_summary.txt").write_text(summary + "\n", encoding="utf-8")
    for context in (phone, laptop, staff):
        await context.close()
    assert not any(serious(v) for v in found.values()), summary


async def test_axe_finds_no_serious_violation_on_the_bookings_page_and_the_ticket_list(desk_without_rasa, browser):
    server = desk_without_rasa
    found: dict[str, list[dict]] = {}
    ensure_user(server.accounts, "无障碍管理员", "admin")
    citizen = Citizen()
    staff = await browser.new_context(**LAPTOP)
    try:
        conversation = await citizen.start(server.url)
        assert (await citizen.utter(conversation, "请工作人员回电，谢谢", contact="wx: chen_01", language="zh"))["ok"]
        console = await login(staff, server.url, "无障碍管理员")

        # 6. The bookings page, with the admin's clerk-hours form filled from the data.
        await console.goto(f"{server.url}/console/bookings")
        await console.locator("#clerk-hours:not([hidden])").wait_for(timeout=10000)
        await console.locator("#clerk-hours-result", has_text="工作时间").wait_for(timeout=10000)
        found["bookings"] = await axe_violations(console, "bookings")
        await console.screenshot(path=str(RESULTS / "a11y_bookings.png"), full_page=True)

        # 7. The 留言 list, with the left message and its controls.
        await console.goto(f"{server.url}/console/tickets")
        await console.locator("#list tbody tr", has_text="请工作人员回电").wait_for(timeout=10000)
        found["tickets"] = await axe_violations(console, "tickets")
        await console.screenshot(path=str(RESULTS / "a11y_tickets.png"), full_page=True)
    finally:
        await staff.close()
        await drop(citizen.sio)
    summary = report(found)
    print("\n" + summary)
    (RESULTS / "axe_summary_staff_pages.txt").write_text(summary + "\n", encoding="utf-8")
    assert not any(serious(v) for v in found.values()), summary
