"""Four languages: detection, the message catalog, translated guides, answers and proofs in each."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from bot.actions import ActionAnswerGuide, ActionCheckCase, ActionGreet, ActionUnsupportedLanguage
from bot.actions.answers import ASPECT_ORDER, compose
from bot.i18n import load_languages, load_messages
from bot.i18n.detect import shared_detector
from bot.knowledge import KnowledgeBase, KnowledgeError, intent_for, load_knowledge
from bot.knowledge.store import DEFAULT_ROOT
from bot.nlu.case_proof import find_proof
from tests.helpers import make_tracker, run_action, slot_events

LANGUAGES = load_languages()
FOREIGN = LANGUAGES.foreign
HAN = re.compile(r"[\u3400-\u9fff]")
BRACKETED = re.compile(r"\([^()]*\)|（[^（）]*）|「[^「」]*」|“[^“”]*”|«[^«»]*»")


def language_entity(code: str) -> dict:
    return {"entity": "language", "value": code, "start": 0, "end": 0}


# --- detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, language",
    [
        ("Ciao, vorrei rinnovare il passaporto", "it"),
        ("passaporto scaduto", "it"),
        ("Bonjour, il me faut un extrait de casier judiciaire", "fr"),
        ("combien ça coûte", "fr"),
        ("How long does it take to get a police clearance?", "en"),
        ("我的passport快过期了", "zh"),
        ("需要一份procura给我哥去卖房子", "zh"),
        ("carte de séjour到期了国内户口要销吗", "zh"),
    ],
)
def test_a_clear_message_decides_its_language(text, language):
    assert shared_detector().detect(text).language == language


@pytest.mark.parametrize("text", ["ok", "grazie", "merci", "WZ202610080017", "😀", "ok grazie", "5821"])
def test_short_or_neutral_messages_decide_nothing(text):
    detection = shared_detector().detect(text)
    assert detection.language is None and detection.unsupported is None


@pytest.mark.parametrize(
    "text, code",
    [
        ("Hola, quiero renovar mi pasaporte chino", "es"),
        ("Ich möchte meinen Reisepass verlängern lassen", "de"),
        ("مرحبا أريد تجديد جواز السفر", "ar"),
        ("パスポートを更新したいです", "ja"),
    ],
)
def test_a_language_the_assistant_cannot_read_is_reported(text, code):
    detection = shared_detector().detect(text)
    assert detection.unsupported == code and detection.language is None


# --- texts and translations ---------------------------------------------------------


def test_every_language_has_every_bot_text_with_the_same_placeholders():
    assert load_messages().check() == []


def test_every_supported_language_has_every_guide_site_and_aspect():
    kb = load_knowledge()
    for language in FOREIGN:
        assert set(kb.translated.get(language, {})) == set(kb.guides), f"guides missing in {language}"
        assert set(kb.translated_aspects[language]) >= set(kb.aspects), f"aspects missing in {language}"
        sites = kb.translated_sites[language]
        for kind in ("overseas_sites", "domestic_desks"):
            assert {entry["id"] for entry in kb.sites[kind]} <= set(sites[kind]), f"{kind} missing in {language}"


def test_a_missing_translated_field_is_named_with_its_file(tmp_path):
    root = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_ROOT, root)
    path = root / "translations" / FOREIGN[0] / "guides" / "exit_entry" / "passport-renewal.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["proxy"]
    data["steps"] = data["steps"][:1]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        KnowledgeBase(root)
    problems = "\n".join(error.value.problems)
    assert f"{path}: proxy" in problems
    assert f"{path}: steps" in problems


@pytest.mark.parametrize("language", FOREIGN)
def test_foreign_answers_are_in_that_language_with_chinese_only_in_brackets(language):
    kb = load_knowledge()
    for item_id in kb.guides:
        guide = kb.guide(item_id, language)
        for aspect in [None, *ASPECT_ORDER]:
            text = compose(guide, aspect, kb, "prato", language)
            outside = BRACKETED.sub("", text)
            assert not HAN.search(outside), f"{language} {item_id} {aspect}: Chinese outside brackets: {outside!r}"
            assert f"({kb.guides[item_id].title})" in text, "the Chinese name a desk will know it by"
            assert load_messages().text("guide.authoritative", language) in text


# --- actions answer in the conversation's language ------------------------------------


def test_an_italian_question_gets_an_italian_answer_and_the_language_is_kept(database):
    passport = intent_for("passport-renewal")
    tracker = make_tracker("vorrei rinnovare il passaporto", passport, 0.9, entities=[language_entity("it")])
    events, messages = run_action(ActionAnswerGuide(), tracker)
    assert messages[0]["custom"] == {"guide_item": "passport-renewal", "aspect": None, "language": "it"}
    assert load_knowledge().title("passport-renewal", "it") in messages[0]["text"]
    assert [button["title"] for button in messages[0]["buttons"]][0] == load_knowledge().aspect_label("materials", "it")


def test_a_neutral_message_is_answered_in_the_conversation_language(database):
    tracker = make_tracker("ok", "greet", 0.9, slots={"language": "fr"})
    events, messages = run_action(ActionGreet(), tracker)
    assert messages[0]["text"] == load_messages().text("greet", "fr")
    assert messages[0]["custom"] == {"language": "fr"}
    assert "language" not in slot_events(events), "the slot already holds it"


def test_a_guess_is_remembered_when_the_conversation_has_no_language_yet(database):
    guess = {"entity": "language_guess", "value": "en", "start": 0, "end": 0}
    events, messages = run_action(ActionGreet(), make_tracker("hi", "greet", 0.9, entities=[guess]))
    assert messages[0]["custom"]["language"] == "en"
    assert slot_events(events) == {"language": "en"}


def test_an_unreadable_language_gets_no_item_and_the_offer_of_a_clerk(database):
    tracker = make_tracker("Hola quiero renovar mi pasaporte", "unsupported_language", 1.0, slots={"language": "it"})
    events, messages = run_action(ActionUnsupportedLanguage(), tracker)
    assert "guide_item" not in messages[0]["custom"]
    assert messages[0]["custom"]["unsupported_language"] is True
    assert "Italian" in messages[0]["text"] and "中文" in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/request_human"


def test_case_status_asks_for_the_proof_in_french(database):
    _, messages = run_action(ActionCheckCase(), make_tracker("où en est mon dossier", "check_case_status", 0.9, entities=[language_entity("fr")]))
    assert load_messages().text("case.proof.surname", "fr") in messages[0]["text"]
    assert messages[0]["custom"] == {"language": "fr"}


# --- proofs in every language -----------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("il mio cognome è Chen", {"surname": "chen"}),
        ("WZ202610080017 chen 5821", {"case_no": "WZ202610080017", "surname": "chen", "doc_last4": "5821"}),
        ("Je m'appelle Wang, les 4 derniers chiffres sont 0937", {"surname": "wang", "doc_last4": "0937"}),
        ("my surname is Lin and the last four digits are 612X", {"surname": "lin", "doc_last4": "612X"}),
        ("je suis en France, passeport expiré", {}),
    ],
)
def test_proof_parts_are_found_in_every_language(text, expected):
    assert {found.entity: found.value for found in find_proof(text)} == expected


def test_a_pinyin_surname_proves_ownership_of_a_case_stored_in_characters(database):
    slots = {"case_no": "WZ202610080017", "surname": "chen", "doc_last4": "5821"}
    events, messages = run_action(
        ActionCheckCase(), make_tracker("chen", "provide_case_info", 0.9, slots=slots, entities=[language_entity("it")])
    )
    assert messages[0]["custom"]["case"]["item"] and messages[0]["custom"]["language"] == "it"
    wrong = dict(slots, surname="lin")
    _, messages = run_action(ActionCheckCase(), make_tracker("lin", "provide_case_info", 0.9, slots=wrong))
    assert "case" not in messages[0]["custom"]


def test_a_button_payload_says_nothing_of_the_language():
    """"/request_human" from a button must not turn a Chinese conversation English."""
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.components import LanguageIdentifier

    identifier = LanguageIdentifier({"knowledge_dir": None})
    payload = Message(data={"text": "/request_human", "metadata": {}})
    picked = Message(data={"text": "护照过期了怎么换", "metadata": {"language": "it", "language_source": "picked"}})
    spanish = Message(data={"text": "Hola, quiero renovar mi pasaporte chino", "metadata": {}})
    identifier.process([payload, picked, spanish])
    assert not payload.get("entities")
    assert [(e["entity"], e["value"]) for e in picked.get("entities")] == [("language", "it")]
    assert spanish.get("intent") == {"name": "unsupported_language", "confidence": 1.0}


def test_markup_and_code_say_nothing_of_the_language():
    """A Chinese citizen's "<script>…</script><b>粗</b>" must not turn the conversation English."""
    detection = shared_detector().detect("<script>window.__pwned=1</script><b>粗</b>")
    assert detection.language is None and detection.unsupported is None
