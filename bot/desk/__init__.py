"""The desk: citizens' widget, clerks' console, one aiohttp application in front of Rasa (bot/server.py composes it)."""

from bot.desk import tables  # noqa: F401  (registers the desk tables on the shared Base)
from bot.desk.config import DeskConfig

__all__ = ["DeskConfig"]
