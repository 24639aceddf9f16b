"""What happens to a message and to a conversation: the desk's logic, free of HTTP and socket.io.

A citizen's message is stored first (that is the acknowledgement), then routed:
to Rasa while the bot is in charge, to the clerks otherwise. Whatever Rasa or a
clerk answers is stored before it is delivered, so the transcript is complete
even when a delivery fails.

Handlers and socket.io namespaces call this service, never the tables: the
service owns the thread pool that keeps database work off the event loop.
A citizen's message costs two transactions: one to count the rate limits and
store it, one to store the bot's lines with what the NLU understood (which
Rasa's reply carries, so the tracker is not read again).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Protocol

from bot.db import Database
from bot.desk.accounts import Accounts
from bot.desk.conversations import Conversations, Line, RateLimited
from bot.desk.locks import KeyedLocks
from bot.desk.presence import Presence
from bot.desk.tables import BOT, CLERK, CLOSED, WAITING
from bot.desk.webchat import bot_data
from bot.knowledge import SAMPLE_NOTICE, load_knowledge
from bot.limits import MAX_TEXT, MESSAGES_PER_ADDRESS, MESSAGES_PER_CONVERSATION
from bot.offload import ThreadPool
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.roles import STAFF

logger = logging.getLogger(__name__)

DATABASE_DOWN = "系统繁忙，您的消息没有发出，请稍后重发。"
TOO_FAST = "您发送得太快了，请稍等一分钟再发。"
BOT_DOWN = "抱歉，智能助手暂时无法回应。已为您转接人工客服，您的留言已保存，请稍候。"
NOBODY_ONLINE = "现在没有工作人员在线。人工服务时间：{hours}。您可以直接留言，工作人员上线后会尽快回复您。"
JOINED = "工作人员 {name} 已接入"
LEFT = "工作人员 {name} 已离开，智能助手继续为您服务。"
TRANSFERRED = "已为您转接工作人员 {name}"
CLOSED_LINE = "本次人工服务已结束，感谢您的耐心。如还有问题，可以继续提问。"
ALREADY_QUEUED = "已为您转接人工客服，请稍候，您可以继续留言。"
HUMAN_PAYLOAD = "/request_human"
# Events on system lines: the widget switches on these (bot_uttered metadata), never on the wording.
EVENT_JOINED, EVENT_LEFT, EVENT_CLOSED, EVENT_QUEUED = "joined", "left", "closed", "queued"


class Notifier(Protocol):
    async def to_citizen(self, conversation_id: str, message: dict[str, Any]) -> None: ...

    async def typing(self, conversation_id: str, on: bool) -> None: ...

    async def to_console(self, event: str, payload: dict[str, Any]) -> None: ...


# Rasa reads text starting with "/" as an intent ("/restart" would reset the conversation and
# its failed-lookup count). Only button payloads of the kinds the bot itself offers pass as such.
BUTTON_PAYLOAD = re.compile(r"^/(item_[a-z0-9_]+|ask_aspect|check_case_status|request_human|affirm|deny)(\{[^{}]*\})?$")


def to_rasa_text(text: str, payload: str | None) -> str:
    if payload and BUTTON_PAYLOAD.match(payload):
        return payload
    # Typed text is text: a leading slash is sent as its full-width twin, which the NLU reads as "/".
    return "／" + text[1:] if text.startswith("/") else text


class DeskError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _too_long(what: str) -> str:
    return f"{what}不能为空，且不超过{MAX_TEXT}字。"


class DeskService:
    def __init__(
        self,
        database: Database,
        rasa: RasaClient,
        notifier: Notifier,
        clerk_hours: str,
        limits: tuple[tuple[int, int], tuple[int, int]] = (MESSAGES_PER_CONVERSATION, MESSAGES_PER_ADDRESS),
    ):
        self.limits = limits
        self.database = database
        self.conversations = Conversations(database)
        self.presence = Presence(database)
        self.accounts = Accounts(database)
        self.rasa = rasa
        self.notifier = notifier
        self.clerk_hours = clerk_hours
        # Database work off the event loop, so a slow disk never stalls every socket. Messages and
        # state changes go through `pool` (one thread on SQLite: no writer waits for another);
        # what consoles and reconnecting widgets read goes through `reads`, so a clerk's big
        # transcript never queues in front of a citizen's message.
        self.pool = ThreadPool("desk-db", database.workers)
        self.reads = ThreadPool("desk-reads", 2)
        # Keeps one conversation's messages in order within this process.
        self.locks = KeyedLocks()

    def shutdown(self) -> None:
        self.pool.close()
        self.reads.close()

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.pool.run(fn, *args, **kwargs)

    async def _read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.reads.run(fn, *args, **kwargs)

    # --- citizens ------------------------------------------------------------

    async def accept(
        self,
        conversation_id: str,
        text: str,
        client_id: str | None = None,
        payload: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool, dict[str, Any]]:
        """Stores a citizen message; returns (stored line, created, conversation). Only then may it be acknowledged.

        One transaction: the rate limits (per conversation and per client address, counted in
        the database so all instances share them), the conversation and the line.
        """
        text = (text or "").strip()
        if not text:
            raise DeskError(400, "消息不能为空。")
        if len(text) > MAX_TEXT:
            raise DeskError(413, f"消息太长，请控制在{MAX_TEXT}字以内。")
        metadata = metadata or {}
        per_conversation, per_address = self.limits
        limits = [(f"msg:conv:{conversation_id}", *per_conversation)]
        if metadata.get("client"):
            limits.append((f"msg:addr:{metadata['client']}", *per_address))
        data = {"payload": payload} if payload and payload != text else {}
        try:
            stored, created, conversation = await self._db(
                self.conversations.accept_citizen_line,
                conversation_id, text, data, client_id, limits, metadata.get("country"), metadata.get("site"),
            )  # fmt: skip
        except RateLimited as refused:
            logger.warning("rate limited: %s", ":".join(refused.key.split(":")[1:3])[:24])
            raise DeskError(429, TOO_FAST) from None
        if created:
            # The length, not the text: nothing personal in the log, and no masking on every message.
            logger.info("citizen message stored: conversation=%s chars=%d", conversation_id[:8], len(text))
        return stored, created, conversation

    async def route(
        self,
        stored: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        conversation: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """Sends a stored citizen message to whoever is in charge; returns (the lines that answered it, state).

        `conversation` is what `accept` read in its transaction; it is used when no earlier
        message of the conversation is still being routed, else the conversation is read again.
        """
        conversation_id = stored["conversation_id"]
        async with self.locks.hold(conversation_id) as was_free:
            await self.notifier.to_console("message", {"conversation_id": conversation_id, "message": stored})
            if conversation is None or not was_free:
                conversation = await self._db(self.conversations.conversation, conversation_id)
            if conversation["state"] == CLOSED:
                await self._db(self.conversations.reopen, conversation_id)
                conversation = {**conversation, "state": BOT}
            if conversation["state"] == BOT:
                return await self._to_bot(conversation, stored, metadata or {})
            if stored["data"].get("payload") == HUMAN_PAYLOAD and conversation["state"] == WAITING:
                return [await self.say(conversation_id, Line("system", ALREADY_QUEUED, {"event": EVENT_QUEUED}))], WAITING
            return [], conversation["state"]

    async def _to_bot(
        self, conversation: dict[str, Any], stored: dict[str, Any], metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str]:
        conversation_id = conversation["id"]
        await self.notifier.typing(conversation_id, True)
        try:
            if conversation["bot_paused"]:
                if not await self.rasa.resume(conversation_id):
                    raise RasaUnavailable("resume failed")
                await self._db(self.conversations.set_bot_paused, conversation_id, False)
            text = to_rasa_text(stored["text"], stored["data"].get("payload"))
            replies, understood = await self.rasa.send(conversation_id, text, metadata)
            if not replies:
                # Every intent of the domain gets an answer: silence means the action server failed.
                raise RasaUnavailable("no reply (action server down?)")
        except RasaUnavailable as error:
            logger.warning("bot unavailable for conversation=%s: %s", conversation_id[:8], error)
            await self.notifier.typing(conversation_id, False)
            down = Line("system", BOT_DOWN, {"event": EVENT_QUEUED})
            return await self._to_queue(conversation_id, "bot_unavailable", {}, down, bot_paused=False)
        await self.notifier.typing(conversation_id, False)
        handoff = _handoff(replies)
        # What the NLU made of the citizen's line goes to its `data.nlu` (the trainers' inbox).
        annotate = (stored["id"], {**stored["data"], "nlu": understood}) if understood else None
        lines = await self._db(
            self.conversations.add_lines,
            conversation_id,
            [Line("bot", reply.get("text") or "", bot_data(reply)) for reply in replies],
            annotate,
        )
        for line in lines:
            await self._deliver(conversation_id, line)
        if handoff:
            more, state = await self._to_queue(conversation_id, handoff.get("reason") or "user_request", None, None, True)
            return lines + more, state
        return lines, BOT

    async def _to_queue(
        self, conversation_id: str, reason: str, understood: dict | None, line: Line | None, bot_paused: bool
    ) -> tuple[list[dict[str, Any]], str]:
        lines = []
        if line:
            lines.append(await self.say(conversation_id, line))
        queued = await self._db(self.conversations.enqueue, conversation_id, reason, understood, bot_paused)
        if not queued:
            # A clerk has it already.
            return lines, (await self._db(self.conversations.conversation, conversation_id))["state"]
        if not await self._db(self.presence.online_clerks):
            nobody = NOBODY_ONLINE.format(hours=self.clerk_hours)
            lines.append(await self.say(conversation_id, Line("system", nobody, {"event": EVENT_QUEUED})))
        await self._announce(conversation_id, waiting=True)
        return lines, WAITING

    async def say(self, conversation_id: str, line: Line) -> dict[str, Any]:
        """Stores a line for the citizen, then delivers it."""
        stored = await self._db(self.conversations.add_line, conversation_id, line)
        await self._deliver(conversation_id, stored)
        return stored

    async def _deliver(self, conversation_id: str, line: dict[str, Any]) -> None:
        await self.notifier.to_citizen(conversation_id, line)
        await self.notifier.to_console("message", {"conversation_id": conversation_id, "message": line})

    async def _announce(self, conversation_id: str, waiting: bool = False) -> None:
        conversation = await self._db(self.conversations.conversation, conversation_id)
        await self.notifier.to_console("conversation", {"conversation": conversation})
        await self.notifier.to_console("queue", {"queue": await self._db(self.conversations.queue)})
        if waiting:
            await self.notifier.to_console("waiting", {"conversation": conversation})

    async def open_conversation(self, conversation_id: str) -> None:
        """A widget's session: the conversation exists from its first connection."""
        await self._db(self.conversations.ensure_conversation, conversation_id)

    async def history(self, conversation_id: str, after: int = 0) -> tuple[dict[str, Any] | None, list[dict]]:
        """(conversation or None, its lines after `after`)."""
        conversation = await self._read(self.conversations.conversation, conversation_id)
        if conversation is None:
            return None, []
        return conversation, await self._read(self.conversations.messages, conversation_id, after)

    async def status(self) -> dict[str, Any]:
        clerks = await self._read(self.presence.online_clerks)
        return {"clerks_online": len(clerks), "clerk_hours": self.clerk_hours, "max_text": MAX_TEXT}

    # --- the console: reading ----------------------------------------------------

    async def queue(self) -> dict[str, Any]:
        return {
            "queue": await self._read(self.conversations.queue),
            "clerks": await self._read(self.presence.online_clerks),
        }

    async def live(self) -> list[dict[str, Any]]:
        return await self._read(self.conversations.live)

    async def conversation_view(self, conversation_id: str) -> dict[str, Any]:
        """A conversation with its transcript, notes and the titles of the guides it mentions."""
        found = await self._conversation(conversation_id)
        lines = await self._read(self.conversations.messages, conversation_id)
        return {
            "conversation": found,
            "messages": lines,
            "notes": await self._read(self.conversations.notes, conversation_id),
            "guides": _guide_titles(lines, found["understood"]),
            # Guide texts are sample content until the operating agency replaces them.
            "sample_notice": SAMPLE_NOTICE,
        }

    async def case(self, case_no: str) -> dict[str, Any]:
        case = await self._read(self.database.case_by_number, case_no.strip())
        if case is None:
            raise DeskError(404, "没有找到这个办件编号。")
        knowledge = load_knowledge()
        title = knowledge.title(case.item_id) if knowledge.guide(case.item_id) else case.item_id
        history = [
            {"at": h["at"].isoformat(sep=" ", timespec="minutes"), **{k: h[k] for k in ("status", "note")}}
            for h in case.history
        ]
        return {"case_no": case.case_no, "item": title, "status": case.status, "site": case.site, "history": history}

    async def online_clerks(self) -> list[dict[str, Any]]:
        return await self._read(self.presence.online_clerks)

    # --- the console: presence ----------------------------------------------------

    async def console_seen(self, sid: str, user_id: int) -> None:
        await self._db(self.presence.touch, sid, user_id)

    async def console_connected(self, sid: str, user_id: int) -> None:
        await self._db(self.presence.touch, sid, user_id)
        await self.notifier.to_console("presence", {"clerks": await self.online_clerks()})

    async def console_gone(self, sid: str) -> None:
        await self._db(self.presence.drop, sid)
        await self.notifier.to_console("presence", {"clerks": await self.online_clerks()})

    # --- the console: acting ------------------------------------------------------

    async def _conversation(self, conversation_id: str) -> dict[str, Any]:
        conversation = await self._db(self.conversations.conversation, conversation_id)
        if conversation is None:
            raise DeskError(404, "找不到这个会话。")
        return conversation

    async def _after_change(self, conversation_id: str) -> dict[str, Any]:
        await self._announce(conversation_id)
        return await self._db(self.conversations.conversation, conversation_id)

    async def claim(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """Claims a waiting conversation, or takes over one the bot is serving. One clerk wins."""
        conversation = await self._conversation(conversation_id)
        if conversation["claimed_by"] == user["id"]:
            return conversation
        if not await self._db(self.conversations.claim, conversation_id, user["id"]):
            current = await self._db(self.conversations.conversation, conversation_id)
            if current["state"] == CLOSED:
                raise DeskError(409, "这个会话已经结束。")
            raise DeskError(409, f"这个会话已由 {current['clerk'] or '其他工作人员'} 接待。")
        joined = Line("system", JOINED.format(name=user["name"]), {"event": EVENT_JOINED}, user["name"])
        await self.say(conversation_id, joined)
        return await self._after_change(conversation_id)

    async def _own(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        if conversation["state"] != CLERK or conversation["claimed_by"] != user["id"]:
            raise DeskError(409, "请先接入这个会话。")
        return conversation

    async def reply(self, conversation_id: str, user: dict[str, Any], text: str) -> dict[str, Any]:
        text = (text or "").strip()
        if not text or len(text) > MAX_TEXT:
            raise DeskError(400, _too_long("回复"))
        await self._own(conversation_id, user)
        return await self.say(conversation_id, Line("clerk", text, {}, user["name"]))

    async def hand_back(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        await self._own(conversation_id, user)
        if not await self._db(self.conversations.hand_back, conversation_id, user["id"]):
            raise DeskError(409, "会话状态已变化，请刷新。")
        # The tracker keeps its slots, so the bot resumes with the conversation's context.
        resumed = await self.rasa.resume(conversation_id)
        await self._db(self.conversations.set_bot_paused, conversation_id, not resumed)
        left = Line("system", LEFT.format(name=user["name"]), {"event": EVENT_LEFT}, user["name"])
        await self.say(conversation_id, left)
        return await self._after_change(conversation_id)

    async def close(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        owner = conversation["claimed_by"]
        if owner not in (None, user["id"]):
            raise DeskError(409, f"这个会话由 {conversation['clerk']} 接待，不能关闭。")
        if not await self._db(self.conversations.close, conversation_id, owner):
            raise DeskError(409, "会话状态已变化，请刷新。")
        resumed = await self.rasa.resume(conversation_id)
        await self._db(self.conversations.set_bot_paused, conversation_id, not resumed)
        await self.say(conversation_id, Line("system", CLOSED_LINE, {"event": EVENT_CLOSED}, user["name"]))
        return await self._after_change(conversation_id)

    async def transfer(self, conversation_id: str, user: dict[str, Any], to_name: str) -> dict[str, Any]:
        await self._own(conversation_id, user)
        target = await self._db(self.accounts.user_by_name, to_name or "")
        if target is None or target["role"] not in STAFF or target["id"] == user["id"]:
            raise DeskError(400, "请选择另一位工作人员。")
        if not await self._db(self.conversations.transfer, conversation_id, user["id"], target["id"]):
            raise DeskError(409, "会话状态已变化，请刷新。")
        # The same event as a claim: for the citizen, a clerk (the new one) has joined.
        joined = Line("system", TRANSFERRED.format(name=target["name"]), {"event": EVENT_JOINED}, target["name"])
        await self.say(conversation_id, joined)
        conversation = await self._after_change(conversation_id)
        await self.notifier.to_console("transferred", {"conversation_id": conversation_id, "to": target["name"]})
        return conversation

    async def note(self, conversation_id: str, user: dict[str, Any], text: str) -> dict[str, Any]:
        await self._conversation(conversation_id)
        text = (text or "").strip()
        if not text or len(text) > MAX_TEXT:
            raise DeskError(400, _too_long("备注"))
        note = await self._db(self.conversations.add_note, conversation_id, user["id"], text)
        await self.notifier.to_console("note", {"conversation_id": conversation_id, "note": note})
        return note


def _handoff(replies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The bot's hand-off (`custom.handoff`), if one of its replies carries it."""
    for reply in replies:
        custom = reply.get("custom")
        if isinstance(custom, dict) and custom.get("handoff"):
            return custom["handoff"]
    return None


def _guide_titles(lines: list[dict[str, Any]], understood: dict[str, Any]) -> dict[str, str]:
    knowledge = load_knowledge()
    items = {(m["data"].get("custom") or {}).get("guide_item") for m in lines} | {understood.get("guide_item")}
    items |= set(understood.get("candidates") or [])
    return {item: knowledge.title(item) for item in items if item and knowledge.guide(item)}


async def run_in_background(coro: Awaitable[Any]) -> None:
    """Routes after the acknowledgement; a failure is logged, the message stays stored."""
    try:
        await coro
    except Exception:
        logger.exception("routing a citizen message failed")
