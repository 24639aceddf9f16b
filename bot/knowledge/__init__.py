from bot.knowledge.intents import intent_for, item_for
from bot.knowledge.schema import KnowledgeError
from bot.knowledge.store import SAMPLE_NOTICE, Guide, KnowledgeBase, load_knowledge

__all__ = [
    "SAMPLE_NOTICE",
    "Guide",
    "KnowledgeBase",
    "KnowledgeError",
    "intent_for",
    "item_for",
    "load_knowledge",
]
