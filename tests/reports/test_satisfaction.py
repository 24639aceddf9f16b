"""Satisfaction through the desk: marks on guide answers, the end-of-conversation rating asked once, the trainer's filters.

The guide answer is stored with the desk's own `Conversations.add_line` (Rasa is down in these
tests); the browser test (test_browser_reports.py) goes through the real bot.
"""

from __future__ import annotations

import json

import aiohttp

from bot.desk.conversations import Line
from tests.desk.helpers import Citizen, Clerk, drop, new_id, say

GUIDE = {"custom": {"guide_item": "passport-renewal", "aspect": None, "language": "zh"}}


async def post(server, conversation_id: str, message: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/conversations/{conversation_id}/messages"
        async with http.post(url, json={"message": message}) as reply:
            return reply.status, await reply.json()


def feedback(message_id: int, helpful: bool, **more) -> str:
    return "/feedback" + json.dumps({"message_id": message_id, "helpful": helpful, **more}, ensure_ascii=False)


async def test_marks_on_guide_answers_and_the_trainers_filter(desk_without_rasa):
    server = desk_without_rasa
    cid = new_id()
    asked = (await say(server, cid, "护照过期了怎么换"))["stored"]
    answer = server.conversations.add_line(cid, Line("bot", "护照换发指南……", GUIDE))
    lines_before = len(server.conversations.messages(cid))

    status, reply = await post(server, cid, feedback(answer["id"], False, reason="unclear", comment="看不懂 13812345678"))
    assert (status, reply) == (200, {"ok": True})
    # Only a guide answer of this conversation can be marked; the reason must be one of the four.
    assert (await post(server, cid, feedback(asked["id"], False)))[0] == 400
    assert (await post(server, new_id(), feedback(answer["id"], True)))[0] == 400
    assert (await post(server, cid, '/feedback{"message_id": "x", "helpful": true}'))[0] == 400
    marks = server.app_service.feedback.of_conversation(cid)["marks"]
    assert marks == {answer["id"]: {"helpful": False, "reason": "unclear", "comment": "看不懂 13812345678"}}
    # A mark is not a line of the transcript and never reaches Rasa.
    assert len(server.conversations.messages(cid)) == lines_before

    # Over the rasa-webchat protocol: the same payload as a user_uttered; the last mark counts.
    citizen = Citizen()
    try:
        await citizen.start(server.url, cid)
        ack = await citizen.utter(cid, feedback(answer["id"], True))
        assert ack == {"ok": True}
    finally:
        await drop(citizen.sio)
    assert server.app_service.feedback.of_conversation(cid)["marks"][answer["id"]]["helpful"] is True
    await citizen_marks_not_helpful_again(server, cid, answer["id"])

    trainer = await Clerk.login(server, "训练员甲", role="trainer")
    try:
        status, data = await trainer.get("/trainer/api/inbox?filter=not_helpful")
        assert status == 200
        entries = [e for e in data["entries"] if e["conversation"] == trainer.number(cid)]
        assert [e["message_id"] for e in entries] == [asked["id"]]
        assert entries[0]["feedback"] == {"helpful": False, "reason": "outdated", "comment": "费用变了，电话[号码]"}
        status, data = await trainer.get("/trainer/api/inbox?filter=low_rating")
        assert trainer.number(cid) not in {e["conversation"] for e in data["entries"]}
    finally:
        await trainer.close()


async def citizen_marks_not_helpful_again(server, cid: str, message_id: int) -> None:
    status, _ = await post(server, cid, feedback(message_id, False, reason="outdated", comment="费用变了，电话13812345678"))
    assert status == 200


async def test_rating_is_asked_once_when_a_clerk_closes_and_low_ratings_reach_the_inbox(desk_without_rasa):
    server = desk_without_rasa
    cid = new_id()
    await say(server, cid, "我要投诉")  # Rasa is down: the conversation waits for a clerk
    clerk = await Clerk.login(server, "客服丙")
    try:
        assert (await clerk.act(cid, "claim"))[0] == 200
        assert (await clerk.act(cid, "reply", text="您好，请讲"))[0] == 200
        assert (await clerk.act(cid, "close"))[0] == 200
        lines = server.conversations.messages(cid)
        asks = [m for m in lines if m["data"].get("event") == "rate"]
        assert len(asks) == 1
        assert [b["payload"] for b in asks[0]["data"]["buttons"]] == [f'/rate{{"score":{n}}}' for n in range(1, 6)]
        assert asks[0]["text"].startswith("请为本次服务打分")
        # rasa-webchat draws them as quick replies.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/api/conversations/{cid}/messages") as reply:
                webchat = (await reply.json())["webchat"]
        rate = next(m for m in webchat if m["metadata"]["event"] == "rate")
        assert [q["title"] for q in rate["quick_replies"]] == ["★", "★★", "★★★", "★★★★", "★★★★★"]

        assert (await post(server, cid, '/rate{"score": 9}'))[0] == 400
        assert await post(server, cid, '/rate{"score":2}') == (200, {"ok": True})
        assert await post(server, cid, '/rate{"score": 2, "comment": "等了很久"}') == (200, {"ok": True})
        assert server.app_service.feedback.of_conversation(cid)["rating"] == {
            "asked_because": "closed", "score": 2, "comment": "等了很久",
        }  # fmt: skip
        thanks = [m for m in server.conversations.messages(cid) if m["data"].get("event") == "rated"]
        assert len(thanks) == 1

        # Asked once: the citizen writes again, a clerk serves and closes again, the citizen closes the widget.
        await say(server, cid, "还有一个问题")
        assert (await clerk.act(cid, "claim"))[0] == 200
        assert (await clerk.act(cid, "close"))[0] == 200
        assert await post(server, cid, "/rating_request") == (200, {"ok": True, "asked": False})
        assert len([m for m in server.conversations.messages(cid) if m["data"].get("event") == "rate"]) == 1
    finally:
        await clerk.close()

    trainer = await Clerk.login(server, "训练员乙", role="trainer")
    try:
        status, data = await trainer.get("/trainer/api/inbox?filter=low_rating")
        assert status == 200
        assert {e["rating"] for e in data["entries"] if e["conversation"] == trainer.number(cid)} == {2}
    finally:
        await trainer.close()


async def test_the_citizen_closing_is_asked_only_after_a_real_exchange(desk_without_rasa):
    server = desk_without_rasa
    idle = new_id()
    await say(server, idle, "你好")
    assert await post(server, idle, "/rating_request") == (200, {"ok": True, "asked": False})
    served = new_id()
    await say(server, served, "护照过期了怎么换")
    server.conversations.add_line(served, Line("bot", "护照换发指南……", GUIDE))
    assert await post(server, served, "/rating_request") == (200, {"ok": True, "asked": True})
    assert await post(server, served, "/rating_request") == (200, {"ok": True, "asked": False})
    rating = server.app_service.feedback.of_conversation(served)["rating"]
    assert rating == {"asked_because": "citizen", "score": None, "comment": None}
    # A rating nobody asked for is refused.
    assert (await post(server, idle, '/rate{"score": 5}'))[0] == 400
