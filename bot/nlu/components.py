"""Rasa graph components of the pipeline in config.yml.

- WenzhouJiebaTokenizer: Rasa's JiebaTokenizer on normalised text, with the
  user dictionary generated from the knowledge base and without the
  whitespace tokens it emits on mixed Chinese/Latin text (Rasa issue #7910).
- KnowledgeEntityExtractor: item, aspect and place phrases (spaCy
  EntityRuler built from the knowledge base) and the case-ownership proof.
- GuideItemRanker: after the statistical classifier, lends weight to items
  whose names the message contains, and routes pure proof messages.
- LanguageIdentifier: the message's language (the `language` entity, or
  `language_guess` when the message decides nothing), the citizen's own pick
  from the message metadata first; a message in a language the assistant
  cannot read becomes the `unsupported_language` intent, never a guessed item.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy import sparse

from bot.i18n.detect import shared_detector
from bot.i18n.languages import load_languages
from bot.knowledge import intent_for
from bot.nlu.case_proof import find_proof
from bot.nlu.matcher import ITEM, shared_matcher
from bot.nlu.normalize import normalize

logger = logging.getLogger(__name__)

PROOF_INTENT = "provide_case_info"
PROOF_ENTITIES = {"case_no", "surname", "doc_last4"}
# Small talk is unlikely when the message names something from the catalog.
SOCIAL_INTENTS = {"affirm", "deny", "greet", "thank", "goodbye", "bot_challenge"}
SOCIAL_DAMPING = 0.2
KEYWORD_BOOST = 0.15
UNSUPPORTED_INTENT = "unsupported_language"
LANGUAGE, LANGUAGE_GUESS = "language", "language_guess"
# metadata.language_source: "picked" when the citizen chose the language in the widget (it wins over
# detection); anything else (the browser's locale) is only a guess for messages that decide nothing.
PICKED = "picked"
INTENT_PREFIX = "/"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class WenzhouJiebaTokenizer(JiebaTokenizer):
    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        import jieba

        text = normalize(message.get(attribute))
        tokens = [Token(word, start) for word, start, _ in jieba.tokenize(text) if word.strip()]
        return self._apply_token_pattern(tokens)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class FastLogisticRegressionClassifier(LogisticRegressionClassifier):
    """Rasa's LogisticRegressionClassifier with its weights laid out for scoring one message at a time.

    scikit-learn scores a message as `X @ coef_.T`. `coef_` is C-ordered (intents x features), so its
    transpose is Fortran-ordered, and scipy copies the whole matrix into C order to multiply it by a
    sparse row: 98 x 48,581 floats (38 MB) per message, 30% of Rasa's CPU under load (bench.latency's
    py-spy profile). Kept in Fortran order, `coef_.T` is C-contiguous and the product reads it in place
    (0.03 ms). Same numbers in the same order of summation: the same predictions.

    Its message matrix is built from the sentence features alone, in one step. Rasa's `_create_X`
    asks the message for all its sparse features, which deep-copies and stacks the per-token
    features of every featurizer too, only to keep the sentence row, then stacks that row again with
    the dense ones: 6% of Rasa's time under load. The same sentence features, side by side in the
    same order (sparse, then dense), give the same matrix.
    """

    def _create_X(self, messages: List[Message]) -> sparse.csr_matrix:
        values, rows, columns = [], [], []
        width = None
        for row, message in enumerate(messages):
            sentence = [f for f in message.features if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE]
            offset = 0
            for feature in [f for f in sentence if f.is_sparse()] + [f for f in sentence if f.is_dense()]:
                block = sparse.coo_matrix(feature.features)
                values.append(block.data)
                rows.append(np.full(block.nnz, row))
                columns.append(block.col + offset)
                offset += block.shape[1]
            if width is not None and offset != width:
                raise ValueError(f"messages with {width} and {offset} sentence features cannot be scored together")
            width = offset
        if not values:
            return sparse.csr_matrix((len(messages), width or 0))
        return sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=(len(messages), width)
        )

    def train(self, training_data: TrainingData) -> Resource:
        resource = super().train(training_data)
        self._lay_out_weights()
        return resource

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> FastLogisticRegressionClassifier:
        component = super().load(*args, **kwargs)
        component._lay_out_weights()
        return component

    def _lay_out_weights(self) -> None:
        weights = getattr(self.clf, "coef_", None)
        if weights is not None:
            self.clf.coef_ = np.asfortranarray(weights)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class KnowledgeEntityExtractor(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"knowledge_dir": None}

    def __init__(self, config: Dict[str, Any]) -> None:
        self.config = config
        self.matcher = shared_matcher(config.get("knowledge_dir"))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KnowledgeEntityExtractor:
        return cls(config)

    @staticmethod
    def required_packages() -> List[str]:
        return ["spacy"]

    def extract(self, text: str) -> List[Dict[str, Any]]:
        entities = []
        phrases = self.matcher.find(text)
        for phrase in phrases + self.matcher.topics(text, phrases):
            for value in phrase.values:
                entities.append(
                    {
                        "entity": phrase.entity,
                        "value": value,
                        "start": phrase.start,
                        "end": phrase.end,
                        "confidence_entity": 1.0,
                    }
                )
        for found in find_proof(text):
            entities.append(
                {
                    "entity": found.entity,
                    "value": found.value,
                    "start": found.start,
                    "end": found.end,
                    "confidence_entity": 1.0,
                }
            )
        return self.add_extractor_name(entities)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get("text")
            if not text:
                continue
            entities = message.get("entities", []) + self.extract(text)
            message.set("entities", entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Annotated training data keeps its own entities; rules need none.
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class GuideItemRanker(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        # item_boost: how much probability mass item-name matches may add;
        # chosen on the development set (tests/data/nlu_dev.yml).
        return {"item_boost": 0.6, "ranking_length": 10, "knowledge_dir": None}

    def __init__(self, config: Dict[str, Any]) -> None:
        self.config = config
        self.matcher = shared_matcher(config.get("knowledge_dir"))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GuideItemRanker:
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            ranking = message.get("intent_ranking")
            if not message.get("text") or not ranking:
                continue
            keywords = self.matcher.keyword_items(message.get("text"))
            ranking = rerank(ranking, message.get("entities", []), self.config["item_boost"], keywords)
            message.set("intent", ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[: self.config["ranking_length"]], add_to_output=True)
        return messages


def rerank(
    ranking: List[Dict[str, Any]],
    entities: List[Dict[str, Any]],
    boost: float,
    keyword_items: frozenset[str] | set[str] = frozenset(),
) -> List[Dict[str, Any]]:
    """Intent ranking adjusted by what the message names.

    - item phrases (titles, synonyms) add up to `boost`, shared by length;
    - content words of item names add a little to every item they occur in,
      and make small talk unlikely;
    - the proof intent needs proof parts, and wins when they are all there is.
    """
    scores = {entry["name"]: float(entry["confidence"]) for entry in ranking}
    item_mentions: Dict[str, float] = {}
    for entity in entities:
        if entity["entity"] == ITEM:
            length = entity["end"] - entity["start"]
            item_mentions[entity["value"]] = item_mentions.get(entity["value"], 0.0) + length
    has_proof = any(entity["entity"] in PROOF_ENTITIES for entity in entities)
    if not has_proof:
        scores[PROOF_INTENT] = 0.0
    if has_proof and not item_mentions:
        top = max(scores, key=scores.get)
        if top not in ("check_case_status", "request_human", "complain"):
            scores[PROOF_INTENT] = max(scores.values()) + 1.0
    elif item_mentions:
        total = sum(item_mentions.values())
        for item, weight in item_mentions.items():
            name = intent_for(item)
            scores[name] = scores.get(name, 0.0) + boost * weight / total
    if keyword_items and not has_proof:
        for intent in SOCIAL_INTENTS & scores.keys():
            scores[intent] *= SOCIAL_DAMPING
        for item in keyword_items:
            name = intent_for(item)
            scores[name] = scores.get(name, 0.0) + KEYWORD_BOOST / len(keyword_items)
    norm = sum(scores.values()) or 1.0
    # Equal scores (two items one phrase names, nothing else between them) are ordered by name, not by
    # the order they were added in, so that the same message always gets the same ranking.
    return sorted(
        ({"name": name, "confidence": score / norm} for name, score in scores.items()),
        key=lambda e: (-e["confidence"], e["name"]),
    )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class LanguageIdentifier(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"knowledge_dir": None}

    def __init__(self, config: Dict[str, Any]) -> None:
        self.config = config
        self.languages = load_languages(config.get("knowledge_dir"))
        # Built when the model loads, so that the first citizen does not wait for the language models.
        self.detector = shared_detector(config.get("knowledge_dir"))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageIdentifier:
        return cls(config)

    @staticmethod
    def required_packages() -> List[str]:
        return ["lingua"]

    def _entity(self, name: str, value: str) -> Dict[str, Any]:
        return {"entity": name, "value": value, "start": 0, "end": 0, "confidence_entity": 1.0}

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get("text")
            if not text or text.startswith(INTENT_PREFIX):
                # A button's payload ("/request_human") is no writing: it says nothing of the language.
                continue
            metadata = message.get("metadata") or {}
            metadata = metadata if isinstance(metadata, dict) else {}
            chosen = self.languages.normalise(metadata.get("language"))
            detection = self.detector.detect(text)
            found: List[Dict[str, Any]] = []
            if chosen and metadata.get("language_source") == PICKED:
                found.append(self._entity(LANGUAGE, chosen))
            elif detection.language:
                found.append(self._entity(LANGUAGE, detection.language))
            elif chosen or detection.guess:
                found.append(self._entity(LANGUAGE_GUESS, chosen or detection.guess))
            if found:
                message.set(
                    "entities", message.get("entities", []) + self.add_extractor_name(found), add_to_output=True
                )
            if detection.unsupported:
                unsupported = {"name": UNSUPPORTED_INTENT, "confidence": 1.0}
                ranking = [unsupported, *(message.get("intent_ranking") or [])]
                message.set("intent", unsupported, add_to_output=True)
                message.set("intent_ranking", ranking, add_to_output=True)
        return messages
