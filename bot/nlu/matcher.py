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

ITEM, ASPECT, PLACE = "guide_item", "aspect", "place"
_SEPARATOR = "|"


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
    for key, aspect in knowledge.aspects.items():
        for word in aspect["words"]:
            patterns.append({"label": ASPECT, "pattern": normalize(word), "id": key})
    for name, site_id in sorted(knowledge.place_names().items()):
        patterns.append({"label": PLACE, "pattern": normalize(name), "id": site_id})
    ruler.add_patterns(patterns)
    return nlp


class PhraseMatcher:
    """Finds item, aspect and place phrases; offsets refer to the original text."""

    def __init__(self, knowledge: KnowledgeBase | None = None):
        self.knowledge = knowledge or load_knowledge()
        self.nlp = build_pipeline(self.knowledge)

    def find(self, text: str) -> list[Phrase]:
        doc = self.nlp(normalize(text))
        return [
            Phrase(span.label_, tuple(span.ent_id_.split(_SEPARATOR)), span.start_char, span.end_char, text[span.start_char:span.end_char])
            for span in doc.ents
        ]

    def item_scores(self, text: str) -> dict[str, float]:
        """Per item, the share of matched item-phrase characters that name it."""
        scores: dict[str, float] = {}
        for phrase in self.find(text):
            if phrase.entity != ITEM:
                continue
            weight = (phrase.end - phrase.start) / len(phrase.values)
            for item in phrase.values:
                scores[item] = scores.get(item, 0.0) + weight
        total = sum(scores.values())
        return {item: score / total for item, score in scores.items()} if total else {}


@functools.lru_cache(maxsize=2)
def shared_matcher(root: str | None = None) -> PhraseMatcher:
    return PhraseMatcher(load_knowledge(root))
