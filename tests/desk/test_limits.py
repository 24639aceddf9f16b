"""Abuse: message rate limits per conversation and per address, and size caps, with polite answers."""

from __future__ import annotations

import aiohttp

from bot.desk.service import MESSAGES_PER_ADDRESS, MESSAGES_PER_CONVERSATION, TOO_FAST
from tests.desk.helpers import new_id


async def post(server, conversation_id: str, text: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/conversations/{conversation_id}/messages"
        async with http.post(url, json={"message": text}) as reply:
            return reply.status, await reply.json()


async def test_a_flood_in_one_conversation_is_slowed_politely(desk_without_rasa):
    conversation = new_id()
    limit = MESSAGES_PER_CONVERSATION[0]
    statuses = [(await post(desk_without_rasa, conversation, f"第{n}条"))[0] for n in range(limit)]
    assert set(statuses) == {200}
    status, body = await post(desk_without_rasa, conversation, "再来一条")
    assert status == 429 and body["error"] == TOO_FAST
    stored = desk_without_rasa.conversations.messages(conversation)
    assert [line["text"] for line in stored if line["sender"] == "citizen"] == [f"第{n}条" for n in range(limit)]
    # Another conversation from the same address still gets through.
    assert (await post(desk_without_rasa, new_id(), "你好"))[0] == 200


async def test_one_address_cannot_flood_across_conversations(desk_without_rasa):
    allowed = MESSAGES_PER_ADDRESS[0]
    statuses = [(await post(desk_without_rasa, new_id(), "你好"))[0] for _ in range(allowed + 2)]
    assert 429 in statuses
    assert statuses.count(200) <= allowed


async def test_size_cap(desk_without_rasa):
    status, body = await post(desk_without_rasa, new_id(), "字" * 5000)
    assert status == 413 and "太长" in body["error"]


def test_typed_slash_commands_are_text_and_only_offered_payloads_pass():
    from bot.desk.service import to_rasa_text

    assert to_rasa_text("/restart", None) == "／restart"
    assert to_rasa_text("/request_human", "/restart") == "／request_human"
    assert to_rasa_text("转人工", "/request_human") == "/request_human"
    assert to_rasa_text("所需材料", '/ask_aspect{"aspect":"materials"}') == '/ask_aspect{"aspect":"materials"}'
    assert to_rasa_text("x", '/provide_case_info{"case_no":"WZ1"}') == "x"
