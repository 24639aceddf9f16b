"""Case-status lookup, shown only on proof of ownership.

The proof is the case number, the applicant's surname and the last four
characters of the document number, given in any order over one or more
messages (the slots are filled from the entities the NLU finds).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.booking import names_a_booking
from bot.actions.language import Reply
from bot.actions.lookups import lookup_allowed
from bot.actions.resources import database, knowledge
from bot.actions.understanding import client_of
from bot.db import CaseView
from bot.limits import rate_limit
from bot.privacy import mask_case_no

logger = logging.getLogger(__name__)

MAX_FAILURES = 3
# Failed proofs for one case number, across all conversations and addresses (issue 10, item 2):
# guessing surname and last four digits from many addresses stops after a few tries.
FAILURES_PER_CASE = (5, 3600)
# Every case lookup of the platform: a ceiling far above real use that caps a distributed guess.
LOOKUPS_GLOBAL = (300, 600)
PROOF_SLOTS = ("case_no", "surname", "doc_last4")
RESET_PROOF = [SlotSet(slot, None) for slot in PROOF_SLOTS]
STATUSES = ("received", "in_review", "needs_materials", "approved", "mailed", "rejected", "closed")


def describe(case: CaseView, reply: Reply) -> str:
    """The case's status in the conversation's language (notes stay as the office wrote them)."""
    kb = knowledge()
    title = kb.title(case.item_id, reply.language) if kb.guide(case.item_id) else case.item_id

    def status(code: str) -> str:
        return reply.say(f"case.status.{code}") if code in STATUSES else code

    latest = case.history[-1] if case.history else None
    rows = [
        reply.say("case.header", case_no=mask_case_no(case.case_no), title=title),
        reply.say("case.status_line", status=status(case.status)),
    ]
    if latest:
        step = reply.say("case.latest", at=f"{latest['at']:%Y-%m-%d %H:%M}", status=status(latest["status"]))
        if latest.get("note"):
            step += reply.say("case.latest_note", note=latest["note"])
        rows.append(step)
    if case.site:
        rows.append(reply.say("case.site", site=case.site))
    next_key = f"case.next.{case.status}" if case.status in STATUSES else "case.next.unknown"
    rows.append(reply.say("case.next", step=reply.say(next_key)))
    if reply.say("case.note_in_chinese"):
        rows.append(reply.say("case.note_in_chinese"))
    return "\n".join(rows)


def offer_clerk(reply: Reply, key: str) -> None:
    reply.send(reply.say(key), [reply.button("button.human", "/affirm"), reply.button("button.no_thanks", "/deny")])

# Below this, a "case status" question may be a follow-up about the item under discussion.
UNSURE_CASE_QUESTION = 0.4


class ActionCheckCase(Action):
    def name(self) -> str:
        return "action_check_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        entities = tracker.latest_message.get("entities") or []
        if (
            not tracker.active_loop_name
            and names_a_booking(tracker.latest_message.get("text") or "")
            and not any(entity.get("entity") == "case_no" for entity in entities)
        ):
            # "查看预约 BKKVBHBX 王" read as case proofs (a code and a surname): it is about a booking.
            return [FollowupAction("booking_manage_form")]
        confidence = float((tracker.latest_message.get("intent") or {}).get("confidence") or 0.0)
        if (tracker.get_slot("candidates") or confidence < UNSURE_CASE_QUESTION) and not any(
            entity.get("entity") in PROOF_SLOTS for entity in tracker.latest_message.get("entities") or []
        ):
            # "丢了的那个" right after offered choices picks one; "possible par vidéo depuis Paris ?"
            # about the item under discussion was no case question either.
            from bot.actions.guide import respond_in_context  # guide imports the hand-off, which this needs first

            in_context = respond_in_context(dispatcher, tracker, strong_only=True)
            if in_context is not None:
                return in_context
        reply = Reply(dispatcher, tracker)
        failures = tracker.get_slot("case_failures") or 0.0
        if failures >= MAX_FAILURES:
            offer_clerk(reply, "case.paused")
            return [*RESET_PROOF, SlotSet("pending_offer", "case_verification_failed"), *reply.events()]

        proof = {slot: tracker.get_slot(slot) for slot in PROOF_SLOTS}
        missing = [reply.say(f"case.proof.{slot}") for slot in PROOF_SLOTS if not proof[slot]]
        if missing:
            given = reply.say("case.partly_given" if len(missing) < len(PROOF_SLOTS) else "case.need_proof")
            reply.send(
                reply.say("case.please_give", given=given, missing=reply.say("case.proof_separator").join(missing))
            )
            return reply.events()

        if not lookup_allowed("case", tracker):
            # Many conversations from one address: a brute force of numbers or proofs.
            logger.warning("case lookups rate limited: client=%s", client_of(tracker) or "no-client")
            reply.send(reply.say("case.too_many_lookups"))
            return [*RESET_PROOF, *reply.events()]
        case_key = "case:fail:" + "".join(ch for ch in str(proof["case_no"]) if ch.isdigit())
        fails, window = rate_limit("CASE_FAILURES_PER_NUMBER", FAILURES_PER_CASE)
        if database().recent_events(case_key, window) >= fails or not database().allow(
            "case:all", *rate_limit("CASE_LOOKUPS_GLOBAL", LOOKUPS_GLOBAL)
        ):
            logger.warning("case lookups rate limited: case=%s", mask_case_no(proof["case_no"]))
            reply.send(reply.say("case.too_many_lookups"))
            return [*RESET_PROOF, *reply.events()]
        case = database().find_owned_case(proof["case_no"], proof["surname"], proof["doc_last4"])
        if case is None:
            database().allow(case_key, fails + 1, window)  # counts this failed proof
            failures += 1
            logger.info("case lookup failed: case=%s failures=%d", mask_case_no(proof["case_no"]), failures)
            if failures >= MAX_FAILURES:
                offer_clerk(reply, "case.failed_too_often")
                return [
                    *RESET_PROOF,
                    SlotSet("case_failures", failures),
                    SlotSet("pending_offer", "case_verification_failed"),
                    *reply.events(),
                ]
            reply.send(reply.say("case.not_found"))
            return [*RESET_PROOF, SlotSet("case_failures", failures), *reply.events()]

        logger.info("case lookup ok: case=%s", mask_case_no(case.case_no))
        reply.send(describe(case, reply), case={"status": case.status, "item": case.item_id})
        return [*RESET_PROOF, SlotSet("case_failures", 0.0), *reply.events()]
