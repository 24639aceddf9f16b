"""Text normalisation shared by the NLU components and the actions.

Every step maps one character to one character, so offsets found in the
normalised text are valid offsets in what the user typed.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from pathlib import Path

import yaml
from opencc import OpenCC

_T2S = OpenCC("t2s")
_FULL_WIDTH_START, _FULL_WIDTH_END, _FULL_WIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
_IDEOGRAPHIC_SPACE = "\u3000"
_WORD_JOINERS = "'’‘`´-‐‑–"


@functools.lru_cache(maxsize=8192)
def _char(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"  # a lone surrogate cannot be encoded; spaCy and the stores would fail on it
    if _FULL_WIDTH_START <= code <= _FULL_WIDTH_END:
        char = chr(code - _FULL_WIDTH_OFFSET)
    elif char == _IDEOGRAPHIC_SPACE or char.isspace() or char in _WORD_JOINERS:
        # "dall'Italia", "carte-de-séjour": the parts are words of their own for jieba and the matcher.
        return " "
    elif 0xC0 <= code <= 0x24F:
        # Latin letters with accents: people type "sejour" for "séjour" and "e" for "è".
        base = unicodedata.normalize("NFD", char)[0]
        char = base if base.isascii() else char
    elif code > 0x2E80:
        converted = _T2S.convert(char)
        if len(converted) == 1:
            char = converted
    return char.lower() if char.isascii() else char


TYPOS_FILE = "typos.yml"


@functools.lru_cache(maxsize=2)
def _typos(root: str) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    path = Path(root) / TYPOS_FILE
    if not path.exists():
        return None, {}
    table = yaml.safe_load(path.read_text(encoding="utf-8"))["typos"]
    for wrong, right in table.items():
        if len(wrong) != len(right) or wrong == right:
            raise ValueError(f"{path}: typos.{wrong}: must map to a different word of the same length")
    words = sorted(table, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, words))), table


# Resolved once: resolving a path on every call made normalize() cost a millisecond a phrase.
_DEFAULT_KNOWLEDGE_ROOT = str(Path(__file__).resolve().parents[2] / "knowledge")


def _knowledge_root() -> str:
    return os.environ.get("KNOWLEDGE_DIR", _DEFAULT_KNOWLEDGE_ROOT)


def normalize(text: str) -> str:
    """Simplified characters, half-width ASCII, lower-case Latin without accents, plain spaces (also
    for apostrophes and hyphens), and the common typos of knowledge/typos.yml corrected."""
    text = "".join(_char(char) for char in text)
    pattern, table = _typos(_knowledge_root())
    return pattern.sub(lambda match: table[match.group(0)], text) if pattern else text
