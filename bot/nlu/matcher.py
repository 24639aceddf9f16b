"""Knowledge-base phrases found in a message, with spaCy's EntityRuler.

The ruler's patterns are generated from the guides (titles and the words
people use for an item), from aspects.yml and from the site directory, so a
new synonym in a guide is recognised without retraining the classifier.
A character segmenter is used so that a phrase matches wherever it occurs,
whatever jieba would have made of the words around it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import spacy
from spacy.language import Language

from bot.knowledge import KnowledgeBase, load_knowledge
from bot.nlu.normalize import normalize

ITEM, ASPECT, PLACE, CONTEXT = "guide_item", "aspect", "place", "context"
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


class PhraseMatcher:
    """Finds item, aspect and place phrases; offsets refer to the original text."""

    def __init__(self, knowledge: KnowledgeBase | None = None):
        self.knowledge = knowledge or load_knowledge()
        self.nlp = build_pipeline(self.knowledge)
        self.keywords = build_keywords(self.knowledge)

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
            if _whole_words(norm, span.start_char, span.end_char)
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
