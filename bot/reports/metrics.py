"""Prometheus metrics of the desk (prometheus-client), served at /metrics to loopback or with a token.

Counted in the process, as Prometheus expects (each desk instance is one target): citizen
messages by outcome, the bot's and the full path's latency, Rasa's errors and timeouts.
Read from the database at each scrape, so every instance tells the same: the queue's length,
the oldest wait, the clerks online.

Access: a request from loopback without proxy headers (a reverse proxy on the same host would
make every client look local), or `Authorization: Bearer $METRICS_TOKEN` when that is set.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds: the bot answers in tens of milliseconds, the desk gives up on Rasa at 5 s.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def outcome(replies: list[dict[str, Any]]) -> str:
    """What the bot did with a citizen's message, from its replies' `custom` (README's table)."""
    kinds = []
    for reply in replies:
        custom = reply.get("custom") if isinstance(reply.get("custom"), dict) else {}
        if custom.get("handoff"):
            return "handed_off"
        if custom.get("guide_item"):
            kinds.append("answered")
        elif custom.get("candidates"):
            kinds.append("clarified")
        elif "candidates" in custom:
            kinds.append("fallback")
        elif custom.get("out_of_scope"):
            kinds.append("out_of_scope")
        elif "case" in custom:
            kinds.append("case")
    for kind in ("answered", "case", "clarified", "fallback", "out_of_scope"):
        if kind in kinds:
            return kind
    return "other"


class DeskMetrics:
    """One registry per desk application (tests run several desks in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "desk_citizen_messages", "Citizen messages by outcome (answered, clarified, fallback, out_of_scope, "
            "case, handed_off, other, to_clerk, bot_unavailable)", ["outcome"], registry=r,
        )  # fmt: skip
        self.bot_seconds = Histogram(
            "desk_bot_seconds", "Rasa's answer to one message (the bot path)", buckets=LATENCY_BUCKETS, registry=r
        )
        self.full_seconds = Histogram(
            "desk_message_seconds", "From a stored citizen message to its answer delivered (the full path)",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.rasa_errors = Counter("desk_rasa_errors", "Rasa errors by kind (timeout, error, late_reply: a timeout whose reply was read from the tracker)", ["kind"], registry=r)
        self.queue_length = Gauge("desk_queue_length", "Conversations waiting for a clerk", registry=r)
        self.oldest_wait = Gauge("desk_queue_oldest_wait_seconds", "The longest current wait for a clerk", registry=r)
        self.clerks_online = Gauge("desk_clerks_online", "Clerks with a console open", registry=r)

    def set_state(self, queue: list[dict[str, Any]], clerks: int, now: datetime) -> None:
        self.queue_length.set(len(queue))
        waits = [
            (now - datetime.fromisoformat(c["waiting_since"].rstrip("Z"))).total_seconds()
            for c in queue
            if c.get("waiting_since")
        ]
        self.oldest_wait.set(max(waits) if waits else 0.0)
        self.clerks_online.set(clerks)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def allowed(request: web.Request) -> bool:
    token = os.environ.get("METRICS_TOKEN", "")
    if token:
        sent = request.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
    if any(header in request.headers for header in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def response(body: bytes) -> web.Response:
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
