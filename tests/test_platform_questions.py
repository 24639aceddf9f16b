"""Questions about the platform itself, answered from knowledge/sites.yml, and a clarification of one
item asked as a yes/no question (issue 11)."""

from __future__ import annotations

import pytest

from bot.actions import ActionClarify
from bot.actions.guide import offer_candidates
from bot.actions.language import Reply
from tests.helpers import make_tracker, run_action


@pytest.mark.parametrize(
    "text, expected, absent",
    [
        ("巴黎服务站在哪", ["巴黎服务站", "+33 1 0000 0101", "巴黎美丽城服务点"], ["米兰服务站"]),
        ("米兰有没有服务点", ["米兰服务站", "米兰北区服务点", "+39 02 0000 301"], ["巴黎服务站"]),
        ("你们周六上班吗", ["周一至周六 8:30-20:30", "普拉托服务站：周一至周六 9:00-18:00"], []),
        ("电话多少", ["0577-8800 0000", "请告诉我您所在的城市"], []),
    ],
)
def test_platform_questions_get_hours_addresses_and_phones(database, text, expected, absent):
    tracker = make_tracker(text, "nlu_fallback", 0.3, ranking=[("nlu_fallback", 0.3)])
    _, messages = run_action(ActionClarify(), tracker)
    answer = messages[0]["text"]
    assert "请问您想了解哪一项业务" not in answer
    for words in expected:
        assert words in answer, (words, answer)
    for words in absent:
        assert words not in answer
    assert "platform" in messages[0]["custom"]


def test_the_site_the_citizen_named_earlier_is_the_nearest_one(database):
    tracker = make_tracker(
        "你们电话多少", "nlu_fallback", 0.3, ranking=[("nlu_fallback", 0.3)], slots={"place": "prato"}
    )
    _, messages = run_action(ActionClarify(), tracker)
    assert "普拉托服务站" in messages[0]["text"] and "+39 0574 000 201" in messages[0]["text"]
    assert messages[0]["custom"]["platform"] == {"sites": ["prato"]}


def test_in_italian_the_sites_answer_is_italian(database):
    tracker = make_tracker(
        "dove siete a Milano?", "nlu_fallback", 0.3, ranking=[("nlu_fallback", 0.3)], slots={"language": "it"}
    )
    _, messages = run_action(ActionClarify(), tracker)
    assert messages[0]["custom"]["language"] == "it"
    assert "Milano" in messages[0]["text"] and "+39 02 0000 301" in messages[0]["text"]


def test_one_candidate_is_a_yes_no_question_not_a_list_of_one():
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    offer_candidates(Reply(dispatcher, make_tracker("换护照", "nlu_fallback", 0.3)), ["passport-renewal"], None)
    message = dispatcher.messages[0]
    assert message["text"] == "您是想问普通护照换发吗？"
    assert [b["title"] for b in message["buttons"]] == ["是", "不是"]
    assert message["buttons"][0]["payload"] == "/item_passport_renewal" and message["buttons"][1]["payload"] == "/deny"
    assert message["custom"]["candidates"] == ["passport-renewal"]


def test_what_the_platform_is_gets_the_assistants_description_the_hours_and_the_sites(database):
    from bot.actions import ActionPlatform

    _, messages = run_action(ActionPlatform(), make_tracker("这个平台是干什么的", "ask_platform", 0.8))
    answer = messages[0]["text"]
    assert answer.startswith("这里是温州华侨服务平台") and "周一至周六 8:30-20:30" in answer and "巴黎服务站" in answer
    assert messages[0]["custom"]["platform"] == {"sites": [], "about": True}
    assert [b["payload"] for b in messages[0]["buttons"]][-1] == "/request_human"
    # In the conversation's language, with the site of the country named.
    _, messages = run_action(
        ActionPlatform(), make_tracker("how does it work in Italy", "ask_platform", 0.8, slots={"language": "en"})
    )
    assert messages[0]["text"].startswith("This is the Wenzhou Overseas Chinese Service Platform")
    assert messages[0]["custom"]["platform"]["sites"] == ["prato", "milan", "milan-north", "rome"]


@pytest.mark.parametrize(
    "text, sites",
    [("在意大利有服务站吗", ["prato", "milan", "milan-north", "rome"]), ("服务点在哪里", []), ("巴黎服务站在哪", ["paris", "paris-belleville"])],
)
def test_where_the_sites_are_is_answered_from_sites_yml_under_the_sites_item(database, text, sites):
    from bot.actions import ActionAnswerGuide

    _, messages = run_action(ActionAnswerGuide(), make_tracker(text, "item_overseas_site_appointment", 0.6))
    custom = messages[0]["custom"]
    # Still the sites' item (follow-ups and the booking button), but with addresses and phones, not the summary.
    assert custom["guide_item"] == "overseas-site-appointment" and custom["platform"] == {"sites": sites}
    assert "在线人工客服" in messages[0]["text"] and "时限" not in messages[0]["text"]
    assert "/book_appointment" in [b["payload"] for b in messages[0]["buttons"]]


def test_how_to_book_a_site_still_gets_the_guide(database):
    from bot.actions import ActionAnswerGuide

    _, messages = run_action(ActionAnswerGuide(), make_tracker("巴黎服务站怎么预约", "item_overseas_site_appointment", 0.6))
    assert "platform" not in messages[0]["custom"] and "海外服务站点预约办理" in messages[0]["text"]


def test_an_admins_clerk_hours_reach_the_bots_answer(database):
    database.save_clerk_hours("online", "admin", "周一至周五 9:00-18:00", [], None)
    tracker = make_tracker("你们周六上班吗", "nlu_fallback", 0.3, ranking=[("nlu_fallback", 0.3)])
    _, messages = run_action(ActionClarify(), tracker)
    assert "北京时间 周一–周五 9:00-18:00" in messages[0]["text"]


@pytest.mark.stack
@pytest.mark.parametrize(
    "text, expected",
    [
        # Not in the training data: what the platform is, in Chinese and in English.
        ("你们是什么平台", ["这里是温州华侨服务平台", "在线人工客服", "巴黎服务站"]),
        ("how does this service work", ["This is the Wenzhou Overseas Chinese Service Platform", "Hotline"]),
        # Where the sites are, in general and in the country named.
        ("服务点在哪里", ["巴黎服务站、巴黎美丽城服务点", "请告诉我您所在的城市"]),
        ("在意大利有服务站吗", ["普拉托服务站", "+39 02 0000 301", "罗马服务站"]),
    ],
)
def test_platform_questions_through_the_real_nlu(rasa_stack, text, expected):
    """Through the REST webhook on the real stack: the trained NLU reaches the platform's answer."""
    from uuid import uuid4

    from tests.helpers import rest

    messages = rest(rasa_stack, f"platform-{uuid4().hex[:8]}", text)
    answer = "\n".join(m.get("text") or "" for m in messages)
    for words in expected:
        assert words in answer, (words, answer)
    assert "platform" in messages[0]["custom"], messages[0]["custom"]
    # Never taken for a complaint (a hand-off) or for "which item do you mean".
    assert "handoff" not in messages[0]["custom"] and "请问您想了解哪一项业务" not in answer
