"""A client for the Rasa server: the REST webhook for messages, the HTTP API for `resume` and models.

The desk sends citizens' messages and resumes paused conversations; the
trainer's workbench asks which model is live and loads another. One client,
made by bot/server.py, serves both.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from yarl import URL

from bot.channels.reported import REPORTED_SLOTS, TURN_SLOTS
from bot.privacy import redact

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa or the action server did not answer in time, or answered with an error."""


class RasaTimeout(RasaUnavailable):
    """The webhook did not answer in time. Rasa may still be working on the message (its REST channel
    finishes it after the desk hung up) and write the reply to the tracker later (issue 10, item 4)."""


class StillAnswering(Exception):
    """A model could not be loaded: webhook calls were still in flight after the drain time."""

    def __init__(self, in_flight: int, waited_s: float):
        super().__init__(f"{in_flight} webhook calls still in flight after {waited_s:.0f} s")
        self.in_flight = in_flight
        self.waited_s = waited_s


# Rasa's PUT /model blocks its event loop while it loads (a reply in flight then times out), so a
# model load first waits this long for the webhook calls in flight, holding new ones (issue 10, item 4).
ACTIVATION_DRAIN_S = 30.0
# The load itself; with the drain, below what the workbench's page waits (trainer.js ACTIVATE_WAIT_MS, 180 s).
MODEL_LOAD_TIMEOUT_S = 120.0
# After the webhook timed out, how long the desk looks for the reply in the tracker (DESK_LATE_REPLY_S).
LATE_REPLY_S = 15.0
# One read of the tracker while a late reply is looked for.
TRACKER_READ_S = 5.0


def desk_message_id(line_id: int) -> str:
    """The `message_id` of a citizen line's user event in Rasa's tracker: the desk finds a late reply by it."""
    return f"desk-{line_id}"


# The desk proves itself to the REST channel with the Rasa token, which the Rasa process gets as
# DESK_CHANNEL_SECRET (bot/tools/stack.py): no second secret to distribute.
CHANNEL_SECRET_HEADER = "X-Desk-Secret"


class RasaClient:
    def __init__(
        self,
        url: str,
        token: str,
        timeout: float,
        drain_s: float = ACTIVATION_DRAIN_S,
        load_timeout_s: float = MODEL_LOAD_TIMEOUT_S,
    ):
        self.url = url.rstrip("/")
        # Parsed once: aiohttp parses a string URL again on every request.
        self._webhook = URL(f"{self.url}/webhooks/rest/webhook")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None
        self.drain_s = drain_s
        self.load_timeout_s = load_timeout_s
        # Webhook calls in flight, and the gate a model load closes: calls that come while Rasa loads
        # a model wait at the gate and go through once it is loaded (issue 10, item 4). The desk and
        # the workbench share this client in one process, the only set-up that loads by PUT /model
        # (the cluster's replicas pull their model instead: bot/trainer/model_server.py).
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()
        self._open.set()
        self._loading = asyncio.Lock()
        # Webhook calls in flight while Rasa loaded a model: none, by the gate (a test reads it).
        self.calls_during_load = 0
        self._putting = False

    @property
    def holding(self) -> bool:
        """Whether new webhook calls are held (a model is being loaded, or the calls in flight drained first)."""
        return not self._open.is_set()

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._http:
            await self._http.close()

    async def send(
        self, conversation_id: str, text: str, metadata: dict[str, Any], message_id: str | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """(the bot's messages, what the NLU understood) from the project's REST channel.

        `with_nlu` asks the channel for the parse with the reply (bot/channels/rest.py), so the
        tracker is not read a second time: {"intent", "confidence", "item", "aspect"}, or None.
        `message_id` becomes the user event's id in the tracker, where a late reply is found by it.
        Raises RasaTimeout when Rasa did not answer in time, RasaUnavailable on any other failure.
        """
        while not self._open.is_set():
            # A model is being loaded: wait for it (the load is bounded), then go through.
            await self._open.wait()
        self.in_flight += 1
        self._idle.clear()
        if self._putting:
            self.calls_during_load += 1
        try:
            return await self._send(conversation_id, text, metadata, message_id)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def _send(
        self, conversation_id: str, text: str, metadata: dict[str, Any], message_id: str | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        body: dict[str, Any] = {"sender": conversation_id, "message": text, "metadata": metadata, "with_nlu": True}
        if message_id:
            body["message_id"] = message_id
        try:
            # The channel trusts the metadata (the client's address) only with this header (issue 10, item 3).
            headers = {CHANNEL_SECRET_HEADER: self.token}
            async with self._http.post(self._webhook, json=body, headers=headers) as reply:
                if reply.status != 200:
                    raise RasaUnavailable(f"webhook answered {reply.status}")
                answer = await reply.json()
        except asyncio.TimeoutError as error:  # aiohttp's ServerTimeoutError is one too
            raise RasaTimeout(redact(str(error), [self.token]) or "Timeout") from error
        except (aiohttp.ClientError, ValueError) as error:
            # An error's text may carry a URL with the token (issue 10, item 7).
            raise RasaUnavailable(redact(str(error), [self.token]) or type(error).__name__) from error
        messages = answer.get("messages") if isinstance(answer, dict) else answer
        if not isinstance(messages, list):
            raise RasaUnavailable("webhook answered no list")
        return [m for m in messages if isinstance(m, dict)], _understood(answer)

    async def healthy(self) -> bool:
        """Whether the Rasa server (its REST channel's health route: model loaded, stores reachable) is up."""
        try:
            async with self._http.get(f"{self.url}/webhooks/rest/", timeout=aiohttp.ClientTimeout(total=2)) as reply:
                return reply.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False
    async def ranking(self, text: str) -> list[tuple[str, float]]:
        """The NLU's intent ranking for a text (Rasa's /model/parse; no tracker touched), [] when down."""
        try:
            async with self._http.post(f"{self.url}/model/parse", params={"token": self.token}, json={"text": text}) as reply:
                if reply.status != 200:
                    return []
                parsed = await reply.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return []
        ranking = parsed.get("intent_ranking") if isinstance(parsed, dict) else None
        return [(r["name"], float(r.get("confidence") or 0.0)) for r in ranking or [] if isinstance(r, dict) and r.get("name")]

    async def resume(self, conversation_id: str) -> bool:
        """Appends `resume` to the tracker so the bot talks again, with the slots it had.

        `action_listen` follows: without it the policies see the hand-off turn as still
        open and predict the hand-off again for the citizen's next message.
        """
        url = f"{self.url}/conversations/{conversation_id}/tracker/events"
        events = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
        try:
            async with self._http.post(url, params={"token": self.token}, json=events) as reply:
                return reply.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.warning("resume failed for a conversation: %s", type(error).__name__)
            return False

    async def tracker(self, conversation_id: str, timeout: float = TRACKER_READ_S) -> dict[str, Any] | None:
        """The conversation's tracker (Rasa's GET /conversations/{id}/tracker), None when Rasa does not answer."""
        url = f"{self.url}/conversations/{conversation_id}/tracker"
        try:
            async with self._http.get(
                url, params={"token": self.token}, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as reply:
                if reply.status != 200:
                    return None
                found = await reply.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            logger.info("reading a tracker failed: %s", type(error).__name__)
            return None
        return found if isinstance(found, dict) else None

    async def model_file(self) -> str | None:
        """The path of the model the Rasa server has loaded."""
        try:
            async with self._http.get(f"{self.url}/status", params={"token": self.token}) as reply:
                if reply.status != 200:
                    return None
                return (await reply.json()).get("model_file")
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None

    async def load_model(self, model_path: str) -> bool:
        """Replaces the running server's model (Rasa's PUT /model); no restart.

        Rasa answers no message while it loads, so new webhook calls are held first, the calls in
        flight are waited for (at most `drain_s`; StillAnswering when they do not finish), and the
        held calls go through once the model is loaded or the load failed.
        """
        async with self._loading:  # two activations at once: one after the other
            self._open.clear()
            try:
                try:
                    await asyncio.wait_for(self._idle.wait(), self.drain_s)
                except asyncio.TimeoutError:
                    raise StillAnswering(self.in_flight, self.drain_s) from None
                self.calls_during_load += self.in_flight
                self._putting = True
                return await self._put_model(model_path)
            finally:
                self._putting = False
                self._open.set()

    async def _put_model(self, model_path: str) -> bool:
        try:
            timeout = aiohttp.ClientTimeout(total=self.load_timeout_s)
            async with self._http.put(
                f"{self.url}/model", params={"token": self.token}, json={"model_file": model_path}, timeout=timeout
            ) as reply:
                return reply.status == 204
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.warning("loading a model failed: %s", type(error).__name__)
            return False


_BOT_KEYS = ("text", "buttons", "quick_replies", "image", "attachment", "custom", "elements")


def replies_in_tracker(
    tracker: dict[str, Any], message_id: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None] | None:
    """(the bot's messages, what the NLU understood) for the user event `message_id`, as the webhook
    would have answered them; None while the tracker has no such event (Rasa is still at it).

    Rasa saves a tracker once the whole message is handled, so the user event comes with the
    bot's events that followed it: those up to the next user event are the reply.
    """
    events = tracker.get("events")
    if not isinstance(events, list):
        return None
    start = next(
        (i for i, e in enumerate(events) if isinstance(e, dict) and e.get("event") == "user" and e.get("message_id") == message_id),
        None,
    )
    if start is None:
        return None
    replies: list[dict[str, Any]] = []
    turn_slots: dict[str, Any] = {}
    for event in events[start + 1 :]:
        if not isinstance(event, dict):
            continue
        if event.get("event") == "user":
            break
        if event.get("event") == "slot" and event.get("name") in TURN_SLOTS:
            turn_slots[event["name"]] = event.get("value")
        if event.get("event") == "bot":
            data = event.get("data") if isinstance(event.get("data"), dict) else {}
            entry = {key: value for key, value in {"text": event.get("text"), **data}.items() if key in _BOT_KEYS and value is not None}
            if entry:
                replies.append({"recipient_id": tracker.get("sender_id"), **entry})
    intent = ((events[start].get("parse_data") or {}).get("intent")) or {}
    slots = tracker.get("slots") if isinstance(tracker.get("slots"), dict) else {}
    nlu = {
        "intent": intent.get("name"),
        "confidence": float(intent.get("confidence") or 0.0),
        "slots": {**{name: slots.get(name) for name in REPORTED_SLOTS}, **{name: turn_slots.get(name) for name in TURN_SLOTS}},
    }
    return replies, _understood({"nlu": nlu})


def _understood(answer: Any) -> dict[str, Any] | None:
    """The channel's `nlu` as the trainers' inbox keeps it (`data.nlu` of the citizen's line)."""
    nlu = answer.get("nlu") if isinstance(answer, dict) else None
    if not isinstance(nlu, dict):
        return None
    slots = nlu.get("slots") if isinstance(nlu.get("slots"), dict) else {}
    return {
        "intent": nlu.get("intent"),
        "confidence": round(float(nlu.get("confidence") or 0.0), 3),
        "item": slots.get("guide_item"),
        "aspect": slots.get("aspect"),
        # The conversation's language after this message (the `language` slot): the trainers' inbox
        # filters by it, and a correction goes to that language's training data.
        "language": slots.get("language"),
        # Which part of the conversation decided the answer (bot/actions/context.py: decided_by,
        # how, offered, previous_item), for the inbox; None when the message alone decided nothing.
        "context": _context(slots.get("context")),
    }


def _context(trace: Any) -> dict[str, Any] | None:
    """The `context` slot's trace, keeping only its known short fields (it is stored with the line)."""
    if not isinstance(trace, dict) or not isinstance(trace.get("decided_by"), str):
        return None
    kept: dict[str, Any] = {"decided_by": trace["decided_by"][:40]}
    if isinstance(trace.get("how"), str):
        kept["how"] = trace["how"][:40]
    for key in ("offered",):
        if isinstance(trace.get(key), list):
            kept[key] = [str(item)[:80] for item in trace[key][:5]]
    if isinstance(trace.get("previous_item"), str):
        kept["previous_item"] = trace["previous_item"][:80]
    return kept
