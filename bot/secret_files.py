"""Owner-only files for secrets: the Rasa token, the desk's id secret, a first admin's one-time password."""

from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: Path, text: str) -> None:
    """Writes a file only its owner can read: with the Rasa token anyone reads every tracker and
    loads any model (issue 10, item 7). Created 0600, never widened by the umask or an old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
