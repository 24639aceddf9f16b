"""The booking forms' validation actions on their own (no Rasa): each answer read, the next question asked."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.actions.booking import ValidateBookingForm, ValidateBookingManageForm, citizen_today, places
from bot.booking.slots import slot_key_to_datetime
from tests.helpers import make_tracker, run_action, slot_events


class Conversation:
    """Runs one form's validation action turn after turn, carrying the slots as Rasa would."""

    def __init__(self, action, form: str, sender: str = "form-test", metadata: dict | None = None):
        self.action, self.form, self.sender, self.metadata = action, form, sender, metadata
        self.slots: dict[str, Any] = {}
        self.active = False

    def say(self, text: str, intent: str = "affirm", entities: list[dict] | None = None) -> list[dict]:
        if text.startswith("/booking_choice"):
            value = json.loads(text[len("/booking_choice") :])["booking_choice"]
            intent, entities = "booking_choice", [{"entity": "booking_choice", "value": value}]
        tracker = make_tracker(
            text, intent, entities=entities, slots=self.slots, sender_id=self.sender, metadata=self.metadata
        )
        tracker.active_loop = {"name": self.form} if self.active else {}
        events, messages = run_action(self.action, tracker)
        self.slots.update(slot_events(events))
        self.active = self.slots.get("requested_slot") is not None
        return messages

    def tap(self, messages: list[dict], start: str) -> list[dict]:
        payload = next(
            b["payload"]
            for m in messages
            for b in m.get("buttons") or []
            if f'"booking_choice": "{start}' in b["payload"]
        )
        return self.say(payload)


def text(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def test_a_booking_turn_by_turn_with_a_correction_and_the_summary(database):
    chat = Conversation(ValidateBookingForm(), "booking_form")
    first = chat.say(
        "我想预约米兰服务站视频办委托书公证",
        "book_appointment",
        [
            {"entity": "guide_item", "value": "notary-power-of-attorney"},
            {"entity": "place", "value": "milan", "start": 4, "end": 9},
        ],
    )
    assert chat.slots["requested_slot"] == "booking_slot" and chat.slots["booking_mode"] == "video", text(first)
    chat.tap(first, "slot:")
    assert chat.slots["requested_slot"] == "booking_name"
    assert "姓名" in text(chat.say("12345"))
    chat.say("陈小明")
    assert "格式不对" in text(chat.say("chen@"))
    summary = chat.say("chen@example.com")
    assert chat.slots["requested_slot"] == "booking_confirmed" and "chen@example.com" in text(summary)
    again = chat.tap(summary, "change:booking_slot")
    assert chat.slots["requested_slot"] == "booking_slot" and chat.slots["booking_name"] == "陈小明"
    summary = chat.tap(again, "slot:")
    done = chat.tap(summary, "do:confirm")
    booking = next(m["custom"]["booking"] for m in done if "booking" in m.get("custom", {}))
    assert chat.slots["requested_slot"] is None and booking["place"] == "milan"
    assert "时间：" in text(done) and "（当地时间）" in text(done)  # no citizen's zone: the local time, said so
    assert database.booking_by_code(booking["code"]).contact == "chen@example.com"


def test_a_forged_slot_is_not_booked_and_stop_saves_nothing(database):
    chat = Conversation(ValidateBookingForm(), "booking_form", "forger")
    chat.say(
        "预约罗马服务站到场办委托书公证",
        "book_appointment",
        [
            {"entity": "guide_item", "value": "notary-power-of-attorney"},
            {"entity": "place", "value": "rome", "start": 2, "end": 7},
        ],
    )
    forged = chat.say('/booking_choice{"booking_choice": "slot:2026-12-02T03:17Z"}')
    assert chat.slots["requested_slot"] == "booking_slot" and "请点选一个时间" in text(forged)
    stopped = chat.say("算了，不约了", "deny")
    assert chat.slots["requested_slot"] is None and stopped[0]["custom"]["booking"] == {"stopped": True}
    assert database.bookings_of_conversation("forger") == []


def test_manage_with_a_wrong_surname_or_code_gets_the_same_answer(database):
    from datetime import datetime

    made = database.book(
        place_id="rome",
        starts_at=datetime(2026, 12, 3, 9),
        capacity=2,
        mode="in_person",
        name="林小红",
        contact="lin@example.com",
        item_id="notary-power-of-attorney",
    )
    wrong_surname = Conversation(ValidateBookingManageForm(), "booking_manage_form", "m1").say(
        f"查看预约 {made.code} 王", "manage_booking"
    )
    wrong_code = Conversation(ValidateBookingManageForm(), "booking_manage_form", "m2").say(
        "查看预约 BK2222Z2 林", "manage_booking"
    )
    assert text(wrong_surname) == text(wrong_code)
    chat = Conversation(ValidateBookingManageForm(), "booking_manage_form", "m3")
    chat.say("我要取消预约", "manage_booking")
    assert chat.slots["requested_slot"] == "booking_code"
    chat.say(made.code)
    assert chat.slots["requested_slot"] == "booking_surname"
    cancelled = chat.say("lin")
    assert chat.slots["requested_slot"] is None and "已取消" in text(cancelled)
    assert database.booking_by_code(made.code).status == "cancelled"


def test_a_question_about_booking_gets_the_guide_with_the_booking_button(database):
    tracker = make_tracker(
        "海外服务站怎么预约",
        "book_appointment",
        ranking=[("book_appointment", 0.55), ("item_overseas_site_appointment", 0.4), ("item_passport_renewal", 0.05)],
    )
    events, messages = run_action(ValidateBookingForm(), tracker)
    assert messages[0]["custom"]["guide_item"] == "overseas-site-appointment"
    assert any(b["payload"] == "/book_appointment" for b in messages[0]["buttons"])
    assert slot_events(events)["requested_slot"] is None


ROME_NOTARY = [
    {"entity": "guide_item", "value": "notary-power-of-attorney"},
    {"entity": "place", "value": "rome", "start": 2, "end": 7},
]
CITIZEN_CENTER_NOTARY = [
    {"entity": "guide_item", "value": "notary-power-of-attorney"},
    {"entity": "place", "value": "citizen-center", "start": 2, "end": 8},
]


def slot_keys(messages: list[dict]) -> list[str]:
    return [
        json.loads(b["payload"][len("/booking_choice") :])["booking_choice"][len("slot:") :]
        for m in messages
        for b in m.get("buttons") or []
        if '"booking_choice": "slot:' in b["payload"]
    ]


def test_a_typed_free_time_is_offered_to_confirm_and_taken_with_yes(database):
    chat = Conversation(ValidateBookingForm(), "booking_form", "typed-exact")
    first = chat.say("预约罗马服务站到场办委托书公证", "book_appointment", ROME_NOTARY)
    wanted = slot_keys(first)[1]
    at = slot_key_to_datetime(wanted).astimezone(ZoneInfo("Europe/Rome"))
    offered = chat.say(f"{at.month}月{at.day}号 {at.hour}:{at.minute:02d}", "inform")
    assert "有空位" in text(offered) and slot_keys(offered) == [wanted], text(offered)
    assert offered[0]["custom"]["booking"]["proposed"] == wanted
    asked = chat.say("好的", "affirm")
    assert chat.slots["booking_slot"] == wanted and chat.slots["requested_slot"] == "booking_name", text(asked)


def test_a_typed_closed_day_or_past_day_is_told_and_free_times_offered(database):
    chat = Conversation(ValidateBookingForm(), "booking_form", "typed-closed")
    chat.say("预约罗马服务站到场办委托书公证", "book_appointment", ROME_NOTARY)
    sunday = chat.say("周日上午", "inform")
    assert "罗马服务站" in text(sunday) and "不对外办公" in text(sunday) and slot_keys(sunday), text(sunday)
    past = chat.say("昨天下午", "inform")
    assert "已经过去了" in text(past) and slot_keys(past)
    assert chat.slots["requested_slot"] == "booking_slot" and chat.slots["booking_slot"] is None


def test_a_typed_part_of_the_day_offers_times_within_it_in_italian(database):
    chat = Conversation(ValidateBookingForm(), "booking_form", "typed-it")
    first = chat.say("预约罗马服务站到场办委托书公证", "book_appointment", ROME_NOTARY)
    day = slot_key_to_datetime(slot_keys(first)[0]).astimezone(ZoneInfo("Europe/Rome")).date()
    months = ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre"]
    months += ["ottobre", "novembre", "dicembre"]
    offered = chat.say(f"il {day.day} {months[day.month - 1]} pomeriggio", "inform")
    times = [slot_key_to_datetime(k).astimezone(ZoneInfo("Europe/Rome")) for k in slot_keys(offered)]
    assert times and all(t.date() == day and 12 <= t.hour < 18 for t in times), text(offered)
    assert "可约的时间" in text(offered)  # that afternoon's times, not "no place at that exact time"


def test_times_are_shown_in_the_citizens_browser_zone_too_named_by_city(database):
    paris = {"timezone": "Europe/Paris"}
    desk = Conversation(ValidateBookingForm(), "booking_form", "zone-desk", metadata=paris)
    first = desk.say("预约温州市民中心办委托书公证", "book_appointment", CITIZEN_CENTER_NOTARY)
    titles = [b["title"] for m in first for b in m.get("buttons") or [] if '"slot:' in b["payload"]]
    assert titles and all("北京时间" in t and "（巴黎时间 " in t for t in titles), titles
    at = slot_key_to_datetime(slot_keys(first)[0])
    assert f"巴黎时间 {at.astimezone(ZoneInfo('Europe/Paris')).hour}:" in titles[0]
    # Milan keeps Paris's clock: one time, as before.
    milan = Conversation(ValidateBookingForm(), "booking_form", "zone-milan", metadata=paris)
    shown = milan.say("预约罗马服务站到场办委托书公证", "book_appointment", ROME_NOTARY)
    assert "巴黎时间" not in str(shown) and "北京时间" not in str(shown)
    # A zone the browser made up is ignored (a folder of the zone database, a name too long for a file).
    for made_up in ("Mars/Olympus", "Europe", "x" * 300, "../../etc/passwd"):
        odd = Conversation(ValidateBookingForm(), "booking_form", "zone-odd", metadata={"timezone": made_up})
        shown = odd.say("预约温州市民中心办委托书公证", "book_appointment", CITIZEN_CENTER_NOTARY)
        assert slot_keys(shown) and "北京时间" not in str(shown)


def test_relative_words_are_the_citizens_today_not_the_places():
    # Kiritimati is 14 hours ahead of UTC, Dubai 4: for ten hours a day their dates differ.
    tracker = make_tracker("明天", "inform", metadata={"timezone": "Pacific/Kiritimati"})
    before = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    today = citizen_today(tracker, places()["dubai"])
    assert today in (before, before + timedelta(days=1))
    before = datetime.now(ZoneInfo("Asia/Dubai")).date()
    assert citizen_today(make_tracker("明天", "inform"), places()["dubai"]) in (before, before + timedelta(days=1))


def test_a_day_in_the_opening_message_is_matched_when_the_times_are_offered(database):
    chat = Conversation(ValidateBookingForm(), "booking_form", "typed-opening")
    said = "我想预约周日上午在罗马服务站到场办委托书公证"
    start = said.index("罗马服务站")
    entities = [ROME_NOTARY[0], {"entity": "place", "value": "rome", "start": start, "end": start + 5}]
    offered = chat.say(said, "book_appointment", entities)
    assert "不对外办公" in text(offered) and slot_keys(offered), text(offered)  # Rome is closed on Sundays
    assert "wish_text" not in chat.slots["booking_offered"]  # used once: "later" pages on as usual


def test_a_booking_is_moved_to_a_typed_day(database):
    first_free = Conversation(ValidateBookingForm(), "booking_form", "move-probe")
    keys = slot_keys(first_free.say("预约罗马服务站到场办委托书公证", "book_appointment", ROME_NOTARY))
    made = database.book(
        place_id="rome",
        starts_at=slot_key_to_datetime(keys[0]).replace(tzinfo=None),
        capacity=2,
        mode="in_person",
        name="林小红",
        contact="lin@example.com",
        item_id="notary-power-of-attorney",
    )
    wanted = slot_key_to_datetime(keys[-1]).astimezone(ZoneInfo("Europe/Rome"))
    chat = Conversation(ValidateBookingManageForm(), "booking_manage_form", "move-typed")
    chat.say(f"改约 {made.code} 林", "manage_booking")
    offered = chat.say(f"{wanted.month}月{wanted.day}号{wanted.hour}点{wanted.minute or ''}", "inform")
    assert "有空位" in text(offered) and slot_keys(offered) == [keys[-1]], text(offered)
    moved = chat.say(next(b["payload"] for m in offered for b in m["buttons"] if keys[-1] in b["payload"]))
    assert "已改到" in text(moved), text(moved)
    assert database.booking_by_code(made.code).starts_at.strftime("%Y-%m-%dT%H:%MZ") == keys[-1]


def test_a_booking_code_read_as_case_proofs_goes_to_the_booking_lookup(database):
    from bot.actions.case_status import ActionCheckCase

    misread = make_tracker("查看预约 BKKVBHBX 王", "provide_case_info", entities=[{"entity": "surname", "value": "王"}])
    events, messages = run_action(ActionCheckCase(), misread)
    assert events == [{"event": "followup", "name": "booking_manage_form", "timestamp": None}] and not messages
    case = make_tracker(
        "WZ202611300001 王 1234", "provide_case_info", entities=[{"entity": "case_no", "value": "WZ202611300001"}]
    )
    assert not any(event.get("event") == "followup" for event in run_action(ActionCheckCase(), case)[0])


def test_booking_lookups_are_limited_per_address_and_without_a_client_share_one_bucket(database, monkeypatch):
    """Issue 10, items 2 and 3, as for case lookups: a code and surname are a proof that can be guessed,
    so lookups count per client address, and callers without one (not the desk) share one bucket."""
    from bot.limits import LOOKUPS_PER_ADDRESS, LOOKUPS_WITHOUT_CLIENT

    def lookups(count: int, metadata: dict | None, prefix: str) -> str:
        for attempt in range(count):
            chat = Conversation(ValidateBookingManageForm(), "booking_manage_form", f"{prefix}-{attempt}", metadata)
            answer = text(chat.say(f"查看预约 BK{attempt:06d} 王", "manage_booking"))
        return answer

    assert "太频繁" not in lookups(LOOKUPS_PER_ADDRESS[0], {"client": "abc123"}, "addr")
    assert "太频繁" in lookups(1, {"client": "abc123"}, "addr-again")
    assert "太频繁" not in lookups(1, {"client": "def456"}, "other-addr")
    assert "太频繁" not in lookups(LOOKUPS_WITHOUT_CLIENT[0], None, "anon")
    assert "太频繁" in lookups(1, None, "anon-again")
