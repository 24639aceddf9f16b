"""Limits shared by the desk, the Rasa channel and the widget, each defined here once.

The widget reads `MAX_TEXT` from the desk (`history_request`), the REST channel
imports it, and the desk's configuration starts from the rate limits below.
"""

from __future__ import annotations

import os

# Characters in one message, from a citizen or a clerk.
MAX_TEXT = 4000
# (events, seconds): far above a person typing, low enough to stop a script.
MESSAGES_PER_CONVERSATION = (20, 60)
MESSAGES_PER_ADDRESS = (60, 60)
# socket.io session and history requests from one address: a reloading widget needs a few.
SESSION_REQUESTS_PER_ADDRESS = (30, 60)
HISTORY_REQUESTS_PER_ADDRESS = (120, 60)
# Attachments (up to 10 MB each, kept in the database) from one address: 20 in 10 minutes.
ATTACHMENTS_PER_ADDRESS = (20, 600)


def rate_limit(name: str, default: tuple[int, int]) -> tuple[int, int]:
    """A rate limit "events/seconds" from the environment variable `name`, e.g. "20/60"."""
    raw = os.environ.get(name, "")
    try:
        events, seconds = (int(part) for part in raw.split("/"))
        return events, seconds
    except ValueError:
        return default
