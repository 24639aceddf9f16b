"""Shapes of the rasa-webchat socket.io protocol, so a site embedding rasa-webchat works unchanged."""

from __future__ import annotations

from typing import Any

from bot.desk.ids import issued_id


def valid_session_id(value: Any) -> str | None:
    """A widget's session id (the conversation id) if this server issued it, else None.

    Before issue 10 any 8+ characters were accepted (with `$`, even a trailing newline).
    """
    return issued_id(value)


def bot_uttered(message: dict[str, Any]) -> dict[str, Any]:
    """A stored transcript line as rasa-webchat's `bot_uttered`, plus `metadata` for our own widget.

    Our buttons become quick_replies (webchat draws them as chips that disappear once used).
    `metadata.event` says what a system line means (joined, left, closed, queued), so a widget
    switches on it, as rasa-webchat's message processor and chatroom's handoff do.
    """
    data = message.get("data") or {}
    custom = data.get("custom") if isinstance(data.get("custom"), dict) else {}
    out: dict[str, Any] = {"text": message["text"]}
    buttons = data.get("buttons") or []
    if buttons:
        out["quick_replies"] = [
            {"content_type": "text", "title": b.get("title", ""), "payload": b.get("payload", b.get("title", ""))}
            for b in buttons
        ]
    if data.get("image"):
        out["attachment"] = {"type": "image", "payload": {"src": data["image"]}}
    out["metadata"] = {
        "id": message["id"],
        "sender": message["sender"],
        "author": message.get("author"),
        "custom": data.get("custom"),
        "client_id": message.get("client_id"),
        "at": message.get("at"),
        "event": data.get("event"),
        # A photo or PDF sent in the conversation (desk_attachments): id, name, type, size; the widget
        # fetches it at /api/conversations/<id>/attachments/<attachment id>.
        "attachment": data.get("attachment"),
        # The line's language, for the widget's `lang` attribute: the desk's own lines say it in
        # `data.language`, the bot's in `custom.language`.
        "language": data.get("language") or custom.get("language"),
    }
    return out


def bot_data(reply: dict[str, Any]) -> dict[str, Any]:
    """What of a Rasa REST reply is kept in the transcript besides the text."""
    return {key: reply[key] for key in ("buttons", "custom", "image", "attachment") if reply.get(key) is not None}
