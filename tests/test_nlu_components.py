"""The project's own NLU components, without training a model."""

from __future__ import annotations

from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message

from bot.knowledge import intent_for
from bot.nlu.components import GuideItemRanker, KnowledgeEntityExtractor, WenzhouJiebaTokenizer, rerank
from bot.nlu.matcher import shared_matcher

PASSPORT = intent_for("passport-renewal")
LOST = intent_for("passport-reissue-lost")


def test_tokenizer_drops_whitespace_tokens_on_mixed_text(tmp_path):
    config = {**WenzhouJiebaTokenizer.get_default_config(), "dictionary_path": "bot/data/jieba"}
    tokenizer = WenzhouJiebaTokenizer.create(
        config, LocalModelStorage(tmp_path), Resource("tok"), ExecutionContext(graph_schema=None, model_id="1")
    )
    tokens = tokenizer.tokenize(Message(data={"text": "我的 passport 過期了  怎么换"}), "text")
    assert all(token.text.strip() for token in tokens)
    assert "passport" in [token.text for token in tokens]
    assert "过期" in "".join(token.text for token in tokens), "traditional characters are simplified"


def test_tokenizer_keeps_item_names_whole():
    import jieba

    WenzhouJiebaTokenizer._load_custom_dictionary("bot/data/jieba")
    assert "户口注销" in list(jieba.cut("我想办户口注销"))


def test_extractor_finds_items_aspects_places_and_proof():
    extractor = KnowledgeEntityExtractor({"knowledge_dir": None})
    message = Message(data={"text": "我在普拉托，換護照要多少錢？案件WZ202610080017 陈 5821"})
    extractor.process([message])
    found = {(entity["entity"], entity["value"]) for entity in message.get("entities")}
    assert ("guide_item", "passport-renewal") in found
    assert ("aspect", "fees") in found
    assert ("place", "prato") in found
    assert {("case_no", "WZ202610080017"), ("surname", "陈"), ("doc_last4", "5821")} <= found


def test_aspect_words_of_one_language_do_not_fire_on_a_common_word_of_another():
    """The aspect words of the four languages are matched together: Italian "carte" (papers) was found in
    French "carte de séjour" and made "can I do it from France?" a materials question."""

    def aspects(text: str) -> set[str]:
        return {v for p in shared_matcher().find(text) if p.entity == "aspect" for v in p.values}

    assert aspects("Je vis à Paris, j'ai ma carte de séjour ici, je peux faire ça depuis la France ?") == {"remote"}
    assert aspects("che carte servono per il rinnovo?") == {"materials"}
    assert aspects("can I do it from Italy?") == {"remote"}


def test_matcher_offsets_refer_to_the_original_text():
    text = "請問 護照到期 怎麼辦"
    phrases = shared_matcher().find(text)
    item = next(phrase for phrase in phrases if phrase.entity == "guide_item")
    assert text[item.start : item.end] == item.text == "護照到期"


def test_rerank_lends_weight_to_named_items():
    ranking = [
        {"name": LOST, "confidence": 0.4},
        {"name": PASSPORT, "confidence": 0.35},
        {"name": "greet", "confidence": 0.25},
    ]
    entities = [{"entity": "guide_item", "value": "passport-renewal", "start": 0, "end": 4}]
    assert rerank(ranking, entities, 0.6)[0]["name"] == PASSPORT
    assert abs(sum(entry["confidence"] for entry in rerank(ranking, entities, 0.6)) - 1.0) < 1e-9
    assert rerank(ranking, [], 0.6)[0]["name"] == LOST


def test_rerank_sends_bare_proof_to_provide_case_info():
    ranking = [{"name": LOST, "confidence": 0.5}, {"name": "provide_case_info", "confidence": 0.1}]
    entities = [{"entity": "doc_last4", "value": "5821", "start": 0, "end": 4}]
    assert rerank(ranking, entities, 0.6)[0]["name"] == "provide_case_info"
    keep = [{"name": "check_case_status", "confidence": 0.6}, {"name": "provide_case_info", "confidence": 0.3}]
    assert rerank(keep, entities, 0.6)[0]["name"] == "check_case_status"


def test_ranker_component_rewrites_intent_and_cuts_ranking():
    ranker = GuideItemRanker({"item_boost": 0.6, "ranking_length": 2})
    message = Message(data={"text": "换护照"})
    message.set("intent", {"name": LOST, "confidence": 0.5})
    message.set(
        "intent_ranking",
        [
            {"name": LOST, "confidence": 0.5},
            {"name": PASSPORT, "confidence": 0.3},
            {"name": "greet", "confidence": 0.2},
        ],
    )
    message.set("entities", [{"entity": "guide_item", "value": "passport-renewal", "start": 0, "end": 3}])
    ranker.process([message])
    assert message.get("intent")["name"] == PASSPORT
    assert len(message.get("intent_ranking")) == 2


def test_a_general_question_about_an_area_gets_its_topic_in_any_language():
    extractor = KnowledgeEntityExtractor({"knowledge_dir": None})
    for text, topic in [
        ("户籍方面的问题", "household"),
        ("問下房本的事", "real_estate"),
        ("公积金咋弄", "housing_fund"),
        ("una domanda sul passaporto", "passport"),
        ("j'ai une question sur mon hukou", "household"),
        ("a question about notarization", "notary"),
    ]:
        message = Message(data={"text": text})
        extractor.process([message])
        assert [e["value"] for e in message.get("entities") if e["entity"] == "topic"] == [topic], text


def test_a_question_with_more_than_the_area_gets_no_topic():
    # An item's name, a detail or a case number make it a question of its own.
    for text in ["户口迁出去怎么弄", "护照丢了", "我的passport过期了想renew", "je vends mon appartement", "户口 WZ202610080017"]:
        phrases = shared_matcher().find(text)
        assert not shared_matcher().topics(text, phrases), text


def test_a_progress_question_is_no_question_of_place():
    aspects = lambda text: [p.values for p in shared_matcher().find(text) if p.entity == "aspect"]  # noqa: E731
    assert aspects("到哪") == [("where",)] and aspects("到哪儿打印") == [("where",)]
    assert aspects("我的申请办到哪了") == [] and aspects("到哪一步了") == []
    # "要什么条件": the condition is asked, "要什么" alone asks for the materials.
    assert aspects("要什么条件") == [("conditions",)] and aspects("要啥") == [("materials",)]


def test_everyday_names_and_aspects_left_by_the_last_round():
    """单身证明 is the marital-status notarisation's; "要什么资格" asks the conditions, "on va où" the place;
    a child's schooling and a foreign spouse are areas of the catalog asked about in general."""
    find = shared_matcher().find
    for text in ("要辦單身證明的公證", "单身证明怎么开"):
        assert ("notary-marital-status",) in [p.values for p in find(text) if p.entity == "guide_item"], text
    assert [p.values for p in find("他想考联考，要什么资格") if p.entity == "aspect"] == [("conditions",)]
    assert [p.values for p in find("on habite à Lyon, on va où ?") if p.entity == "aspect"] == [("where",)]
    assert ("abroad",) in [p.values for p in find("on habite à Lyon, on va où ?") if p.entity == "context"]
    for text, topic in [("孩子读书的问题", "education"), ("外籍家属的事情", "foreign_relatives")]:
        phrases = find(text)
        assert {p.values for p in shared_matcher().topics(text, phrases)} == {(topic,)}, text


def test_coming_back_is_asked_from_abroad_in_every_language():
    """"Do I have to fly back", "devo tornare in Cina", "dois-je rentrer": the from-abroad aspect, not a
    return to an earlier topic ("back to")."""
    found = lambda text: {(p.entity, v) for p in shared_matcher().find(text) for v in p.values}  # noqa: E731
    for text in (
        "will I need to fly back from Canada for the signature",
        "must I come back to China in person",
        "devo tornare in Cina per farlo?",
        "dois-je rentrer en Chine pour ça ?",
        "是不是要专门飞回来一趟",
    ):
        assert ("aspect", "remote") in found(text), text
        assert ("context", "return") not in found(text), text
    # Going back to an earlier topic is still one.
    assert ("context", "return") in found("back to the passport, what does it cost")


def test_a_relative_put_to_work_asks_who_may_act():
    """"叫我外公去", "ask my brother", "chiedere a mia sorella", "envoyer ma mère": the proxy aspect."""
    for text in ("叫我外公去窗口拿一下行不行", "托我舅舅去柜台办", "could I ask my brother to go", "posso chiedere a mia sorella?", "je peux envoyer ma mère ?"):
        aspects = {v for p in shared_matcher().find(text) if p.entity == "aspect" for v in p.values}
        assert "proxy" in aspects, text
