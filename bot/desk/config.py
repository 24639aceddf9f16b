"""The desk's settings; `from_env()` reads the same variables as the rest of the stack."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.clerk_hours import Schedule, default_schedule
from bot.db import database_url
from bot.desk.offers import OFFER_DELAY_S
from bot.limits import MESSAGES_PER_ADDRESS, MESSAGES_PER_CONVERSATION, rate_limit
from bot.rasa_client import ACTIVATION_DRAIN_S, LATE_REPLY_S, MODEL_LOAD_TIMEOUT_S

_PROJECT = Path(__file__).resolve().parents[2]


def _clerk_hours() -> str:
    from bot.knowledge import load_knowledge

    return load_knowledge().sites["clerk_hours"]


def _clerk_schedule() -> Schedule:
    from bot.knowledge import load_knowledge

    return default_schedule(load_knowledge().sites)


@dataclass
class DeskConfig:
    database_url: str = field(default_factory=database_url)
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = ""
    # Rasa or the action server slower than this counts as down for that message.
    rasa_timeout: float = 5.0
    # After such a timeout, how long Rasa's tracker is read for the reply it finishes late (issue 10, item 4).
    late_reply_s: float = LATE_REPLY_S
    # A model put live (PUT /model) first waits this long for the webhook calls in flight, new ones held.
    activation_drain_s: float = ACTIVATION_DRAIN_S
    # The load itself; drain + load stays below what the workbench's page waits (trainer.js, 180 s).
    model_load_timeout_s: float = MODEL_LOAD_TIMEOUT_S
    clerk_hours: str = field(default_factory=_clerk_hours)
    # Set behind HTTPS so cookies are never sent in clear.
    secure_cookies: bool = False
    # Origins allowed to open the citizens' socket ("*": the widget may be embedded anywhere).
    widget_origins: str | list[str] = "*"
    # Where citizens reach the desk (https://host): absolute links to files for rasa-webchat. Empty: from
    # each citizen socket's request (Host, or X-Forwarded-Proto/-Host from a trusted proxy). Set it with
    # several desks: a file line is drawn for rasa-webchat sockets on the desk that sends it otherwise.
    public_url: str = ""
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks); none by default.
    trusted_proxies: str = ""
    # Message rate limits (events, seconds), per conversation and per client address.
    messages_per_conversation: tuple[int, int] = MESSAGES_PER_CONVERSATION
    messages_per_address: tuple[int, int] = MESSAGES_PER_ADDRESS
    # Seconds a waiting conversation is offered only to online clerks who speak its language (offers.py).
    offer_delay_s: float = OFFER_DELAY_S
    # Several desk instances (`make cluster`): socket.io rooms and the conversations' locks in Redis.
    redis_url: str | None = None
    # When clerks work (sites.yml's), for "back at … your time" out of hours. None (tests' default): always staffed.
    clerk_schedule: Schedule | None = None
    # What the trainers' workbench edits and trains on; tests give a copy.
    training_data_dir: str = field(
        default_factory=lambda: os.environ.get("TRAINING_DATA_DIR", str(_PROJECT / "bot" / "data"))
    )

    @classmethod
    def from_env(cls, **overrides: object) -> DeskConfig:
        values: dict[str, object] = {
            "rasa_url": os.environ.get("DESK_RASA_URL", cls.rasa_url),
            "rasa_token": os.environ.get("DESK_RASA_TOKEN", ""),
            "secure_cookies": os.environ.get("DESK_SECURE_COOKIES", "") == "1",
            "trusted_proxies": os.environ.get("DESK_TRUSTED_PROXIES", ""),
            "public_url": os.environ.get("DESK_PUBLIC_URL", ""),
            "messages_per_conversation": rate_limit("DESK_MESSAGES_PER_CONVERSATION", cls.messages_per_conversation),
            "messages_per_address": rate_limit("DESK_MESSAGES_PER_ADDRESS", cls.messages_per_address),
            "offer_delay_s": float(os.environ.get("DESK_OFFER_DELAY_S", cls.offer_delay_s)),
            "late_reply_s": float(os.environ.get("DESK_LATE_REPLY_S", cls.late_reply_s)),
            "activation_drain_s": float(os.environ.get("DESK_ACTIVATION_DRAIN_S", cls.activation_drain_s)),
            "model_load_timeout_s": float(os.environ.get("DESK_MODEL_LOAD_TIMEOUT_S", cls.model_load_timeout_s)),
            "redis_url": os.environ.get("DESK_REDIS_URL") or None,
            # sites.yml's clerk hours (北京时间 周一至周六 8:30-20:30); an admin's change applies on top.
            "clerk_schedule": None if os.environ.get("DESK_ALWAYS_STAFFED") == "1" else _clerk_schedule(),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

