"""What the load is sent to: bare Rasa `/model/parse`, the REST webhook, and the desk when present.

Adding a target = one more `Target` in `targets_for(stack)`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Target:
    name: str
    label: str
    url: str
    params: dict[str, str] | None = None

    def body(self, sender: str, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def answered(self, reply: Any) -> bool:
        raise NotImplementedError

    def endpoint(self, sender: str) -> str:
        return self.url

    async def send(self, session: aiohttp.ClientSession, sender: str, text: str) -> str | None:
        """One message; None when it was answered properly, else what came back instead."""
        async with session.post(self.endpoint(sender), json=self.body(sender, text), params=self.params) as reply:
            raw = await reply.read()
            if reply.status == 200:
                try:
                    if self.answered(json.loads(raw)):
                        return None
                except ValueError:
                    pass
            shown = raw.decode("utf-8", "replace")
            shown = shown if len(shown) <= 240 else f"{shown[:120]} … {shown[-120:]}"
            return f"{text!r} -> HTTP {reply.status}: {shown}"


class ParseTarget(Target):
    """Bare Rasa NLU: `/model/parse` with the API token (no dialogue, no actions)."""

    def body(self, sender: str, text: str) -> dict[str, Any]:
        return {"text": text}

    def answered(self, reply: Any) -> bool:
        return isinstance(reply, dict) and "intent" in reply


class RestTarget(Target):
    """The REST webhook: Rasa → policies → action server → reply."""

    def body(self, sender: str, text: str) -> dict[str, Any]:
        return {"sender": sender, "message": text}

    def answered(self, reply: Any) -> bool:
        return isinstance(reply, list) and any(isinstance(m, dict) and m.get("text") for m in reply)


class DeskTarget(Target):
    """The desk's HTTP API: stored, then routed to Rasa; answers with the replies."""

    def endpoint(self, sender: str) -> str:
        return f"{self.url}/api/conversations/{sender}/messages"

    def body(self, sender: str, text: str) -> dict[str, Any]:
        return {"message": text, "client_id": uuid.uuid4().hex}

    def answered(self, reply: Any) -> bool:
        return isinstance(reply, dict) and bool(reply.get("replies"))


def targets_for(stack: Any) -> list[Target]:
    """The baseline targets, and the desk when the stack runs it."""
    found: list[Target] = [
        ParseTarget("parse", "Rasa /model/parse", f"{stack.rasa_url}/model/parse", {"token": stack.token}),
        RestTarget("rest", "REST webhook", f"{stack.rasa_url}/webhooks/rest/webhook"),
    ]
    if "desk" in getattr(stack, "processes", {}):
        found.append(DeskTarget("desk", "desk HTTP API", stack.desk_url))
    return found


def new_sender() -> str:
    """A conversation id the desk accepts: one it issued (issue 10), signed with the desk's secret, which
    the benchmark shares (DESK_ID_SECRET, else var/desk_id_secret). Rasa takes any sender."""
    from bot.desk.ids import issue_id

    return issue_id()
