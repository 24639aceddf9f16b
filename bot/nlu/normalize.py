"""Text normalisation shared by the NLU components and the actions.

Every step maps one character to one character, so offsets found in the
normalised text are valid offsets in what the user typed.
"""

from __future__ import annotations

import functools

from opencc import OpenCC

_T2S = OpenCC("t2s")
_FULL_WIDTH_START, _FULL_WIDTH_END, _FULL_WIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
_IDEOGRAPHIC_SPACE = "\u3000"


@functools.lru_cache(maxsize=8192)
def _char(char: str) -> str:
    code = ord(char)
    if _FULL_WIDTH_START <= code <= _FULL_WIDTH_END:
        char = chr(code - _FULL_WIDTH_OFFSET)
    elif char == _IDEOGRAPHIC_SPACE or char.isspace():
        return " "
    elif code > 0x2E80:
        converted = _T2S.convert(char)
        if len(converted) == 1:
            char = converted
    return char.lower() if char.isascii() else char


def normalize(text: str) -> str:
    """Simplified characters, half-width ASCII, lower-case Latin, plain spaces."""
    return "".join(_char(char) for char in text)
