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
