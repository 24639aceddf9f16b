"""The conversation's language: which languages the assistant reads, how a message's language is
decided, and the bot's own texts in each of them (knowledge/messages/<code>.yml)."""

from bot.i18n.languages import Languages, load_languages
from bot.i18n.messages import MessageCatalog, load_messages

__all__ = ["Languages", "MessageCatalog", "load_languages", "load_messages"]
