"""Knowledge-base phrases found in a message, with spaCy's EntityRuler.

The ruler's patterns are generated from the guides (titles and the words
people use for an item), from aspects.yml and from the site directory, so a
new synonym in a guide is recognised without retraining the classifier.
A character segmenter is used so that a phrase matches wherever it occurs,
whatever jieba would have made of the words around it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import spacy
from spacy.language import Language

from bot.knowledge import KnowledgeBase, load_knowledge
from bot.nlu.normalize import normalize

ITEM, ASPECT, PLACE, CONTEXT, TOPIC = "guide_item", "aspect", "place", "context", "topic"
# Phrases that contain an aspect word without asking that aspect ("到哪了" is no "到哪"): matched so
# that, being longer, they win over the aspect word, then dropped.
NOT_ASPECT = "not_aspect"
_SEPARATOR = "|"
# A keyword naming more items than this says little about which one is meant.
MAX_ITEMS_PER_KEYWORD = 12
# Words this common in general Chinese (jieba's dictionary counts) are function
# words (没有, 可以, 孩子...), not item names.
MAX_KEYWORD_FREQUENCY = 3000
GENERIC_WORDS = {
    "办理",
    "申请",
    "证明",
    "登记",
    "国外",
    "出国",
    "开具",
    "查询",
    "手续",
    "材料",
    "华侨",
    "温州",
    "补办",
    "办证",
}


@dataclass(frozen=True)
class Phrase:
    entity: str
    values: tuple[str, ...]
    start: int
    end: int
    text: str


def build_pipeline(knowledge: KnowledgeBase) -> Language:
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "TEXT"})
    patterns = []
    for phrase, items in sorted(knowledge.item_phrases().items()):
        label = _SEPARATOR.join(sorted(items))
        patterns.append({"label": ITEM, "pattern": normalize(phrase), "id": label})
    for key, words in sorted(knowledge.aspect_words().items()):
        for word in sorted(words):
            patterns.append({"label": ASPECT, "pattern": normalize(word), "id": key})
    for word in sorted(knowledge.not_aspect_words()):
        patterns.append({"label": NOT_ASPECT, "pattern": normalize(word), "id": NOT_ASPECT})
    for name, site_id in sorted(knowledge.place_names().items()):
        patterns.append({"label": PLACE, "pattern": normalize(name), "id": site_id})
    # How the message relates to the conversation (knowledge/context.yml, every language).
    for phrase, signals in sorted(knowledge.context_phrases().items()):
        patterns.append({"label": CONTEXT, "pattern": normalize(phrase), "id": _SEPARATOR.join(sorted(signals))})
    ruler.add_patterns(patterns)
    return nlp


def build_keywords(knowledge: KnowledgeBase) -> dict[str, frozenset[str]]:
    """Content words of item names (护照, 公证, 户口...) and the items they occur in."""
    import jieba

    # jieba's plain dictionary, not the global one with our user dictionary,
    # which would keep "护照到期" whole and hide the word "护照".
    segmenter = jieba.Tokenizer()
    segmenter.initialize()
    items_by_word: dict[str, set[str]] = {}
    for guide in knowledge.guides.values():
        for phrase in [guide.title, *guide.synonyms]:
            for word in segmenter.cut(normalize(phrase)):
                common = segmenter.FREQ.get(word, 0) > MAX_KEYWORD_FREQUENCY
                if len(word) >= 2 and not word.isascii() and word not in GENERIC_WORDS and not common:
                    items_by_word.setdefault(word, set()).add(guide.id)
    return {word: frozenset(items) for word, items in items_by_word.items() if len(items) <= MAX_ITEMS_PER_KEYWORD}


def _word_pattern(word: str) -> re.Pattern[str]:
    """A word anywhere in Chinese text; a Latin word only as a whole word."""
    norm = normalize(word)
    before = r"(?<![a-z0-9])" if norm[:1].isascii() and norm[:1].isalnum() else ""
    after = r"(?![a-z0-9])" if norm[-1:].isascii() and norm[-1:].isalnum() else ""
    return re.compile(before + re.escape(norm) + after)


def build_topics(knowledge: KnowledgeBase) -> tuple[list[tuple[re.Pattern[str], tuple[str, ...]]], list[re.Pattern[str]]]:
    """Patterns of the topic words (with their topics) and of the words of a general question."""
    topics = [(_word_pattern(word), tuple(sorted(keys))) for word, keys in sorted(knowledge.topic_words().items())]
    general = [_word_pattern(word) for words in knowledge.general_words.values() for word in words]
    return topics, general


class PhraseMatcher:
    """Finds item, aspect and place phrases; offsets refer to the original text."""

    def __init__(self, knowledge: KnowledgeBase | None = None):
        self.knowledge = knowledge or load_knowledge()
        self.nlp = build_pipeline(self.knowledge)
        self.keywords = build_keywords(self.knowledge)
        self.topic_patterns, self.general_patterns = build_topics(self.knowledge)

    def topics(self, text: str, phrases: list[Phrase]) -> list[Phrase]:
        """The topic words of a message that asks about topics in general ("问下房本的事"): one made of
        topic words, general words ("问下", "的事", "une question sur") and the aspect, place and
        context phrases found (`phrases`), and nothing else. Any other word, an item's name ("户口迁出")
        or any detail, makes it a question of its own: then no topic."""
        norm = normalize(text)
        # Two spellings of one word ("身分证", "身份证") can match one span: each span once.
        found = sorted(
            {
                (match.start(), match.end(), keys)
                for pattern, keys in self.topic_patterns
                for match in pattern.finditer(norm)
            }
        )
        if not found:
            return []
        covered = [False] * len(norm)
        spans = [(start, end) for start, end, _ in found]
        spans += [(match.start(), match.end()) for pattern in self.general_patterns for match in pattern.finditer(norm)]
        spans += [(p.start, p.end) for p in phrases if p.entity in (ASPECT, PLACE, CONTEXT)]
        for start, end in spans:
            for index in range(start, end):
                covered[index] = True
        if any(char.isalnum() and not covered[index] for index, char in enumerate(norm)):
            return []
        return [Phrase(TOPIC, keys, start, end, text[start:end]) for start, end, keys in found]

    def keyword_items(self, text: str) -> set[str]:
        """Items sharing a content word with the message (weaker than a phrase match)."""
        norm = normalize(text)
        found: set[str] = set()
        for word, items in self.keywords.items():
            if word in norm:
                found |= items
        return found

    def find(self, text: str) -> list[Phrase]:
        norm = normalize(text)
        doc = self.nlp(norm)
        return [
            Phrase(
                span.label_,
                tuple(span.ent_id_.split(_SEPARATOR)),
                span.start_char,
                span.end_char,
                text[span.start_char : span.end_char],
            )
            for span in doc.ents
            if _whole_words(norm, span.start_char, span.end_char) and span.label_ != NOT_ASPECT
        ]


def _whole_words(text: str, start: int, end: int) -> bool:
    """False for a Latin phrase found inside a longer word ("notaio" in "notaioxyz", "ID" in "idea").

    The character segmenter finds phrases anywhere, which is right for Chinese, where words are
    not separated, and wrong for Latin-script words."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    starts_latin, ends_latin = (
        text[start].isascii() and text[start].isalnum(),
        text[end - 1].isascii() and text[end - 1].isalnum(),
    )
    inside_before = starts_latin and before.isascii() and before.isalnum()
    inside_after = ends_latin and after.isascii() and after.isalnum()
    return not (inside_before or inside_after)


@functools.lru_cache(maxsize=2)
def shared_matcher(root: str | None = None) -> PhraseMatcher:
    return PhraseMatcher(load_knowledge(root))
