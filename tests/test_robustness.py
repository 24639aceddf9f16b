"""Hostile input against the real stack: the REST webhook (Rasa) and the action server's webhook.

Property-based (hypothesis), bounded: a fixed number of examples, derandomized so CI is
repeatable, no timing assertions. Expectation everywhere: a clear 4xx or a proper JSON answer
(a polite reply for text), never a 5xx or a crash; nothing stored wrongly; still answering after.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.limits import MAX_TEXT
from tests.helpers import bounded_hypothesis, rest

pytestmark = pytest.mark.stack

BOUNDED = bounded_hypothesis()
MAX_MESSAGE_CHARS = MAX_TEXT
ACTIONS = [
    "action_answer_guide",
    "action_clarify",
    "action_check_case",
    "action_handoff",
    "action_reply_offer",
    "action_out_of_scope",
]
HOSTILE = [
    "",
    " ",
    " \t\n\u3000 ",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "' OR 1=1; DROP TABLE cases; --",
    "WZ202610080017' OR '1'='1 陈 5821",
    "{{7*7}}",
    "${jndi:ldap://127.0.0.1/a}",
    "{% for x in range(9) %}x{% endfor %}",
    "%s%s%s%n",
    "\x00\x01\x02\x1b[31m\x7f",
    "😀👨‍👩‍👧‍👦🇨🇳" * 20,
    "مرحبا، جواز سفري منتهي الصلاحية",
    "\u202e护照过期了怎么换\u202c",
    "שלום \u200f\u200e\u200b\ufeff",
    "护照\u0000过期",
    "護照過期了怎麼換？",
    "Ｗ Ｚ ２０２６１００８００１７",
    "a" * MAX_MESSAGE_CHARS,
    "好" * (MAX_MESSAGE_CHARS + 1),
    "x" * 100_000,
]
TEXTS = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=200),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=50),
    st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), min_size=1, max_size=30),
    st.text(st.characters(min_codepoint=0x0590, max_codepoint=0x08FF), min_size=1, max_size=60),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def sender() -> str:
    return f"r-{uuid.uuid4().hex[:12]}"


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def webhook(stack: Any, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    return post(f"{stack.rasa_url}/webhooks/rest/webhook", body, content_type)


def actions(stack: Any, body: bytes) -> tuple[int, bytes]:
    return post(f"{stack.action_url}/webhook", body)


def still_answers(stack: Any) -> None:
    assert any(message.get("text") for message in rest(stack, sender(), "你好"))
    with urllib.request.urlopen(f"{stack.action_url}/health", timeout=10) as reply:
        assert reply.status == 200


def tracker_texts(stack: Any, conversation: str) -> list[str]:
    url = f"{stack.rasa_url}/conversations/{conversation}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as reply:
        events = json.loads(reply.read())["events"]
    return [event.get("text") for event in events if event.get("event") == "user"]


def check_text_reply(stack: Any, text: str) -> None:
    user = sender()
    status, raw = webhook(stack, json.dumps({"sender": user, "message": text}).encode())
    assert status < 500, (status, raw[:300])
    if len(text) > MAX_MESSAGE_CHARS:
        assert status == 413
        assert "error" in json.loads(raw)
        return
    assert status == 200, raw[:300]
    messages = json.loads(raw)
    assert isinstance(messages, list)
    assert all(isinstance(m, dict) and m.get("recipient_id") == user for m in messages)
    assert all("<script" not in (m.get("text") or "").lower() for m in messages)
    if not text.strip():
        assert messages and messages[0]["text"].startswith("请输入")
        return
    if text.strip().startswith("/"):
        return  # Rasa reads "/intent" as an intent name (see the report); no reply is promised
    assert any(m.get("text") for m in messages), f"no reply to {text!r}"
    # Stored as sent (Rasa strips surrounding whitespace), nothing else.
    assert tracker_texts(stack, user) == [text.strip()]


# --- the REST webhook -----------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_on_the_rest_webhook(rasa_stack, text):
    check_text_reply(rasa_stack, text)


@BOUNDED
@given(text=TEXTS)
def test_any_text_gets_a_reply_or_a_clear_error(rasa_stack, text):
    check_text_reply(rasa_stack, text)


@BOUNDED
@given(
    body=st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries({"sender": JSON_VALUES, "message": JSON_VALUES}),
        st.fixed_dictionaries({"sender": st.just("r-x"), "message": st.text(max_size=30), "metadata": JSON_VALUES}),
    )
)
def test_any_json_body_gets_4xx_or_a_reply_list(rasa_stack, body):
    status, raw = webhook(rasa_stack, json.dumps(body).encode())
    assert status < 500, (body, status, raw[:300])
    answer = json.loads(raw)
    assert isinstance(answer, list) if status == 200 else "error" in answer


@BOUNDED
@given(body=st.binary(max_size=3000))
def test_any_bytes_get_4xx_or_a_reply_list(rasa_stack, body):
    status, raw = webhook(rasa_stack, body)
    assert status < 500, (body[:80], status, raw[:300])
    if status == 200:
        assert isinstance(json.loads(raw), list)


def nested(depth: int) -> bytes:
    return b'{"sender": "r-nest", "message": "hi", "metadata": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"", "application/json"),
        (b"null", "application/json"),
        (b"[" * 20_000 + b"]" * 20_000, "application/json"),
        (nested(5000), "application/json"),
        (b"\xff\xfe\xfd invalid utf-8 \xc3\x28", "application/json"),
        (b'{"sender": "r-a", "message": "\xc3\x28\xa0\xa1"}', "application/json"),
        (bytes(range(256)) * 400, "application/octet-stream"),
        (json.dumps({"sender": "r-a", "message": "x" * 100_000}).encode(), "application/json"),
        (json.dumps({"sender": "r-a", "message": "hi"}).encode(), "text/plain"),
        (json.dumps({"sender": "r-a", "message": "hi"}).encode(), "application/x-www-form-urlencoded"),
        (b"sender=r-a&message=hi", "application/x-www-form-urlencoded"),
        (json.dumps({"sender": ["r-a"], "message": {"text": "hi"}}).encode(), "application/json"),
        (json.dumps({"sender": "r-a", "message": 12345}).encode(), "application/json"),
        (json.dumps({"sender": "", "message": "hi"}).encode(), "application/json"),
    ],
    ids=range(14),
)
def test_malformed_requests_get_a_clear_error(rasa_stack, body, content_type):
    status, raw = webhook(rasa_stack, body, content_type)
    assert status < 500, (status, raw[:300])
    if status != 200:
        assert "error" in json.loads(raw)
    still_answers(rasa_stack)


def test_lone_surrogate_gets_a_reply_or_a_clear_error(rasa_stack):
    status, raw = webhook(rasa_stack, b'{"sender": "r-surrogate", "message": "\\ud800 \xe6\x8a\xa4\xe7\x85\xa7"}')
    assert status == 400 or (status == 200 and any(m.get("text") for m in json.loads(raw)))


def test_hostile_case_lookups_change_nothing_stored(rasa_stack, stack_database_url):
    from bot.db import Database

    database = Database(stack_database_url)
    before = database.count_cases(), database.case_by_number("WZ202610080017").status
    for text in [
        "WZ202610080017'; UPDATE cases SET status='closed'; -- 王 1234",
        "WZ202610080017 王' OR '1'='1 0000",
        "WZ202610080017 {{7*7}} 5821",
        "WZ%' 陈 %",
        "WZ202610080017 陈 ' OR 1=1 --",
    ]:
        messages = rest(rasa_stack, sender(), text)
        assert messages and "EE123456789CN" not in json.dumps(messages, ensure_ascii=False)
    assert (database.count_cases(), database.case_by_number("WZ202610080017").status) == before
    still_answers(rasa_stack)


# --- the action server ------------------------------------------------------------------


def tracker(text: str, entities: list[dict[str, Any]], slots: dict[str, Any]) -> dict[str, Any]:
    return {
        "sender_id": sender(),
        "slots": slots,
        "latest_message": {
            "text": text,
            "intent": {"name": "provide_case_info", "confidence": 0.9},
            "intent_ranking": [{"name": "provide_case_info", "confidence": 0.9}],
            "entities": entities,
        },
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }


ENTITY = st.fixed_dictionaries(
    {
        "entity": st.sampled_from(["case_no", "surname", "doc_last4", "guide_item", "aspect", "place", "x"]),
        "value": TEXTS,
        "start": st.integers(0, 10),
        "end": st.integers(0, 10),
    }
)
SLOTS = st.fixed_dictionaries(
    {},
    optional={
        "guide_item": st.none()
        | st.sampled_from(["passport-renewal", "notary-kinship", "passport-renewal-old", "../../etc/passwd"])
        | TEXTS,
        "aspect": st.none() | st.sampled_from(["fees", "materials", "nope"]) | TEXTS,
        "case_no": st.none() | TEXTS,
        "surname": st.none() | TEXTS,
        "doc_last4": st.none() | TEXTS,
        "case_failures": st.floats(0, 10),
        "misunderstandings": st.floats(0, 10),
        "pending_offer": st.none() | TEXTS,
    },
)


@BOUNDED
@given(action=st.sampled_from(ACTIONS), text=TEXTS, entities=st.lists(ENTITY, max_size=4), slots=SLOTS)
def test_action_server_answers_well_formed_calls_with_hostile_values(rasa_stack, action, text, entities, slots):
    body = {"next_action": action, "sender_id": "x", "tracker": tracker(text, entities, slots), "domain": {}}
    status, raw = actions(rasa_stack, json.dumps(body).encode())
    assert status == 200, (body, status, raw[:300])
    answer = json.loads(raw)
    assert isinstance(answer.get("events"), list) and isinstance(answer.get("responses"), list)


@pytest.mark.parametrize("stale", ["passport-renewal-old", ""])
def test_stale_guide_item_slot_gets_a_reply(rasa_stack, stale):
    body = {
        "next_action": "action_answer_guide",
        "tracker": tracker("那要多少钱？", [], {"guide_item": stale}),
        "domain": {},
    }
    body["tracker"]["latest_message"]["intent"] = {"name": "ask_aspect", "confidence": 0.9}
    status, raw = actions(rasa_stack, json.dumps(body).encode())
    assert status == 200 and json.loads(raw)["responses"], (status, raw[:300])


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"\xff\xfe", b'{"next_action": 5}', b'{"next_action": "nope", "tracker": {}}', b"{}"],
    ids=range(6),
)
def test_action_server_clear_errors(rasa_stack, body):
    status, raw = actions(rasa_stack, body)
    assert status < 500, (status, raw[:300])
    still_answers(rasa_stack)


SHAPES = {
    "list body": [],
    "string body": "x",
    "no tracker": {"next_action": "action_answer_guide"},
    "null tracker": {"next_action": "action_answer_guide", "tracker": None},
    "empty tracker": {"next_action": "action_answer_guide", "tracker": {}},
    "string tracker": {"next_action": "action_check_case", "tracker": "x"},
    "int guide_item slot": {"next_action": "action_answer_guide", "tracker": tracker("x", [], {"guide_item": 5})},
    "text case_failures slot": {
        "next_action": "action_check_case",
        "tracker": tracker("x", [], {"case_failures": "a"}),
    },
    "text misunderstandings slot": {
        "next_action": "action_clarify",
        "tracker": tracker("x", [], {"misunderstandings": "x"}),
    },
    "text intent confidence": {
        "next_action": "action_handoff",
        "tracker": {
            **tracker("x", [], {}),
            "latest_message": {"text": "x", "intent": {"name": "x", "confidence": "high"}},
        },
    },
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_action_server_rejects_malformed_trackers_with_4xx(rasa_stack, shape):
    status, raw = actions(rasa_stack, json.dumps(SHAPES[shape]).encode())
    assert status < 500, (status, raw[:300])


def test_action_server_listens_on_loopback_only(rasa_stack):
    port = f"{rasa_stack.action_port:04X}"
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and local.endswith(f":{port}"):
                listening.append(local.split(":")[0])
    assert listening and all(address in ("0100007F", "00000000000000000000000001000000") for address in listening)
