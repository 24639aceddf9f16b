"""The desk in front of the real Rasa server and action server."""

from __future__ import annotations

import pytest

from tests.desk.helpers import Citizen, Clerk, drop, new_id, say, wait_for

pytestmark = pytest.mark.stack


async def test_guide_question_answered_with_custom_and_quick_replies(desk):
    citizen = Citizen()
    session_id = await citizen.start(desk.url)
    try:
        ack = await citizen.utter(session_id, "护照过期了怎么换", client_id="g1")
        assert ack["ok"]
        answer = await wait_for(lambda: next((m for m in citizen.received if m["metadata"]["sender"] == "bot"), None))
        assert answer["metadata"]["custom"]["guide_item"] == "passport-renewal"
        assert "护照" in answer["text"]
        # rasa-webchat draws our buttons as quick replies.
        assert answer["quick_replies"] and all(q["content_type"] == "text" for q in answer["quick_replies"])
        assert {"title", "payload"} <= set(answer["quick_replies"][0])
        stored = desk.conversations.messages(session_id)
        assert stored[1]["data"]["custom"]["guide_item"] == "passport-renewal", "the bot's custom is in the transcript"
        await wait_for(lambda: desk.conversations.messages(session_id)[0]["data"].get("nlu"))
        assert desk.conversations.messages(session_id)[0]["data"]["nlu"]["item"] == "passport-renewal"
    finally:
        await drop(citizen.sio)


async def test_hand_off_claim_reply_hand_back_and_the_bot_resumes_with_context(desk):
    conversation = new_id()
    first = await say(desk, conversation, "护照过期了怎么换")
    assert first["replies"][0]["data"]["custom"]["guide_item"] == "passport-renewal"
    handed = await say(desk, conversation, "转人工")
    assert handed["state"] == "waiting"
    assert "handoff" in handed["replies"][0]["data"]["custom"]
    queued = next(c for c in desk.conversations.queue() if c["id"] == conversation)
    assert queued["reason"] == "user_request"
    assert queued["understood"].get("guide_item") == "passport-renewal", "what the bot understood reaches the clerk"
    # While the clerk is in charge, Rasa is not asked.
    waiting = await say(desk, conversation, "我的护照在巴黎丢了")
    assert waiting["replies"] == [] and waiting["state"] == "waiting"
    clerk = await Clerk.login(desk, "张")
    try:
        assert (await clerk.act(conversation, "claim"))[0] == 200
        assert (await clerk.act(conversation, "reply", text="您好，丢失护照需要先报失。"))[0] == 200
        assert (await clerk.act(conversation, "handback"))[0] == 200
        assert desk.conversations.conversation(conversation)["bot_paused"] is False, "Rasa accepted the resume"
    finally:
        await clerk.close()
    after = await say(desk, conversation, "需要什么材料")
    assert after["state"] == "bot"
    bot = [line for line in after["replies"] if line["sender"] == "bot"]
    assert bot, "the bot answers again after the hand-back"
    custom = bot[0]["data"]["custom"]
    assert custom["guide_item"] == "passport-renewal" and custom["aspect"] == "materials"
    senders = [m["sender"] for m in desk.conversations.messages(conversation)]
    assert {"citizen", "bot", "clerk", "system"} <= set(senders)


async def test_clerk_takes_over_a_bot_conversation_unasked(desk):
    conversation = new_id()
    await say(desk, conversation, "护照过期了怎么换")
    clerk = await Clerk.login(desk, "李")
    try:
        status, body = await clerk.get("/api/console/live")
        assert clerk.number(conversation) in [c["number"] for c in body["conversations"]]
        assert (await clerk.act(conversation, "claim"))[0] == 200
        taken = await say(desk, conversation, "谢谢")
        assert taken["replies"] == [] and taken["state"] == "clerk"
        assert (await clerk.act(conversation, "close"))[0] == 200
    finally:
        await clerk.close()
    again = await say(desk, conversation, "身份证过期了怎么办")
    assert again["state"] == "bot" and any(line["sender"] == "bot" for line in again["replies"])


async def test_a_citizen_message_costs_two_transactions_and_carries_what_the_nlu_understood(desk):
    """One to count the limits, store the line and claim it before it goes to Rasa (a second desk then
    never sends it again, issue 10 item 4); one for the bot's answer with the NLU's reading. Neither syncs
    the disk at its commit on the HTTP API: one sync of the log, while Rasa works, makes the line durable
    before the answer (issue 12)."""
    from sqlalchemy import event

    conversation = new_id()
    await say(desk, conversation, "你好")  # the conversation exists; what follows is one more message
    database = desk.app_service.database
    engines = {database.engine, database.unsynced_engine}  # synced commits, and those without a sync of their own
    commits: list[int] = []

    def count(connection) -> None:
        commits.append(1)

    for engine in engines:
        event.listen(engine, "commit", count)
    before = database.unsynced_commits
    try:
        answer = await say(desk, conversation, "护照过期了怎么换")
    finally:
        for engine in engines:
            event.remove(engine, "commit", count)
    assert answer["state"] == "bot" and answer["replies"][0]["data"]["custom"]["guide_item"] == "passport-renewal"
    assert len(commits) == 2, f"{len(commits)} transactions for one citizen message"
    # The citizen's line was on disk before the answer; the bot's lines are synced later (or recovered).
    assert database.unsynced_commits == before + 2 and database.synced(before + 1)
    nlu = desk.conversations.messages(conversation)[-2]["data"]["nlu"]
    assert nlu["intent"] == "item_passport_renewal" and nlu["item"] == "passport-renewal"
    assert 0 < nlu["confidence"] <= 1
