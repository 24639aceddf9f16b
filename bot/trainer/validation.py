"""Checks a trainer's change before anything is saved.

The same rules as `rasa data validate` where they apply to one example
(known intent and entities, no repetition), plus the project's own: one
example belongs to one item only.
"""

from __future__ import annotations

import functools
import unicodedata

import yaml

from bot.knowledge import item_for, load_knowledge
from bot.knowledge.store import PROJECT_ROOT
from bot.trainer.nlu_files import Example, key

MAX_EXAMPLE_CHARS = 300
DOMAIN = PROJECT_ROOT / "domain.yml"


@functools.lru_cache(maxsize=1)
def domain_vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    intents = frozenset(i if isinstance(i, str) else next(iter(i)) for i in domain["intents"])
    return intents, frozenset(domain.get("entities", []))


def intent_label(intent: str) -> str:
    item = item_for(intent)
    if item:
        guide = load_knowledge().guide(item)
        return f"「{guide.title}」" if guide else intent
    return intent


def check_example(
    intent: str,
    text: str,
    examples: list[Example],
    entities: list[dict] | None = None,
    ignore: Example | None = None,
) -> list[str]:
    """Problems with adding `text` under `intent` (empty when it may be saved)."""
    intents, known_entities = domain_vocabulary()
    problems = []
    if not text or not text.strip():
        return ["例句不能为空。"]
    if len(text) > MAX_EXAMPLE_CHARS:
        problems.append(f"例句太长（{len(text)}字），请控制在{MAX_EXAMPLE_CHARS}字以内。")
    if any(unicodedata.category(char) == "Cc" for char in text):
        problems.append("例句里有控制字符，请删除后再保存。")
    if intent not in intents:
        problems.append(f"未知的意图 {intent}。")
    wanted = key(text)
    if not wanted:
        problems.append("例句里没有文字。")
    for example in examples:
        if example == ignore or key(example.text) != wanted:
            continue
        if example.intent == intent:
            problems.append("这个例句已经在该事项的训练数据里了。")
        else:
            problems.append(f"这个例句已属于{intent_label(example.intent)}，请用“改为此事项”移动，而不是重复添加。")
    spans = sorted(entities or [], key=lambda e: e.get("start", -1))
    for index, entity in enumerate(spans):
        start, end = entity.get("start"), entity.get("end")
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(text):
            problems.append("实体范围不在例句之内。")
        elif entity.get("entity") not in known_entities:
            problems.append(f"未知的实体类型 {entity.get('entity')}。")
        elif index and spans[index - 1]["end"] > start:
            problems.append("实体范围互相重叠。")
    return problems
