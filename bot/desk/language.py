"""The conversation's language at the desk: what a client says about it, and the desk's own texts.

The languages and the texts are data (knowledge/languages.yml, knowledge/messages/<code>.yml, keys
`desk.*` and `widget.*`): adding a language needs no change here.

A client tells the language in a message's metadata: `language` with `language_source` "picked"
(the citizen chose it in the widget; rasa-webchat's `customData.language` counts as such) or
"locale" (the browser's locale, only a guess). The conversation keeps a picked language until the
citizen picks another; otherwise it follows the language the bot answered in (`custom.language`).
"""

from __future__ import annotations

from typing import Any

from bot.i18n import load_languages, load_messages

PICKED, LOCALE = "picked", "locale"
# Where a conversation's stored language came from: the citizen's pick, or the bot's replies.
FROM_PICK, FROM_BOT = "picked", "bot"


def default_language() -> str:
    return load_languages().default


def normalise(code: Any) -> str | None:
    return load_languages().normalise(code)


def client_language(metadata: dict[str, Any]) -> tuple[str | None, str | None]:
    """(language, source) from a message's metadata: source "picked" or "locale", or (None, None).

    A language without a source (rasa-webchat's `customData.language`) is the citizen's pick.
    """
    language = normalise(metadata.get("language"))
    if language is None:
        return None, None
    return language, LOCALE if metadata.get("language_source") == LOCALE else PICKED


def text(key: str, language: str | None, **values: Any) -> str:
    """One of the desk's citizen-facing texts (`desk.<key>`), in `language` (the default when unknown)."""
    return load_messages().text(f"desk.{key}", language, **values)


def speaks(clerk: dict[str, Any], language: str | None) -> bool:
    """Every clerk reads the default language (Chinese); the others are listed on the account."""
    return not language or language == default_language() or language in (clerk.get("languages") or ())


def widget_strings() -> dict[str, Any]:
    """What the widget draws itself with: the languages and its own strings in each."""
    languages = load_languages()
    catalog = load_messages()
    prefix = "widget."
    return {
        "default": languages.default,
        "languages": [{"code": code, "name": name} for code, name in languages.names.items()],
        "strings": {
            code: {key[len(prefix) :]: value for key, value in texts.items() if key.startswith(prefix)}
            for code, texts in catalog.texts.items()
        },
    }
