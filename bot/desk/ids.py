"""Conversation ids: issued by the server, never chosen by a client (issue 10, item 1).

A conversation id is the citizen's only credential (a bearer secret): whoever holds it
reads the transcript. So the server issues every id: 128 random bits followed by an
HMAC of them under the desk's secret. Any desk instance that shares the secret can tell
an id it issued from one a client made up, without a database read, and a made-up id
is replaced in `session_confirm` (rasa-webchat stores whatever the server confirms).

The secret comes from DESK_ID_SECRET, else from var/desk_id_secret, created once with
mode 0600 so that every instance on the host and every restart share it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

SECRET_FILE = Path(__file__).resolve().parents[2] / "var" / "desk_id_secret"
# 32 hex digits of randomness (128 bits), then 16 of HMAC tag.
ISSUED = re.compile(r"[0-9a-f]{32}-[0-9a-f]{16}")


@lru_cache(maxsize=1)
def _secret() -> bytes:
    from_env = os.environ.get("DESK_ID_SECRET", "")
    if from_env:
        return from_env.encode()
    SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return SECRET_FILE.read_bytes().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return SECRET_FILE.read_bytes().strip()


def _tag(random_part: str) -> str:
    return hmac.new(_secret(), random_part.encode(), hashlib.sha256).hexdigest()[:16]


def derived_key(purpose: str) -> bytes:
    """A key for one purpose (e.g. signing attachment URLs), derived from the desk's secret: every
    instance that shares the secret computes the same key, and no purpose's tag is valid for another."""
    return hmac.new(_secret(), b"wenzhou-desk:" + purpose.encode(), hashlib.sha256).digest()


def issue_id() -> str:
    """A new conversation id: 128 random bits and the server's tag."""
    random_part = secrets.token_hex(16)
    return f"{random_part}-{_tag(random_part)}"


def issued_id(value: Any) -> str | None:
    """`value` if this server issued it, else None. `fullmatch`: no trailing newline slips through."""
    if not isinstance(value, str) or not ISSUED.fullmatch(value):
        return None
    random_part, tag = value.split("-")
    return value if hmac.compare_digest(tag, _tag(random_part)) else None
