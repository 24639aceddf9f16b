"""The country and overseas site a citizen names ("在意大利", "米兰有没有服务点", "a Parigi"), for the console.

Names come from knowledge/sites.yml and its translations, so a new site or language is data only.
The widget may also send them (metadata `country`, `site`); what it sends wins.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.knowledge import load_knowledge


@lru_cache(maxsize=1)
def _names() -> tuple[list[tuple[re.Pattern[str], str, str | None]], ...]:
    """(pattern, country in Chinese, site name or None), the cities first: a city names its country too."""
    kb = load_knowledge()
    cities: dict[str, tuple[str, str]] = {}
    countries: dict[str, str] = {}
    for entry in kb.sites["overseas_sites"]:
        # The first site of a city stands for the city (its main service site).
        for language in [None, *kb.translated_sites]:
            site = kb.site("overseas_sites", entry["id"], language)
            cities.setdefault(site["city"], (entry["country"], kb.site("overseas_sites", entry["id"])["name"]))
            countries.setdefault(site["country"], entry["country"])

    def pattern(word: str) -> re.Pattern[str]:
        # Latin names as whole words ("Roma", not "romantico"); Chinese names anywhere.
        if word.isascii():
            return re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
        return re.compile(re.escape(word))

    by_city = [(pattern(city), country, site) for city, (country, site) in cities.items()]
    by_country = [(pattern(name), country, None) for name, country in countries.items()]
    return by_city, by_country


def place_in(text: str) -> tuple[str | None, str | None]:
    """(country, site) named in the text, either may be None."""
    by_city, by_country = _names()
    for found, country, site in by_city:
        if found.search(text):
            return country, site
    for found, country, _ in by_country:
        if found.search(text):
            return country, None
    return None, None


def sites_named(text: str, kb=None) -> list[str]:
    """The overseas sites (ids) in the city the text names, else in the country it names; [] if neither."""
    kb = kb or load_knowledge()
    country, site = place_in(text)
    if site:
        city = next(s["city"] for s in kb.sites["overseas_sites"] if s["name"] == site)
        return [s["id"] for s in kb.sites["overseas_sites"] if s["city"] == city]
    if country:
        return [s["id"] for s in kb.sites["overseas_sites"] if s["country"] == country]
    return []
