"""Surnames written in Chinese characters or in pinyin, as citizens abroad write them ("Chen").

A case's applicant is stored with the surname in characters; a proof may give it in either form.
pypinyin gives the readings (all of them: 曾 is "zeng" as a surname, "ceng" elsewhere).
"""

from __future__ import annotations

import functools
import re

from pypinyin import Style, pinyin

_LATIN = re.compile(r"^[a-z]+$")


def _plain(text: str) -> str:
    return text.strip().lower().replace(" ", "").replace("-", "").replace("ü", "v")


@functools.lru_cache(maxsize=4096)
def romanisations(surname: str) -> frozenset[str]:
    """Every pinyin spelling of a surname in characters: "陈" -> {"chen"}, "吕" -> {"lv", "lu", "lyu"}."""
    spellings = {""}
    for readings in pinyin(surname, style=Style.NORMAL, heteronym=True):
        spellings = {done + reading for done in spellings for reading in readings}
    extra = {spelling.replace("v", "u") for spelling in spellings} | {
        spelling.replace("v", "yu") for spelling in spellings
    }
    return frozenset(_plain(spelling) for spelling in spellings | extra)


def is_latin(text: str) -> bool:
    return bool(_LATIN.match(_plain(text)))
