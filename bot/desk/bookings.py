"""Appointments in the console (issue 14): the day's list per place, arrivals, cancellations, exports, settings.

Clerks and admins see and mark bookings; an admin sets each place's hours, closures and capacity
(defaults from knowledge/sites.yml). The citizen's calendar file is public behind its unguessable
token (/calendar/<token>.ics). Handlers run the database work in the desk's read/write pools.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.booking.calendar import booking_calendar
from bot.booking.places import HOLIDAY_COUNTRIES, load_places, weekly_from_json, weekly_to_json
from bot.booking.slots import parse_hours
from bot.clerk_hours import CLERK_DESK, LOOKAHEAD_DAYS, Schedule, hours_text
from bot.db.bookings import STAFF_STATUSES, BookingView
from bot.desk.handlers import NUMBERS, SERVICE, conversation_of
from bot.http_helpers import json_error, json_reply, page, read_json_body, requires
from bot.knowledge import load_knowledge
from bot.roles import STAFF

MAX_REASON = 500
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HHMM = re.compile(r"([01]?\d|2[0-3]):[0-5]\d")


def _places(request: web.Request) -> dict[str, Any]:
    return load_places(load_knowledge(), request.app[SERVICE].database.place_settings())


async def _read(request: web.Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await request.app[SERVICE].reads.run(fn, *args, **kwargs)


async def _write(request: web.Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await request.app[SERVICE].pool.run(fn, *args, **kwargs)


def _title(item_id: str | None) -> str:
    kb = load_knowledge()
    return kb.guides[item_id].title if item_id and item_id in kb.guides else (item_id or "")


def _row(booking: BookingView, places: dict[str, Any], numbers: dict[str, int] | None = None) -> dict[str, Any]:
    """A booking for staff; `numbers`: conversation numbers by id (staff never see a conversation id, issue 10)."""
    place = places.get(booking.place_id)
    zone = ZoneInfo(place.timezone) if place else timezone.utc
    local = booking.starts_at.replace(tzinfo=timezone.utc).astimezone(zone)
    return {
        "code": booking.code,
        "place": booking.place_id,
        "place_name": place.name if place else booking.place_id,
        "local_time": f"{local:%Y-%m-%d %H:%M}",
        "starts_at": booking.starts_at.strftime("%Y-%m-%dT%H:%MZ"),
        "item": booking.item_id,
        "item_title": _title(booking.item_id),
        "mode": booking.mode,
        "name": booking.name,
        "contact": booking.contact,
        "language": booking.language,
        "status": booking.status,
        "cancel_reason": booking.cancel_reason,
        "conversation": (numbers or {}).get(booking.conversation_id or ""),
    }


async def _numbers(request: web.Request, rows: list[BookingView]) -> dict[str, int]:
    return await request.config_dict[NUMBERS].numbers([b.conversation_id for b in rows if b.conversation_id])


def _day_range(place: Any, day: date) -> tuple[datetime, datetime]:
    """The place's local day as a UTC range (a day of 23 or 25 hours at a DST change)."""
    zone = ZoneInfo(place.timezone)
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def _query(request: web.Request) -> tuple[Any, date]:
    places = _places(request)
    place = places.get(request.query.get("place", ""))
    if place is None:
        raise json_error(web.HTTPBadRequest, "请选择地点。")
    raw = request.query.get("day") or datetime.now(ZoneInfo(place.timezone)).date().isoformat()
    if not _DAY.fullmatch(raw):
        raise json_error(web.HTTPBadRequest, "日期格式应为 YYYY-MM-DD。")
    try:
        return place, date.fromisoformat(raw)
    except ValueError as error:
        raise json_error(web.HTTPBadRequest, "日期格式应为 YYYY-MM-DD。") from error


async def _day_bookings(request: web.Request) -> tuple[Any, date, list[BookingView]]:
    place, day = _query(request)
    start, end = _day_range(place, day)
    db = request.app[SERVICE].database
    return place, day, await _read(request, db.bookings_between, start, end, place.id)


# --- pages and lists ------------------------------------------------------------------------


@requires(*STAFF, page=True)
async def bookings_page(request: web.Request) -> web.FileResponse:
    return page("bookings.html")


@requires(*STAFF)
async def places_list(request: web.Request) -> web.Response:
    places = _places(request)
    settings = await _read(request, request.app[SERVICE].database.place_settings)
    return json_reply(
        {
            "places": [
                {
                    "id": p.id,
                    "name": p.name,
                    "kind": p.kind,
                    "timezone": p.timezone,
                    "video": p.video,
                    "hours": weekly_to_json(p.hours.weekly),
                    "closures": sorted(day.isoformat() for day in p.hours.closures),
                    "capacity": p.hours.capacity,
                    "slot_minutes": p.hours.slot_minutes,
                    "customised": p.id in settings,
                }
                for p in places.values()
            ]
        }
    )


@requires(*STAFF)
async def day_list(request: web.Request) -> web.Response:
    place, day, rows = await _day_bookings(request)
    places, numbers = _places(request), await _numbers(request, rows)
    return json_reply({"place": place.id, "day": day.isoformat(), "bookings": [_row(b, places, numbers) for b in rows]})


@requires(*STAFF)
async def day_csv(request: web.Request) -> web.Response:
    place, day, rows = await _day_bookings(request)
    places = _places(request)
    out = io.StringIO()
    fields = ["code", "local_time", "place_name", "item_title", "mode", "name", "contact", "status", "cancel_reason"]
    fields.append("conversation")  # the staff number of the conversation it was booked in, if any
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    numbers = await _numbers(request, rows)
    for booking in rows:
        row = _row(booking, places, numbers)
        # A cell starting with = + - @ is a formula to a spreadsheet: quoted as text.
        writer.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@" else v) for k, v in row.items()})
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),  # the BOM makes Excel read UTF-8
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="bookings-{place.id}-{day.isoformat()}.csv"'},
    )


def _describe_for_staff(places: dict[str, Any]):
    def describe(booking: BookingView) -> tuple[str, str, str]:
        place = places.get(booking.place_id)
        mode = "视频" if booking.mode == "video" else "到场"
        summary = f"{booking.name}｜{_title(booking.item_id)}（{mode}）"
        return summary, place.name if place else booking.place_id, f"预约码 {booking.code}，联系方式 {booking.contact}"

    return describe


@requires(*STAFF)
async def day_ics(request: web.Request) -> web.Response:
    place, day, rows = await _day_bookings(request)
    body = booking_calendar(
        [b for b in rows if b.status != "cancelled"],
        _describe_for_staff(_places(request)),
        minutes=place.hours.slot_minutes,
        name=f"{place.name} {day.isoformat()}",
    )
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="bookings-{place.id}-{day.isoformat()}.ics"'},
    )


# --- marking and cancelling -------------------------------------------------------------------


@requires(*STAFF)
async def set_status(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    status = body.get("status")
    if status not in STAFF_STATUSES:
        raise json_error(web.HTTPBadRequest, "状态无效。")
    db = request.app[SERVICE].database
    done = await _write(request, db.set_booking_status, request.match_info["code"], status)
    if done is None:
        raise json_error(web.HTTPNotFound, "没有这个预约，或已取消。")
    return json_reply({"booking": _row(done, _places(request), await _numbers(request, [done]))})


@requires(*STAFF)
async def cancel(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise json_error(web.HTTPBadRequest, f"请填写取消原因（不超过{MAX_REASON}字），预约人下次来时会看到。")
    db = request.app[SERVICE].database
    done = await _write(request, db.staff_cancel_booking, request.match_info["code"], reason)
    if done is None:
        raise json_error(web.HTTPNotFound, "没有这个预约。")
    return json_reply({"booking": _row(done, _places(request), await _numbers(request, [done]))})


@requires(*STAFF)
async def of_conversation(request: web.Request) -> web.Response:
    """The conversation's bookings, for its panel in the console."""
    db = request.app[SERVICE].database
    rows = await _read(request, db.bookings_of_conversation, await conversation_of(request))
    places, numbers = _places(request), await _numbers(request, rows)
    return json_reply({"bookings": [_row(b, places, numbers) for b in rows]})


# --- an admin's settings -----------------------------------------------------------------------


def _settings_from(body: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "hours" in body:
        hours = body["hours"]
        if hours is not None:
            if not isinstance(hours, dict) or not all(
                str(day) in {str(d) for d in range(7)}
                and isinstance(ranges, list)
                and all(
                    isinstance(r, list)
                    and len(r) == 2
                    and all(isinstance(t, str) and _HHMM.fullmatch(t) for t in r)
                    and r[0] < r[1]
                    for r in ranges
                )
                for day, ranges in hours.items()
            ):
                raise json_error(web.HTTPBadRequest, '营业时间格式：{"0": [["09:00", "12:00"]]}，周一为0。')
            weekly_from_json(hours)
        settings["hours"] = hours
    if "closures" in body:
        settings["closures"] = _closures(body)
    for key, low, high in (("capacity", 1, 50), ("slot_minutes", 10, 240)):
        if key in body:
            value = body[key]
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
            ):
                raise json_error(web.HTTPBadRequest, f"{key} 应为 {low}–{high} 的整数。")
            settings[key] = value
    return settings


@requires("admin")
async def save_place(request: web.Request) -> web.Response:
    place_id = request.match_info["place_id"]
    if place_id not in _places(request):
        raise json_error(web.HTTPNotFound, "没有这个地点。")
    settings = _settings_from(await read_json_body(request))
    db = request.app[SERVICE].database
    await _write(request, db.save_place_settings, place_id, request["user"]["name"], **settings)
    return json_reply({"ok": True})


# --- the clerks' online desk's hours (bot/clerk_hours.py) ---------------------------------------


def _closures(body: dict[str, Any]) -> list[str]:
    closures = body.get("closures") or []
    if not isinstance(closures, list) or not all(isinstance(d, str) and _DAY.fullmatch(d) for d in closures):
        raise json_error(web.HTTPBadRequest, '停业日期格式：["2026-12-24"]。')
    try:
        return sorted({date.fromisoformat(d).isoformat() for d in closures})
    except ValueError as error:
        raise json_error(web.HTTPBadRequest, "停业日期无效。") from error


def _clerk_hours_view(schedule: Schedule, row: dict[str, Any] | None) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    sites = load_knowledge().sites
    try:
        opening = f"{schedule.next_opening(now):%Y-%m-%d %H:%M}"
    except ValueError:
        opening = f"{LOOKAHEAD_DAYS} 天内没有"
    return {
        "timezone": schedule.zone,
        "hours": schedule.custom_text or sites["clerk_hours"],
        "default_hours": sites["clerk_hours"],
        "shown": hours_text(schedule, sites["clerk_hours"], None),
        "closures": sorted(day.isoformat() for day in schedule.closures),
        "holidays": schedule.holidays_country,
        "holiday_countries": sorted(set(HOLIDAY_COUNTRIES.values())),
        "customised": row is not None,
        "updated_by": row["updated_by"] if row else None,
        "staffed_now": schedule.staffed(now),
        "next_opening": opening,
    }


@requires(*STAFF)
async def clerk_hours_get(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    row = await _read(request, service.database.clerk_hours_settings, CLERK_DESK)
    return json_reply(_clerk_hours_view(await service.clerk_schedule(), row))


@requires("admin")
async def clerk_hours_save(request: web.Request) -> web.Response:
    """An admin's hours, closing days and holidays for the clerks' desk; `{"reset": true}` goes back to sites.yml."""
    service = request.app[SERVICE]
    body = await read_json_body(request)
    db = service.database
    if body.get("reset") is True:
        await _write(request, db.reset_clerk_hours, CLERK_DESK)
        return json_reply({"ok": True, **_clerk_hours_view(await service.clerk_schedule(), None)})
    hours = body.get("hours")
    if not isinstance(hours, str) or not hours.strip() or len(hours) > 200:
        raise json_error(web.HTTPBadRequest, "请填写工作时间，例如：周一至周六 8:30-20:30。")
    try:
        parse_hours(hours)
    except ValueError as error:
        raise json_error(web.HTTPBadRequest, "看不懂这个工作时间，请按“周一至周五 9:00-12:00、13:30-17:00，周六 9:00-12:00”的格式填写。") from error
    holidays = body.get("holidays") or None
    if holidays is not None and holidays not in HOLIDAY_COUNTRIES.values():
        raise json_error(web.HTTPBadRequest, "不认识这个国家的法定节假日。")
    closures = _closures(body)
    await _write(request, db.save_clerk_hours, CLERK_DESK, request["user"]["name"], hours.strip(), closures, holidays)
    row = await _read(request, db.clerk_hours_settings, CLERK_DESK)
    return json_reply({"ok": True, **_clerk_hours_view(await service.clerk_schedule(), row)})


# --- the citizen's calendar file ----------------------------------------------------------------


async def citizen_ics(request: web.Request) -> web.Response:
    db = request.app[SERVICE].database
    booking = await _read(request, db.booking_by_calendar_token, request.match_info["token"])
    if booking is None:
        raise web.HTTPNotFound()
    places = _places(request)
    place = places.get(booking.place_id)
    kb = load_knowledge()

    def describe(b: BookingView) -> tuple[str, str, str]:
        entry = kb.site(place.kind, place.id) if place else {}
        mode = "视频办理" if b.mode == "video" else "到场办理"
        return (
            f"{_title(b.item_id)}（{mode}）",
            entry.get("address", ""),
            f"预约码 {b.code}｜{entry.get('name', '')} {entry.get('phone', '')}",
        )

    body = booking_calendar([booking], describe, minutes=place.hours.slot_minutes if place else 30)
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{booking.code}.ics"', "Cache-Control": "no-store"},
    )


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/calendar/{token}.ics", citizen_ics),
    ("GET", "/console/bookings", bookings_page),
    ("GET", "/api/console/places", places_list),
    ("GET", "/api/console/clerk-hours", clerk_hours_get),
    ("POST", "/api/console/clerk-hours", clerk_hours_save),
    ("POST", "/api/console/places/{place_id}", save_place),
    ("GET", "/api/console/bookings", day_list),
    ("GET", "/api/console/bookings.csv", day_csv),
    ("GET", "/api/console/bookings.ics", day_ics),
    ("POST", "/api/console/bookings/{code}/status", set_status),
    ("POST", "/api/console/bookings/{code}/cancel", cancel),
    ("GET", r"/api/console/conversations/{number:\d+}/bookings", of_conversation),
]
