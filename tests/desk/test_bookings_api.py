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
