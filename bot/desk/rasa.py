"""The desk's client for Rasa: the REST webhook for messages, the tracker API for `resume`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa or the action server did not answer in time, or answered with an error."""


class RasaClient:
    def __init__(self, url: str, token: str, timeout: float):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._http:
            await self._http.close()

    async def send(self, conversation_id: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        body = {"sender": conversation_id, "message": text, "metadata": metadata}
        try:
            async with self._http.post(f"{self.url}/webhooks/rest/webhook", json=body) as reply:
                if reply.status != 200:
                    raise RasaUnavailable(f"webhook answered {reply.status}")
                messages = await reply.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise RasaUnavailable(str(error) or type(error).__name__) from error
        if not isinstance(messages, list):
            raise RasaUnavailable("webhook answered no list")
        return [m for m in messages if isinstance(m, dict)]

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

    async def latest_parse(self, conversation_id: str) -> dict[str, Any] | None:
        """What the NLU made of the latest message, and the slots, for the trainers' inbox."""
        url = f"{self.url}/conversations/{conversation_id}/tracker"
        try:
            async with self._http.get(url, params={"token": self.token, "include_events": "NONE"}) as reply:
                if reply.status != 200:
                    return None
                tracker = await reply.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        latest, slots = tracker.get("latest_message") or {}, tracker.get("slots") or {}
        intent = latest.get("intent") or {}
        return {
            "intent": intent.get("name"),
            "confidence": round(float(intent.get("confidence") or 0.0), 3),
            "item": slots.get("guide_item"),
            "aspect": slots.get("aspect"),
        }

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
