"""Dates and times typed in the booking form ("下周二上午", "明天下午3点", "mardi prochain à 10h", "3 Dec 10am").

Why not a date library: dateparser 1.2 (the last release that fits Rasa 3.6's pins of pytz and regex)
understood none of "下周二上午", "后天", "12月3号 10点", "3号上午", "下午3点", "martedì mattina",
"domani pomeriggio", "next Tuesday afternoon", read "3 décembre 10h" as the year 2110, and ignores
"上午/下午/afternoon" (it cannot say "a part of the day" at all: it always returns one datetime). So the
forms are read here, with small per-language tables of words (knowledge/booking.yml `typed`) and
Babel's CLDR month and weekday names for Italian, French and English (Babel is already installed with
Rasa; it also names time zones, see bot.actions.booking).

Plain functions on plain data: the reading is relative to a `today` the caller gives (the citizen's
today, in the citizen's time zone), the matching to a place's free slots to a `now`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Iterable

import yaml
from babel.dates import get_day_names, get_month_names

from bot.booking.slots import PlaceHours, Slot, is_holiday

WORDS_FILE = Path(__file__).resolve().parents[2] / "knowledge" / "booking.yml"
LATIN = ("it", "fr", "en")
_ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "1": 0, "2": 1, "3": 2}
_ZH_WEEKDAY.update({"4": 3, "5": 4, "6": 5, "7": 6})
_ZH_NUMBER = r"[0-9]{1,2}|[零〇一二两三四五六七八九十]{1,3}"


@dataclass(frozen=True)
class Wanted:
    """What the citizen asked for: a day, a time, a part of the day; any may be missing (never all)."""

    day: date | None = None
    at: time | None = None
    part: tuple[time, time] | None = None  # [start, end) of "上午", "afternoon"...


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    return yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))["typed"]


def _plain(text: str) -> str:
    """Lower case without accents ("Martedì" -> "martedi"), so that a typed word matches without them."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _zh_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_ZH_DIGITS.get(tens, 1) if tens else 1) * 10 + (_ZH_DIGITS.get(ones, 0) if ones else 0)
    return _ZH_DIGITS.get(text, 0)


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


@functools.lru_cache(maxsize=1)
def _latin_names() -> tuple[dict[str, int], dict[str, int]]:
    """Month and weekday names (wide and abbreviated, without accents or dots) of it/fr/en -> number."""
    months: dict[str, int] = {}
    days: dict[str, int] = {}
    for language in LATIN:
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=language).items():
                months[_plain(name).rstrip(".")] = number
            for number, name in get_day_names(width, locale=language).items():
                days[_plain(name).rstrip(".")] = number
    months.update({"sept": 9, "sep": 9})
    return months, days


@functools.lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    table = _table()
    months, days = _latin_names()
    relative = {_plain(w) for words in table["relative"].values() for w in words}
    parts = {_plain(w) for part in table["parts"].values() for w in part["words"]}
    next_words = _alternation(_plain(w) for w in table["next"])
    day_names = _alternation(days)
    month_names = _alternation(months)
    boundary = r"(?<![a-z])"
    end = r"(?![a-z])"
    return {
        "relative": re.compile(rf"{boundary}({_alternation(relative)}){end}"),
        "part": re.compile(rf"{boundary}({_alternation(parts)}){end}"),
        "zh_date": re.compile(rf"(?:(\d{{4}})\s*年\s*)?(?:({_ZH_NUMBER})\s*月\s*)?({_ZH_NUMBER})\s*[日号號]"),
        "zh_week": re.compile(r"(下下|下个?|这个?|這個?|本|上个?)?\s*(?:周|星期|礼拜|禮拜|週)([一二三四五六日天1-7])"),
        "day_month": re.compile(rf"{boundary}(\d{{1,2}})(?:er|st|nd|rd|th)?\s+({month_names})\.?{end}"),
        "month_day": re.compile(rf"{boundary}({month_names})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?![\d:h])"),
        "weekday": re.compile(rf"{boundary}(?:({next_words})\s+)?({day_names})\.?(?:\s+({next_words}))?{end}"),
        # "早一点", "晚一点" ("a bit earlier, later") are no hour.
        "zh_time": re.compile(
            rf"(?<![早晚快慢多少好有差])({_ZH_NUMBER})\s*[点點时時]\s*(?:(半)|(一刻)|(三刻)|(\d{{1,2}})\s*分?)?"
        ),
        "clock": re.compile(r"(?<![\d/.])(\d{1,2})\s*[:：h]\s*(\d{2})?(?![\d/a-z])"),
        "ampm": re.compile(r"(?<![\d:])(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m\.?(?![a-z])"),
        "at_hour": re.compile(rf"{boundary}(?:alle|ore|at|a)\s+(\d{{1,2}})(?:[.:](\d{{2}}))?(?![\d:h])"),
    }


def _relative_day(text: str, today: date) -> date | None:
    found = _patterns()["relative"].search(text)
    if not found:
        return None
    for offset, words in _table()["relative"].items():
        if found.group(1) in {_plain(w) for w in words}:
            return today + timedelta(days=int(offset))
    return None


def _in_future(month: int, day: int, today: date, year: int | None = None) -> date | None:
    """A day of a month without a year: this year's, or next year's when this year's is long gone.

    A date gone by less than a month ("11月2号" on 30 November) stays in the past, to be told so.
    """
    try:
        found = date(year or today.year, month, day)
    except ValueError:
        return None
    if year is None and found < today - timedelta(days=31):
        try:
            found = date(today.year + 1, month, day)
        except ValueError:
            return None
    return found


def _day_of_month(day: int, today: date) -> date | None:
    """ "3号" alone: this month's when still to come (or today), else next month's."""
    for months_ahead in (0, 1, 2):
        month = (today.month - 1 + months_ahead) % 12 + 1
        year = today.year + (today.month - 1 + months_ahead) // 12
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if found >= today:
            return found
    return None


def _absolute_day(text: str, today: date) -> date | None:
    patterns = _patterns()
    zh = patterns["zh_date"].search(text)
    if zh:
        year, month, day = zh.group(1), zh.group(2), _zh_number(zh.group(3))
        if month:
            return _in_future(_zh_number(month), day, today, int(year) if year else None)
        return _day_of_month(day, today)
    months, _ = _latin_names()
    found = patterns["day_month"].search(text)
    if found:
        return _in_future(months[found.group(2)], int(found.group(1)), today)
    found = patterns["month_day"].search(text)
    if found:
        return _in_future(months[found.group(1)], int(found.group(2)), today)
    return None


def _weekday(text: str, today: date) -> date | None:
    patterns = _patterns()
    zh = patterns["zh_week"].search(text)
    if zh:
        prefix, weekday = zh.group(1) or "", _ZH_WEEKDAY[zh.group(2)]
        monday = today - timedelta(days=today.weekday())
        if prefix.startswith("下下"):
            return monday + timedelta(days=14 + weekday)
        if prefix.startswith("下"):  # "下周二": Tuesday of next week (weeks start on Monday)
            return monday + timedelta(days=7 + weekday)
        if prefix.startswith("上"):
            return monday - timedelta(days=7 - weekday)
        if prefix:  # "这周二", "本周二": this week's, even when gone (then told it is past)
            return monday + timedelta(days=weekday)
        # "周二" alone: the next Tuesday from today on.
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    found = patterns["weekday"].search(text)
    if found:
        _, days = _latin_names()
        weekday = days[found.group(2)]
        ahead = (weekday - today.weekday()) % 7
        if found.group(1) or found.group(3):  # "next Tuesday", "mardi prochain": not today
            ahead = ahead or 7
        return today + timedelta(days=ahead)
    return None


def _part(text: str) -> tuple[str, tuple[time, time]] | None:
    found = _patterns()["part"].search(text)
    if not found:
        return None
    for name, part in _table()["parts"].items():
        if found.group(1) in {_plain(w) for w in part["words"]}:
            start, end = (time.fromisoformat(t) if t != "24:00" else time.max for t in part["hours"])
            return name, (start, end)
    return None


def _time(text: str, part: str | None) -> time | None:
    patterns = _patterns()
    hour: int | None = None
    minute = 0
    afternoon = part in ("afternoon", "evening")
    zh = patterns["zh_time"].search(text)
    if zh:
        hour = _zh_number(zh.group(1))
        minute = 30 if zh.group(2) else 15 if zh.group(3) else 45 if zh.group(4) else int(zh.group(5) or 0)
    else:
        found = patterns["ampm"].search(text)
        if found:
            hour, minute = int(found.group(1)) % 12, int(found.group(2) or 0)
            afternoon = found.group(3) == "p"
        else:
            found = patterns["clock"].search(text) or patterns["at_hour"].search(text)
            if found:
                hour, minute = int(found.group(1)), int(found.group(2) or 0)
    if hour is None or hour > 23 or minute > 59:
        return None
    if afternoon and hour < 12:
        hour += 12  # "下午3点", "3pm", "domani pomeriggio alle 3"
    return time(hour, minute)


def parse(text: str, today: date) -> Wanted | None:
    """The day, time and part of the day in a typed answer, relative to the citizen's `today`; None if none."""
    plain = _plain(text)
    day = _relative_day(plain, today) or _absolute_day(plain, today) or _weekday(plain, today)
    part = _part(plain)
    at = _time(plain, part[0] if part else None)
    if day is None and at is None and part is None:
        return None
    return Wanted(day=day, at=at, part=None if at else (part[1] if part else None))


# --- matching a wish to the free slots ------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """What to say: `exact` (one slot to confirm), `nearest` (slots to choose), or `refused`, and why.

    `reason` of a refusal: "past", "closed" (the place's weekly day off), "holiday", "closure", "too_far".
    Of `nearest`: None (the day's times, or its part's), "nearest" (not at the time or part asked: the
    closest ones), "full" (nothing free that day: the next days' first times).
    """

    kind: str  # exact / nearest / refused
    slots: tuple[Slot, ...] = ()
    reason: str | None = None
    day: date | None = None


def closed_reason(place: PlaceHours, day: date) -> str | None:
    if day in place.closures:
        return "closure"
    if is_holiday(place.holidays_country, day):
        return "holiday"
    if day.weekday() not in place.weekly:
        return "closed"
    return None


def _distance(slot: Slot, wanted: Wanted) -> float:
    minutes = slot.local.hour * 60 + slot.local.minute
    if wanted.at is not None:
        return abs(minutes - (wanted.at.hour * 60 + wanted.at.minute))
    if wanted.part is not None:
        start, end = wanted.part
        low, high = start.hour * 60 + start.minute, end.hour * 60 + end.minute + (1 if end == time.max else 0)
        if low <= minutes < high:
            return 0
        return low - minutes if minutes < low else minutes - high + 1  # the end is not in the part
    return 0


def match(wanted: Wanted, free: list[Slot], place: PlaceHours, now: datetime, days: int, size: int = 4) -> Match:
    """The free slots that answer the wish: the exact one, else the nearest that day, else the next days'."""
    local_now = now.astimezone(place.zone)
    today = local_now.date()
    day = wanted.day
    if day is not None:
        if day < today or (day == today and wanted.at is not None and wanted.at <= local_now.time()):
            return Match("refused", reason="past", day=day)
        if day >= today + timedelta(days=days):
            return Match("refused", reason="too_far", day=day)
        reason = closed_reason(place, day)
        if reason:
            # The next open days, at the time or in the part of the day asked when they have it.
            later = [s for s in free if s.local.date() > day]
            fitting = [s for s in later if _distance(s, wanted) == 0] if wanted.at or wanted.part else []
            return Match("refused", tuple(_spread(fitting or later, size)), reason=reason, day=day)
    candidates = [s for s in free if day is None or s.local.date() == day]
    if wanted.at is not None:
        exact = [s for s in candidates if (s.local.hour, s.local.minute) == (wanted.at.hour, wanted.at.minute)]
        if exact:
            return Match("exact", (exact[0],), day=exact[0].local.date())
    if not candidates:
        # Nothing free that day: the first free times after it.
        later = [s for s in free if day is None or s.local.date() > day]
        return Match("nearest", tuple(_spread(later, size)), reason="full" if day else "nearest", day=day)
    if wanted.at is None:
        # A day, or a part of it ("明天下午"): its times, one per hour; the nearest ones when that part is full.
        inside = [s for s in candidates if _distance(s, wanted) == 0]
        if inside:
            return Match("nearest", tuple(_spread(inside, size)), day=day)
    # A time that is taken (or a full part of the day): the nearest times, that day or, without a day, any.
    nearest = sorted(candidates, key=lambda s: (_distance(s, wanted), s.starts_at))[:size]
    return Match("nearest", tuple(sorted(nearest, key=lambda s: s.starts_at)), reason="nearest", day=day)


def _spread(slots: list[Slot], size: int) -> list[Slot]:
    """Up to `size` slots, at most one per hour of a day (as the first offer shows them)."""
    shown: list[Slot] = []
    hours: set[tuple[date, int]] = set()
    for slot in slots:
        if (slot.local.date(), slot.local.hour) in hours:
            continue
        hours.add((slot.local.date(), slot.local.hour))
        shown.append(slot)
        if len(shown) == size:
            break
    return shown
