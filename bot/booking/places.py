"""The places one can book: overseas sites and domestic desks, from knowledge/sites.yml plus an admin's settings.

sites.yml gives each place's hours (as written for citizens), time zone and video; its `booking`
block the default slot length, capacity and horizon. An admin's changes (bot.db `booking_places`)
override them per place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from typing import Any

from bot.booking.slots import PlaceHours, Weekly, parse_hours
from bot.knowledge import KnowledgeBase

# Public holidays: the country of the place (sites.yml names it in Chinese); domestic desks: China's.
HOLIDAY_COUNTRIES = {"法国": "FR", "意大利": "IT", "南非": "ZA", "阿联酋": "AE", "中国": "CN"}


@dataclass(frozen=True)
class Place:
    id: str
    kind: str  # overseas_sites / domestic_desks
    name: str
    timezone: str
    video: bool
    country: str | None
    hours: PlaceHours


def defaults(kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "slot_minutes": 30,
        "capacity": 2,
        "days_ahead": 14,
        "min_notice_hours": 2,
        **(kb.sites.get("booking") or {}),
    }


def weekly_to_json(weekly: Weekly) -> dict[str, list[list[str]]]:
    return {str(day): [[f"{a:%H:%M}", f"{b:%H:%M}"] for a, b in ranges] for day, ranges in weekly.items()}


def weekly_from_json(data: dict[str, list[list[str]]]) -> Weekly:
    return {
        int(day): sorted((time.fromisoformat(a), time.fromisoformat(b)) for a, b in ranges)
        for day, ranges in data.items()
        if ranges
    }


def load_places(kb: KnowledgeBase, settings: dict[str, dict[str, Any]] | None = None) -> dict[str, Place]:
    """Every bookable place by id, with an admin's settings (`Database.place_settings()`) applied."""
    settings = settings or {}
    base = defaults(kb)
    places: dict[str, Place] = {}
    for kind in ("overseas_sites", "domestic_desks"):
        for entry in kb.sites[kind]:
            own = settings.get(entry["id"]) or {}
            weekly = weekly_from_json(own["hours"]) if own.get("hours") else parse_hours(entry["hours"])
            country = entry.get("country") if kind == "overseas_sites" else "中国"
            hours = PlaceHours(
                place_id=entry["id"],
                timezone=entry["timezone"],
                weekly=weekly,
                slot_minutes=int(own.get("slot_minutes") or base["slot_minutes"]),
                capacity=int(own.get("capacity") or base["capacity"]),
                holidays_country=HOLIDAY_COUNTRIES.get(country or ""),
                closures=frozenset(date.fromisoformat(day) for day in own.get("closures") or []),
            )
            places[entry["id"]] = Place(
                id=entry["id"],
                kind=kind,
                name=entry["name"],
                timezone=entry["timezone"],
                video=bool(entry.get("video")),
                country=country,
                hours=hours,
            )
    return places
