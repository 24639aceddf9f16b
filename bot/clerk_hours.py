"""When the clerks' online desk is staffed, from the data rather than a constant (issue 11).

knowledge/sites.yml keeps it: `clerk_hours` is the text citizens read ("北京时间 周一至周六 8:30-20:30
（…）"), and the `clerk_desk` block its time zone and whose public holidays close it. The weekly hours
are read from that very text (bot.booking.slots.parse_hours, the parser of the sites' hours), so
what citizens are told and what the desk computes cannot disagree.

An admin changes them without a deploy (the console's 预约管理 page, POST /api/console/clerk-hours):
one row of the `clerk_hours` table per desk, read on every hand-off, so every desk of a cluster
sees the change at once. The row holds the hours in the same notation ("周一至周五 9:00-18:00"),
closing days, and whether public holidays close the desk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.booking.slots import Weekly, is_holiday, parse_hours
from bot.i18n import load_messages

# The one clerks' desk of the platform; the table is keyed by desk so that a second one could be added.
CLERK_DESK = "online"
# How far ahead the next opening is looked for: past the longest holiday (Spring Festival, 8 days).
LOOKAHEAD_DAYS = 40


@dataclass(frozen=True)
class Schedule:
    """When the desk is staffed: weekly ranges (Monday = 0) in `zone`, less public holidays and closures."""

    zone: str = "Asia/Shanghai"
    weekly: Weekly = field(default_factory=lambda: {day: [(time(8, 30), time(20, 30))] for day in range(6)})
    holidays_country: str | None = None
    closures: frozenset[date] = field(default_factory=frozenset)
    # The hours as an admin typed them ("周一至周五 9:00-18:00"), None when they are sites.yml's.
    custom_text: str | None = None

    def open_on(self, day: date) -> bool:
        return day.weekday() in self.weekly and day not in self.closures and not is_holiday(self.holidays_country, day)

    def staffed(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.zone))
        if not self.open_on(local.date()):
            return False
        return any(opens <= local.time() < closes for opens, closes in self.weekly[local.weekday()])

    def next_opening(self, now: datetime) -> datetime:
        zone = ZoneInfo(self.zone)
        local = now.astimezone(zone)
        for ahead in range(LOOKAHEAD_DAYS):
            day = (local + timedelta(days=ahead)).date()
            if not self.open_on(day):
                continue
            for opens, _ in self.weekly[day.weekday()]:
                start = datetime.combine(day, opens, tzinfo=zone)
                if start > local:
                    return start
        raise ValueError("no opening of the clerks' desk in the coming weeks")


def default_schedule(sites: dict[str, Any]) -> Schedule:
    """The schedule sites.yml describes: its `clerk_hours` text, in `clerk_desk`'s zone and holidays."""
    desk = sites.get("clerk_desk") or {}
    return Schedule(
        zone=desk.get("timezone", "Asia/Shanghai"),
        weekly=parse_hours(sites["clerk_hours"]),
        holidays_country=desk.get("holidays"),
    )


def effective_schedule(base: Schedule, row: dict[str, Any] | None) -> Schedule:
    """`base` with an admin's row (`Database.clerk_hours_settings()`) applied; no row, no change."""
    if not row:
        return base
    text = row.get("hours") or None
    return Schedule(
        zone=base.zone,
        weekly=parse_hours(text) if text else base.weekly,
        holidays_country=row["holidays"] if "holidays" in row else base.holidays_country,
        closures=frozenset(date.fromisoformat(day) for day in row.get("closures") or []),
        custom_text=text,
    )


def hours_text(schedule: Schedule, default_text: str, language: str | None) -> str:
    """The hours citizens read in `language`: sites.yml's (translated) text, or the admin's hours in words."""
    if schedule.custom_text is None:
        return default_text
    say = load_messages().text
    days = [say(f"booking.weekday.{day}", language) for day in range(7)]
    groups: list[tuple[list[int], list[tuple[time, time]]]] = []
    for day, ranges in sorted(schedule.weekly.items()):
        if groups and groups[-1][1] == ranges and groups[-1][0][-1] == day - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], ranges))
    parts = []
    for group, ranges in groups:
        named = days[group[0]] if len(group) == 1 else f"{days[group[0]]}–{days[group[-1]]}"
        parts.append(named + " " + ", ".join(f"{a.hour}:{a.minute:02d}-{b.hour}:{b.minute:02d}" for a, b in ranges))
    return say("clerk_hours.custom", language, days="; ".join(parts))
