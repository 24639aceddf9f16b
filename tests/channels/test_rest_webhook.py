"""The real Rasa server and action server, through the REST webhook."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from tests.helpers import rest

pytestmark = pytest.mark.stack


def sender() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def customs(messages) -> list[dict]:
    return [message.get("custom") for message in messages if message.get("custom")]


def test_guide_answer_carries_item_and_aspect(rasa_stack):
    messages = rest(rasa_stack, sender(), "我人在意大利，护照快过期了，换护照要带什么材料？")
    assert customs(messages) == [{"guide_item": "passport-renewal", "aspect": "materials", "language": "zh"}]
    assert "原护照" in messages[0]["text"]
    assert all(set(message) <= {"recipient_id", "text", "buttons", "custom"} for message in messages)


def test_follow_up_keeps_the_item(rasa_stack):
    user = sender()
    rest(rasa_stack, user, "护照过期了怎么换")
    messages = rest(rasa_stack, user, "那要多少钱？")
    assert customs(messages) == [{"guide_item": "passport-renewal", "aspect": "fees", "language": "zh"}]
    assert "120" in messages[0]["text"]


def test_traditional_and_full_width_text(rasa_stack):
    messages = rest(rasa_stack, sender(), "我在巴黎，想辦理戶口註銷，要什麼材料？")
    assert customs(messages)[0]["guide_item"] == "hukou-cancel-emigration"


def test_vague_question_offers_candidates(rasa_stack):
    messages = rest(rasa_stack, sender(), "护照")
    candidates = customs(messages)[0]["candidates"]
    assert 2 <= len(candidates) <= 3
    assert all(item.startswith("passport-") for item in candidates)
    assert [button["payload"] for button in messages[0]["buttons"]]


def test_out_of_scope_is_said_kindly(rasa_stack):
    messages = rest(rasa_stack, sender(), "帮我订一张从罗马回温州的机票")
    assert customs(messages) == [{"out_of_scope": True, "language": "zh"}]


def test_case_lookup_across_messages_in_any_order(rasa_stack):
    user = sender()
    assert "后四位" in rest(rasa_stack, user, "帮我查一下办件进度")[0]["text"]
    rest(rasa_stack, user, "5821")
    rest(rasa_stack, user, "wz 2026 1008 0017")
    messages = rest(rasa_stack, user, "姓陈")
    assert customs(messages) == [{"case": {"status": "mailed", "item": "notary-kinship"}, "language": "zh"}]
    assert "EE123456789CN" in messages[0]["text"]


def test_wrong_proof_looks_like_unknown_case_and_stops_after_three(rasa_stack):
    user = sender()
    wrong = rest(rasa_stack, user, "WZ202610080017 王 5821")
    unknown = rest(rasa_stack, sender(), "WZ209901019999 王 5821")
    assert wrong[0]["text"] == unknown[0]["text"]
    rest(rasa_stack, user, "WZ202610080017 陈 0000")
    third = rest(rasa_stack, user, "WZ202610080017 林 5821")
    assert "转人工" in third[0]["text"]
    # Now even the right proof is not checked in this conversation.
    right = rest(rasa_stack, user, "WZ202610080017 陈 5821")
    assert "EE123456789CN" not in right[0]["text"]


def test_handoff_pauses_the_bot(rasa_stack):
    user = sender()
    messages = rest(rasa_stack, user, "我要找人工客服")
    assert customs(messages) == [{"handoff": {"reason": "user_request"}, "language": "zh"}]
    assert rest(rasa_stack, user, "护照过期了怎么换") == []


@pytest.mark.parametrize(
    "text",
    ["<script>alert(1)</script>", "' OR 1=1; DROP TABLE cases; --", "{{7*7}}", "😀😀😀", "\u202eabc", "x" * 3000],
)
def test_hostile_text_gets_a_polite_reply(rasa_stack, text):
    messages = rest(rasa_stack, sender(), text)
    assert messages and messages[0].get("text")
    assert "<script>" not in messages[0]["text"]


def test_empty_and_malformed_requests(rasa_stack):
    assert rest(rasa_stack, sender(), "   ")[0]["text"].startswith("请输入")

    def post(body: bytes) -> int:
        request = urllib.request.Request(
            f"{rasa_stack.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status
        except urllib.error.HTTPError as error:
            return error.code

    assert post(b"\xff\xfe not json") == 400
    assert post(json.dumps({"sender": 5, "message": "hi"}).encode()) == 400
    assert post(json.dumps({"sender": "x", "message": "y" * 5000}).encode()) == 413
    # Still answering afterwards.
    assert rest(rasa_stack, sender(), "你好")


def test_rasa_api_needs_the_token(rasa_stack):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{rasa_stack.rasa_url}/status", timeout=10)
    assert error.value.code == 401


def test_with_nlu_the_reply_carries_what_was_understood(rasa_stack):
    user = sender()
    answer = rest(rasa_stack, user, "护照过期了怎么换", with_nlu=True)
    assert customs(answer["messages"])[0]["guide_item"] == "passport-renewal"
    assert answer["nlu"]["intent"] == "item_passport_renewal"
    assert answer["nlu"]["slots"]["guide_item"] == "passport-renewal"
    # Only the slots the inbox shows: never the case proof.
    assert set(answer["nlu"]["slots"]) == {"guide_item", "aspect", "language", "requested_slot", "context"}
    assert answer["nlu"]["slots"]["context"]["decided_by"] == "message"
    # Without the flag, the reply is the plain list every other client reads.
    assert isinstance(rest(rasa_stack, user, "那要多少钱？"), list)
    # The context is reported for the turn that set it: a case lookup decided nothing of the kind.
    follow_up = rest(rasa_stack, user, "我在法国，可以让我弟弟帮我办吗", with_nlu=True)
    assert follow_up["nlu"]["slots"]["context"]["decided_by"] == "current_item"
    lookup = rest(rasa_stack, user, "查询进度 WZ202611030005 林 612X", with_nlu=True)
    assert lookup["nlu"]["slots"]["context"] is None


def _user_metadata(stack, user: str) -> list[dict]:
    url = f"{stack.rasa_url}/conversations/{user}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as reply:
        events = json.loads(reply.read())["events"]
    return [event.get("metadata") or {} for event in events if event.get("event") == "user"]


def test_caller_metadata_is_trusted_only_from_the_desk(rasa_stack):
    """Issue 10, item 3: without the desk's secret the channel drops the caller's metadata (its `client`)."""
    stranger, desk = sender(), sender()
    rest(rasa_stack, stranger, "你好", metadata={"client": "a-bucket-of-my-own"})
    assert all("client" not in metadata for metadata in _user_metadata(rasa_stack, stranger))
    request = urllib.request.Request(
        f"{rasa_stack.rasa_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": desk, "message": "你好", "metadata": {"client": "hashed-address"}}).encode(),
        headers={"Content-Type": "application/json", "X-Desk-Secret": rasa_stack.token},
    )
    urllib.request.urlopen(request, timeout=30).read()
    assert any(metadata.get("client") == "hashed-address" for metadata in _user_metadata(rasa_stack, desk))


def _user_message_ids(stack, user: str) -> list[str]:
    url = f"{stack.rasa_url}/conversations/{user}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as reply:
        events = json.loads(reply.read())["events"]
    return [event.get("message_id") for event in events if event.get("event") == "user"]


def test_the_user_events_id_is_named_only_by_the_desk(rasa_stack):
    """Issue 10, item 4: the desk finds a late reply by the id it gave the user event; nobody else names it
    (a caller could otherwise plant a reply the desk would take for another line's)."""
    stranger, desk = sender(), sender()
    rest(rasa_stack, stranger, "你好", message_id="desk-1")
    assert _user_message_ids(rasa_stack, stranger) != ["desk-1"]
    request = urllib.request.Request(
        f"{rasa_stack.rasa_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": desk, "message": "你好", "message_id": "desk-42"}).encode(),
        headers={"Content-Type": "application/json", "X-Desk-Secret": rasa_stack.token},
    )
    urllib.request.urlopen(request, timeout=30).read()
    assert _user_message_ids(rasa_stack, desk) == ["desk-42"]
