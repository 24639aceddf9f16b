"""Booking from the chat through the REST webhook, on the real stack (Rasa, action server, database)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from bot.db import Database
from tests.helpers import rest

pytestmark = pytest.mark.stack
_senders = itertools.count()


def sender(name: str) -> str:
    return f"booking-{name}-{next(_senders)}"


def customs(messages: list[dict]) -> dict:
    merged: dict = {}
    for message in messages:
        merged.update(message.get("custom") or {})
    return merged


def buttons(messages: list[dict]) -> list[dict]:
    return [button for message in messages for button in message.get("buttons") or []]


def tap(stack, who: str, messages: list[dict], value_start: str) -> list[dict]:
    """Taps the first button whose choice starts with `value_start` ("slot:", "do:confirm")."""
    button = next(b for b in buttons(messages) if f'"booking_choice": "{value_start}' in b["payload"])
    return rest(stack, who, button["payload"])


def text(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def test_a_whole_video_booking_at_milan_with_code_materials_and_calendar_link(rasa_stack):
    who = sender("full")
    first = rest(rasa_stack, who, "我想预约米兰服务站视频办委托书公证")
    assert customs(first)["booking"]["slots"], text(first)  # item, place and mode taken from the message: the times
    assert "当地时间" in text(first)
    asked_name = tap(rasa_stack, who, first, "slot:")
    assert "姓名" in text(asked_name)
    bad = rest(rasa_stack, who, "12345")
    assert "姓名" in text(bad)
    asked_contact = rest(rasa_stack, who, "陈小明")
    assert "联系方式" in text(asked_contact)
    assert "格式不对" in text(rest(rasa_stack, who, "+39 12"))
    summary = rest(rasa_stack, who, "+39 333 1234567")
    assert "委托书公证" in text(summary) and "视频办理" in text(summary) and "+393331234567" in text(summary)
    done = tap(rasa_stack, who, summary, "do:confirm")
    booking = customs(done)["booking"]
    assert booking["place"] == "milan" and booking["mode"] == "video" and booking["item"] == "notary-power-of-attorney"
    said = text(done)
    assert booking["code"] in said and "视频连线" in said and "委托人身份证明" in said and booking["ics"] in said
    assert booking["ics"].endswith(".ics") and "/calendar/" in booking["ics"]
    made = Database(rasa_stack.database_url).booking_by_code(booking["code"])
    assert made.conversation_id == who and made.name == "陈小明" and made.status == "booked"


def test_a_correction_in_the_middle_and_stopping_half_way(rasa_stack):
    who = sender("fix")
    first = rest(rasa_stack, who, "预约")
    assert "哪一项业务" in text(first)
    place = rest(rasa_stack, who, "委托书公证")
    assert any("米兰服务站" == b["title"] for b in buttons(place))
    mode = tap(rasa_stack, who, place, "place:milan")
    assert "到场办理还是视频办理" in text(mode)
    times = tap(rasa_stack, who, mode, "mode:in_person")
    asked_name = tap(rasa_stack, who, times, "slot:")
    assert "姓名" in text(asked_name)
    corrected = rest(rasa_stack, who, "不对，还是罗马服务站吧")
    assert "罗马服务站" in text(corrected)  # the place changed, the time asked again for Rome
    later = tap(rasa_stack, who, corrected, "mode:in_person") if "到场办理还是" in text(corrected) else corrected
    first_times = [b["payload"] for b in buttons(later) if '"slot:' in b["payload"]]
    more = tap(rasa_stack, who, later, "later:")
    assert [b["payload"] for b in buttons(more) if '"slot:' in b["payload"]] != first_times
    stopped = rest(rasa_stack, who, "算了，不约了")
    assert customs(stopped).get("booking", {}).get("stopped") is True
    assert not Database(rasa_stack.database_url).bookings_of_conversation(who)
    # The form is over: the next question is answered as usual.
    assert customs(rest(rasa_stack, who, "护照过期了怎么换")).get("guide_item") == "passport-renewal"


def test_video_at_a_place_without_video_offers_the_nearest_with_video(rasa_stack):
    who = sender("novideo")
    first = rest(rasa_stack, who, "我想预约在米兰北区服务点视频办华侨身份确认")
    assert "暂不提供视频" in text(first)
    payloads = [b["payload"] for b in buttons(first)]
    assert any("place:milan|mode:video" in p for p in payloads) and any("mode:in_person" in p for p in payloads)
    times = tap(rasa_stack, who, first, "place:milan|mode:video")
    assert customs(times)["booking"]["slots"]


def test_no_free_slot_in_14_days_offers_another_place_or_a_message(rasa_stack):
    db = Database(rasa_stack.database_url)
    today = date.today()
    db.save_place_settings(
        "johannesburg", "test", closures=[(today + timedelta(days=n)).isoformat() for n in range(-1, 17)]
    )
    try:
        who = sender("full")
        first = rest(rasa_stack, who, "预约约翰内斯堡服务站办委托书公证")
        assert customs(first)["booking"] == {"no_slots": "johannesburg"}
        assert "14天" in text(first)
        titles = [b["title"] for b in buttons(first)]
        assert "换一个地点" in titles and "留言给工作人员" in titles
        other = tap(rasa_stack, who, first, "change:booking_place")
        assert any('"place:milan"' in b["payload"] for b in buttons(other))
        again = sender("full")
        handed = tap(rasa_stack, again, rest(rasa_stack, again, "预约约翰内斯堡服务站办委托书公证"), "do:handoff")
        assert customs(handed)["handoff"] == {"reason": "user_request"}
    finally:
        db.save_place_settings("johannesburg", "test", closures=[])


def test_view_move_and_cancel_with_code_and_surname_and_the_same_answer_for_wrong_ones(rasa_stack):
    who = sender("manage")
    first = rest(rasa_stack, who, "我想预约罗马服务站到场办委托书公证")
    tap(rasa_stack, who, first, "slot:")
    rest(rasa_stack, who, "林小红")
    summary = rest(rasa_stack, who, "lin@example.com")
    code = customs(tap(rasa_stack, who, summary, "do:confirm"))["booking"]["code"]

    other = sender("manage-other")
    wrong_surname = rest(rasa_stack, other, f"查看预约 {code} 王")
    wrong_code = rest(rasa_stack, other, "查看预约 BK2222Z2 林")
    assert text(wrong_surname) == text(wrong_code)
    # A code the classifier took for case proofs (provide_case_info with this model): still the booking lookup.
    assert text(rest(rasa_stack, sender("misread"), "查看预约 BKKVBHBX 王")) == text(wrong_code)
    view = rest(rasa_stack, other, f"查看预约 {code} Lin")
    assert customs(view)["booking"]["code"] == code and "罗马服务站" in text(view)

    moved_to = tap(rasa_stack, other, rest(rasa_stack, other, f"改约 {code} 林"), "slot:")
    assert customs(moved_to)["booking"]["code"] == code
    cancelled = rest(rasa_stack, other, f"取消预约 {code} 林")
    assert customs(cancelled)["booking"]["status"] == "cancelled"
    assert Database(rasa_stack.database_url).booking_by_code(code).status == "cancelled"


def test_three_wrong_proofs_stop_the_lookups_of_the_conversation(rasa_stack):
    who = sender("guess")
    for _ in range(3):
        last = rest(rasa_stack, who, "查看预约 BK3333Z3 王")
    assert "停止查询" in text(last)
    assert "停止查询" in text(rest(rasa_stack, who, "查看预约 BK4444Z4 王"))


async def test_a_staff_cancellation_is_told_on_the_next_visit_with_its_reason(desk):
    from datetime import datetime

    from tests.desk.helpers import new_id, say

    db = desk.app_service.database
    conversation = new_id()
    made = db.book(
        place_id="rome",
        starts_at=datetime(2026, 12, 3, 9, 0),
        capacity=2,
        mode="in_person",
        name="陈小明",
        contact="+393331234567",
        item_id="notary-power-of-attorney",
        language="zh",
        conversation_id=conversation,
    )
    db.staff_cancel_booking(made.code, "站点临时停电")
    first = await say(desk, conversation, "你好")
    notice = first["replies"][0]
    assert made.code in notice["text"] and "站点临时停电" in notice["text"] and "罗马服务站" in notice["text"]
    assert notice["data"]["custom"]["booking"] == {"code": made.code, "status": "cancelled", "by": "staff"}
    again = await say(desk, conversation, "谢谢")
    assert all(made.code not in line["text"] for line in again["replies"])  # told once


def test_book_after_a_guide_answer_takes_its_item_and_proposes_the_site_named(rasa_stack):
    who = sender("after-guide")
    answer = rest(rasa_stack, who, "我在米兰，委托书公证要带什么材料")
    assert customs(answer).get("guide_item") == "notary-power-of-attorney"
    assert any(b["payload"] == "/book_appointment" for b in buttons(answer))
    asked = rest(rasa_stack, who, "/book_appointment")
    assert "委托书公证" in text(asked) and "离您最近的是米兰服务站" in text(asked)
    assert '"place:milan"' in buttons(asked)[0]["payload"]


def test_a_typed_date_and_time_is_offered_then_booked(rasa_stack):
    from zoneinfo import ZoneInfo

    from bot.booking.slots import slot_key_to_datetime

    who = sender("typed")
    first = rest(rasa_stack, who, "我想预约罗马服务站到场办委托书公证")
    keys = customs(first)["booking"]["slots"]
    wanted = keys[-1]
    at = slot_key_to_datetime(wanted).astimezone(ZoneInfo("Europe/Rome"))
    offered = rest(rasa_stack, who, f"{at.month}月{at.day}号 {at.hour}点{at.minute or ''}{'分' if at.minute else ''}")
    assert customs(offered)["booking"]["proposed"] == wanted and "有空位" in text(offered), text(offered)
    asked_name = rest(rasa_stack, who, "好的")
    assert "姓名" in text(asked_name), text(asked_name)
    rest(rasa_stack, who, "林小红")
    summary = rest(rasa_stack, who, "lin@example.com")
    booking = customs(tap(rasa_stack, who, summary, "do:confirm"))["booking"]
    assert booking["starts_at"] == wanted
    made = Database(rasa_stack.database_url).booking_by_code(booking["code"])
    assert made.conversation_id == who and made.starts_at.strftime("%Y-%m-%dT%H:%MZ") == wanted


@pytest.mark.parametrize(
    "language, asked",
    [
        ("zh", "我想预约"),
        ("it", "vorrei prenotare un appuntamento"),
        ("fr", "je voudrais prendre rendez-vous"),
        ("en", "I'd like to book an appointment"),
    ],
)
def test_a_request_to_book_in_words_starts_the_form_in_each_language(rasa_stack, language, asked):
    from bot.i18n import load_messages  # not bot.actions.language: this file runs in the desk's environment

    said = text(rest(rasa_stack, sender(f"ask-{language}"), asked))
    assert load_messages().text("booking.ask_item", language) in said, said
