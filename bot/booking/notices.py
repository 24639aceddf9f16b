"""What the citizen is told on the next visit when staff cancelled a booking (the reason included)."""

from __future__ import annotations

from datetime import timezone
from typing import Any
from zoneinfo import ZoneInfo

from bot.booking.places import load_places
from bot.db.bookings import BookingView
from bot.i18n import load_languages, load_messages
from bot.knowledge import load_knowledge


def staff_cancellation_replies(
    bookings: list[BookingView], settings: dict[str, Any], language: str | None
) -> list[dict[str, Any]]:
    """One bot message per cancelled booking, in the conversation's language, like a REST reply entry."""
    kb, messages = load_knowledge(), load_messages()
    code = load_languages().normalise(language) or load_languages().default
    places = load_places(kb, settings)
    replies = []
    for booking in bookings:
        place = places.get(booking.place_id)
        name = kb.site(place.kind, place.id, code)["name"] if place else booking.place_id
        local = booking.starts_at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(place.timezone if place else "UTC"))
        when = messages.text(
            "booking.date",
            code,
            month=local.month,
            day=local.day,
            weekday=messages.text(f"booking.weekday.{local.weekday()}", code),
            hour=local.hour,
            minute=f"{local.minute:02d}",
        )
        text = messages.text(
            "booking.staff_cancelled",
            code,
            place=name,
            code=booking.code,
            time=when,
            reason=booking.cancel_reason or "",
        )
        replies.append(
            {
                "text": text,
                "custom": {"booking": {"code": booking.code, "status": "cancelled", "by": "staff"}, "language": code},
            }
        )
    return replies
