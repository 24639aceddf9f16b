"""Slot generation: each place's hours in its own time zone, across DST changes, holidays, closures, capacity."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from bot.booking.places import load_places
from bot.booking.slots import PlaceHours, generate, is_offered, page, parse_hours
from bot.knowledge import load_knowledge

UTC = timezone.utc


def places():
    return load_places(load_knowledge())


def starts(slots, day: date) -> list[str]:
    return [f"{s.local:%H:%M}>{s.starts_at:%H:%M}" for s in slots if s.local.date() == day]


def test_every_place_of_sites_yml_has_hours_understood():
    found = places()
    assert len(found) == 15
    assert found["milan"].hours.weekly == {d: [(time(9, 30), time(17, 30))] for d in range(5)}
    assert found["dubai"].hours.weekly.keys() == {6, 0, 1, 2, 3}  # 周日至周四 wraps over the week's end
    assert found["milan-north"].hours.weekly.keys() == {2, 5}
    assert found["ruian"].hours.weekly[5] == [(time(9), time(12))]
    assert found["citizen-center"].hours.weekly[0] == [(time(9), time(12)), (time(13, 30), time(17))]


def test_parse_hours_refuses_text_without_hours():
    with pytest.raises(ValueError):
        parse_hours("按预约")


@pytest.mark.parametrize(
    ("place_id", "before", "after", "before_utc", "after_utc"),
    [
        # Italy and France move to summer time on 29 March 2026: 9:30 in Milan is 8:30 UTC, then 7:30.
        ("milan", date(2026, 3, 27), date(2026, 3, 30), "09:30>08:30", "09:30>07:30"),
        ("rome", date(2026, 3, 27), date(2026, 3, 30), "09:00>08:00", "09:00>07:00"),
        # ... and back on 25 October 2026: Belleville opens at 10:00, 8:00 UTC on Saturday, 9:00 on Tuesday.
        ("paris-belleville", date(2026, 10, 24), date(2026, 10, 27), "10:00>08:00", "10:00>09:00"),
        # Johannesburg, Dubai and Wenzhou have no summer time: the same UTC hour all year.
        ("johannesburg", date(2026, 3, 27), date(2026, 3, 30), "09:00>07:00", "09:00>07:00"),
        ("dubai", date(2026, 3, 26), date(2026, 3, 29), "09:00>05:00", "09:00>05:00"),
        ("citizen-center", date(2026, 3, 27), date(2026, 3, 30), "09:00>01:00", "09:00>01:00"),
    ],
)
def test_first_slot_in_local_and_utc_time_across_dst(place_id, before, after, before_utc, after_utc):
    place = places()[place_id].hours
    slots = generate(place, datetime(2026, 3 if before.month == 3 else 10, 20, tzinfo=UTC), days=14)
    assert starts(slots, before)[0] == before_utc
    assert starts(slots, after)[0] == after_utc
    # Every slot is 30 minutes apart within a day, in local time, whatever the offset did.
    for day in (before, after):
        local = [s.local for s in slots if s.local.date() == day]
        assert all(b - a >= timedelta(minutes=30) for a, b in zip(local, local[1:], strict=False))


def test_the_hour_skipped_in_spring_has_no_slot_and_the_repeated_one_in_autumn_has_one():
    night = PlaceHours("night", "Europe/Rome", {6: [(time(1), time(4))]}, capacity=1)
    spring = generate(night, datetime(2026, 3, 28, tzinfo=UTC), days=2, min_notice=timedelta(0))
    assert [f"{s.local:%H:%M}" for s in spring] == ["01:00", "01:30", "03:00", "03:30"]
    autumn = generate(night, datetime(2026, 10, 24, tzinfo=UTC), days=2, min_notice=timedelta(0))
    assert [f"{s.local:%H:%M}" for s in autumn] == ["01:00", "01:30", "02:00", "02:30", "03:00", "03:30"]
    # 2:00 happens twice that night; the slot is the first one (summer time, UTC+2).
    assert [f"{s.starts_at:%H:%M}" for s in autumn][2] == "00:00"


def test_weekly_days_in_the_place_time_zone_not_the_server_one():
    # Sunday 22:30 UTC is already Monday 6:30 in Wenzhou: Monday's slots, none on Sunday.
    desk = places()["citizen-center"].hours
    slots = generate(desk, datetime(2026, 11, 29, 22, 30, tzinfo=UTC), days=1)
    assert {s.local.date() for s in slots} == {date(2026, 11, 30)}
    # Dubai works Sunday to Thursday: Friday and Saturday have no slot.
    dubai = generate(places()["dubai"].hours, datetime(2026, 11, 12, tzinfo=UTC), days=7)
    assert {s.local.weekday() for s in dubai} == {6, 0, 1, 2, 3}


@pytest.mark.parametrize(
    ("place_id", "holiday"),
    [
        ("milan", date(2026, 12, 8)),  # Immacolata Concezione
        ("paris", date(2026, 7, 14)),  # Fête nationale
        ("johannesburg", date(2026, 12, 16)),  # Day of Reconciliation
        ("dubai", date(2026, 12, 2)),  # National Day
        ("citizen-center", date(2026, 10, 1)),  # 国庆节
    ],
)
def test_public_holidays_of_the_place_country_have_no_slot(place_id, holiday):
    place = places()[place_id].hours
    slots = generate(place, datetime.combine(holiday - timedelta(days=3), time(), tzinfo=UTC), days=14)
    assert holiday.weekday() in place.weekly, "the test needs a holiday on a day the place opens"
    assert not starts(slots, holiday)
    assert starts(slots, holiday + timedelta(days=7))  # the same weekday, a week later, is open


def test_closures_and_capacity():
    kb = load_knowledge()
    milan = load_places(kb, {"milan": {"closures": ["2026-12-01"], "capacity": 3}})["milan"].hours
    now = datetime(2026, 11, 30, tzinfo=UTC)
    slots = generate(milan, now, days=3)
    assert not starts(slots, date(2026, 12, 1)) and starts(slots, date(2026, 12, 2))
    first = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)  # 9:30 in Milan
    second = first + timedelta(minutes=30)
    counted = generate(milan, now, days=1, taken={first: 3, second: 2})
    assert counted[0].starts_at == second and counted[0].free == 1  # the full slot is left out
    assert all(s.free == 3 for s in counted[1:])


def test_min_notice_paging_and_offered_check():
    milan = places()["milan"].hours
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10:00 in Milan
    slots = generate(milan, now, days=14)
    assert slots[0].local.hour == 12  # two hours' notice
    shown = page(slots)
    assert len(shown) == 4 and len({(s.local.date(), s.local.hour) for s in shown}) == 4
    later = page(slots, after=shown[-1].starts_at)
    assert later[0].starts_at > shown[-1].starts_at
    assert is_offered(milan, shown[0].starts_at, now)
    assert not is_offered(milan, shown[0].starts_at + timedelta(minutes=10), now)
