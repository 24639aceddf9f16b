"""Multi-turn dialogues through the REST webhook on the real stack.

Six sets: tests/data/dialogues.yml (the logic was tuned on it),
tests/data/dialogues_unseen.yml (written apart from it and from the training
data, run once before tuning: the estimate of the issue's hidden set),
tests/data/dialogues_heldout.yml (written apart from both before the context3
branch's changes, of the kinds the unseen set still failed on),
tests/data/dialogues_heldout2.yml (written before the context4 branch's changes, all the issue's
kinds, on the items the other sets use least), tests/data/dialogues_heldout3.yml (written blind
from the catalog alone, for the context work of the context4 branch: nobody tuned on it) and
tests/data/dialogues_heldout4.yml (a second blind set, written the same way for the understanding
work after it). Every
turn's item and aspect are checked; the figures are dialogues right on the last
turn and right on every turn, per set.

Against a running server: `python -m tests.test_dialogues --url http://127.0.0.1:5005
[--set unseen]` prints the same figures and the REST round trip.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DIALOGUES = ROOT / "tests" / "data" / "dialogues.yml"
UNSEEN = ROOT / "tests" / "data" / "dialogues_unseen.yml"
HELDOUT = ROOT / "tests" / "data" / "dialogues_heldout.yml"
HELDOUT2 = ROOT / "tests" / "data" / "dialogues_heldout2.yml"
HELDOUT3 = ROOT / "tests" / "data" / "dialogues_heldout3.yml"
HELDOUT4 = ROOT / "tests" / "data" / "dialogues_heldout4.yml"
SETS = {
    "tuned": DIALOGUES,
    "unseen": UNSEEN,
    "heldout": HELDOUT,
    "heldout2": HELDOUT2,
    "heldout3": HELDOUT3,
    "heldout4": HELDOUT4,
}
# The bar for the hidden set is 95% right on the last turn. The unseen set stands in for
# it and is not tuned dialogue by dialogue, so it is held to the level reached (88-90% after the
# general fixes of the context2 branch; 76% before them): a floor against falling back, not the bar.
UNSEEN_LAST_TURN_FLOOR = 0.88
# The held-out set of the context3 branch (vague first turns, documents for use abroad, the pension's
# life certificate, one-word follow-ups), scored before (65%) and after its general fixes; a floor too.
HELDOUT_LAST_TURN_FLOOR = 0.85
# The held-out set of the context4 branch (all the kinds, on the items the other sets use least),
# written and scored on main's model before the branch's changes (84.4% on the last turn), 100% after its
# general fixes; a floor a little under that (three dialogues of 45 may fail).
HELDOUT2_LAST_TURN_FLOOR = 0.93
# The blind set (written from the catalog alone, 2026-11-30; 91.7% on the last turn on main's model of
# 17:09, before the context4 changes): a provisional floor until it is scored after them.
HELDOUT3_LAST_TURN_FLOOR = 0.80
# The second blind set (written from the catalog and the guides alone, 2026-11-30 20:15-20:25, while the
# understanding was being changed on another branch; 90.5% on the last turn on main's model of 19:27,
# before those changes): a provisional floor until it is scored after them.
HELDOUT4_LAST_TURN_FLOOR = 0.80
FLOORS = {
    "unseen": UNSEEN_LAST_TURN_FLOOR,
    "heldout": HELDOUT_LAST_TURN_FLOOR,
    "heldout2": HELDOUT2_LAST_TURN_FLOOR,
    "heldout3": HELDOUT3_LAST_TURN_FLOOR,
    "heldout4": HELDOUT4_LAST_TURN_FLOOR,
}
# The issue asks for 80 dialogues of 2-4 turns; the held-out set of one branch is smaller.
MIN_DIALOGUES = {"tuned": 80, "unseen": 80, "heldout": 25, "heldout2": 40, "heldout3": 30, "heldout4": 40}
Post = Callable[[str, str], list[dict[str, Any]]]


def load_dialogues(path: Path = DIALOGUES) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["dialogues"]


def _custom(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for message in messages:
        if message.get("custom"):
            return message["custom"]
    return {}


def check_turn(turn: dict[str, Any], messages: list[dict[str, Any]], offered: list[str]) -> str | None:
    """What is wrong with the bot's reply to one turn, or None."""
    custom = _custom(messages)
    got = f"got {json.dumps(custom, ensure_ascii=False)}"
    if "case" in turn:
        return None if (custom.get("case") or {}).get("status") == turn["case"] else got
    if turn.get("case_prompt"):
        # The lookup asks for the proof; it is not a guide answer.
        return None if messages and not custom.get("guide_item") and "case" not in custom else got
    if turn.get("handoff"):
        # A complaint or a request for a person mid-conversation still reaches a person.
        return None if "handoff" in custom else got
    if turn.get("no_answer"):
        # A statement with no question yet: no guide answer, no hand-off.
        return None if messages and not custom.get("guide_item") and "handoff" not in custom else got
    if turn.get("offer"):
        offered_now = custom.get("candidates") or []
        if len(offered_now) < 2:
            return got
        # `among`: a vague first turn is asked back with the items of its topic, not others.
        outside = [item for item in offered_now if "among" in turn and item not in turn["among"]]
        return f"offered outside {turn['among']}: {outside}; {got}" if outside else None
    if "vague" in turn:
        wanted = set(turn["vague"])
        if custom.get("guide_item") in wanted or wanted & set(custom.get("candidates") or []):
            return None
        return got
    expected = turn["item"]
    if isinstance(expected, str) and expected.startswith("@"):
        index = int(expected[1:]) - 1
        if index >= len(offered):
            return f"nothing offered at position {index + 1}; {got}"
        expected = offered[index]
    if custom.get("guide_item") != expected:
        return f"item: expected {expected}; {got}"
    if "aspects" in turn:
        asked = custom.get("aspects") or [custom.get("aspect")]
        if set(asked) != set(turn["aspects"]) or custom.get("aspect") not in turn["aspects"]:
            return f"aspects: expected {turn['aspects']}; {got}"
    elif "aspect" in turn and custom.get("aspect") != turn["aspect"]:
        return f"aspect: expected {turn['aspect']}; {got}"
    return None


def run_dialogue(post: Post, dialogue: dict[str, Any]) -> list[str | None]:
    """Plays a dialogue in a new conversation; one problem (or None) per turn."""
    sender = f"dlg-{uuid.uuid4().hex[:12]}"
    offered: list[str] = []
    problems = []
    for turn in dialogue["turns"]:
        messages = post(sender, turn["say"])
        problems.append(check_turn(turn, messages, offered))
        offered = list(_custom(messages).get("candidates") or [])
    return problems


def figures(results: list[tuple[str, list[str | None]]]) -> dict[str, Any]:
    total = len(results)
    last = sum(1 for _, problems in results if problems[-1] is None)
    every = sum(1 for _, problems in results if not any(problems))
    turns = sum(len(problems) for _, problems in results)
    turns_right = sum(1 for _, problems in results for problem in problems if problem is None)
    return {
        "dialogues": total,
        "last_turn_right": last,
        "every_turn_right": every,
        "turns": turns,
        "turns_right": turns_right,
    }


def report(results: list[tuple[str, list[str | None]]]) -> str:
    f = figures(results)
    lines = [
        f"dialogues {f['dialogues']}: right on the last turn {f['last_turn_right']} "
        f"({f['last_turn_right'] / f['dialogues']:.1%}), on every turn {f['every_turn_right']} "
        f"({f['every_turn_right'] / f['dialogues']:.1%}); turns right {f['turns_right']}/{f['turns']}"
    ]
    for name, problems in results:
        for index, problem in enumerate(problems, start=1):
            if problem:
                lines.append(f"  {name} / turn {index}: {problem}")
    return "\n".join(lines)


def test_dialogues_are_written_apart_from_the_training_data():
    """No turn of any set is word for word in the training data, and no turn of a set is in a set
    written before it (SETS is in the order they were written)."""
    training = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "bot" / "data" / "nlu").rglob("*.yml"))
    said = [turn["say"] for path in SETS.values() for dialogue in load_dialogues(path) for turn in dialogue["turns"]]
    leaked = [text for text in said if f"- {text}\n" in training]
    assert not leaked, f"dialogue turns found in the training data: {leaked[:5]}"
    earlier: set[str] = set()
    for name, path in SETS.items():
        turns = {turn["say"] for dialogue in load_dialogues(path) for turn in dialogue["turns"]}
        shared = sorted(turns & earlier)
        assert not shared, f"turns of the {name} set also in a set written before it: {shared[:5]}"
        earlier |= turns


@pytest.mark.stack
def test_dialogues_through_the_rest_webhook(rasa_stack):
    """The six sets on the one stack: the tuned set right on every turn, the unseen and held-out
    ones not below the level reached on the last turn (they are not tuned dialogue by dialogue)."""
    from tests.helpers import rest

    def post(sender: str, text: str) -> list[dict[str, Any]]:
        return rest(rasa_stack, sender, text)

    texts, failures = [], []
    for name, path in SETS.items():
        dialogues = load_dialogues(path)
        assert len(dialogues) >= MIN_DIALOGUES[name] and all(2 <= len(d["turns"]) <= 4 for d in dialogues)
        results = [(d["name"], run_dialogue(post, d)) for d in dialogues]
        texts.append(f"{name}: {report(results)}")
        f = figures(results)
        if name == "tuned" and f["every_turn_right"] < f["dialogues"]:
            failures.append(name)
        if name in FLOORS and f["last_turn_right"] < FLOORS[name] * f["dialogues"]:
            failures.append(name)
    text = "\n".join(texts)
    print(text)
    assert not failures, text


@pytest.mark.stack
def test_a_dialogue_played_twice_gets_the_same_answers(rasa_stack):
    """Issue 13: the same model once answered a set differently from one run to the next. Each play is a
    new conversation; nothing of the first (slots, lookups, caches of the action server) may change the
    second. The held-out set's it/fr/en dialogues and a few Chinese ones, every turn's payload compared."""
    from tests.helpers import rest

    def play(dialogue: dict[str, Any]) -> list[dict[str, Any]]:
        sender = f"twice-{uuid.uuid4().hex[:12]}"
        return [_custom(rest(rasa_stack, sender, turn["say"])) for turn in dialogue["turns"]]

    dialogues = [d for d in load_dialogues(HELDOUT) if d["name"].startswith(("h it", "h en", "h fr"))]
    dialogues += load_dialogues(DIALOGUES)[:6]
    assert len(dialogues) >= 10
    first = [play(d) for d in dialogues]
    second = [play(d) for d in dialogues]
    changed = [d["name"] for d, a, b in zip(dialogues, first, second, strict=True) if a != b]
    assert not changed, changed


@pytest.mark.stack
def test_the_tracker_says_which_context_decided(rasa_stack):
    """For the trainer's inbox: the `context` slot of the conversation says what decided the answer."""
    from tests.helpers import rest

    sender = f"dlg-{uuid.uuid4().hex[:12]}"
    rest(rasa_stack, sender, "想办继承公证")
    messages = rest(rasa_stack, sender, "我在法国，必须回国吗")
    assert _custom(messages)["guide_item"] == "notary-inheritance"
    url = f"{rasa_stack.rasa_url}/conversations/{sender}/tracker?token={rasa_stack.token}&include_events=NONE"
    with urllib.request.urlopen(url, timeout=30) as reply:
        slots = json.loads(reply.read())["slots"]
    assert slots["context"]["decided_by"] == "current_item"
    assert slots["topics"] == ["notary-inheritance"] and slots["place"] == "paris"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    parser.add_argument("--only", help="run the dialogues whose name contains this")
    parser.add_argument("--set", choices=sorted(SETS), default="tuned", help="which set of dialogues")
    args = parser.parse_args(argv)
    latencies: list[float] = []

    def post(sender: str, text: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(
            f"{args.url}/webhooks/rest/webhook",
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = json.loads(reply.read())
        latencies.append((time.perf_counter() - started) * 1000)
        return body

    dialogues = [d for d in load_dialogues(SETS[args.set]) if not args.only or args.only in d["name"]]
    results = [(d["name"], run_dialogue(post, d)) for d in dialogues]
    print(report(results))
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    print(f"REST round trip over {len(ordered)} messages: median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms")
    return 0 if figures(results)["every_turn_right"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
