"""How guide items map to NLU intents.

Each catalog item has one intent, `item_<id with underscores>`; ids use only
lower-case letters, digits and hyphens, so the mapping is reversible.
"""

ITEM_INTENT_PREFIX = "item_"


def intent_for(item_id: str) -> str:
    return ITEM_INTENT_PREFIX + item_id.replace("-", "_")


def item_for(intent: str | None) -> str | None:
    """The catalog id an intent stands for, or None for a general intent."""
    if not intent or not intent.startswith(ITEM_INTENT_PREFIX):
        return None
    return intent[len(ITEM_INTENT_PREFIX) :].replace("_", "-")
