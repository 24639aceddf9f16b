"""The context in understanding (bot/actions/context.py): decisions from entities, intents and slots.

The turns here carry the entities the NLU would give; several are in Italian,
French or English to show that nothing depends on Chinese wording.
"""

from __future__ import annotations

import pytest

from bot.actions import answers
from bot.actions.context import State, Turn, decide, ordered_aspects
from bot.knowledge import intent_for, load_knowledge


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def entity(kind: str, value: str, start: int = 0, end: int = 2) -> dict:
    return {"entity": kind, "value": value, "start": start, "end": end}


def turn(text: str, intent: str | None = "ask_aspect", ranking=(), entities=()) -> Turn:
    return Turn(text=text, intent=intent, ranking=list(ranking), entities=list(entities))


PASSPORTS = ("passport-renewal", "passport-reissue-lost", "passport-first-application")


def test_an_ordinal_picks_the_offered_candidate_in_any_language(kb):
    state = State(candidates=PASSPORTS)
    for text in ("第二个", "the second one", "il secondo", "le deuxième"):
        decision = decide(kb, turn(text, "greet", entities=[entity("context", "ordinal_2")]), state)
        assert (decision.item, decision.decided_by, decision.how) == ("passport-reissue-lost", "candidates", "ordinal")
    # A bare digit is an ordinal too, whatever the language.
    assert decide(kb, turn("3", "affirm"), state).item == "passport-first-application"


def test_a_synonym_of_one_candidate_picks_it(kb):
    named = entity("guide_item", "passport-reissue-lost", 0, 4)
    decision = decide(
        kb, turn("护照丢了", intent_for("passport-reissue-lost"), entities=[named]), State(candidates=PASSPORTS)
    )
    assert (decision.item, decision.how) == ("passport-reissue-lost", "synonym")


def test_a_distinguishing_word_picks_among_the_candidates(kb):
    state = State(
        candidates=("housing-fund-withdraw-retirement", "housing-fund-withdraw-emigration", "housing-fund-certificate")
    )
    # The classifier alone prefers the hukou cancellation; among the candidates the words decide.
    ranking = [("hukou-cancel-emigration", 0.4), ("housing-fund-withdraw-retirement", 0.05)]
    decision = decide(kb, turn("我是出国定居了", intent_for("hukou-cancel-emigration"), ranking), state)
    assert (decision.item, decision.how) == ("housing-fund-withdraw-emigration", "distinguishing_word")


def test_an_aspect_before_choosing_keeps_the_choice_open(kb):
    decision = decide(kb, turn("要带什么材料", entities=[entity("aspect", "materials")]), State(candidates=PASSPORTS))
    assert (decision.action, decision.candidates, decision.aspects) == ("offer", list(PASSPORTS), ["materials"])


def test_a_follow_up_naming_no_item_stays_on_the_current_item(kb):
    state = State(item="notary-inheritance", topics=("notary-inheritance",))
    # "我在法国，必须回国吗": the classifier's school enrolment (回国) does not move the topic.
    ranking = [("returnee-children-school-enrolment", 0.3)]
    message = turn(
        "我在法国，必须回国吗",
        intent_for("returnee-children-school-enrolment"),
        ranking,
        [entity("place", "paris", 2, 4), entity("aspect", "remote", 5, 9)],
    )
    decision = decide(kb, message, state)
    assert (decision.item, decision.aspects, decision.decided_by) == ("notary-inheritance", ["remote"], "current_item")


def test_a_relative_asks_who_may_act(kb):
    state = State(item="id-card-renewal", topics=("id-card-renewal",))
    message = turn("mio fratello può farlo?", "ask_aspect", entities=[entity("context", "relative", 0, 12)])
    assert decide(kb, message, state).aspects == ["proxy"]


def test_a_stated_circumstance_moves_to_the_overseas_variant(kb):
    state = State(item="driving-licence-renewal", topics=("driving-licence-renewal",))
    message = turn("je suis à Johannesburg", "greet", entities=[entity("place", "johannesburg", 9, 21)])
    decision = decide(kb, message, state)
    assert (decision.item, decision.decided_by, decision.aspects) == (
        "driving-licence-overseas-extension",
        "circumstance",
        ["remote"],
    )
    # Without a variant in the catalog, the from-abroad part of the same guide.
    decision = decide(kb, message, State(item="id-card-renewal"))
    assert (decision.item, decision.aspects) == ("id-card-renewal", ["remote"])


def test_naming_another_item_changes_the_topic_and_return_comes_back(kb):
    state = State(item="id-card-renewal", topics=("passport-renewal", "id-card-renewal"))
    passport_words = [entity("guide_item", item, 2, 4) for item in PASSPORTS]
    back = turn(
        "回到护照，要带什么",
        "ask_aspect",
        entities=[entity("context", "return", 0, 2), *passport_words, entity("aspect", "materials", 6, 9)],
    )
    decision = decide(kb, back, state)
    assert (decision.item, decision.aspects, decision.decided_by) == ("passport-renewal", ["materials"], "return")
    # "之前那个" names nothing: the previous topic.
    decision = decide(kb, turn("torniamo a prima", entities=[entity("context", "return")]), state)
    assert (decision.item, decision.how) == ("passport-renewal", "previous_topic")


def test_two_aspects_at_once_and_circumstance_last():
    both = turn("x", entities=[entity("aspect", "remote"), entity("aspect", "fees"), entity("aspect", "time_limit")])
    assert ordered_aspects(both, False) == ["fees", "time_limit", "remote"]
    # "能让别人办吗": the can-do words ask about the way, not the applicant's conditions.
    proxy = turn("x", entities=[entity("aspect", "conditions"), entity("aspect", "proxy")])
    assert ordered_aspects(proxy, False) == ["proxy"]


def test_first_turn_behaves_as_the_message_alone(kb):
    clear = turn(
        "护照过期了怎么换", intent_for("passport-renewal"), [("passport-renewal", 0.8), ("passport-reissue-lost", 0.1)]
    )
    assert (decide(kb, clear, State()).item, decide(kb, clear, State()).decided_by) == ("passport-renewal", "message")
    close = turn("护照的事", intent_for("passport-renewal"), [(item, 0.3) for item in PASSPORTS])
    assert decide(kb, close, State()).action == "offer"


def test_the_first_answer_fits_a_phone_for_every_item(kb):
    """At most 6 lines at 390 px (about 18 Chinese characters a line), also with the nearby site."""
    for guide in kb.guides.values():
        for place in (None, "prato"):
            text = answers.compose(guide, None, kb, place)
            assert answers.phone_lines(text) <= 6, text
            assert "人在国外" in text and "时限" in text and "费用" in text


@pytest.mark.parametrize("language", ["it", "fr", "en"])
def test_a_translated_first_answer_fits_a_phone_too(kb, language):
    """About 6 lines like the Chinese one, though it also carries the item's Chinese name and the
    line saying the Chinese guide is authoritative: 6 for most items, never more than 7 without a
    nearby site and 8 with one (python -m bot.tools.phone gives the figures)."""
    from bot.i18n import load_messages

    lengths = {None: [], "prato": []}
    for item in kb.guides:
        guide = kb.guide(item, language)
        for place in lengths:
            text = answers.compose(guide, None, kb, place, language)
            lengths[place].append(answers.phone_lines(text))
            assert f"({kb.guides[item].title})" in text, "the Chinese name a desk knows it by"
            assert load_messages().text("guide.authoritative", language) in text
    assert max(lengths[None]) <= 7 and sorted(lengths[None])[len(kb.guides) // 2] <= 6, lengths[None]
    assert max(lengths["prato"]) <= 8 and sorted(lengths["prato"])[len(kb.guides) // 2] <= 7, lengths["prato"]


def test_the_full_guide_is_one_tap_away(kb):
    guide = kb.guide("passport-renewal")
    payloads = [button["payload"] for button in answers.aspect_buttons(guide, kb)]
    assert '/ask_aspect{"aspect":"full"}' in payloads and '/ask_aspect{"aspect":"proxy"}' in payloads
    full = answers.compose(guide, ["full"], kb)
    for part in ("所需材料", "办理条件", "办理时限", "收费标准", "办理地点", "海外办理", "亲友代办", "办理流程"):
        assert part in full


def test_proxy_answer_says_who_what_to_bring_and_video(kb):
    text = answers.compose(kb.guide("notary-inheritance"), ["proxy"], kb)
    assert "谁可以办" in text and "委托书" in text and "视频办理" in text
    # An item that cannot be done by proxy does not list what a proxy brings.
    text = answers.compose(kb.guide("id-card-renewal"), ["proxy"], kb)
    assert "不能委托" in text and "代办人要带" not in text


def test_a_neighbour_of_the_offered_items_is_picked(kb):
    # "继承的" after three other notary items: among the notary items, the inheritance one
    # (shared with declarations, where the classifier breaks the tie); not the property transfer.
    state = State(candidates=("notary-education", "notary-driving-licence", "notary-marital-status"))
    ranking = [("realestate-inheritance", 0.14), ("notary-inheritance", 0.11), ("notary-declaration", 0.05)]
    decision = decide(kb, turn("继承的", "affirm", ranking), state)
    assert (decision.item, decision.decided_by, decision.how) == ("notary-inheritance", "candidates", "neighbour")


def test_an_aspect_word_inside_the_items_title_is_no_aspect(kb):
    state = State(candidates=("pension-benefit-claim", "pension-qualification-certification", "death-benefit-claim"))
    message = turn("是每年的资格认证", entities=[entity("aspect", "conditions", 4, 6)])
    decision = decide(kb, message, state)
    assert (decision.item, decision.aspects) == ("pension-qualification-certification", [])


def test_a_message_naming_another_item_in_its_words_changes_the_topic(kb):
    state = State(item="marriage-registration-overseas", topics=("marriage-registration-overseas",))
    ranking = [("divorce-registration-overseas", 0.78), ("notary-marital-status", 0.07)]
    message = turn(
        "离婚登记要什么材料",
        intent_for("divorce-registration-overseas"),
        ranking,
        [entity("aspect", "materials", 5, 9)],
    )
    decision = decide(kb, message, state)
    assert (decision.item, decision.aspects) == ("divorce-registration-overseas", ["materials"])


# --- generalisation (the unseen dialogues): rules, not wordings -------------------------


def test_asking_from_abroad_about_a_domestic_item_moves_to_its_overseas_variant(kb):
    """ "I can't come back" on the domestic licence renewal says the citizen is abroad."""
    state = State(item="driving-licence-renewal", topics=("driving-licence-renewal",))
    for text in ("我在约堡，回不去", "but I live overseas now"):
        message = turn(text, "greet", entities=[entity("aspect", "remote")])
        decision = decide(kb, message, state)
        assert (decision.item, decision.decided_by, decision.how) == (
            "driving-licence-overseas-extension",
            "circumstance",
            "abroad",
        )


def test_a_way_guide_named_on_an_item_is_that_items_aspect(kb):
    """ "可以找人代办吗" names the general proxy guide; on an item it asks that item's proxy part."""
    state = State(item="marriage-certificate-reissue", topics=("marriage-certificate-reissue",))
    named = entity("guide_item", "proxy-handling", 2, 6)
    ranking = [("proxy-handling", 0.43)]
    decision = decide(kb, turn("可以找人代办吗", "ask_aspect", ranking, [named, entity("aspect", "time_limit")]), state)
    assert (decision.item, decision.aspects) == ("marriage-certificate-reissue", ["time_limit", "proxy"])
    # Before a choice, it keeps the choice open and asks who may act; with no item, it is the guide.
    offered = State(candidates=("notary-marital-status", "notary-survival", "notary-kinship"))
    proxy = turn("my dad could do it?", intent_for("proxy-handling"), [("proxy-handling", 0.57)])
    assert (decide(kb, proxy, offered).action, decide(kb, proxy, offered).aspects) == ("offer", ["proxy"])
    assert decide(kb, proxy, State()).item == "proxy-handling"


def test_a_relative_asks_who_may_act_unless_the_classifier_is_sure_of_a_story(kb):
    state = State(item="id-card-reissue", topics=("id-card-reissue",))
    relative = entity("context", "relative")
    unsure = turn(
        "mia madre può andare lei?",
        intent_for("rural-homestead-registration"),
        [("rural-homestead-registration", 0.16)],
        [relative],
    )
    assert (decide(kb, unsure, state).item, decide(kb, unsure, state).aspects) == ("id-card-reissue", ["proxy"])
    sure = turn(
        "mon père est décédé, l'allocation funéraire ?",
        intent_for("death-benefit-claim"),
        [("death-benefit-claim", 0.85)],
        [relative],
    )
    assert decide(kb, sure, state).item == "death-benefit-claim"


def test_a_stated_circumstance_read_as_a_neighbouring_item_moves_to_it(kb):
    """ "I emigrated" on the housing-fund certificate: the withdrawal on emigration."""
    state = State(item="housing-fund-certificate", topics=("housing-fund-certificate",))
    message = turn(
        "ho preso la cittadinanza italiana",
        intent_for("housing-fund-withdraw-emigration"),
        [("housing-fund-withdraw-emigration", 0.31)],
        [entity("place", "prato")],
    )
    decision = decide(kb, message, state)
    assert (decision.item, decision.decided_by, decision.how) == (
        "housing-fund-withdraw-emigration",
        "narrowing",
        "circumstance",
    )


def test_colloquial_spellings_of_aspect_words_are_recognised(kb):
    words = kb.aspect_words()
    assert "要带啥" in words["materials"] and "咋办" in words["steps"] and "哪儿办" in words["where"]


HUKOU = ("hukou-move-out", "hukou-cancel-emigration", "hukou-book-reissue")


def test_a_general_question_about_an_area_offers_its_items_first_ranked_first(kb):
    """ "户籍方面的问题", taken for out of scope alone: which of the hukou items, the classifier's first."""
    message = turn(
        "户籍方面的问题",
        "out_of_scope",
        [("hukou-info-correction", 0.15), ("hukou-certificate", 0.14), ("passport-renewal", 0.05)],
        [entity("topic", "household", 0, 2)],
    )
    decision = decide(kb, message, State())
    assert (decision.action, decision.decided_by, decision.how) == ("offer", "topic", "general_question")
    assert decision.candidates[:2] == ["hukou-info-correction", "hukou-certificate"] and len(decision.candidates) == 3
    assert set(decision.candidates) <= set(kb.topic_items(["household"]))
    # Without the topic (a question of its own), the classifier's item is answered as before.
    assert decide(kb, turn("x", intent_for("hukou-move-out"), [("hukou-move-out", 0.9)]), State()).item == "hukou-move-out"


def test_a_general_question_keeps_the_aspect_and_recalls_the_one_discussed(kb):
    message = turn("passeport, quels documents ?", "ask_aspect", [], [entity("topic", "passport", 0, 9), entity("aspect", "materials")])
    decision = decide(kb, message, State())
    assert (decision.action, decision.aspects) == ("offer", ["materials"])
    # "那护照呢" after the passport renewal was discussed, now on the ID card: back to it.
    state = State(item="id-card-renewal", topics=("passport-renewal", "id-card-renewal"))
    decision = decide(kb, turn("那护照呢", "affirm", [], [entity("topic", "passport", 1, 3)]), state)
    assert (decision.action, decision.item, decision.decided_by) == ("answer", "passport-renewal", "earlier_topic")
    # The area of the item under discussion: a follow-up about that item.
    state = State(item="passport-renewal", topics=("passport-renewal",))
    decision = decide(kb, turn("护照要带什么", "ask_aspect", [], [entity("topic", "passport"), entity("aspect", "materials", 2, 6)]), state)
    assert (decision.action, decision.item, decision.aspects) == ("answer", "passport-renewal", ["materials"])


def test_being_abroad_picks_the_overseas_variant_among_the_offered(kb):
    offered = ("driving-licence-renewal", "driving-licence-reissue", "driving-licence-overseas-extension")
    message = turn("però abito a Prato, non posso tornare", "out_of_scope", [], [entity("place", "prato", 11, 16)])
    decision = decide(kb, message, State(candidates=offered))
    assert (decision.item, decision.decided_by, decision.how) == ("driving-licence-overseas-extension", "candidates", "circumstance")


def test_a_first_aspect_question_that_names_items_offers_them(kb):
    ranking = [("apostille-authentication", 0.24), ("pension-qualification-certification", 0.23)]
    message = turn("文件要拿去国外用要做认证", "ask_aspect", ranking, [entity("aspect", "materials", 0, 2)])
    decision = decide(kb, message, State())
    assert (decision.action, decision.candidates) == ("offer", ["apostille-authentication", "pension-qualification-certification"])
    # Nothing but the aspect: which item?
    assert decide(kb, turn("要多少钱", "ask_aspect", ranking, [entity("aspect", "fees", 1, 4)]), State()).action == "ask_item"


def test_a_reply_the_classifier_is_sure_is_about_an_item_not_offered_is_no_choice(kb):
    """ "不是，我说的是房子继承" after the property-certificate items: "房子" is a word of one of them,
    but the classifier is sure of the inheritance transfer, whose words the reply uses."""
    offered = ("realestate-certificate-reissue", "realestate-change", "realestate-record-query")
    ranking = [("realestate-inheritance", 0.75), ("realestate-record-query", 0.02), ("realestate-change", 0.01)]
    message = turn("不是，我说的是房子继承", intent_for("realestate-inheritance"), ranking)
    decision = decide(kb, message, State(candidates=offered))
    assert (decision.item, decision.decided_by) == ("realestate-inheritance", "candidates")


def test_two_areas_named_together_mean_the_items_they_share(kb):
    message = turn(
        "notarisation du permis chinois",
        intent_for("notary-remote-video"),
        [("notary-remote-video", 0.3), ("notary-driving-licence", 0.2)],
        [entity("topic", "notary", 0, 13), entity("topic", "driving", 17, 23)],
    )
    decision = decide(kb, message, State())
    assert (decision.action, decision.item, decision.how) == ("answer", "notary-driving-licence", "topics_meet")


NOTARY_RANKING = [("notary-kinship", 0.2), ("notary-birth", 0.15), ("notary-inheritance", 0.1)]


def test_a_large_area_offers_its_first_items_and_the_rest_behind_other(kb):
    """ "关于公证方面": three buttons and "其他…"; "其他" shows the other eight; words pick among all."""
    message = turn("关于公证方面", "out_of_scope", NOTARY_RANKING, [entity("topic", "notary", 2, 4)])
    decision = decide(kb, message, State())
    assert decision.candidates == ["notary-kinship", "notary-birth", "notary-inheritance"]
    assert set(decision.candidates + decision.more) == set(kb.topic_items(["notary"])) and len(decision.more) == 8
    state = State(candidates=tuple(decision.candidates), more=tuple(decision.more))
    for text in ("其他", "altro", "autres", "other"):
        shown = decide(kb, turn(text, "deny", [], [entity("context", "more", 0, len(text))]), state)
        assert (shown.action, shown.how) == ("offer", "more"), text
        assert shown.candidates == list(state.more) and shown.more == list(state.candidates)
    # An item behind "其他…" is picked by its words as well as a shown one; an ordinal counts the buttons.
    reply = turn("是学历学位的", "ask_aspect", [("notary-education", 0.3)], [entity("guide_item", "notary-education", 1, 5)])
    assert (decide(kb, reply, state).item, decide(kb, reply, state).decided_by) == ("notary-education", "candidates")
    third = decide(kb, turn("第三个", "greet", [], [entity("context", "ordinal_3", 0, 3)]), state)
    assert third.item == "notary-inheritance"
    # No rest to show (a small area's offer): "其他" is no request for more.
    small = State(candidates=("passport-renewal", "passport-reissue-lost"))
    assert decide(kb, turn("其他", "deny", [], [entity("context", "more", 0, 2)]), small).how != "more"


def test_a_correction_takes_back_the_item_under_discussion(kb):
    """ "不对不对，我还没退休，是移民到国外了" on the retirement withdrawal: not that item, its neighbour."""
    state = State(item="housing-fund-withdraw-retirement", topics=("housing-fund-withdraw-retirement",))
    text = "不对不对，我还没退休，是移民到国外了"
    ranking = [("court-enforcement", 0.25), ("housing-fund-withdraw-retirement", 0.13)]
    message = turn(text, "complain", ranking, [entity("context", "correction", 0, 4)])
    decision = decide(kb, message, state)
    assert (decision.item, decision.decided_by) == ("housing-fund-withdraw-emigration", "correction")
    # Without the correction the words are a story about the item under discussion.
    assert decide(kb, turn(text, "complain", ranking), state).item != "housing-fund-withdraw-emigration"
    # "我是说要多少钱": the question is taken back, not the item.
    message = turn("我是说要多少钱", "ask_aspect", [], [entity("context", "correction", 0, 3), entity("aspect", "fees", 4, 7)])
    decision = decide(kb, message, state)
    assert (decision.item, decision.aspects) == ("housing-fund-withdraw-retirement", ["fees"])


def test_on_a_way_guide_another_way_guide_is_another_topic(kb):
    """Booking a site while on the mailing guide is that guide, not the mailing's "from abroad" part."""
    state = State(item="result-mailing-abroad", topics=("result-mailing-abroad",))
    message = turn(
        "also how do i book an appointment at the service site in milan",
        intent_for("overseas-site-appointment"),
        [("overseas-site-appointment", 0.7)],
        [entity("guide_item", "overseas-site-appointment", 12, 36)],
    )
    assert decide(kb, message, state).item == "overseas-site-appointment"
    # On any other item, the booking guide named is still that item's "from abroad" part.
    state = State(item="notary-birth", topics=("notary-birth",))
    decision = decide(kb, message, state)
    assert (decision.item, decision.aspects) == ("notary-birth", ["remote"])


def test_decisions_do_not_depend_on_the_hash_seed():
    """Issue 13: the same dialogue must get the same answers in every run. Python orders a set of strings
    by a per-process hash seed; a decision that sums or breaks ties over such a set would change from one
    server start to the next. The item's own words, decided among its neighbours, in three processes."""
    import os
    import subprocess
    import sys

    script = (
        "from bot.actions.context import distinguishing_pick, siblings\n"
        "from bot.knowledge import load_knowledge\n"
        "kb = load_knowledge()\n"
        "for item, guide in sorted(kb.guides.items()):\n"
        "    group = [item, *siblings(kb, item)]\n"
        "    for text in [guide.title, *guide.synonyms]:\n"
        "        print(item, repr(distinguishing_pick(kb, text, group)))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }  # fmt: skip
    assert len(outputs) == 1
