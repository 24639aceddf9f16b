"""Typed dates and times (bot/booking/typed.py): read relative to a fixed today, matched to a place's free slots."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.booking.slots import PlaceHours, generate, parse_hours
from bot.booking.typed import Wanted, match, parse

MONDAY = date(2026, 11, 30)
MORNING, AFTERNOON = (time(0), time(12)), (time(12), time(18))


@pytest.mark.parametrize(
    "typed, wanted",
    [
        ("下周二上午", Wanted(date(2026, 12, 8), part=MORNING)),  # Tuesday of next week, not tomorrow
        ("明天下午", Wanted(date(2026, 12, 1), part=AFTERNOON)),
        ("12月3号 10点", Wanted(date(2026, 12, 3), time(10))),
        ("周五", Wanted(date(2026, 12, 4))),
        ("后天", Wanted(date(2026, 12, 2))),
        ("大后天", Wanted(date(2026, 12, 3))),
        ("3号上午", Wanted(date(2026, 12, 3), part=MORNING)),
        ("明天下午3点", Wanted(date(2026, 12, 1), time(15))),
        ("星期五上午十点半", Wanted(date(2026, 12, 4), time(10, 30))),
        ("12月3日14:30", Wanted(date(2026, 12, 3), time(14, 30))),
        ("1月5号", Wanted(date(2027, 1, 5))),  # long gone this year: next year's
        ("11月2号", Wanted(date(2026, 11, 2))),  # gone by less than a month: the past, to be told so
        ("昨天", Wanted(date(2026, 11, 29))),
        ("martedì mattina", Wanted(date(2026, 12, 1), part=MORNING)),
        ("martedi prossimo alle 15", Wanted(date(2026, 12, 1), time(15))),
        ("domani pomeriggio alle 3", Wanted(date(2026, 12, 1), time(15))),
        ("3 dicembre alle 10.30", Wanted(date(2026, 12, 3), time(10, 30))),
        ("mardi prochain à 10h", Wanted(date(2026, 12, 1), time(10))),
        ("le 3 décembre à 14h30", Wanted(date(2026, 12, 3), time(14, 30))),
        ("après-demain matin", Wanted(date(2026, 12, 2), part=MORNING)),
        ("next Tuesday afternoon", Wanted(date(2026, 12, 1), part=AFTERNOON)),
        ("3 Dec 10am", Wanted(date(2026, 12, 3), time(10))),
        ("Dec 3 at 2pm", Wanted(date(2026, 12, 3), time(14))),
        ("next Monday", Wanted(date(2026, 12, 7))),  # "next": never today
        ("10点", Wanted(at=time(10))),
        ("9:30", Wanted(at=time(9, 30))),
    ],
)
def test_typed_dates_and_times_in_four_languages(typed: str, wanted: Wanted) -> None:
    assert parse(typed, MONDAY) == wanted


@pytest.mark.parametrize("typed", ["晚一点", "更晚的时间", "下周", "陈小明", "+39 333 1234567", "Marco Rossi", "ok"])
def test_what_is_no_date_is_left_to_the_form(typed: str) -> None:
    assert parse(typed, MONDAY) is None


# Milan: Monday to Friday 9:30-17:30, Italian holidays (8 December, the Immaculate Conception).
MILAN = PlaceHours("milan", "Europe/Rome", parse_hours("周一至周五 9:30-17:30"), capacity=2, holidays_country="IT")
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)  # Monday 9:00 in Milan


def local(found) -> list[str]:
    return [f"{s.local:%m-%d %H:%M}" for s in found.slots]


def wish(text: str):
    return match(parse(text, MONDAY), generate(MILAN, NOW, 14), MILAN, NOW, days=14)


def test_an_exact_free_time_is_offered_alone() -> None:
    found = wish("12月3号 10点")
    assert found.kind == "exact" and local(found) == ["12-03 10:00"]
    assert found.slots[0].starts_at == datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def test_a_full_time_offers_the_nearest_that_day_and_a_full_day_the_next_days() -> None:
    at_ten = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
    free = generate(MILAN, NOW, 14, taken={at_ten: 2})
    found = match(parse("12月3号 10点", MONDAY), free, MILAN, NOW, days=14)
    assert found.kind == "nearest" and local(found) == ["12-03 09:30", "12-03 10:30", "12-03 11:00", "12-03 11:30"]
    whole_day = {s.starts_at: 2 for s in generate(MILAN, NOW, 14) if s.local.date() == date(2026, 12, 2)}
    free = generate(MILAN, NOW, 14, taken=whole_day)
    found = match(parse("后天下午", MONDAY), free, MILAN, NOW, days=14)
    assert found.reason == "full" and local(found)[0] == "12-03 09:30"


def test_a_part_of_the_day_offers_times_in_it() -> None:
    found = wish("明天下午")
    assert found.kind == "nearest" and found.reason is None
    assert local(found) == ["12-01 12:00", "12-01 13:00", "12-01 14:00", "12-01 15:00"]  # one per hour
    assert local(wish("周五"))[0] == "12-04 09:30" and wish("周五").reason is None
    taken = {
        s.starts_at: 2 for s in generate(MILAN, NOW, 14) if s.local.date() == date(2026, 12, 1) and s.local.hour >= 12
    }
    found = match(parse("明天下午", MONDAY), generate(MILAN, NOW, 14, taken=taken), MILAN, NOW, days=14)
    assert found.reason == "nearest" and local(found)[-1] == "12-01 11:30"  # the afternoon is full: the closest


def test_past_closed_holiday_and_too_far_are_refused_with_their_reason() -> None:
    assert wish("昨天").reason == "past"
    assert wish("今天上午9点").reason == "past"  # 9:00 has begun in Milan
    assert wish("周日").reason == "closed"
    assert wish("12月8号").reason == "holiday"
    # Tuesday 8 December is a holiday: the next open days' mornings are offered.
    assert local(wish("下周二上午")) == ["12-09 09:30", "12-09 10:00", "12-09 11:00", "12-10 09:30"]
    assert local(wish("周日10点")) == ["12-07 10:00", "12-09 10:00", "12-10 10:00", "12-11 10:00"]
    assert wish("12月25号").reason == "too_far"
    closed = PlaceHours("milan", "Europe/Rome", MILAN.weekly, closures=frozenset({date(2026, 12, 4)}))
    assert match(parse("周五", MONDAY), generate(closed, NOW, 14), closed, NOW, days=14).reason == "closure"


def test_a_time_without_a_day_is_the_first_day_that_has_it() -> None:
    found = wish("15:00")
    assert found.kind == "exact" and local(found) == ["11-30 15:00"]
    assert local(wish("9:30")) == ["12-01 09:30"]  # today's is within the 2 hours' notice
    late = NOW + timedelta(hours=8)  # 17:00 in Milan: today's 15:00 has gone
    found = match(parse("15:00", MONDAY), generate(MILAN, late, 14), MILAN, late, days=14)
    assert local(found) == ["12-01 15:00"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789:：.号日月年点时分半周星期下这上午后明天 hamp/")), max_size=14))
def test_any_mix_of_date_characters_reads_as_a_real_date_or_nothing(typed: str) -> None:
    wanted = parse(typed, MONDAY)
    assert wanted is None or wanted.day or wanted.at or wanted.part
    if wanted is not None and wanted.at is not None:
        assert 0 <= wanted.at.hour <= 23
