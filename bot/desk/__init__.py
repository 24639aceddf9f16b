"""The desk: citizens' widget, clerks' console, one aiohttp service in front of Rasa."""

from bot.desk import models  # noqa: F401  (registers the desk tables on the shared Base)
from bot.desk.app import create_app
from bot.desk.config import DeskConfig

__all__ = ["DeskConfig", "create_app"]
