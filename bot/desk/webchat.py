"""Shapes of the rasa-webchat socket.io protocol, so a site embedding rasa-webchat works unchanged.

Two shapes of one transcript line: `bot_uttered` for the project's widget (the protocol's keys plus
`metadata`), and `webchat_messages` for rasa-webchat itself. rasa-webchat 1.0.1 (its msgProcessor)
draws a text only when the message has no key but `text`, and quick replies only with exactly
`text` and `quick_replies`: a `metadata` key makes it drop the line. So a socket that does not say
it is the project's widget (`session_request` with `widget`) gets the bare shape.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bot.desk.attachments import signed_path
from bot.desk.ids import issued_id
from bot.privacy import is_trusted, trusted_networks

# What the project's widget says in `session_request`; any other client is taken for rasa-webchat.
WIDGET = "wenzhou"
_HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!<>|])")


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
    keys = ("buttons", "custom", "image", "attachment", "webchat_text")
    return {key: reply[key] for key in keys if reply.get(key) is not None}


def webchat_room(conversation_id: str) -> str:
    """The socket.io room of a conversation's rasa-webchat sockets (the widget's is the id itself)."""
    return f"{conversation_id}#webchat"


def public_base(request: web.Request | None, configured: str, trusted_proxies: str | list[str]) -> str | None:
    """The scheme and host citizens reach the desk at, for absolute links (rasa-webchat draws an image
    only from an absolute URL): DESK_PUBLIC_URL when set; else the request's Host, or X-Forwarded-Proto
    and X-Forwarded-Host when the TCP peer is a trusted proxy (never a client's own headers)."""
    if configured:
        return configured.rstrip("/")
    if request is None:
        return None
    headers = request.headers
    scheme, host = request.scheme, headers.get("Host", "")
    if is_trusted(request.remote, trusted_networks(trusted_proxies)):
        scheme = headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip().lower()
        host = headers.get("X-Forwarded-Host", host).split(",")[0].strip()
    if scheme not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    return f"{scheme}://{host}"


def _markdown_text(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", text)


def webchat_messages(message: dict[str, Any], base: str | None) -> list[dict[str, Any]]:
    """A stored line as rasa-webchat's own messages: text (with quick replies), an image, a link.

    A photo sent in the conversation becomes `attachment` type image with a signed absolute URL, its
    name as the title; a PDF a text line with a Markdown link (rasa-webchat renders Markdown). Without
    a base URL (none configured, no request known) the file is named without a link.
    """
    data = message.get("data") or {}
    file = data.get("attachment") if isinstance(data.get("attachment"), dict) else None
    if file and file.get("id"):
        url = f"{base}{signed_path(file['id'], message['conversation_id'])}" if base else None
        name = str(file.get("name") or "file")
        if url and str(file.get("mime", "")).startswith("image/"):
            return [{"attachment": {"type": "image", "payload": {"src": url, "title": f"📎 {name}"}}}]
        return [{"text": f"📎 [{_markdown_text(name)}]({url})" if url else f"📎 {_markdown_text(name)}"}]
    out: list[dict[str, Any]] = []
    # `webchat_text`: the waiting message's wording without the widget's 留言 button (service.py).
    text: dict[str, Any] = {"text": data.get("webchat_text") or message["text"]}
    buttons = data.get("buttons") or []
    if buttons:
        text["quick_replies"] = [
            {"content_type": "text", "title": b.get("title", ""), "payload": b.get("payload", b.get("title", ""))}
            for b in buttons
        ]
    if message["text"] or buttons:
        out.append(text)
    if isinstance(data.get("image"), str) and re.match(r"^https?://", data["image"]):
        out.append({"attachment": {"type": "image", "payload": {"src": data["image"], "title": ""}}})
    return out
