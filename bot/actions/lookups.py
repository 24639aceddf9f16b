"""The per-address bucket of case and booking lookups, shared by both actions."""

from __future__ import annotations

from rasa_sdk import Tracker

from bot.actions.resources import database
from bot.actions.understanding import client_of
from bot.limits import LOOKUPS_PER_ADDRESS, LOOKUPS_WITHOUT_CLIENT, rate_limit


def lookup_allowed(kind: str, tracker: Tracker) -> bool:
    """Whether one more `kind` lookup ("case", "booking") is within its caller's bucket; counts it.

    Only the desk knows a citizen's address (metadata `client`, trusted from the desk alone). Every other
    caller shares one bucket, never none.
    """
    client = client_of(tracker)
    if client:
        return database().allow(f"{kind}:addr:{client}", *rate_limit("CASE_LOOKUPS_PER_ADDRESS", LOOKUPS_PER_ADDRESS))
    limit = rate_limit("CASE_LOOKUPS_WITHOUT_CLIENT", LOOKUPS_WITHOUT_CLIENT)
    return database().allow(f"{kind}:addr:no-client", *limit)
