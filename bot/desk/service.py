"""What happens to a message and to a conversation: the desk's logic, free of HTTP and socket.io.

A citizen's message is stored first (that is the acknowledgement), then routed:
to Rasa while the bot is in charge, to the clerks otherwise. Whatever Rasa or a
clerk answers is stored before it is delivered, so the transcript is complete
even when a delivery fails.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from typing import Any, Awaitable, Callable, Protocol

from bot.desk.models import BOT, CLERK, CLOSED, WAITING
from bot.desk.rasa import RasaClient, RasaUnavailable
from bot.desk.store import DeskStore
from bot.desk.webchat import bot_data
from bot.privacy import mask

logger = logging.getLogger(__name__)

MAX_TEXT = 4000
# (events, seconds): far above a person typing, low enough to stop a script.
MESSAGES_PER_CONVERSATION = (20, 60)
MESSAGES_PER_ADDRESS = (60, 60)
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


class DeskService:
    def __init__(
        self,
        store: DeskStore,
        rasa: RasaClient,
        notifier: Notifier,
        clerk_hours: str,
        limits: tuple[tuple[int, int], tuple[int, int]] = (MESSAGES_PER_CONVERSATION, MESSAGES_PER_ADDRESS),
    ):
        self.limits = limits
        self.store = store
        self.rasa = rasa
        self.notifier = notifier
        self.clerk_hours = clerk_hours
        # Keeps one conversation's messages in order within this process.
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._background: set[asyncio.Task] = set()

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        # Database work off the event loop, so a slow disk never stalls every socket.
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # --- citizens ------------------------------------------------------------

    async def accept(
        self,
        conversation_id: str,
        text: str,
        client_id: str | None = None,
        payload: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Stores a citizen message; returns (stored line, created). Only then may it be acknowledged."""
        text = (text or "").strip()
        if not text:
            raise DeskError(400, "消息不能为空。")
        if len(text) > MAX_TEXT:
            raise DeskError(413, f"消息太长，请控制在{MAX_TEXT}字以内。")
        metadata = metadata or {}
        await self._check_rate(conversation_id, metadata.get("client"))
        await self._run(self.store.ensure_conversation, conversation_id, metadata.get("country"), metadata.get("site"))
        data = {"payload": payload} if payload and payload != text else {}
        stored, created = await self._run(
            lambda: self.store.add_message(conversation_id, "citizen", text, data, None, client_id)
        )
        if created:
            logger.info("citizen message stored: conversation=%s text=%s", conversation_id[:8], mask(text))
        return stored, created

    async def _check_rate(self, conversation_id: str, client: str | None) -> None:
        """Per conversation and per client address; counted in the database, shared by all instances."""
        per_conversation, per_address = self.limits
        limits = [(f"msg:conv:{conversation_id}", *per_conversation)]
        if client:
            limits.append((f"msg:addr:{client}", *per_address))
        refused = await self._run(self.store.db.allow_all, limits)
        if refused:
            logger.warning("rate limited: %s", ":".join(refused.split(":")[1:3])[:24])
            raise DeskError(429, TOO_FAST)

    async def route(self, stored: dict[str, Any], metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Sends a stored citizen message to whoever is in charge; returns the lines that answered it."""
        conversation_id = stored["conversation_id"]
        async with self._locks[conversation_id]:
            await self.notifier.to_console("message", {"conversation_id": conversation_id, "message": stored})
            conversation = await self._run(self.store.conversation, conversation_id)
            if conversation["state"] == CLOSED:
                await self._run(self.store.reopen, conversation_id)
                conversation["state"] = BOT
            if conversation["state"] == BOT:
                return await self._to_bot(conversation, stored, metadata or {})
            if stored["data"].get("payload") == HUMAN_PAYLOAD and conversation["state"] == WAITING:
                return [await self.say(conversation_id, "system", ALREADY_QUEUED)]
            return []

    async def _to_bot(
        self, conversation: dict[str, Any], stored: dict[str, Any], metadata: dict[str, Any]
    ) -> list[dict[str, Any]]:
        conversation_id = conversation["id"]
        await self.notifier.typing(conversation_id, True)
        try:
            if conversation["bot_paused"]:
                if not await self.rasa.resume(conversation_id):
                    raise RasaUnavailable("resume failed")
                await self._run(self.store.set_bot_paused, conversation_id, False)
            text = to_rasa_text(stored["text"], stored["data"].get("payload"))
            replies = await self.rasa.send(conversation_id, text, metadata)
            if not replies:
                # Every intent of the domain gets an answer: silence means the action server failed.
                raise RasaUnavailable("no reply (action server down?)")
        except RasaUnavailable as error:
            logger.warning("bot unavailable for conversation=%s: %s", conversation_id[:8], error)
            await self.notifier.typing(conversation_id, False)
            return await self._to_queue(conversation_id, "bot_unavailable", {}, BOT_DOWN, bot_paused=False)
        await self.notifier.typing(conversation_id, False)
        lines = []
        handoff = None
        for reply in replies:
            data = bot_data(reply)
            handoff = handoff or (data.get("custom") or {}).get("handoff")
            lines.append(await self.say(conversation_id, "bot", reply.get("text") or "", data))
        if handoff:
            lines += await self._to_queue(conversation_id, handoff.get("reason") or "user_request", None, None, True)
        # Off the reply's path: the task queues on this conversation's lock, so it reads the
        # tracker before any later message of the conversation reaches Rasa.
        task = asyncio.create_task(run_in_background(self._record_understanding(conversation_id, stored["id"])))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return lines

    async def _record_understanding(self, conversation_id: str, message_id: int) -> None:
        """What the NLU made of a citizen line, for the trainers' inbox (`data.nlu`)."""
        async with self._locks[conversation_id]:
            nlu = await self.rasa.latest_parse(conversation_id)
        if nlu:
            await self._run(self.store.annotate, message_id, "nlu", nlu)

    async def _to_queue(
        self, conversation_id: str, reason: str, understood: dict | None, line: str | None, bot_paused: bool
    ) -> list[dict[str, Any]]:
        lines = []
        if line:
            lines.append(await self.say(conversation_id, "system", line))
        queued = await self._run(self.store.enqueue, conversation_id, reason, understood, bot_paused)
        if queued:
            if not await self._run(self.store.online_clerks):
                lines.append(await self.say(conversation_id, "system", NOBODY_ONLINE.format(hours=self.clerk_hours)))
            await self._announce(conversation_id, waiting=True)
        return lines

    async def say(
        self, conversation_id: str, sender: str, text: str, data: dict | None = None, author: str | None = None
    ):
        """Stores a line for the citizen, then delivers it."""
        line, _ = await self._run(lambda: self.store.add_message(conversation_id, sender, text, data, author))
        await self.notifier.to_citizen(conversation_id, line)
        await self.notifier.to_console("message", {"conversation_id": conversation_id, "message": line})
        return line

    async def _announce(self, conversation_id: str, waiting: bool = False) -> None:
        conversation = await self._run(self.store.conversation, conversation_id)
        await self.notifier.to_console("conversation", {"conversation": conversation})
        await self.notifier.to_console("queue", {"queue": await self._run(self.store.queue)})
        if waiting:
            await self.notifier.to_console("waiting", {"conversation": conversation})

    async def status(self) -> dict[str, Any]:
        clerks = await self._run(self.store.online_clerks)
        return {"clerks_online": len(clerks), "clerk_hours": self.clerk_hours}

    # --- clerks --------------------------------------------------------------

    async def _conversation(self, conversation_id: str) -> dict[str, Any]:
        conversation = await self._run(self.store.conversation, conversation_id)
        if conversation is None:
            raise DeskError(404, "找不到这个会话。")
        return conversation

    async def claim(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """Claims a waiting conversation, or takes over one the bot is serving. One clerk wins."""
        conversation = await self._conversation(conversation_id)
        if conversation["claimed_by"] == user["id"]:
            return conversation
        if not await self._run(self.store.claim, conversation_id, user["id"]):
            current = await self._run(self.store.conversation, conversation_id)
            if current["state"] == CLOSED:
                raise DeskError(409, "这个会话已经结束。")
            raise DeskError(409, f"这个会话已由 {current['clerk'] or '其他工作人员'} 接待。")
        await self.say(conversation_id, "system", JOINED.format(name=user["name"]), {"event": "joined"}, user["name"])
        await self._announce(conversation_id)
        return await self._run(self.store.conversation, conversation_id)

    async def _own(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        if conversation["state"] != CLERK or conversation["claimed_by"] != user["id"]:
            raise DeskError(409, "请先接入这个会话。")
        return conversation

    async def reply(self, conversation_id: str, user: dict[str, Any], text: str) -> dict[str, Any]:
        text = (text or "").strip()
        if not text or len(text) > MAX_TEXT:
            raise DeskError(400, "回复不能为空，且不超过4000字。")
        await self._own(conversation_id, user)
        return await self.say(conversation_id, "clerk", text, {}, user["name"])

    async def hand_back(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        await self._own(conversation_id, user)
        if not await self._run(self.store.hand_back, conversation_id, user["id"]):
            raise DeskError(409, "会话状态已变化，请刷新。")
        # The tracker keeps its slots, so the bot resumes with the conversation's context.
        resumed = await self.rasa.resume(conversation_id)
        await self._run(self.store.set_bot_paused, conversation_id, not resumed)
        await self.say(conversation_id, "system", LEFT.format(name=user["name"]), {"event": "left"}, user["name"])
        await self._announce(conversation_id)
        return await self._run(self.store.conversation, conversation_id)

    async def close(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        owner = conversation["claimed_by"]
        if owner not in (None, user["id"]):
            raise DeskError(409, f"这个会话由 {conversation['clerk']} 接待，不能关闭。")
        if not await self._run(self.store.close, conversation_id, owner):
            raise DeskError(409, "会话状态已变化，请刷新。")
        resumed = await self.rasa.resume(conversation_id)
        await self._run(self.store.set_bot_paused, conversation_id, not resumed)
        await self.say(conversation_id, "system", CLOSED_LINE, {"event": "closed"}, user["name"])
        await self._announce(conversation_id)
        return await self._run(self.store.conversation, conversation_id)

    async def transfer(self, conversation_id: str, user: dict[str, Any], to_name: str) -> dict[str, Any]:
        await self._own(conversation_id, user)
        target = await self._run(self.store.user_by_name, to_name or "")
        if target is None or target["role"] not in ("clerk", "admin") or target["id"] == user["id"]:
            raise DeskError(400, "请选择另一位工作人员。")
        if not await self._run(self.store.transfer, conversation_id, user["id"], target["id"]):
            raise DeskError(409, "会话状态已变化，请刷新。")
        await self.say(conversation_id, "system", TRANSFERRED.format(name=target["name"]), {"event": "joined"})
        await self._announce(conversation_id)
        await self.notifier.to_console("transferred", {"conversation_id": conversation_id, "to": target["name"]})
        return await self._run(self.store.conversation, conversation_id)

    async def note(self, conversation_id: str, user: dict[str, Any], text: str) -> dict[str, Any]:
        await self._conversation(conversation_id)
        text = (text or "").strip()
        if not text or len(text) > MAX_TEXT:
            raise DeskError(400, "备注不能为空，且不超过4000字。")
        note = await self._run(self.store.add_note, conversation_id, user["id"], text)
        await self.notifier.to_console("note", {"conversation_id": conversation_id, "note": note})
        return note


async def run_in_background(coro: Awaitable[Any]) -> None:
    """Routes after the acknowledgement; a failure is logged, the message stays stored."""
    try:
        await coro
    except Exception:
        logger.exception("routing a citizen message failed")
