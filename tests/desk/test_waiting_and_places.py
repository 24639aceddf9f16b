"""What a waiting citizen is told (bot/desk/waiting.py), the place a citizen names (bot/desk/places.py)
and the trainer inbox's grouping of near-identical questions (bot/trainer/inbox.py). No stack needed."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from bot.desk.language import text as desk_text
from bot.desk.waiting import Schedule, expected_minutes, wait_status
from bot.knowledge.places import place_in
from bot.trainer.inbox import _grouped, question_key

HOURS = "北京时间 周一至周六 8:30-20:30"


def test_in_hours_with_clerks_the_citizen_gets_a_position_and_an_expected_wait():
    # Tuesday 15:11 Beijing time (07:11 UTC), the moment the issue was filed from.
    now = datetime(2026, 12, 1, 7, 11, tzinfo=timezone.utc)
    status = wait_status(Schedule(), position=3, clerks_online=2, hours=HOURS, now=now)
    assert status.kind == "position"
    assert status.values == {"position": 3, "minutes": expected_minutes(3, 2)}
    said = desk_text(status.key, "zh", **status.values)
    assert "第 3 位" in said and "分钟" in said and "没有工作人员在线" not in said


def test_in_hours_with_nobody_online_the_conversation_stays_queued_and_a_message_can_be_left():
    now = datetime(2026, 12, 1, 7, 11, tzinfo=timezone.utc)
    status = wait_status(Schedule(), position=1, clerks_online=0, hours=HOURS, now=now)
    said = desk_text(status.key, "zh", **status.values)
    assert status.kind == "nobody"
    assert "没有工作人员在线" in said and "排队" in said and "留言" in said and "微信" in said
    # One coherent message: it does not also say "please hold on, putting you through".
    assert "请稍候" not in said


def test_out_of_hours_says_when_clerks_are_back_in_the_citizens_time_zone():
    # Sunday 12:00 Beijing time: closed; back Monday 08:30 Beijing = 01:30 in Rome (winter time).
    now = datetime(2026, 12, 6, 4, 0, tzinfo=timezone.utc)
    status = wait_status(Schedule(), position=1, clerks_online=3, hours=HOURS, zone="Europe/Rome", now=now)
    assert status.kind == "closed"
    assert status.values["back"] == "2026-12-07 01:30" and status.values["zone"] == "Europe/Rome"
    said = desk_text(status.key, "it", **status.values)
    assert "2026-12-07 01:30" in said and "Europe/Rome" in said
    # An unknown or hostile zone falls back to the desk's own.
    for hostile in ("../../etc/passwd", "Europe", "x" * 300):  # a folder of the zone database, a name too long
        bad = wait_status(Schedule(), 1, 0, HOURS, zone=hostile, now=now)
        assert bad.values["back"] == "2026-12-07 08:30" and bad.values["zone"] == "Asia/Shanghai"
    # Saturday evening after 20:30: back on Monday, not Sunday.
    saturday = datetime(2026, 12, 5, 13, 0, tzinfo=timezone.utc)
    assert wait_status(Schedule(), 1, 0, HOURS, now=saturday).values["back"] == "2026-12-07 08:30"


def test_without_a_schedule_the_desk_is_always_staffed():
    night = datetime(2026, 12, 6, 20, 0, tzinfo=timezone.utc)
    assert wait_status(None, 1, 0, HOURS, now=night).kind == "nobody"


def test_the_place_a_citizen_names_city_first_then_country_in_any_language():
    assert place_in("我在意大利，护照过期了") == ("意大利", None)
    assert place_in("米兰有没有服务点") == ("意大利", "米兰服务站")
    assert place_in("巴黎服务站在哪") == ("法国", "巴黎服务站")
    assert place_in("Abito a Prato, come rinnovo il passaporto?") == ("意大利", "普拉托服务站")
    assert place_in("je vis en France") == ("法国", None)
    assert place_in("护照过期了怎么换") == (None, None)
    assert place_in("un viaggio romantico") == (None, None), "Latin names match whole words only"


def test_near_identical_questions_share_a_key_and_group_with_a_count():
    assert len({question_key(t) for t in ("需要多少钱", "需要多少钱？", "需要多少钱呢", "需要 多少钱！")}) == 1
    assert question_key("需要多少钱") != question_key("需要什么材料")
    entries = [
        {"message_id": i, "text": text, "corrected": None}
        for i, text in enumerate(["需要多少钱", "需要什么材料", "需要多少钱？", "需要多少钱呢", "需要 多少钱"])
    ]
    entries.append({"message_id": 9, "text": "需要多少钱", "corrected": {"intent": "item_x"}})
    rows = _grouped(entries)
    assert [(r["text"], r["count"], r["message_ids"]) for r in rows] == [
        ("需要多少钱", 4, [0, 2, 3, 4]),
        ("需要什么材料", 1, [1]),
        ("需要多少钱", 1, [9]),
    ]


def test_the_clerks_schedule_is_read_from_sites_yml_not_a_constant():
    from bot.clerk_hours import default_schedule
    from bot.knowledge import load_knowledge

    sites = load_knowledge().sites
    schedule = default_schedule(sites)
    # The text citizens read ("北京时间 周一至周六 8:30-20:30（…）") is the schedule the desk computes with.
    assert "周一至周六 8:30-20:30" in sites["clerk_hours"]
    assert schedule.zone == sites["clerk_desk"]["timezone"] == "Asia/Shanghai"
    assert sorted(schedule.weekly) == [0, 1, 2, 3, 4, 5]
    assert {(f"{a:%H:%M}", f"{b:%H:%M}") for ranges in schedule.weekly.values() for a, b in ranges} == {("08:30", "20:30")}
    # Changed data, changed schedule: Sunday hours added to the text open the desk on Sunday.
    sunday = default_schedule({**sites, "clerk_hours": "北京时间 周一至周日 9:00-18:00"})
    assert sunday.staffed(datetime(2026, 12, 6, 4, 0, tzinfo=timezone.utc))  # Sunday 12:00 Beijing
    assert not schedule.staffed(datetime(2026, 12, 6, 4, 0, tzinfo=timezone.utc))


def test_an_admins_hours_closures_and_public_holidays_decide_when_clerks_are_back():
    from bot.clerk_hours import default_schedule, effective_schedule, hours_text
    from bot.knowledge import load_knowledge

    base = default_schedule(load_knowledge().sites)
    row = {"hours": "周一至周五 9:00-12:00、14:00-18:00", "closures": ["2026-12-02"], "holidays": "CN"}
    schedule = effective_schedule(base, row)
    tuesday_lunch = datetime(2026, 12, 1, 4, 30, tzinfo=timezone.utc)  # Tuesday 12:30 Beijing
    assert not schedule.staffed(tuesday_lunch)
    assert f"{schedule.next_opening(tuesday_lunch):%Y-%m-%d %H:%M}" == "2026-12-01 14:00"
    # Wednesday 2 December is a closure: after Tuesday 18:00, back on Thursday 9:00.
    tuesday_evening = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)
    assert f"{schedule.next_opening(tuesday_evening):%Y-%m-%d %H:%M}" == "2026-12-03 09:00"
    # New Year's Day (Friday 1 January 2027) is a public holiday in China: back on Monday 4 January.
    new_year_eve = datetime(2026, 12, 31, 11, 0, tzinfo=timezone.utc)
    assert not schedule.staffed(datetime(2027, 1, 1, 2, 0, tzinfo=timezone.utc))
    assert f"{schedule.next_opening(new_year_eve):%Y-%m-%d %H:%M}" == "2027-01-04 09:00"
    # What the citizen is told, in their zone and language: the admin's hours in words.
    status = wait_status(schedule, 1, 2, hours_text(schedule, "…", "it"), zone="Europe/Rome", now=new_year_eve)
    assert status.kind == "closed" and status.values["back"] == "2027-01-04 02:00"
    assert status.values["hours"] == "ora di Pechino, lun–ven 9:00-12:00, 14:00-18:00"
    assert hours_text(schedule, "…", "zh") == "北京时间 周一–周五 9:00-12:00, 14:00-18:00"
    # Closed for longer than the desk looks ahead: no date promised, the conversation stays queued.
    months = [(date(2027, 1, 1) + timedelta(days=n)).isoformat() for n in range(60)]
    shut = effective_schedule(base, {**row, "closures": months})
    assert wait_status(shut, 1, 2, "…", now=new_year_eve).kind == "nobody"
    # No row: sites.yml's own text and schedule.
    assert effective_schedule(base, None) is base and hours_text(base, "written", "zh") == "written"
