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
# Case and booking lookups (a proof checked against the database) from one client address, across its
# conversations: a person needs a few, a script guessing proofs is stopped.
LOOKUPS_PER_ADDRESS = (10, 600)
# Lookups from callers that are not the desk and so carry no address: the project's evaluation tools and
# integrations on the internal network (Rasa's port is never public; deploy/haproxy.cfg). They share this
# one bucket rather than escaping the limit (issue 10, item 3). It is sized so that a test set of
# multi-turn dialogues with case lookups is not refused; a guess of one case's proof is still stopped by
# the failures per case number (5 an hour), and the platform's lookups by the global ceiling.
LOOKUPS_WITHOUT_CLIENT = (60, 600)
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
