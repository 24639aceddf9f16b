"""Appointment slots: each place's weekly hours in its own time zone, less holidays and closures.

Plain functions on plain data (no database, no Rasa), so that time zones, daylight-saving changes,
holidays and capacity are tested on their own (tests/booking/test_slots.py). Times are handled as
aware datetimes: a slot is stored and compared in UTC, shown in the place's local time (and the
citizen's, when the citizen is elsewhere).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

import holidays

UTC = timezone.utc
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*[-–~至]\s*(\d{1,2}):(\d{2})")
_DAYS_SPAN = re.compile(r"周([一二三四五六日天])\s*[至到\-–~]\s*周([一二三四五六日天])")
_DAY = re.compile(r"周([一二三四五六日天])")

Weekly = dict[int, list[tuple[time, time]]]


def parse_hours(text: str) -> Weekly:
    """Weekly opening hours from the way sites.yml writes them.

    "周一至周五 9:00-12:00、13:30-17:00，周六上午 9:00-12:00" -> {0: [(9:00, 12:00), (13:30, 17:00)], ..., 5: [(9:00, 12:00)]}.
    A part in brackets ("（法定节假日除外）") is a remark: holidays are handled apart.
    """
    text = re.sub(r"[（(][^）)]*[）)]", "", text)
    weekly: Weekly = {}
    for part in re.split(r"[，,；;]", text):
        ranges = [(time(int(a), int(b)), time(int(c), int(d))) for a, b, c, d in _RANGE.findall(part)]
        if not ranges:
            continue
        days: list[int] = []
        for first, last in _DAYS_SPAN.findall(part):
            start, end = _WEEKDAYS[first], _WEEKDAYS[last]
            # "周日至周四" wraps over the week's end.
            days += [(start + offset) % 7 for offset in range((end - start) % 7 + 1)]
        if not days:
            days = [_WEEKDAYS[day] for day in _DAY.findall(part)]
        for day in days:
            weekly.setdefault(day, []).extend(ranges)
    if not weekly:
        raise ValueError(f"no opening hours understood in {text!r}")
    return {day: sorted(ranges) for day, ranges in sorted(weekly.items())}


@functools.lru_cache(maxsize=64)
def _holiday_calendar(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)


def is_holiday(country: str | None, day: date) -> bool:
    return bool(country) and day in _holiday_calendar(country, day.year)


@dataclass(frozen=True)
class PlaceHours:
    """What slot generation needs to know of one place."""

    place_id: str
    timezone: str
    weekly: Weekly
    slot_minutes: int = 30
    capacity: int = 2
    holidays_country: str | None = None
    closures: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Slot:
    place_id: str
    starts_at: datetime  # aware, UTC
    local: datetime  # aware, in the place's time zone
    free: int

    @property
    def key(self) -> str:
        """How a slot travels in a button's payload and a form slot: the UTC start, to the minute."""
        return self.starts_at.strftime("%Y-%m-%dT%H:%MZ")


def slot_key_to_datetime(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


def _local(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The local wall time on that day, or None when it does not exist (the hour skipped in spring).

    An hour that happens twice (autumn) is taken the first time (fold=0).
    """
    local = datetime.combine(day, at, tzinfo=zone)
    back = local.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return local


def opening_days(place: PlaceHours, start: date, days: int) -> list[date]:
    """The place's local dates within `days` from `start` on which it opens."""
    open_days = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.weekday() not in place.weekly or day in place.closures:
            continue
        if is_holiday(place.holidays_country, day):
            continue
        open_days.append(day)
    return open_days


def generate(
    place: PlaceHours,
    now: datetime,
    days: int = 14,
    taken: Mapping[datetime, int] | None = None,
    min_notice: timedelta = timedelta(hours=2),
) -> list[Slot]:
    """Every slot of the place from `now` (aware) for `days` local days, with how many places are free.

    `taken` counts bookings per slot start (UTC). Full slots are left out; so is any slot sooner
    than `min_notice`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = place.zone
    taken = taken or {}
    earliest = now + min_notice
    step = timedelta(minutes=place.slot_minutes)
    found: list[Slot] = []
    for day in opening_days(place, now.astimezone(zone).date(), days):
        for opens, closes in place.weekly[day.weekday()]:
            cursor = datetime.combine(day, opens)
            end = datetime.combine(day, closes)
            while cursor + step <= end:
                local = _local(day, cursor.time(), zone)
                cursor += step
                if local is None:
                    continue
                starts_at = local.astimezone(UTC)
                if starts_at < earliest:
                    continue
                free = place.capacity - taken.get(starts_at, 0)
                if free > 0:
                    found.append(Slot(place.place_id, starts_at, local, free))
    return found


def is_offered(place: PlaceHours, starts_at: datetime, now: datetime, days: int = 14) -> bool:
    """Whether `starts_at` is one of the place's slots (ignoring capacity): a typed or stale button is checked."""
    return any(slot.starts_at == starts_at for slot in generate(place, now, days + 1, min_notice=timedelta(0)))


def page(slots: Iterable[Slot], after: datetime | None = None, size: int = 4) -> list[Slot]:
    """The next `size` slots after `after` ("later" shows the following ones), at most one per hour on a day."""
    shown: list[Slot] = []
    hours_used: set[tuple[date, int]] = set()
    for slot in slots:
        if after is not None and slot.starts_at <= after:
            continue
        hour = (slot.local.date(), slot.local.hour)
        if hour in hours_used:
            continue
        hours_used.add(hour)
        shown.append(slot)
        if len(shown) == size:
            break
    return shown
