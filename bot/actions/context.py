"""What a message means in the conversation so far.

A message is not classified alone: the item under discussion, the candidates
just offered, the place the citizen named, the items discussed earlier and the
last aspect take part. Everything here works on what the NLU found (intent,
item ranking, `guide_item` / `aspect` / `place` / `context` entities) and on
the slots, never on the words of one language: the words live in the
knowledge files (`context.yml`, `aspects.yml`, the guides' synonyms).

`decide` is a pure function of a `Turn` and a `State`, so the actions, the
tests and the trainer's tools can all ask it; its `Decision` says what to do
and which part of the context decided (`decided_by`, `how`), which the answer
carries in its `custom` payload for the trainer's inbox.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from bot.actions.understanding import MAX_CANDIDATES, is_clear
from bot.actions.understanding import candidates as candidates_of
from bot.knowledge import KnowledgeBase, item_for
from bot.nlu.normalize import normalize

# A classifier this sure of another item, with nothing in the message tying it
# to the current one, is a change of topic.
TOPIC_CHANGE_CONFIDENCE = 0.5
# Among offered candidates, the classifier's choice counts when it is this many
# times as likely as the next candidate.
CANDIDATE_RATIO = 2.0
# A phrase unit (character pair, Latin word) shared by this many items names none of them.
MAX_ITEMS_PER_UNIT = 12
# What is left of a message besides its recognised words, for it to be more than a follow-up.
MIN_CONTENT_UNITS = 1
# Words of a neighbouring item needed to move to it without a clarification pending.
NARROWING_UNITS = 2
ELLIPSIS_MAX_CHARS = 2

# Recognised words that say how, not what: what is left of a message without them is its content.
STRIPPED_ENTITIES = {"aspect", "place", "context", "case_no", "surname", "doc_last4"}
ORDINALS = {"ordinal_1": 0, "ordinal_2": 1, "ordinal_3": 2}
# Aspects people state as a circumstance rather than ask: answered after the others.
CIRCUMSTANCE_ASPECTS = ("remote",)

# Which parts of the context may override an intent the classifier gave to a
# social or out-of-scope message ("不是，我说的是继承的"); "topic": a general question about an
# area of the catalog ("问下房本的事"), which the classifier often takes for out of scope.
STRONG = {"candidates", "return", "earlier_topic", "current_item", "narrowing", "circumstance", "topic", "correction"}

_CJK = re.compile(r"[\u3400-\u9fff]+")
_LATIN = re.compile(r"[a-zà-öø-ÿ']{3,}")
_DIGIT_ONLY = re.compile(r"^\W*([1-9])\W*$")


@dataclass(frozen=True)
class Turn:
    """What the NLU made of the latest message."""

    text: str
    intent: str | None
    ranking: list[tuple[str, float]]  # item ids and confidences, best first
    entities: list[dict[str, Any]] = field(default_factory=list)

    def values(self, entity: str) -> list[str]:
        return [e["value"] for e in self.entities if e.get("entity") == entity and isinstance(e.get("value"), str)]

    @property
    def is_button(self) -> bool:
        return self.text.startswith("/")

    def named_items(self) -> dict[str, int]:
        """Items the message names by a title or synonym, weighted by the length of the phrase."""
        weights: dict[str, int] = {}
        for entity in self.entities:
            if entity.get("entity") == "guide_item" and isinstance(entity.get("value"), str):
                length = int(entity.get("end", 0)) - int(entity.get("start", 0))
                weights[entity["value"]] = weights.get(entity["value"], 0) + max(length, 1)
        return weights

    def signals(self) -> set[str]:
        return set(self.values("context"))

    def content(self, keep: frozenset[str] = frozenset()) -> str:
        """The message without its recognised aspect, place, context and proof words (but the
        words in `keep`, which are part of an item's name here)."""
        text = normalize(self.text)
        spans = [
            (int(e.get("start", 0)), int(e.get("end", 0)))
            for e in self.entities
            if e.get("entity") in STRIPPED_ENTITIES
            and "start" in e
            and "end" in e
            and text[int(e["start"]) : int(e["end"])] not in keep
        ]
        chars = list(text)
        for start, end in spans:
            for index in range(max(start, 0), min(end, len(chars))):
                chars[index] = " "
        return "".join(chars)


@dataclass(frozen=True)
class State:
    """The conversation so far, from the slots."""

    item: str | None = None
    aspect: str | None = None
    candidates: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    place: str | None = None
    abroad: bool = False
    # The rest of a large area's items, not shown with the candidates (behind "其他…").
    more: tuple[str, ...] = ()


@dataclass
class Decision:
    """What to do with the message, and which context decided it."""

    action: str  # answer / offer / ask_item / not_understood
    item: str | None = None
    aspects: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    more: list[str] = field(default_factory=list)
    decided_by: str = "message"
    how: str | None = None

    def trace(self, state: State) -> dict[str, Any]:
        """For the inbox: which context decided, and what the context was."""
        trace: dict[str, Any] = {"decided_by": self.decided_by}
        if self.how:
            trace["how"] = self.how
        if state.item and state.item != self.item:
            trace["previous_item"] = state.item
        if self.decided_by == "candidates" and state.candidates:
            trace["offered"] = list(state.candidates)
        return trace


# --- the knowledge the decisions use ----------------------------------------------


def units(text: str) -> set[str]:
    """Character pairs of Chinese runs and Latin words: what phrases are compared by."""
    norm = normalize(text)
    found: set[str] = set()
    for run in _CJK.findall(norm):
        found.update(run[index : index + 2] for index in range(len(run) - 1))
    found.update(_LATIN.findall(norm))
    return found


@functools.lru_cache(maxsize=4)
def _item_units(kb: KnowledgeBase) -> dict[str, frozenset[str]]:
    """Each item's phrase units, without those too common to name an item and those of the
    aspect and context words ("什么" of "带什么", "怎么" of "怎么办"), in every language."""
    by_item: dict[str, set[str]] = {item: set() for item in kb.guides}
    for phrase, items in kb.item_phrases().items():
        for item in items:
            by_item[item] |= units(phrase)
    counts: dict[str, int] = {}
    for found in by_item.values():
        for unit in found:
            counts[unit] = counts.get(unit, 0) + 1
    how_words: set[str] = set()
    for words in kb.aspect_words().values():
        for word in words:
            how_words |= units(word)
    for word in kb.context_phrases():
        how_words |= units(word)
    return {
        item: frozenset(u for u in found if counts[u] <= MAX_ITEMS_PER_UNIT and u not in how_words)
        for item, found in by_item.items()
    }


def speaks_of_items(kb: KnowledgeBase, turn: Turn) -> bool:
    """Whether the message's content uses a word of some item's name ("户口", "passaporto")."""
    said = units(turn.content())
    return any(said & found for found in _item_units(kb).values())


def distinguishing_pick(
    kb: KnowledgeBase, text: str, group: list[str], ranking: list[tuple[str, float]] | None = None
) -> tuple[str | None, float]:
    """The item of `group` whose words the text uses most, each word counting less the more
    items of the group share it ("继承" among the notary items: half for inheritance, half for
    declarations). A tie goes to the classifier's choice (`ranking`), else to none."""
    if len(group) < 2:
        return None, 0.0
    by_item = _item_units(kb)
    said = units(text)
    sharing: dict[str, int] = {}
    for item in group:
        for unit in said & by_item.get(item, frozenset()):
            sharing[unit] = sharing.get(unit, 0) + 1
    # fsum: the exact sum whatever the order; a plain sum over a set of strings depends on the
    # process's hash seed in its last bit, and "tied" below would then differ from run to run.
    scores = {item: math.fsum(1.0 / sharing[u] for u in said & by_item.get(item, frozenset())) for item in group}
    best = max(scores.values())
    if best <= 0:
        return None, 0.0
    tied = [item for item, score in scores.items() if score == best]
    if len(tied) == 1:
        return tied[0], best
    preferred = next((item for item, _ in ranking or [] if item in tied), None)
    return (preferred, best) if preferred else (None, 0.0)


def top_ranked(turn: Turn, group: list[str]) -> str | None:
    return next((item for item, _ in turn.ranking if item in group), None)


def siblings(kb: KnowledgeBase, item: str) -> list[str]:
    guide = kb.guide(item)
    if guide is None:
        return []
    return [other for other, g in kb.guides.items() if g.category == guide.category and other != item]


# --- reading the message ----------------------------------------------------------------


def ordered_aspects(turn: Turn, place_named: bool) -> list[str]:
    """The aspects asked, in the order asked; a stated circumstance goes after a question."""
    found: list[str] = []
    for value in turn.values("aspect"):
        if value not in found:
            found.append(value)
    if "proxy" in found and "remote" in found:
        # "我回不去，可以让我弟弟帮我办吗": being abroad is why they ask who may act.
        found.remove("remote")
    for general in ("conditions", "steps"):
        if general in found and ("remote" in found or "proxy" in found):
            # "不回国能办吗", "能让别人办吗", "我们都回不去，怎么办": "can it be done", "how" are
            # asked of the way (from abroad, by someone else), not of the applicant or the procedure.
            found.remove(general)
    if found == ["conditions"] and (place_named or "abroad" in turn.signals()):
        # "我在南非，那边能办吗": whether it can be done there.
        found = ["remote"]
    if found == ["conditions"] and "relative" in turn.signals():
        # "我弟弟能办吗": whether someone else may do it.
        found = ["proxy"]
    questions = [a for a in found if a not in CIRCUMSTANCE_ASPECTS]
    return questions + [a for a in found if a in CIRCUMSTANCE_ASPECTS]


def implied_aspects(turn: Turn, place_named: bool, current: str | None = None) -> list[str]:
    """A follow-up with no aspect word: what its context words ask about."""
    signals = turn.signals()
    if "abroad" in signals or place_named:
        # "我和老公都在西班牙": where they are, not who acts.
        return ["remote"]
    if "relative" in signals:
        # "我儿子能去银行帮我弄吗"; but "我爸去世了，房子留给我" tells a story about an item: the
        # classifier reads it as the item under discussion, or is sure of another one (an unsure
        # guess at an unrelated item, "我妈在老家，她去帮我补行吗", is no story).
        intent_item = item_for(turn.intent)
        confident = bool(turn.ranking) and turn.ranking[0][1] >= TOPIC_CHANGE_CONFIDENCE
        if intent_item is None or (intent_item != current and not confident):
            return ["proxy"]
    return []


def ordinal_of(turn: Turn) -> int | None:
    for signal in turn.signals():
        if signal in ORDINALS:
            return ORDINALS[signal]
    match = _DIGIT_ONLY.match(normalize(turn.text))
    return int(match.group(1)) - 1 if match else None


# --- deciding ----------------------------------------------------------------------


def choose_among(kb: KnowledgeBase, turn: Turn, offered: list[str]) -> tuple[str | None, str | None]:
    """The offered candidate a reply picks, and how it picked it."""
    index = ordinal_of(turn)
    if index is not None and index < len(offered):
        return offered[index], "ordinal"
    all_named = turn.named_items()
    named = {item: weight for item, weight in all_named.items() if item in offered}
    if all_named and not named:
        # "户口本丢了" after three other hukou items names a fourth: not a choice among these.
        return None, None
    if named:
        best = max(named.values())
        top = [item for item, weight in named.items() if weight == best]
        if len(top) == 1:
            title = normalize(kb.title(top[0]))
            return top[0], "title" if title and title in normalize(turn.text) else "synonym"
    # "不是，我说的是房子继承" after the certificate items: the classifier is sure of an item not offered.
    rival = turn.ranking[0][0] if turn.ranking and turn.ranking[0][1] >= TOPIC_CHANGE_CONFIDENCE else None
    rival = rival if rival not in offered else None
    pick, score = distinguishing_pick(kb, turn.content(), offered, turn.ranking)
    if pick and score >= 1:
        # "房子" is a word of one of the offered items, but the reply uses the rival's words as much or
        # more (a tie goes to the classifier's choice, the rival).
        wider = distinguishing_pick(kb, turn.content(), [*offered, rival], turn.ranking)[0] if rival else None
        return (None, None) if wider == rival and rival else (pick, "distinguishing_word")
    if len(units(turn.content())) >= MIN_CONTENT_UNITS and not rival:
        among = [(item, confidence) for item, confidence in turn.ranking if item in offered]
        if among:
            second = among[1][1] if len(among) > 1 else 0.0
            if among[0][1] > 0 and among[0][1] >= CANDIDATE_RATIO * second:
                return among[0][0], "ranking_among_candidates"
    return None, None


def _with_variant(kb: KnowledgeBase, decision: Decision, turn: Turn, state: State, place_named: bool) -> Decision:
    """A stated circumstance (abroad, a place abroad) moves to the item made for it."""
    # Asking whether it can be done from abroad ("我在约堡，回不去") about the item under discussion
    # says the citizen is abroad, as much as naming a country does.
    asks_remote = "remote" in decision.aspects and decision.decided_by == "current_item"
    abroad_now = "abroad" in turn.signals() or place_named or asks_remote
    if decision.action != "answer" or not (abroad_now or state.abroad):
        return decision
    if decision.decided_by == "message" and not state.abroad:
        # A first question is the classifier's to read whole: "驾照明年到期，到时候从法国回温州" names
        # France but will be in Wenzhou. A circumstance moves an item under discussion, or a later one.
        return decision
    variant = kb.abroad_variants.get(decision.item or "")
    if variant:
        decision.item = variant
        if abroad_now:
            decision.decided_by, decision.how = "circumstance", "abroad"
        elif decision.decided_by == "message":
            decision.decided_by, decision.how = "circumstance", "abroad_earlier"
    return decision


def general_topic(kb: KnowledgeBase, turn: Turn) -> list[str]:
    """The items of the topics a general question asks about ("户籍方面的问题": the hukou items),
    those the classifier ranks highest first; none when the message asks something more precise
    (the NLU gives `topic` entities only to a message of topic and general words)."""
    keys = list(dict.fromkeys(turn.values("topic")))
    items = kb.topic_items(keys)
    # Two areas named together ("notarisation du permis", "驾照 公证") mean the items they share.
    shared = [item for item in items if all(item in kb.topic_items([key]) for key in keys)]
    items = shared or items
    ranked = [item for item, _ in turn.ranking if item in items]
    return ranked + [item for item in items if item not in ranked]


def _pick_variant(kb: KnowledgeBase, turn: Turn, offered: list[str], place_named: bool) -> str | None:
    """A stated circumstance ("我人在米兰") among offered items picks the one made for it: the
    overseas variant of another offered item."""
    if not ("abroad" in turn.signals() or place_named):
        return None
    variants = [item for item in offered if item in kb.abroad_variants.values()]
    return variants[0] if len(variants) == 1 else None


def _known(kb: KnowledgeBase, turn: Turn) -> Turn:
    """The turn with only entities the knowledge base knows, with whole-number spans: a message or
    button payload can carry anything ("guide_item": " ")."""
    sites = {site["id"] for kind in ("overseas_sites", "domestic_desks") for site in kb.sites[kind]}
    known = {
        "guide_item": set(kb.guides),
        "aspect": set(kb.aspects) | {"full"},
        "place": sites,
        "topic": set(kb.topics),
    }
    entities = []
    for entity in turn.entities:
        kind, value = entity.get("entity"), entity.get("value")
        if kind in known and value not in known[kind]:
            continue
        if not isinstance(entity.get("start", 0), int) or not isinstance(entity.get("end", 0), int):
            entity = {key: item for key, item in entity.items() if key not in ("start", "end")}
        entities.append(entity)
    ranking = [(item, confidence) for item, confidence in turn.ranking if item in kb.guides]
    return Turn(
        text=turn.text if isinstance(turn.text, str) else "", intent=turn.intent, ranking=ranking, entities=entities
    )


def decide(kb: KnowledgeBase, turn: Turn, state: State) -> Decision:
    turn = _known(kb, turn)
    state = State(
        item=state.item if state.item in kb.guides else None,
        aspect=state.aspect if state.aspect in kb.aspects else None,
        candidates=tuple(item for item in state.candidates if item in kb.guides),
        topics=tuple(item for item in state.topics if item in kb.guides),
        place=state.place,
        abroad=state.abroad,
        more=tuple(item for item in state.more if item in kb.guides),
    )
    place_named = any(value in {site["id"] for site in kb.sites["overseas_sites"]} for value in turn.values("place"))
    aspects = ordered_aspects(turn, place_named)
    decision = _decide(kb, turn, state, aspects, place_named)
    decision = _with_variant(kb, decision, turn, state, place_named)
    if decision.item:
        decision.aspects = _not_in_name(kb, turn, decision.item, decision.aspects)
    return decision


def _not_in_name(kb: KnowledgeBase, turn: Turn, item: str, aspects: list[str]) -> list[str]:
    """Drops an aspect all of whose words are part of the item's title ("资格" of "养老金领取资格认证")."""
    names = [normalize(kb.title(item))]
    text = normalize(turn.text)
    outside: set[str] = set()
    for entity in turn.entities:
        if entity.get("entity") == "aspect" and "start" in entity and "end" in entity:
            word = text[int(entity["start"]) : int(entity["end"])]
            if not word or not any(word in name for name in names):
                outside.add(entity.get("value"))
    spoken = {e.get("value") for e in turn.entities if e.get("entity") == "aspect"}
    # Aspects the context implied (not spoken) stay.
    return [aspect for aspect in aspects if aspect in outside or aspect not in spoken]


def _words_in_titles(kb: KnowledgeBase, turn: Turn, group: list[str]) -> dict[str, frozenset[str]]:
    """Aspect words of the message that are, every time, part of a longer piece of a title of the
    group's items ("资格" in "资格认证"), and those words: they name an item here, not a part."""
    titles = [normalize(kb.title(item)) for item in group]
    text = normalize(turn.text)

    def in_title(start: int, end: int) -> bool:
        longer = [text[max(start - 1, 0) : end], text[start : end + 1]]
        return any(len(piece) > end - start and piece in title for piece in longer for title in titles)

    spans: dict[str, list[tuple[int, int]]] = {}
    for entity in turn.entities:
        if entity.get("entity") == "aspect" and "start" in entity and "end" in entity:
            spans.setdefault(entity.get("value"), []).append((int(entity["start"]), int(entity["end"])))
    inside = {aspect: found for aspect, found in spans.items() if all(in_title(*span) for span in found)}
    return {
        "aspects": frozenset(inside),
        "words": frozenset(text[start:end] for found in inside.values() for start, end in found),
    }


def _decide(kb: KnowledgeBase, turn: Turn, state: State, aspects: list[str], place_named: bool) -> Decision:
    intent_item = item_for(turn.intent)
    if turn.is_button and intent_item:
        return Decision("answer", intent_item, aspects, decided_by="button")

    named = turn.named_items()
    signals = turn.signals()

    # 1. A clarification is pending: a reply that matches an offered candidate picks it.
    if state.candidates:
        if "more" in signals and state.more and not named:
            # "其他…" after the first items of a large area: its other items; the first ones stay
            # pickable by their words.
            offered_aspect = [state.aspect] if state.aspect else []
            return Decision(
                "offer",
                aspects=aspects or offered_aspect,
                candidates=list(state.more),
                more=list(state.candidates),
                decided_by="candidates",
                how="more",
            )
        offered = list(state.candidates)
        ways = {item: aspect for item, aspect in kb.way_items.items() if item not in offered}
        if (named or intent_item in ways) and all(item in ways for item in named):
            # "我爸爸可以代辦嗎" before choosing: who may act, for the item still to be chosen.
            way_aspects = [ways[item] for item in named] + _way_guess(turn, intent_item, ways, aspects)
            aspects = [*aspects, *(a for a in dict.fromkeys(way_aspects) if a not in aspects)]
            named = {}
            turn = replace(turn, ranking=[(item, c) for item, c in turn.ranking if item not in ways])
            intent_item = None if intent_item in ways else intent_item
        pick, how = choose_among(kb, turn, offered)
        if not pick and not named:
            pick, how = _pick_variant(kb, turn, offered, place_named), "circumstance"
        if pick:
            offered_aspect = [state.aspect] if state.aspect else []
            return Decision("answer", pick, aspects or offered_aspect, decided_by="candidates", how=how)
        # Not among them, but a neighbour of theirs ("继承的" after three notary items), or one of the
        # area's items behind "其他…" (as a neighbour: a word of one of the many is not enough alone).
        group = sorted({item for candidate in offered for item in [candidate, *siblings(kb, candidate)]} | set(state.more))
        near = {item: weight for item, weight in named.items() if item in group}
        if near:
            # "委托书的" after notary choices names the notarised power of attorney and the proxy
            # guide; the neighbour of the offered items is meant.
            best = max(near.values())
            top = [item for item, weight in near.items() if weight == best]
            if len(top) == 1:
                offered_aspect = [state.aspect] if state.aspect else []
                return Decision("answer", top[0], aspects or offered_aspect, decided_by="candidates", how="neighbour")
        pick, score = distinguishing_pick(kb, turn.content(), group, turn.ranking)
        if pick and not named and (score >= NARROWING_UNITS or pick == top_ranked(turn, group)):
            return Decision("answer", pick, aspects, decided_by="candidates", how="neighbour")
        if intent_item in group and not named:
            # "委托书的" after notary choices: the classifier's item, a neighbour of the offered ones.
            return Decision("answer", intent_item, aspects, decided_by="candidates", how="ranking_among_neighbours")
        if not named and intent_item is None:
            # "要带什么材料" before choosing: the choice stays open, now with the aspect.
            return Decision(
                "offer",
                aspects=aspects,
                candidates=list(state.candidates),
                more=list(state.more),
                decided_by="candidates",
                how="still_open",
            )

    # 2. Back to an earlier topic ("回到护照").
    earlier = [item for item in state.topics if item != state.item]
    if earlier:
        if "return" in signals:
            back = [item for item in state.topics if item in named]
            if back:
                best = max(named[item] for item in back)
                # The most specific name wins; among equals, the most recent topic.
                pick = [item for item in back if named[item] == best][-1]
                return Decision("answer", pick, aspects, decided_by="return")
            ranked = [item for item, _ in turn.ranking[:MAX_CANDIDATES] if item in earlier]
            if named and ranked:
                return Decision("answer", ranked[0], aspects, decided_by="return", how="ranking")
            if not named:
                return Decision("answer", earlier[-1], aspects, decided_by="return", how="previous_topic")
        ambiguous = [item for item in named if item in state.topics]
        if len(named) > 1 and len(ambiguous) == 1 and state.item not in named:
            return Decision("answer", ambiguous[0], aspects, decided_by="earlier_topic")

    # A general question about an area of the catalog ("问下房本的事", "une question sur mon hukou"):
    # which of its items? Unless it is the area of the item under discussion, whose follow-up it is.
    general = general_topic(kb, turn)
    if len(general) == 1 and not turn.is_button:
        return Decision("answer", general[0], aspects, decided_by="topic", how="topics_meet")
    if general and not turn.is_button and state.item not in general:
        decision = _offer_or_recall(general, aspects, state)
        if decision.action == "offer":
            # The classifier's likeliest items of the area get buttons; the rest are behind "其他…".
            decision.candidates, decision.decided_by = general[:MAX_CANDIDATES], "topic"
            decision.more = general[MAX_CANDIDATES:]
        decision.how = "general_question"
        return decision

    # 3. An item is under discussion.
    if state.item and kb.guide(state.item):
        current = state.item
        # While on a way guide itself (results mailed abroad), another way guide (booking a site)
        # is another topic, not an aspect of it.
        ways = {} if current in kb.way_items else {item: a for item, a in kb.way_items.items() if item != current}
        if (named or intent_item in ways) and all(item in ways for item in named):
            # "可以找人代办吗" on the marriage certificate: the proxy part of that item, not the
            # general proxy guide the words also name.
            way_aspects = [ways[item] for item in named] + _way_guess(turn, intent_item, ways, aspects)
            aspects = [*aspects, *(a for a in dict.fromkeys(way_aspects) if a not in aspects)]
            named = {}
            turn = replace(turn, ranking=[(item, c) for item, c in turn.ranking if item not in ways])
            intent_item = None if intent_item in ways else intent_item
        if "correction" in signals:
            corrected = _corrected(kb, turn, current, named, aspects)
            if corrected:
                return corrected
        if named:
            best = max(named.values())
            if named.get(current) == best:
                return Decision("answer", current, aspects, decided_by="current_item", how="named")
            # Another item named: the topic changes (below); with no aspect in a
            # bare "那身份证呢", the last aspect carries over.
            if not aspects and state.aspect and _is_ellipsis(turn):
                aspects = [state.aspect]
        else:
            group = [current, *siblings(kb, current)]
            # "是每年的资格认证" while on the pension claim: "资格" is part of a neighbour's name here.
            in_names = _words_in_titles(kb, turn, group)
            aspects = [a for a in aspects if a not in in_names["aspects"]]
            content = turn.content(keep=in_names["words"])
            confident_other = (
                intent_item is not None
                and intent_item != current
                and bool(turn.ranking)
                and turn.ranking[0][1] >= TOPIC_CHANGE_CONFIDENCE
            )
            # A relative in a message the classifier is sure is about another item tells a story
            # about that item ("我爸上个月走了，他的丧葬补助怎么领"), it does not ask who may act.
            follow_up = "return" in signals or "proxy" in aspects or ("relative" in signals and not confident_other)
            stated = bool(aspects) or "abroad" in signals or place_named
            contender = turn.ranking[0][0] if turn.ranking else None
            if contender and contender != current and not follow_up:
                # "离婚登记要什么材料" while on marriage registration: the words name the other item.
                pick, score = distinguishing_pick(kb, content, [current, contender])
                confidence = turn.ranking[0][1]
                if pick == contender and (score >= NARROWING_UNITS or confidence >= TOPIC_CHANGE_CONFIDENCE):
                    return Decision("answer", contender, aspects, decided_by="message", how="topic_change")
            circumstance = "abroad" in signals or place_named
            if (
                circumstance
                and not follow_up
                and contender in group
                and contender != current
                and contender == intent_item
                and not aspects
            ):
                # "我已经移民了，加入了意大利籍" after the housing-fund certificate: the stated
                # circumstance is what the classifier reads as a neighbouring item, the one for it.
                return Decision("answer", contender, [], decided_by="narrowing", how="circumstance")
            if not stated and not follow_up:
                # Narrowing: "我是出国定居了" after the retirement withdrawal.
                pick, score = distinguishing_pick(kb, content, group, turn.ranking)
                # Two of its words, or one that the classifier agrees with.
                if (
                    pick
                    and pick != current
                    and (score >= NARROWING_UNITS or (score >= 1 and pick == top_ranked(turn, group)))
                ):
                    return Decision("answer", pick, aspects, decided_by="narrowing")
                if pick == current and score >= 1:
                    # "丢了" while on the lost-licence item: its own words.
                    return Decision("answer", current, aspects, decided_by="current_item", how="own_words")
            confident_elsewhere = confident_other
            # A message the classifier could not place at all (nlu_fallback, small talk) and that
            # carries nothing of the item's context is not read as a question about it.
            placed = turn.intent == "ask_aspect" or intent_item is not None
            if stated or follow_up or (placed and not confident_elsewhere):
                return Decision(
                    "answer",
                    current,
                    aspects or implied_aspects(turn, place_named, current),
                    decided_by="current_item",
                    how=None if aspects else ("context_word" if stated or follow_up else "follow_up"),
                )

    # 4. The message alone (a new topic, or no topic yet).
    if intent_item is None:
        if named and (state.item or state.topics):
            # In a conversation, a message that names one item is about it (the classifier gave no item).
            best = max(named.values())
            top = [item for item, weight in named.items() if weight == best]
            if len(top) == 1:
                return Decision("answer", top[0], aspects, decided_by="message", how="named")
        items = candidates_of(turn.ranking)
        if items and (turn.intent == "nlu_fallback" or (named and (state.item or state.topics))):
            return _offer_or_recall(items, aspects, state)
        if not state.item and turn.intent == "ask_aspect" and items and speaks_of_items(kb, turn):
            # "文件要拿去国外用要做认证" read as a bare aspect question ("文件"): its other words name
            # items, the likely ones are offered rather than asking which item from nothing.
            return _offer_or_recall(items, aspects, state)
        if not state.item and turn.intent == "ask_aspect":
            return Decision("ask_item", aspects=aspects)
        return Decision("not_understood", aspects=aspects)
    items = candidates_of(turn.ranking)
    if not is_clear(turn.ranking) and len(items) > 1:
        return _offer_or_recall(items, aspects, state)
    return Decision("answer", intent_item, aspects, decided_by="message")


def _corrected(
    kb: KnowledgeBase, turn: Turn, current: str, named: dict[str, int], aspects: list[str]
) -> Decision | None:
    """ "不对，我还没退休，是移民了" on the retirement withdrawal: the citizen takes back the item under
    discussion. Another item the message names is meant (left to the rules below); else the neighbour
    whose words it uses, else the classifier's other items: the current one is the one it is not."""
    if any(item != current for item in named):
        return None
    group = [item for item in siblings(kb, current) if item != current]
    pick, score = distinguishing_pick(kb, turn.content(), group, turn.ranking)
    if pick and score >= 1:
        return Decision("answer", pick, aspects, decided_by="correction", how="distinguishing_word")
    if aspects:
        # "我是说要多少钱": the question is taken back, not the item.
        return None
    others = [(item, confidence) for item, confidence in turn.ranking if item != current]
    if others and others[0][1] >= TOPIC_CHANGE_CONFIDENCE:
        return Decision("answer", others[0][0], aspects, decided_by="correction", how="ranking")
    items = candidates_of(others)
    if len(items) > 1:
        return Decision("offer", aspects=aspects, candidates=items, decided_by="correction", how="other_items")
    return None


def _way_guess(turn: Turn, intent_item: str | None, ways: dict[str, str], aspects: list[str]) -> list[str]:
    """The aspect of a way guide the classifier alone chose (nothing names it): only when it is sure
    and nothing else was asked ("要多少钱，多久能拿到" is no question about mailing abroad)."""
    sure = bool(turn.ranking) and turn.ranking[0][1] >= TOPIC_CHANGE_CONFIDENCE
    return [ways[intent_item]] if intent_item in ways and sure and not aspects else []


def _offer_or_recall(items: list[str], aspects: list[str], state: State) -> Decision:
    """Offer the likely items, unless exactly one of them was discussed earlier."""
    known = [item for item in items if item in state.topics]
    if len(known) == 1:
        return Decision("answer", known[0], aspects, decided_by="earlier_topic")
    return Decision("offer", aspects=aspects, candidates=items)


def _is_ellipsis(turn: Turn) -> bool:
    """ "那身份证呢": an item and hardly anything else."""
    text = normalize(turn.text)
    chars = list(text)
    for entity in turn.entities:
        if "start" in entity and "end" in entity:
            for index in range(max(int(entity["start"]), 0), min(int(entity["end"]), len(chars))):
                chars[index] = ""
    rest = re.sub(r"[\W_]+", "", "".join(chars))
    return len(rest) <= ELLIPSIS_MAX_CHARS
