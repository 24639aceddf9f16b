"""Realistic multi-turn conversations built from the held-out questions (tests/data/nlu_test.yml).

Every script is a list of messages one citizen sends in order. Scripts never ask for a
clerk, so the bot is never paused and every message must get a reply.
"""

from __future__ import annotations

import random

from bot.knowledge import item_for
from bot.tools.evaluate import load_examples

FOLLOW_UPS = ["那要多少钱？", "要带什么材料？", "多久能办好？", "在哪里办？", "人在国外能办吗？"]
CASE_LOOKUP = ["帮我查一下办件进度", "5821", "wz 2026 1008 0017", "姓陈"]
WRONG_PROOF = ["查办件进度", "WZ209901019999 王 1234"]
SOCIAL = ["你好", "谢谢", "好的"]


def held_out_questions() -> list[str]:
    """The in-scope (item) questions of the held-out set."""
    return [text for intent, text in load_examples() if item_for(intent)]


def scripts(count: int, seed: int = 5) -> list[list[str]]:
    """`count` conversations, mixing item questions with follow-ups, case lookups and small talk."""
    rng = random.Random(seed)
    questions = held_out_questions()
    made: list[list[str]] = []
    for index in range(count):
        kind = index % 4
        if kind == 0:
            made.append([rng.choice(questions), "那要多少钱？", rng.choice(FOLLOW_UPS[1:])])
        elif kind == 1:
            made.append(list(CASE_LOOKUP))
        elif kind == 2:
            made.append([SOCIAL[0], rng.choice(questions), rng.choice(FOLLOW_UPS), SOCIAL[1]])
        else:
            made.append([rng.choice(questions), rng.choice(questions), *WRONG_PROOF])
    return made
