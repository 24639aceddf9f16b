"""Which clerks a waiting conversation is offered to first: those online who speak its language.

"First", concretely: a waiting conversation in language L is offered at once to the online clerks
who speak L (every clerk speaks Chinese; the others are on the account, `desk_users.languages`).
It shows in their queue ahead of the others and their console alerts them at once. The other
clerks see it, and are alerted, `delay` seconds after it started waiting (`open_at`). When no
clerk online speaks L, it is offered to everyone at once (and the citizen is told that a clerk
will answer in Chinese or English). Computed when the queue is read, from who is online then,
so several desk instances agree without timers.

Plain functions of the queue and the online clerks: no database, no clock of their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.desk.language import default_language, speaks

# Seconds a waiting conversation is offered only to the clerks who speak its language.
OFFER_DELAY_S = 30.0


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.rstrip("Z")) if stamp else None


def annotate(conversation: dict[str, Any], online: list[dict[str, Any]], delay: float) -> dict[str, Any]:
    """The conversation with `first_for` (ids of the online clerks offered it first) and `open_at`
    (when every clerk sees it: ISO time, UTC, like `waiting_since`)."""
    language = conversation.get("language")
    first_for = [clerk["id"] for clerk in online if speaks(clerk, language)]
    since = _parse(conversation.get("waiting_since"))
    everyone = {clerk["id"] for clerk in online}
    open_at = since
    if since is not None and first_for and set(first_for) != everyone:
        open_at = since + timedelta(seconds=delay)
    return {
        **conversation,
        "first_for": first_for,
        "open_at": open_at.isoformat(timespec="milliseconds") + "Z" if open_at else None,
    }


def offered_to(conversation: dict[str, Any], user_id: int, now: datetime) -> bool:
    """Whether an annotated conversation is in this clerk's queue at `now` (UTC)."""
    if user_id in conversation["first_for"]:
        return True
    open_at = _parse(conversation.get("open_at"))
    return open_at is None or now >= open_at


def queue_for(
    queue: list[dict[str, Any]], user: dict[str, Any], online: list[dict[str, Any]], delay: float, now: datetime
) -> list[dict[str, Any]]:
    """One clerk's queue: what is offered to them now, their languages' conversations first, then by wait."""
    annotated = [annotate(conversation, online, delay) for conversation in queue]
    mine = [c for c in annotated if offered_to(c, user["id"], now)]
    # First the conversations in a language of the clerk's other than Chinese (few colleagues can take
    # them), then the rest; sorted() is stable, so within each the longest wait stays first.
    return sorted(mine, key=lambda c: not (c.get("language") not in (None, default_language()) and speaks(user, c["language"])))
