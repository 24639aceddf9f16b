"""What staff receive names a conversation by its short number, never by its id (issue 10, item 1).

The conversation id is the citizen's bearer secret: whoever holds it reads the transcript and writes
as the citizen. Staff pages, their URLs, the console socket's events, exports and the trainer's inbox
use the conversation's staff number (`desk_conversations.number`, shown as "会话 #1042") instead.
The desk's service keeps working with ids; this module converts at the edge: the console's routes
take the number (`conversation_id_of`), and every payload for staff goes through `for_staff`.

A number names one conversation for ever, so the mapping is cached both ways in each desk process.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from bot.desk.conversations import Conversations
from bot.offload import ThreadPool

# Conversations whose mapping a desk keeps in memory (an id and a number: about 200 bytes each).
CACHED = 20000


class _Lru(OrderedDict[Any, Any]):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def staff_conversation(conversation: dict[str, Any]) -> dict[str, Any]:
    """A conversation as staff get it: its number, without its id."""
    return {key: value for key, value in conversation.items() if key != "id"}


def staff_line(line: dict[str, Any], number: int | None) -> dict[str, Any]:
    """A transcript line as staff get it: the conversation's number instead of its id."""
    out = {key: value for key, value in line.items() if key != "conversation_id"}
    out["conversation"] = number
    return out


class StaffNumbers:
    """Maps staff numbers to conversation ids and back (the database's, cached), and converts staff payloads."""

    def __init__(self, conversations: Conversations, reads: ThreadPool):
        self.conversations = conversations
        self.reads = reads
        self._numbers = _Lru(CACHED)  # id -> number
        self._ids = _Lru(CACHED)  # number -> id

    def _remember(self, conversation_id: str, number: int) -> None:
        self._numbers.put(conversation_id, number)
        self._ids.put(number, conversation_id)

    async def number(self, conversation_id: str) -> int | None:
        found = self._numbers.get(conversation_id)
        if found is None:
            found = await self.reads.run(self.conversations.number_of, conversation_id)
            if found is not None:
                self._remember(conversation_id, found)
        return found

    async def conversation_id(self, number: Any) -> str | None:
        """The conversation a route's number names; None for anything else (not a number, no such conversation)."""
        if not isinstance(number, int):
            if not isinstance(number, str) or not number.isdigit() or len(number) > 12:
                return None
            number = int(number)
        found = self._ids.get(number)
        if found is None:
            found = await self.reads.run(self.conversations.id_of_number, number)
            if found is not None:
                self._remember(found, number)
        return found

    async def numbers(self, conversation_ids: list[str]) -> dict[str, int]:
        """Several at once (a day's bookings): one read for those not cached."""
        missing = [cid for cid in set(conversation_ids) if cid not in self._numbers]
        if missing:
            for cid, number in (await self.reads.run(self.conversations.numbers_of, missing)).items():
                if number is not None:
                    self._remember(cid, number)
        return {cid: self._numbers[cid] for cid in conversation_ids if cid in self._numbers}

    async def line(self, line: dict[str, Any]) -> dict[str, Any]:
        return staff_line(line, await self.number(line["conversation_id"]))

    async def for_staff(self, payload: Any) -> Any:
        """A payload of the console (HTTP answer or socket event) with every conversation id replaced.

        The shapes the desk sends staff: a conversation (`number` and `state`), a transcript line
        (`conversation_id` and `sender`), and dicts holding them under `conversation`, `message`,
        `messages`, `queue`, `conversations`, or naming one by `conversation_id` (feedback, note,
        transferred).
        """
        if isinstance(payload, list):
            return [await self.for_staff(item) for item in payload]
        if not isinstance(payload, dict):
            return payload
        if "state" in payload and "number" in payload:
            if payload.get("id") is not None and payload.get("number") is not None:
                self._remember(payload["id"], payload["number"])
            return staff_conversation(payload)
        if "sender" in payload and "conversation_id" in payload:
            return await self.line(payload)
        out = {}
        for key, value in payload.items():
            if key == "conversation_id":
                out["conversation"] = await self.number(value) if isinstance(value, str) else None
            elif key in ("conversation", "message", "messages", "queue", "conversations", "result", "line"):
                out[key] = await self.for_staff(value)
            else:
                out[key] = value
        return out
