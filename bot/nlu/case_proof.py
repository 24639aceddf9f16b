"""Finds the three parts of a case-ownership proof in what a user typed.

A case is shown only on its case number, the applicant's surname and the last
four characters of the document number. People give these in any order, in
one message or several, with spaces or dashes inside the case number.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.nlu.normalize import _knowledge_root, normalize
from bot.surnames import romanisations

COMPOUND_SURNAMES = (
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 南宫 西门 独孤"
).split()
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "季池鲍戚麻缪应包项虞厉卓翁施娄章缪倪滕柯詹南谷"
)

_CASE_WITH_PREFIX = re.compile(r"w\s*z[\s\-_]*((?:\d[\s\-_]*){11}\d)(?!\d)")
_CASE_BARE = re.compile(r"(?<![\d])(20\d{10})(?!\d)")
_LAST4_LABELLED = re.compile(
    r"(?:后\s*[四4]\s*位|尾\s*[号数]|末\s*[四4]\s*位|last\s*4|最后[四4]位)[^0-9a-z]{0,8}([0-9]{3}[0-9x])(?![0-9a-z])"
)
_LAST4_BARE = re.compile(r"(?<![0-9a-z])([0-9]{3}[0-9x])(?![0-9a-z])")
_SURNAME_LABELLED = re.compile(r"(?:姓|surname\s*)[:：是为]?\s*([\u4e00-\u9fff]{1,2})")
_FULL_NAME = re.compile(r"(?:我叫|名字是|名字叫|申请人是|申请人叫|申请人|姓名是?)[:：\s]*([\u4e00-\u9fff]{2,4})")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_FILLER = re.compile(
    r"案件号?|案号|编号|受理号|单号|号码|证件|护照|身份证|号|后四位|后4位|尾号|末四位|姓名|姓|名字|申请人|我的|我是|我叫|是|的|查询?|一下|进度|帮我|请|谢谢"
)
MAX_BARE_PROOF_LENGTH = 24
_LATIN_WORD = re.compile(r"[a-z]+")
# Latin words that are also pinyin surnames but, next to a proof, are ordinary words.
NOT_SURNAMES = {"wz", "e", "a", "i", "o", "an", "he", "me", "ma", "di", "de", "le", "la", "ne", "na", "no", "si", "se"}


@functools.lru_cache(maxsize=2)
def _proof_words(root: str) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """Patterns for a surname and a document tail introduced by words of the other languages."""
    path = Path(root) / "proof_words.yml"
    if not path.exists():
        return None, None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))

    def alternatives(kind: str) -> str:
        words = {normalize(word) for words in (data.get(kind) or {}).values() for word in words}
        return "|".join(re.escape(word).replace("\\ ", r"\s+") for word in sorted(words, key=len, reverse=True))

    surname = re.compile(rf"\b(?:{alternatives('surname')})(?:\s+(?:e|is|est|sono|faccio|:))?\s*:?\s+([a-z]{{1,12}})\b")
    last4 = re.compile(
        rf"\b(?:{alternatives('last4')})(?:[^0-9a-z]{{0,3}}[a-z]+){{0,5}}[^0-9a-z]{{0,4}}([0-9]{{3}}[0-9x])(?![0-9a-z])"
    )
    return surname, last4


@functools.lru_cache(maxsize=1)
def _pinyin_surnames() -> frozenset[str]:
    names = {spelling for name in [*SURNAMES, *COMPOUND_SURNAMES] for spelling in romanisations(name)}
    return frozenset(names - NOT_SURNAMES)


@dataclass(frozen=True)
class Found:
    entity: str
    value: str
    start: int
    end: int


def canonical_case_no(raw: str) -> str:
    return "WZ" + re.sub(r"\D", "", raw)


def _surname_of(name: str) -> str | None:
    if name[:2] in COMPOUND_SURNAMES:
        return name[:2]
    return name[0] if name[0] in SURNAMES else None


def find_proof(text: str) -> list[Found]:
    """Case number, surname and document tail found in `text` (offsets in `text`)."""
    norm = normalize(text)
    found: list[Found] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    def add(entity: str, value: str, start: int, end: int) -> None:
        found.append(Found(entity, value, start, end))
        taken.append((start, end))

    for match in _CASE_WITH_PREFIX.finditer(norm):
        add("case_no", canonical_case_no(match.group(1)), match.start(), match.end())
    for match in _CASE_BARE.finditer(norm):
        if free(match.start(), match.end()):
            add("case_no", canonical_case_no(match.group(1)), match.start(1), match.end(1))

    has_case = any(f.entity == "case_no" for f in found)
    proof_like = has_case or _is_proof_like(norm)
    latin_surname, latin_last4 = _proof_words(_knowledge_root())
    last4 = next((m for m in _LAST4_LABELLED.finditer(norm) if free(m.start(1), m.end(1))), None)
    if last4 is None and latin_last4 is not None:
        last4 = next((m for m in latin_last4.finditer(norm) if free(m.start(1), m.end(1))), None)
    if last4 is None and proof_like:
        last4 = next((m for m in _LAST4_BARE.finditer(norm) if free(m.start(1), m.end(1))), None)
    if last4 is not None:
        add("doc_last4", last4.group(1).upper(), last4.start(1), last4.end(1))

    has_other = bool(found)
    surname = _find_surname(norm, free, short=proof_like, with_other=has_other)
    if surname is None:
        surname = _find_latin_surname(norm, free, latin_surname, short=proof_like or has_other)
    if surname is not None:
        add("surname", *surname)
    return sorted(found, key=lambda f: f.start)


def _is_proof_like(norm: str) -> bool:
    """True for short messages made of little but proof parts ("陈 5821", "chen 5821")."""
    if len(norm.strip()) > MAX_BARE_PROOF_LENGTH:
        return False
    words = "".join(_CJK_RUN.findall(norm))
    latin = [word for word in _LATIN_WORD.findall(norm) if word != "wz"]
    return len(_FILLER.sub("", words)) <= 4 and len(latin) <= 1


def _find_latin_surname(norm: str, free, labelled: re.Pattern[str] | None, short: bool) -> tuple[str, int, int] | None:
    """A surname in pinyin ("Chen"), after a word that introduces it or, in a short proof, alone."""
    known = _pinyin_surnames()
    if labelled is not None:
        for match in labelled.finditer(norm):
            if match.group(1) in known and free(match.start(1), match.end(1)):
                return match.group(1), match.start(1), match.end(1)
    if short:
        for match in _LATIN_WORD.finditer(norm):
            if match.group(0) in known and free(match.start(), match.end()):
                return match.group(0), match.start(), match.end()
    return None


def _find_surname(norm: str, free, short: bool, with_other: bool) -> tuple[str, int, int] | None:
    for pattern in (_SURNAME_LABELLED, _FULL_NAME):
        for match in pattern.finditer(norm):
            value = _surname_of(match.group(1))
            if value and free(match.start(1), match.end(1)):
                return value, match.start(1), match.start(1) + len(value)
    if not short:
        return None
    # A short proof message such as "WZ2026... 陈 5821" or just "陈".
    for match in _CJK_RUN.finditer(norm):
        rest = _FILLER.sub("", match.group(0))
        # A lone character, or a name of up to four next to another proof part.
        if (len(rest) == 1 or (with_other and 1 <= len(rest) <= 4)) and free(match.start(), match.end()):
            value = _surname_of(rest)
            if value:
                start = match.start() + match.group(0).find(rest)
                return value, start, start + len(value)
    return None
