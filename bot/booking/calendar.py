"""The .ics file of a booking (RFC 5545, with icalendar), served by the desk at /calendar/<token>.ics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from icalendar import Calendar, Event

from bot.db.bookings import BookingView


def booking_calendar(
    bookings: list[BookingView], describe, minutes: int = 30, name: str = "温州华侨服务平台预约"
) -> bytes:
    """One VEVENT per booking; `describe(booking)` gives (summary, location, description)."""
    calendar = Calendar()
    calendar.add("prodid", "-//Wenzhou Overseas Chinese Service//booking//ZH")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    for booking in bookings:
        summary, location, description = describe(booking)
        start = booking.starts_at.replace(tzinfo=timezone.utc)
        event = Event()
        event.add("uid", f"{booking.code}@wenzhou-overseas-service")
        event.add("dtstamp", datetime.now(timezone.utc))
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=minutes))
        event.add("summary", summary)
        event.add("location", location)
        event.add("description", description)
        event.add("status", "CANCELLED" if booking.status == "cancelled" else "CONFIRMED")
        calendar.add_component(event)
    return calendar.to_ical()
