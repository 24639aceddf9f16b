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

from bot.privacy import redact

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa or the action server did not answer in time, or answered with an error."""


# The desk proves itself to the REST channel with the Rasa token, which the Rasa process gets as
# DESK_CHANNEL_SECRET (bot/tools/stack.py): no second secret to distribute.
CHANNEL_SECRET_HEADER = "X-Desk-Secret"


class RasaClient:
    def __init__(self, url: str, token: str, timeout: float):
        self.url = url.rstrip("/")
        # Parsed once: aiohttp parses a string URL again on every request.
        self._webhook = URL(f"{self.url}/webhooks/rest/webhook")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._http:
            await self._http.close()

    async def send(
        self, conversation_id: str, text: str, metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """(the bot's messages, what the NLU understood) from the project's REST channel.

        `with_nlu` asks the channel for the parse with the reply (bot/channels/rest.py), so the
        tracker is not read a second time: {"intent", "confidence", "item", "aspect"}, or None.
        """
        body = {"sender": conversation_id, "message": text, "metadata": metadata, "with_nlu": True}
        try:
            # The channel trusts the metadata (the client's address) only with this header (issue 10, item 3).
            headers = {CHANNEL_SECRET_HEADER: self.token}
            async with self._http.post(self._webhook, json=body, headers=headers) as reply:
                if reply.status != 200:
                    raise RasaUnavailable(f"webhook answered {reply.status}")
                answer = await reply.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
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
        """Replaces the running server's model (Rasa's PUT /model); no restart."""
        try:
            timeout = aiohttp.ClientTimeout(total=180)
            async with self._http.put(
                f"{self.url}/model", params={"token": self.token}, json={"model_file": model_path}, timeout=timeout
            ) as reply:
                return reply.status == 204
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.warning("loading a model failed: %s", type(error).__name__)
            return False


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
