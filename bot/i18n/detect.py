"""Which language a message is written in, restricted to what the assistant reads.

lingua-language-detector is used because it ships its models inside the package (no download at
run time), is accurate on short text, and can be restricted to a list of languages. The rules
around it keep a conversation's language steady:
- a message with Chinese characters is Chinese, even with foreign words mixed in ("我的passport");
- a short or neutral message ("ok", "grazie", a case number, an emoji) decides nothing;
- a message clearly in a language the assistant cannot read is reported as such, never guessed.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from bot.i18n.languages import Languages, load_languages

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CASE_NO = re.compile(r"w\s*z[\s\-_]*\d[\d\s\-_]{10,}", re.I)
_WORD = re.compile(r"[^\W\d_]+")
_MARKUP = re.compile(r"<[^<>]{0,200}>")
_CODE_LIKE = re.compile(r"\S*\w[_=/\\{}@.:]+\w\S*")
# Letters of scripts other than Latin and Han: Arabic, Cyrillic, Greek, Hebrew, Thai, Devanagari...
_OTHER_SCRIPT = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f]")

# Below these the detector's answer is a guess, not a reason to change the conversation's language.
MIN_CONFIDENCE = 0.3
SINGLE_WORD_CONFIDENCE = 0.7
SINGLE_WORD_MIN_LETTERS = 6
# A language the assistant cannot read is reported only when the detector is sure of it.
UNSUPPORTED_CONFIDENCE = 0.6
UNSUPPORTED_MAX_SUPPORTED = 0.2
UNSUPPORTED_MIN_WORDS = 3


@dataclass(frozen=True)
class Detection:
    """`language`: a supported language the message is clearly in (switch to it);
    `guess`: the likeliest supported language when the message decides nothing;
    `unsupported`: the code of a language the assistant cannot read."""

    language: str | None = None
    guess: str | None = None
    unsupported: str | None = None


class LanguageDetector:
    def __init__(
        self,
        languages: Languages | None = None,
        neutral_words: dict[str, frozenset[str]] | None = None,
        shared_words: frozenset[str] = frozenset(),
    ):
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        self.languages = languages or load_languages()
        codes = [*self.languages.supported, *self.languages.recognised_only]
        iso = [getattr(IsoCode639_1, code.upper()) for code in codes]
        self._detector = LanguageDetectorBuilder.from_iso_codes_639_1(*iso).with_preloaded_language_models().build()
        # language (or "any") -> its neutral words; `neutral` is all of them
        self.neutral_by_language = neutral_words or {}
        self.neutral = frozenset().union(*self.neutral_by_language.values()) if self.neutral_by_language else frozenset()
        self.shared_words = shared_words

    def _neutral_guess(self, words: list[str]) -> str | None:
        """The one language whose neutral words these are ("grazie" -> it), if there is one."""
        languages = {
            code
            for word in words
            for code, listed in self.neutral_by_language.items()
            if code in self.languages.names and word.lower() in listed
        }
        return languages.pop() if len(languages) == 1 else None

    def _confidences(self, text: str) -> dict[str, float]:
        return {
            value.language.iso_code_639_1.name.lower(): value.value
            for value in self._detector.compute_language_confidence_values(text)
        }

    def detect(self, text: str) -> Detection:
        # Markup, addresses and code-like tokens ("<b>", "window.__x=1", a URL) are no one's language.
        text = _CODE_LIKE.sub(" ", _MARKUP.sub(" ", unicodedata.normalize("NFC", text or "")))
        han = len(_HAN.findall(text))
        stripped = _CASE_NO.sub(" ", text)
        words = [word for word in _WORD.findall(stripped) if not _HAN.search(word)]
        if _KANA.search(text) and len(_KANA.findall(text)) >= 2:
            return Detection(unsupported="ja")
        if len(_HANGUL.findall(text)) >= 2:
            return Detection(unsupported="ko")
        latin_words = [
            word for word in words if not _OTHER_SCRIPT.search(word) and word.lower() not in self.shared_words
        ]
        if han >= 2 and han >= len(latin_words):
            return Detection(language="zh" if "zh" in self.languages.names else None)
        if len(_OTHER_SCRIPT.findall(text)) >= 3 and len(latin_words) <= 1 and han == 0:
            confidences = self._confidences(" ".join(words))
            top = max(confidences, key=confidences.get) if confidences else None
            return Detection(unsupported=top if top and top not in self.languages.names else "xx")
        meaningful = [word for word in latin_words if word.lower() not in self.neutral]
        if not meaningful:
            # "grazie", "merci": never a reason to switch, but a fair guess for a conversation's first words.
            return Detection(guess=self._neutral_guess(latin_words) or ("zh" if han else None))
        confidences = self._confidences(" ".join(latin_words))
        supported = {code: confidences.get(code, 0.0) for code in self.languages.supported if code != "zh"}
        best = max(supported, key=supported.get) if supported else None
        top = max(confidences, key=confidences.get) if confidences else None
        if (
            top
            and top not in self.languages.names
            and confidences[top] >= UNSUPPORTED_CONFIDENCE
            and len(meaningful) >= UNSUPPORTED_MIN_WORDS
            and sum(supported.values()) < UNSUPPORTED_MAX_SUPPORTED
        ):
            return Detection(unsupported=top)
        if best is None:
            return Detection()
        if len(meaningful) == 1:
            word = meaningful[0]
            if len(word) >= SINGLE_WORD_MIN_LETTERS and supported[best] >= SINGLE_WORD_CONFIDENCE:
                return Detection(language=best)
            # One short word ("merci bien", "ehi ciao"): a guess, the neutral words' language first.
            return Detection(guess=self._neutral_guess(latin_words) or best)
        if supported[best] >= MIN_CONFIDENCE or best == top:
            return Detection(language=best)
        return Detection(guess=best)


@functools.lru_cache(maxsize=2)
def shared_detector(root: str | None = None) -> LanguageDetector:
    """One detector per process: building it loads the language models (a few seconds)."""
    import yaml

    from bot.i18n.languages import knowledge_root

    data = yaml.safe_load((knowledge_root(root) / "languages.yml").read_text(encoding="utf-8"))
    neutral = {
        code: frozenset(normalized for word in words for normalized in {word.lower(), word.lower().replace("'", " ")})
        for code, words in (data.get("neutral_words") or {}).items()
    }
    shared = frozenset(word.lower() for word in data.get("shared_words") or ())
    return LanguageDetector(load_languages(root), neutral, shared)
