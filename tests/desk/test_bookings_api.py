"""The console's bookings (issue 14): the day's list per place, marks, cancellation with a reason, exports,
an admin's settings, the citizen's calendar file, the conversation's panel."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import aiohttp
from icalendar import Calendar

from bot.db import Database
from tests.desk.helpers import Clerk

# 2 December 2026, 9:30 in Milan (winter time, UTC+1).
SLOT = datetime(2026, 12, 2, 8, 30)


def make_booking(db: Database, name: str = "陈小明", conversation: str = "conv-b", at: datetime = SLOT):
    return db.book(
        place_id="milan",
        starts_at=at,
        capacity=2,
        mode="video",
        name=name,
        contact="+393331234567",
        item_id="notary-power-of-attorney",
        language="zh",
        conversation_id=conversation,
    )


async def test_a_clerk_sees_the_place_day_marks_done_and_cancels_with_a_reason(desk_without_rasa):
    server = desk_without_rasa
    db = server.app_service.database
    first, second = make_booking(db), make_booking(db, "Marco Rossi", "conv-c")
    make_booking(db, "王五", "conv-d", datetime(2026, 12, 3, 8, 30))  # another day
    clerk = await Clerk.login(server, "预约员")
    try:
        status, day = await clerk.get("/api/console/bookings?place=milan&day=2026-12-02")
        assert status == 200
        assert [(b["code"], b["local_time"], b["mode"], b["item_title"]) for b in day["bookings"]] == [
            (first.code, "2026-12-02 09:30", "video", "委托书公证"),
            (second.code, "2026-12-02 09:30", "video", "委托书公证"),
        ]
        status, marked = await clerk.post(f"/api/console/bookings/{first.code}/status", {"status": "done"})
        assert status == 200 and marked["booking"]["status"] == "done"
        assert (await clerk.post(f"/api/console/bookings/{first.code}/status", {"status": "cancelled"}))[0] == 400
        assert (await clerk.post(f"/api/console/bookings/{second.code}/cancel", {"reason": " "}))[0] == 400
        status, cancelled = await clerk.post(f"/api/console/bookings/{second.code}/cancel", {"reason": "站点临时停电"})
        assert status == 200 and cancelled["booking"]["cancel_reason"] == "站点临时停电"
        assert db.taken_counts("milan", SLOT, datetime(2026, 12, 3)) == {SLOT: 1}  # the place went back
        # The conversation's panel: by its staff number, and the bookings name it by number only (issue 10).
        server.conversations.ensure_conversation("conv-c")
        status, panel = await clerk.get(f"/api/console/conversations/{clerk.number('conv-c')}/bookings")
        assert [b["status"] for b in panel["bookings"]] == ["cancelled"]
        assert panel["bookings"][0]["conversation"] == clerk.number("conv-c")
        assert "conv-c" not in str(panel) and "conv-c" not in str((await clerk.get("/api/console/bookings?place=milan&day=2026-12-02"))[1])
        # Clerks cannot change a place's settings; the day needs a known place.
        assert (await clerk.post("/api/console/places/milan", {"capacity": 3}))[0] == 403
        assert (await clerk.get("/api/console/bookings?place=nowhere&day=2026-12-02"))[0] == 400
    finally:
        await clerk.close()


async def test_csv_and_ics_exports_of_a_day(desk_without_rasa):
    server = desk_without_rasa
    db = server.app_service.database
    made = make_booking(db, "=HYPERLINK(1)")
    clerk = await Clerk.login(server, "导出员")
    try:
        async with clerk.http.get(f"{server.url}/api/console/bookings.csv?place=milan&day=2026-12-02") as reply:
            assert reply.status == 200 and reply.content_type == "text/csv"
            rows = list(csv.DictReader(io.StringIO((await reply.read()).decode("utf-8-sig"))))
        assert rows[0]["code"] == made.code and rows[0]["local_time"] == "2026-12-02 09:30"
        assert rows[0]["name"] == "'=HYPERLINK(1)"  # no formula reaches a spreadsheet
        async with clerk.http.get(f"{server.url}/api/console/bookings.ics?place=milan&day=2026-12-02") as reply:
            assert reply.status == 200 and reply.content_type == "text/calendar"
            events = Calendar.from_ical(await reply.read()).walk("VEVENT")
        assert len(events) == 1 and events[0].decoded("dtstart").isoformat() == "2026-12-02T08:30:00+00:00"
    finally:
        await clerk.close()


async def test_an_admin_sets_hours_closures_and_capacity(desk_without_rasa):
    server = desk_without_rasa
    admin = await Clerk.login(server, "站长", role="admin")
    try:
        bad = await admin.post("/api/console/places/milan", {"hours": {"0": [["18:00", "09:00"]]}})
        assert bad[0] == 400
        status, _ = await admin.post(
            "/api/console/places/milan",
            {
                "capacity": 3,
                "closures": ["2026-12-24"],
                "hours": {"0": [["10:00", "12:00"]], "2": [["14:00", "16:00"]]},
            },
        )
        assert status == 200
        status, listed = await admin.get("/api/console/places")
        milan = next(p for p in listed["places"] if p["id"] == "milan")
        assert milan["capacity"] == 3 and milan["closures"] == ["2026-12-24"] and milan["customised"]
        assert milan["hours"] == {"0": [["10:00", "12:00"]], "2": [["14:00", "16:00"]]}
        rome = next(p for p in listed["places"] if p["id"] == "rome")
        assert rome["capacity"] == 2 and rome["hours"]["0"] == [["09:00", "17:00"]]  # sites.yml's defaults
    finally:
        await admin.close()


async def test_the_citizen_calendar_file_opens_with_its_token_only(desk_without_rasa):
    server = desk_without_rasa
    made = make_booking(server.app_service.database)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/calendar/{made.calendar_token}.ics") as reply:
            assert reply.status == 200 and reply.content_type == "text/calendar"
            body = await reply.read()
        event = Calendar.from_ical(body).walk("VEVENT")[0]
        assert made.code in str(event["description"]) and "米兰" in str(event["location"])
        assert "陈小明".encode() not in body
        async with http.get(f"{server.url}/calendar/{made.code}.ics") as reply:
            assert reply.status == 404


async def test_an_admin_changes_the_clerks_hours_without_a_deploy(desk_without_rasa):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from bot.clerk_hours import default_schedule
    from bot.knowledge import load_knowledge

    server = desk_without_rasa
    service = server.app_service
    admin = await Clerk.login(server, "站长", role="admin")
    clerk = await Clerk.login(server, "客服小王")
    try:
        status, shown = await admin.get("/api/console/clerk-hours")
        assert status == 200 and not shown["customised"] and shown["timezone"] == "Asia/Shanghai"
        assert shown["hours"] == load_knowledge().sites["clerk_hours"]
        # Only an admin changes them; nonsense is refused in words.
        assert (await clerk.post("/api/console/clerk-hours", {"hours": "周一至周五 9:00-18:00"}))[0] == 403
        bad = await admin.post("/api/console/clerk-hours", {"hours": "每天都上班"})
        assert bad[0] == 400 and "格式" in bad[1]["error"]
        assert (await admin.post("/api/console/clerk-hours", {"hours": "周一 9:00-10:00", "holidays": "XX"}))[0] == 400
        # Closed today and tomorrow (Beijing dates): the desk is out of hours and says when clerks are back.
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        closed = [(today + timedelta(days=n)).isoformat() for n in range(2)]
        status, saved = await admin.post(
            "/api/console/clerk-hours", {"hours": "周一至周日 9:00-18:00", "closures": closed, "holidays": None}
        )
        assert status == 200 and saved["customised"] and saved["closures"] == closed and not saved["staffed_now"]
        assert saved["next_opening"] == f"{today + timedelta(days=2)} 09:00"
        # Every desk reads the row at the hand-off: the waiting citizen in Rome is told the new opening.
        service.schedule = default_schedule(load_knowledge().sites)
        told = await service._wait_status("no-such-conversation", "it", "Europe/Rome")
        back = datetime.combine(today + timedelta(days=2), datetime.min.time().replace(hour=9))
        back = back.replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(ZoneInfo("Europe/Rome"))
        assert told.kind == "closed" and told.values["back"] == f"{back:%Y-%m-%d %H:%M}"
        assert told.values["hours"] == "ora di Pechino, lun–dom 9:00-18:00"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/api/status") as reply:
                assert (await reply.json())["clerk_hours"] == "北京时间 周一–周日 9:00-18:00"
        # Back to sites.yml's hours.
        status, reset = await admin.post("/api/console/clerk-hours", {"reset": True})
        assert status == 200 and not reset["customised"] and reset["hours"] == load_knowledge().sites["clerk_hours"]
        italian = load_knowledge().site_text("clerk_hours", "it")
        assert service.hours("it", await service.clerk_schedule()) == italian
    finally:
        service.schedule = None
        await admin.close()
        await clerk.close()


def test_opening_hours_and_closures_refuse_a_trailing_newline():
    """Issue 10's smaller items: patterns are matched whole (`fullmatch`); `$` let "09:00\n" through."""
    import pytest
    from aiohttp import web

    from bot.desk.bookings import _settings_from

    assert _settings_from({"hours": {"1": [["09:00", "12:00"]]}})["hours"] == {"1": [["09:00", "12:00"]]}
    for body in ({"hours": {"1": [["09:00\n", "12:00"]]}}, {"closures": ["2026-12-24\n"]}):
        with pytest.raises(web.HTTPBadRequest):
            _settings_from(body)
