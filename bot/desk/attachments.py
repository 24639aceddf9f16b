"""Attachments: a photo (jpg, png) or a PDF of a document, at most 10 MB, sent by a citizen or a clerk.

The type is read from the content (its magic bytes, then Pillow or the PDF header), never from the name.
Photos are decoded and encoded again without their metadata (EXIF with its GPS position, XMP, comments);
the orientation EXIF asked for is applied first so the photo still stands upright. A thumbnail is made.
Stored in the database (table desk_attachments), which all desk instances share.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select

from bot.db import Database
from bot.desk.ids import derived_key
from bot.desk.tables import DeskAttachment

MAX_BYTES = 10 * 1024 * 1024
THUMB_PX = 240
# Pillow refuses images beyond this many pixels (a decompression bomb in a small file).
Image.MAX_IMAGE_PIXELS = 60_000_000
KINDS = {"image/jpeg": "JPEG", "image/png": "PNG", "application/pdf": "PDF"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


# How long a signed link to a file works (rasa-webchat, which sends no conversation id with an image
# request): rasa-webchat redraws its stored messages on later visits, so a week, not minutes.
LINK_TTL_S = 7 * 24 * 3600


@lru_cache(maxsize=1)
def _link_key() -> bytes:
    return derived_key("attachment-link")


def _link_tag(attachment_id: int, conversation_id: str, expires: int) -> str:
    message = f"{attachment_id}.{conversation_id}.{expires}".encode()
    return hmac.new(_link_key(), message, hashlib.sha256).hexdigest()[:32]


def signed_path(attachment_id: int, conversation_id: str, now: float | None = None) -> str:
    """A path that opens one attachment, for a week, without the conversation's id in it.

    The tag covers the conversation the file belongs to, so the link is a capability for that file of
    that conversation only; the id (the citizen's bearer secret for the whole transcript) never ends
    up in an image URL that a citizen copies or a proxy logs. The expiry is rounded to the hour, so a
    line drawn twice gets the same URL (the browser's cache).
    """
    expires = (int(now if now is not None else time.time()) + LINK_TTL_S) // 3600 * 3600 + 3600
    return f"/files/{attachment_id}/{expires}/{_link_tag(attachment_id, conversation_id, expires)}"


def link_valid(attachment_id: int, conversation_id: str, expires: int, tag: str, now: float | None = None) -> bool:
    """Whether a signed path's tag is this server's for that file of that conversation, and not expired."""
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(tag, _link_tag(attachment_id, conversation_id, expires))


class BadFile(ValueError):
    """A file refused, with the catalog key of the message that says why (desk.attachment_*)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def sniff(content: bytes) -> str | None:
    """The MIME type the content really has, among the accepted ones."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    return None


@dataclass
class Cleaned:
    mime: str
    content: bytes
    thumb: bytes | None


def clean(content: bytes) -> Cleaned:
    if not content:
        raise BadFile("attachment_empty")
    if len(content) > MAX_BYTES:
        raise BadFile("attachment_too_big")
    mime = sniff(content)
    if mime is None:
        raise BadFile("attachment_type")
    if mime == "application/pdf":
        if b"%%EOF" not in content[-2048:]:
            raise BadFile("attachment_broken")
        return Cleaned(mime, content, None)
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            # A new image from the pixels alone: no EXIF, GPS, XMP or text chunks come along.
            pixels = upright.convert("RGBA" if upright.mode in ("RGBA", "LA", "P") and mime == "image/png" else "RGB")
            bare = Image.new(pixels.mode, pixels.size)
            bare.paste(pixels)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError):
        raise BadFile("attachment_broken") from None
    out = io.BytesIO()
    bare.save(out, format=KINDS[mime], **({"quality": 90} if mime == "image/jpeg" else {}))
    thumb = bare.convert("RGB")
    thumb.thumbnail((THUMB_PX, THUMB_PX))
    small = io.BytesIO()
    thumb.save(small, format="JPEG", quality=80)
    return Cleaned(mime, out.getvalue(), small.getvalue())


def safe_name(name: str, mime: str) -> str:
    """A display name: the sender's, without path or control characters, with the extension of its real type."""
    base = re.sub(r"[\x00-\x1f]+", "_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip() or "file"
    stem = base.rsplit(".", 1)[0][:100] or "file"
    return f"{stem}.{EXTENSIONS[mime]}"


class Attachments:
    def __init__(self, database: Database):
        self.db = database

    def store(self, conversation_id: str, sender: str, name: str, cleaned: Cleaned) -> dict[str, Any]:
        with self.db.session() as session:
            row = DeskAttachment(
                conversation_id=conversation_id, sender=sender, name=safe_name(name, cleaned.mime), mime=cleaned.mime,
                size=len(cleaned.content), content=cleaned.content, thumb=cleaned.thumb,
            )  # fmt: skip
            session.add(row)
            session.flush()
            return {"id": row.id, "name": row.name, "mime": row.mime, "size": row.size, "thumb": row.thumb is not None}

    def count(self, conversation_id: str) -> int:
        with self.db.session() as session:
            statement = select(func.count(DeskAttachment.id)).where(DeskAttachment.conversation_id == conversation_id)
            return session.execute(statement).scalar_one()

    def get(self, conversation_id: str | None, attachment_id: int) -> DeskAttachment | None:
        """The attachment; with a conversation id, only if it belongs to that conversation (the citizen's key)."""
        with self.db.session() as session:
            row = session.get(DeskAttachment, attachment_id)
            if row is None or (conversation_id is not None and row.conversation_id != conversation_id):
                return None
            session.expunge(row)
            return row
