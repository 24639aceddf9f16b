"""REST channel at /webhooks/rest/webhook that keeps each bot message whole.

Rasa's own REST channel splits a message's text and its `custom` payload
into two list entries (and splits text on blank lines). The widget, the
consoles and the evaluations need `{"text", "buttons", "custom"}` together,
so this channel answers with one entry per bot message. The request format
is Rasa's: `{"sender": "...", "message": "...", "metadata": {...}}`.

A caller that adds `"with_nlu": true` (the desk) gets an object instead of the
list: `{"messages": [...], "nlu": {"intent", "confidence", "slots"}}`, what the
NLU understood of the message and the item and aspect the bot settled on, so
it never has to read the tracker a second time.

Rasa builds the channel from credentials.yml through `from_credentials`; that
is where the project's Rasa patches (`bot.channels.rasa_patches`) are applied.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import rasa_patches
from bot.channels.reported import REPORTED_SLOTS, TURN_SLOTS
from bot.limits import MAX_TEXT

logger = logging.getLogger(__name__)

_SURROGATE = re.compile("[\ud800-\udfff]")
EMPTY_REPLY = "请输入您想咨询的问题，比如“护照过期了怎么换”。"


SECRET_HEADER = "X-Desk-Secret"


def _from_the_desk(request: Request) -> bool:
    """The request carries the shared secret (env DESK_CHANNEL_SECRET) that only the desk holds."""
    secret = os.environ.get("DESK_CHANNEL_SECRET", "")
    sent = request.headers.get(SECRET_HEADER, "")
    return bool(secret) and hmac.compare_digest(sent.encode(), secret.encode())


class WholeMessageCollector(CollectingOutputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        entry = {"recipient_id": recipient_id}
        for key in ("text", "buttons", "quick_replies", "image", "attachment", "custom", "elements"):
            if message.get(key) is not None:
                entry[key] = message[key]
        if len(entry) > 1:
            await self._persist_message(entry)

    nlu: dict[str, Any] | None = None

    def turn_done(self, tracker: DialogueStateTracker) -> None:
        """Called once the bot has answered (rasa_patches.show_channel_the_turn)."""
        intent = tracker.latest_message.intent if tracker.latest_message else {}
        self.nlu = {
            "intent": intent.get("name"),
            "confidence": float(intent.get("confidence") or 0.0),
            "slots": {
                **{name: tracker.get_slot(name) for name in REPORTED_SLOTS},
                **{name: _set_this_turn(tracker, name) for name in TURN_SLOTS},
            },
        }


def _dependencies(agent: Any) -> dict[str, bool]:
    """What this Rasa server needs to answer: a model, its tracker store and its lock store (blocking)."""
    checks = {"model": bool(agent and agent.is_ready())}
    store = getattr(getattr(agent, "tracker_store", None), "_tracker_store", None)
    engine = getattr(store, "engine", None)  # SQLTrackerStore
    if engine is not None:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            checks["tracker_store"] = True
        except Exception:
            checks["tracker_store"] = False
    red = getattr(getattr(agent, "lock_store", None), "red", None)  # RedisLockStore
    if red is not None:
        try:
            checks["lock_store"] = bool(red.ping())
        except Exception:
            checks["lock_store"] = False
    return checks


def _set_this_turn(tracker: DialogueStateTracker, slot: str) -> Any:
    """The slot's value if an event after the latest user message set it, else None."""
    value = None
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return value
        if isinstance(event, SlotSet) and event.key == slot and value is None:
            value = event.value
    return value


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("a message finished after its caller hung up failed", exc_info=task.exception())


class RestChannel(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> RestChannel:
        # The Rasa server is setting up its channels: the one place to change its behaviour.
        rasa_patches.install()
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("wenzhou_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            # The load balancer's check (no token needed): a model loaded, the tracker and lock stores reachable.
            checks = await asyncio.get_running_loop().run_in_executor(None, _dependencies, request.app.ctx.agent)
            ok = all(checks.values())
            return response.json({"status": "ok" if ok else "down", "checks": checks}, status=200 if ok else 503)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "请求格式不正确：需要 JSON 对象 {sender, message}。"}, status=400)
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender.strip() or not isinstance(text, str):
                return response.json({"error": "sender 和 message 必须是字符串。"}, status=400)
            # Lone surrogates (valid JSON escapes, invalid text) would break the NLU and the tracker store.
            text = _SURROGATE.sub("\ufffd", text)
            if len(text) > MAX_TEXT:
                return response.json({"error": f"消息太长，请控制在{MAX_TEXT}字以内。"}, status=413)
            with_nlu = body.get("with_nlu") is True
            if not text.strip():
                empty = [{"recipient_id": sender, "text": EMPTY_REPLY}]
                return response.json({"messages": empty, "nlu": None} if with_nlu else empty)
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            desk = _from_the_desk(request)
            if metadata is not None and not desk:
                # Caller metadata (`client`, the key of the per-address case-lookup limit) is the
                # desk's word only: anyone else would pick their own bucket (issue 10, item 3).
                metadata = None
            # The desk names the user event (`desk-<line id>`), to find a late reply in the tracker.
            message_id = body.get("message_id") if desk and isinstance(body.get("message_id"), str) else None
            collector = WholeMessageCollector()
            message = UserMessage(
                text, collector, sender, input_channel=self.name(), metadata=metadata, message_id=message_id[:64] if message_id else None
            )
            # Sanic cancels the handler when the caller hangs up (the desk's timeout). The message is
            # finished anyway, so that the tracker is saved whole with the bot's reply, which the desk
            # then reads back from it (issue 10, item 4), instead of being cut off half-way.
            processing = asyncio.ensure_future(on_new_message(message))
            try:
                await asyncio.shield(processing)
            except CancelledError:
                if processing.done():  # the processing itself was cancelled: answer what was collected
                    logger.error("rest message cancelled")
                else:
                    logger.warning("the caller hung up before the reply; the message is finished for the tracker")
                    processing.add_done_callback(_log_failure)
                    raise
            except Exception:
                logger.exception("rest message failed")
            if with_nlu:
                return response.json({"messages": collector.messages, "nlu": collector.nlu})
            return response.json(collector.messages)

        return webhook
